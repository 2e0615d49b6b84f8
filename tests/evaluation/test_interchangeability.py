"""End to end on a tiny model: the swap matrix, the evaluation entry point, the tool, the helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.evaluation import evaluate_explanation, interpretation_line
from engine.evaluation.baselines import attention_role_clusters, role_attention
from engine.evaluation.interchangeability import directed_distances, interchangeability
from engine.evaluation.prompts import first_pairs
from engine.evaluation.ranking import ablation_attribution
from engine.evaluation.swap import swap_effects
from engine.tasks import load_task
from tools.base import ToolContext, run_tool
from tools.weight_swap import SPEC

CLUSTERS = [
    {"name": "movers", "members": ["L2.H0", "L2.H1", "L1.MLP"]},
    {"name": "early", "members": ["L0.H2", "L0.H3", "L1.H0"]},
]


@pytest.fixture(scope="module")
def llama(load):
    return load("tiny-llama")


@pytest.fixture(scope="module")
def data(llama):
    return load_task("ioi", llama, n=6)


def test_directed_matrix_matches_individual_swaps(llama, data):
    heads = ["L2.H0", "L0.H3", "L1.H5"]
    d = directed_distances(llama, data, heads, swaps_per_batch=4)
    assert np.all(np.diag(d) == 0)
    (one,) = swap_effects(llama, data, [("L0.H3", "L1.H5")])
    assert d[1, 2] == pytest.approx(one.js_distance, abs=1e-6)
    assert np.all(d[~np.eye(3, dtype=bool)] > 0) and np.all(d <= math.sqrt(math.log(2)))


def test_interchangeability_output_shape(llama, data):
    out = interchangeability(llama, data, CLUSTERS, null_draws=200, seed=1)
    assert out["components"] == ["L2.H0", "L2.H1", "L0.H2", "L0.H3", "L1.H0"]
    assert out["labels"] == ["movers", "movers", "early", "early", "early"]
    assert "L1.MLP" in out["note"] and "excluded" in out["note"]
    d = np.array(out["distance_matrix"])
    assert d.shape == (5, 5) and np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    assert -1 <= out["silhouette"] <= 1 and 0 < out["p_value"] <= 1
    assert out["n_components"] == 5 and out["n_clusters"] == 2 and out["null_draws"] == 200
    assert "natural log" in out["distance"]


def test_evaluate_explanation_and_interpretation_line(llama, data):
    calls: list[tuple[str, int, int]] = []
    result = evaluate_explanation(
        llama, data, CLUSTERS, effects={"L2.H0": 1.0, "L0.H2": -0.5}, progress=lambda *a: calls.append(a)
    )
    for stage in ("interchangeability", "faithfulness"):
        done, total = [c[1:] for c in calls if c[0] == stage][-1]
        assert done == total > 0
    assert calls[-1][0] == "faithfulness"
    inter, faith = result["interchangeability"], result["faithfulness"]
    for key in ("silhouette", "random_mean", "random_std", "z", "p_value", "n_components", "n_clusters"):
        assert key in inter
    for key in ("normalized", "circuit_size", "ablation", "m_full", "m_empty", "m_circuit", "curve", "cpr", "cmd"):
        assert key in faith
    assert faith["circuit_size"] == 5  # the MLP is kept in every run (heads-only ablation)
    line = interpretation_line(result)
    assert "σ" in line and "interchangeable than random" in line and "faithfulness" in line
    assert interpretation_line({"interchangeability": {"silhouette": None, "z": None, "note": "one cluster"}}) == (
        "interchangeability undefined (one cluster)"
    )
    assert "less interchangeable" in interpretation_line({"interchangeability": {"z": -1.5, "p_value": 0.9}})


def test_weight_swap_tool(llama, data):
    ctx = ToolContext(target=llama, data=data)
    ok = run_tool(SPEC, ctx, {"target": "L1.H0", "source": "L2.H4", "n": 4})
    assert ok.ok, ok.error
    (swap,) = ok.result.swaps
    assert ok.result.n_prompts == 4 and 0 < swap.js_distance <= ok.result.js_distance_max
    assert (swap.target, swap.source) == ("L1.H0", "L2.H4")
    assert "L2.H4 into L1.H0" in ok.summary
    assert not run_tool(SPEC, ctx, {"target": "L1.MLP", "source": "L2.H4"}).ok
    bad = run_tool(SPEC, ctx, {"target": "L1.H9", "source": "L2.H4"})
    assert not bad.ok and "out of range" in bad.error
    assert not run_tool(SPEC, ctx, {"target": "L1.H0", "source": "L2.H4", "extra": 1}).ok


def test_first_pairs(data):
    sub = first_pairs(data, 4)
    assert sub.n_pairs == 4
    assert sorted(i for b in sub.buckets for i in b.pair_index) == [0, 1, 2, 3]
    assert first_pairs(data, None) is data and first_pairs(data, 99) is data


def test_ranking_and_baseline_clusters(llama, data):
    effects = ablation_attribution(llama, data, ["L0.H0", "L2.H5"])
    assert set(effects) == {"L0.H0", "L2.H5"} and all(math.isfinite(v) for v in effects.values())
    attention = role_attention(llama, data, ["L1.H2", "L2.H3"])
    for by_role in attention.values():
        assert set(by_role) == {"IO", "S1", "S2", "rest"}
        assert sum(by_role.values()) == pytest.approx(1.0, abs=1e-5)
    clusters = attention_role_clusters(llama, data, ["L1.H2", "L2.H3"])
    assert sorted(m for c in clusters for m in c["members"]) == ["L1.H2", "L2.H3"]


def test_attribution_is_the_derivative_of_mean_ablation(llama, data):
    """Central finite difference along z + α (mean - z) agrees with the attribution estimate."""
    import torch

    from engine import runner
    from engine.ablation import corrupt_activations
    from engine.hooks import trace
    from engine.tasks import logit_diff

    head, alpha = "L1.H4", 1e-2
    (estimate,) = ablation_attribution(llama, data, [head]).values()

    def metric(a: float) -> float:
        total = 0.0
        for bucket in data.buckets:
            mean = corrupt_activations(llama, bucket, [head])[head].mean(dim=0, keepdim=True)
            with torch.no_grad(), trace(llama.adapter, edit={head: lambda z, m=mean: z + a * (m - z)}):
                logits = runner.forward(llama.adapter, bucket.clean)
            total += float(logit_diff(logits, bucket.answer, bucket.distractor).sum())
        return total / data.n_pairs

    finite = (metric(alpha) - metric(-alpha)) / (2 * alpha)
    assert abs(estimate) > 1e-3
    assert finite == pytest.approx(estimate, rel=0.02, abs=1e-3)


def test_weight_swap_tool_sweep_equals_the_single_swaps(llama, data):
    ctx = ToolContext(target=llama, data=data)
    heads = ["L0.H1", "L2.H3", "L1.H4"]
    sweep = run_tool(SPEC, ctx, {"among": heads, "n": 4})
    assert sweep.ok, sweep.error
    assert sweep.result.heads == heads and len(sweep.result.swaps) == 6
    directed = np.array(sweep.result.directed)
    for a, b in [(0, 1), (2, 0), (1, 2)]:
        single = run_tool(SPEC, ctx, {"target": heads[a], "source": heads[b], "n": 4})
        assert directed[a, b] == pytest.approx(single.result.swaps[0].js_distance, abs=1e-6)
    sym = np.array(sweep.result.distances)
    assert np.allclose(sym, sym.T) and np.allclose(sym, (directed + directed.T) / 2)
    for bad in ({"among": ["L0.H1"]}, {"among": heads, "target": "L0.H1"}, {"target": "L0.H1"},
                {"among": ["L0.H1", "L0.H1"]}, {"among": ["L0.H1", "L1.MLP"]}):
        assert not run_tool(SPEC, ctx, bad).ok, bad
