"""Faithfulness: exact endpoints, batching-invariance, and agreement with the plain ablation path."""

from __future__ import annotations

import pytest

from engine.components import all_heads
from engine.evaluation.faithfulness import (
    ablated_metrics,
    curve_sizes,
    faithfulness,
    rank_components,
)
from engine.tasks import load_task
from tests.evaluation.ablation_reference import plain_metric


@pytest.fixture(scope="module")
def gpt2(load):
    return load("tiny-gpt2")


@pytest.fixture(scope="module")
def gpt2_data(gpt2):
    return load_task("ioi", gpt2, n=8)


def heads_of(target) -> list[str]:
    return [c.id for c in all_heads(target.n_layers, target.n_heads)]


def test_all_heads_is_exactly_one_and_empty_is_exactly_zero(tiny_model):
    data = load_task("ioi", tiny_model, n=6)
    full = faithfulness(tiny_model, data, heads_of(tiny_model))
    empty = faithfulness(tiny_model, data, [])
    assert full["normalized"] == 1.0
    assert empty["normalized"] == 0.0
    assert full["m_full"] != full["m_empty"]
    assert full["circuit_size"] == tiny_model.n_layers * tiny_model.n_heads and empty["circuit_size"] == 0
    assert full["ablation"] == "mean" and full["curve"] is None and "no effects" in full["note"]


def test_curve_endpoints_areas_and_ranking(gpt2, gpt2_data):
    heads = heads_of(gpt2)
    effects = {h: float(i) for i, h in enumerate(heads)}  # last head ranked first
    out = faithfulness(gpt2, gpt2_data, heads[-3:], effects=effects)
    ks = [k for k, _ in out["curve"]]
    assert ks == list(range(len(heads) + 1))  # 12 heads: every k
    assert out["curve"][0][1] == 0.0 and out["curve"][-1][1] == 1.0
    # the circuit is exactly the top-3 set, so its point on the curve is f(C)
    assert out["curve"][3][1] == pytest.approx(out["normalized"], abs=1e-12)
    fs = [f for _, f in out["curve"]]
    assert out["cpr"] == pytest.approx(sum((a + b) / 2 for a, b in zip(fs, fs[1:], strict=False)) / 12)
    assert out["cmd"] >= 0 and out["cmd"] >= abs(1 - out["cpr"]) - 1e-12


def test_batched_sets_match_one_per_forward(gpt2, gpt2_data):
    heads = heads_of(gpt2)
    sets = [frozenset(), frozenset(heads[:5]), frozenset(heads[4:9]), frozenset(heads), frozenset(heads[-1:])]
    batched = ablated_metrics(gpt2, gpt2_data, sets, sets_per_batch=5)
    single = ablated_metrics(gpt2, gpt2_data, sets, sets_per_batch=1)
    assert batched == pytest.approx(single, abs=1e-4)
    assert len(set(batched)) == len(sets)


def test_matches_plain_mean_ablation(gpt2, gpt2_data):
    """m(C) equals a full forward with ``ablation.ablation_edits`` on the heads outside C."""
    heads = heads_of(gpt2)
    circuit = ["L0.H1", "L1.H2", "L2.H0", "L2.H3"]
    out = faithfulness(gpt2, gpt2_data, circuit)
    plain = plain_metric(gpt2, gpt2_data, [h for h in heads if h not in circuit])
    assert out["m_circuit"] == pytest.approx(plain, abs=1e-4)


def test_mlp_members_are_noted_unless_mlps_are_ablated(gpt2, gpt2_data):
    heads_only = faithfulness(gpt2, gpt2_data, ["L0.H1", "L1.MLP"])
    assert heads_only["circuit_size"] == 1 and "L1.MLP" in heads_only["note"]
    with_mlps = faithfulness(gpt2, gpt2_data, ["L0.H1", "L1.MLP"], ablate_mlps=True)
    assert with_mlps["circuit_size"] == 2
    # every MLP but L1.MLP is ablated in the circuit's run, and none in the heads-only run (independent loop)
    others = [h for h in heads_of(gpt2) if h != "L0.H1"]
    mlps = [f"L{layer}.MLP" for layer in range(gpt2.n_layers) if layer != 1]
    assert with_mlps["m_circuit"] == pytest.approx(plain_metric(gpt2, gpt2_data, others + mlps), abs=1e-4)
    assert heads_only["m_circuit"] == pytest.approx(plain_metric(gpt2, gpt2_data, others), abs=1e-4)
    assert abs(with_mlps["m_circuit"] - heads_only["m_circuit"]) > 1e-3


def test_curve_grid_and_ranking_helpers():
    assert curve_sizes(10, 3) == list(range(11))
    grid = curve_sizes(270, 8)
    assert grid[0] == 0 and grid[-1] == 270 and 8 in grid and len(grid) < 15
    assert rank_components(["a", "b", "c"], {"b": -5.0, "c": 1.0}) == ["b", "c", "a"]
