"""Bad arguments come back as a ToolResult with one clear sentence, never an exception."""

from __future__ import annotations

import pytest

from tools.base import ToolError, run_tool
from tools.registry import TOOLS, get_tool, tool_schemas

EXPECTED = {
    "read_activations", "logit_lens", "attention_pattern", "activation_patching",
    "path_patching", "ablation", "attribution_patching", "probe", "attention_inputs",
}

# (tool, arguments with a bad component id in the field that takes one)
COMPONENT_ARGS = {
    "read_activations": lambda c: {"components": [c]},
    "logit_lens": lambda c: {"components": [c]},
    "attention_pattern": lambda c: {"heads": [c]},
    "activation_patching": lambda c: {"components": [c]},
    "path_patching": lambda c: {"sender": c},
    "attention_inputs": lambda c: {"head": c},
    "ablation": lambda c: {"components": [c]},
    "attribution_patching": lambda c: {"components": [c]},
    "probe": lambda c: {"component": c, "label": "clean_vs_corrupt"},
}


def one_sentence(text: str) -> bool:
    return text.endswith(".") and "\n" not in text and "Traceback" not in text


def test_registry_lists_every_tool_with_described_arguments():
    assert set(TOOLS) >= EXPECTED
    for schema in tool_schemas():
        if schema["name"] not in EXPECTED:
            continue
        assert schema["description"]
        props = schema["parameters"]["properties"]
        assert props and all(p.get("description") for p in props.values()), schema["name"]
        assert schema["parameters"].get("additionalProperties") is False
    with pytest.raises(ToolError, match="available tools: .*activation_patching"):
        get_tool("activation_pathcing")


@pytest.mark.parametrize("tool", sorted(EXPECTED))
def test_out_of_range_and_unknown_components(make_ctx, tool):
    ctx = make_ctx("tiny-llama")
    spec = get_tool(tool)
    out = run_tool(spec, ctx, COMPONENT_ARGS[tool]("L1.H6"))
    assert not out.ok and "heads 0..5" in out.error and one_sentence(out.error), out.error
    out = run_tool(spec, ctx, COMPONENT_ARGS[tool]("L7.H0"))
    assert not out.ok and "layers 0..2" in out.error and one_sentence(out.error), out.error
    out = run_tool(spec, ctx, COMPONENT_ARGS[tool]("head 3"))
    assert not out.ok and "L<layer>.H<head>" in out.error and one_sentence(out.error), out.error


@pytest.mark.parametrize("tool", sorted(EXPECTED))
def test_extra_keys_and_wrong_types(make_ctx, tool):
    ctx = make_ctx("tiny-llama")
    spec = get_tool(tool)
    good = COMPONENT_ARGS[tool]("L1.H1")
    out = run_tool(spec, ctx, {**good, "verbose": True})
    assert not out.ok and "verbose" in out.error and "Extra inputs" in out.error and one_sentence(out.error)
    key = next(iter(good))
    out = run_tool(spec, ctx, {**good, key: {"not": "an id"}})
    assert not out.ok and key in out.error and one_sentence(out.error), out.error


def test_wrong_kinds_positions_and_choices(make_ctx):
    ctx = make_ctx("tiny-llama")
    out = run_tool(get_tool("attention_pattern"), ctx, {"heads": ["L1.MLP"]})
    assert "accepts head components" in out.error
    out = run_tool(get_tool("activation_patching"), ctx, {"components": "heads", "positions": ["IO", "X1"]})
    assert "roles: END, IO, S1, S2" in out.error and one_sentence(out.error)
    out = run_tool(get_tool("activation_patching"), ctx, {"components": "heads", "positions": [40]})
    assert "integer in" in out.error and one_sentence(out.error)
    out = run_tool(get_tool("activation_patching"), ctx, {"components": "heads", "direction": "up"})
    assert "noising" in out.error and one_sentence(out.error)
    out = run_tool(get_tool("ablation"), ctx, {"components": "mlps", "kind": "gaussian"})
    assert "zero" in out.error and one_sentence(out.error)
    out = run_tool(get_tool("activation_patching"), ctx, {"components": []})
    assert "at least one component" in out.error
    out = run_tool(get_tool("path_patching"), ctx, {"sender": "L1.RESID"})
    assert "head, ATTN or MLP" in out.error


def test_shortcuts_and_single_values(make_ctx):
    ctx = make_ctx("tiny-llama")
    out = run_tool(get_tool("activation_patching"), ctx, {"components": "mlps", "positions": "END"})
    assert out.ok and set(out.result.effects) == {"L0.MLP", "L1.MLP", "L2.MLP"}
    out = run_tool(get_tool("activation_patching"), ctx, {"components": "L1.H1", "positions": -1})
    assert out.ok and set(out.result.effects) == {"L1.H1"}
    assert len(out.summary) <= 600
