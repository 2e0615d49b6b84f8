import pytest

from engine.components import Component, parse_component
from engine.errors import ComponentError


@pytest.mark.parametrize(
    "text,expected",
    [
        ("L3.H1", Component(3, "head", 1)),
        ("L0.ATTN", Component(0, "attn")),
        ("L29.MLP", Component(29, "mlp")),
        ("L30.RESID", Component(30, "resid")),
    ],
)
def test_parse_round_trips(text, expected):
    comp = parse_component(text, n_layers=30, n_heads=9)
    assert comp == expected and comp.id == text


@pytest.mark.parametrize(
    "text,message",
    [
        ("L30.H0", "layers 0..29"),
        ("L3.H9", "heads 0..8"),
        ("L31.RESID", "layers 0..29"),
        ("L30.MLP", "layers 0..29"),
        ("layer3.head1", "not a component id"),
        ("L3.H-1", "not a component id"),
    ],
)
def test_out_of_range_and_malformed_ids_name_the_valid_range(text, message):
    with pytest.raises(ComponentError, match=message):
        parse_component(text, n_layers=30, n_heads=9)
