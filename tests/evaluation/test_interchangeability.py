"""End to end on a tiny model: the swap matrix, the evaluation entry point, the tool, the helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.evaluation import evaluate_explanation, interpretation_line
from engine.evaluation.baselines import attention_role_clusters, role_attention
from engine.evaluation.interchangeability import interchangeability, measure_distances
from engine.evaluation.prompts import first_pairs
from engine.evaluation.ranking import ablation_attribution
from engine.models import load_model
from engine.tasks import load_task
from tests.evaluation.swap_reference import reference_ablation_effect, reference_swap_effects
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


def test_measured_distances_equal_the_independent_references(llama, data):
    heads = ["L2.H0", "L0.H3", "L1.H5"]
    measured = measure_distances(llama, data, heads, swaps_per_batch=4)
    directed, ablation = measured["directed"], measured["ablation"]
    assert np.all(np.diag(directed) == 0)
    for a, b in [(1, 2), (0, 1), (2, 0)]:
        ((js, _),) = reference_swap_effects(llama, data, [(heads[a], heads[b])])
        assert directed[a, b] == pytest.approx(js, abs=1e-5)
    for a, head in enumerate(heads):
        assert ablation[a] == pytest.approx(reference_ablation_effect(llama, data, head)[0], abs=1e-5)
    # the calibrated distance, by hand from the two: swaps into i relative to ablating i, then symmetrised
    a, b = 0, 2
    by_hand = 0.5 * (directed[a, b] / ablation[a] + directed[b, a] / ablation[b])
    assert measured["ablation-normalised"][a, b] == pytest.approx(by_hand, rel=1e-12)
    assert measured["js"][a, b] == pytest.approx(0.5 * (directed[a, b] + directed[b, a]), rel=1e-12)
    assert np.all(directed[~np.eye(3, dtype=bool)] > 0) and np.all(directed <= math.sqrt(math.log(2)))


def test_heads_made_identical_are_recovered_with_both_distances():
    """Planted truth: in a private tiny Llama, copy one head into the others of its KV group, two layers."""
    target = load_model("tiny-llama")
    groups = [(layer, hs) for layer in (1, 2) for hs in ([0, 1, 2], [3, 4, 5])]
    with torch.no_grad():
        for layer, hs in groups:
            src = target.adapter.head_params(layer, hs[0])
            for h in hs[1:]:
                dst = target.adapter.head_params(layer, h)
                for f in ("wq", "wo", "bq"):
                    if getattr(dst, f) is not None:
                        getattr(dst, f).copy_(getattr(src, f))
    data = load_task("ioi", target, n=6)
    clusters = [{"name": f"g{layer}{hs[0]}", "members": [f"L{layer}.H{h}" for h in hs]} for layer, hs in groups]
    out = interchangeability(target, data, clusters, "evidence", null_draws=300, seed=1)
    for scored in (out, out["by_distance"]["js"]):
        assert scored["silhouette"] == pytest.approx(1.0)  # copies swap for each other exactly
        assert scored["z"] > 3 and scored["layer_matched"]["z"] > 3
        assert scored["verdict"] == "beats random and layer-matched groupings"
    assert out["ceiling"]["silhouette"] == pytest.approx(1.0)


def test_interchangeability_output_fields(llama, data):
    out = interchangeability(llama, data, CLUSTERS, "evidence", null_draws=200, seed=1)
    assert out["components"] == ["L2.H0", "L2.H1", "L0.H2", "L0.H3", "L1.H0"]
    assert out["labels"] == ["movers", "movers", "early", "early", "early"]
    assert "L1.MLP" in out["note"] and "excluded" in out["note"]
    d = np.array(out["distance_matrix"])
    assert d.shape == (5, 5) and np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    assert out["distance"] == "ablation-normalised" and "natural log" in out["log_base"]
    assert out["n_components"] == 5 and out["n_clusters"] == 2 and out["n_singletons"] == 0
    assert out["roles_source"] == "evidence" and set(out["by_distance"]) == {"ablation-normalised", "js"}


def test_evaluate_explanation_and_interpretation_line(llama, data):
    calls: list[tuple[str, int, int]] = []
    result = evaluate_explanation(
        llama, data, CLUSTERS, "evidence", effects={"L2.H0": 1.0, "L0.H2": -0.5},
        progress=lambda *a: calls.append(a),
    )
    for stage in ("interchangeability", "faithfulness"):
        done, total = [c[1:] for c in calls if c[0] == stage][-1]
        assert done == total > 0
    assert result["faithfulness"]["circuit_size"] == 5  # the MLP is kept in every run (heads-only ablation)
    inter = result["interchangeability"]
    line = interpretation_line(result)
    assert f"silhouette {inter['silhouette']:.2f}" in line and "vs layer-matched" in line and inter["verdict"] in line
    assert "faithfulness" in line and "roles (evidence)" in line
    assert "positions" not in result["faithfulness"] and "stated positions" not in line  # none stated
    said = evaluate_explanation(llama, data, CLUSTERS, "evidence", positions={"L2.H0": ["END"], "L0.H2": None},
                                null_draws=200)
    pos = said["faithfulness"]["positions"]
    assert pos["kept"]["L2.H0"] == ["END"] and pos["kept"]["L0.H2"] is None and pos["restricted"] == 1
    assert f"stated positions f={pos['normalized']:.2f}" in interpretation_line(said)
    fitted = interpretation_line({"interchangeability": {**inter, "roles_source": "fitted_to_swaps",
                                                          "selection_aware": inter["layer_matched"]}})
    assert fitted.startswith("roles FITTED TO SWAPS")
    assert interpretation_line({"interchangeability": {"silhouette": None, "note": "one role"}}) == (
        "interchangeability undefined (one role; roles from unknown)"
    )


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
    from engine.hooks import trace
    from engine.tasks import logit_diff
    from tests.evaluation.ablation_reference import mean_by_template, mean_prompts

    head, alpha = "L1.H4", 1e-2
    (estimate,) = ablation_attribution(llama, data, [head]).values()

    def metric(a: float) -> float:
        total = 0.0
        for bucket in data.buckets:
            prompts, names = mean_prompts(bucket, data.task, llama.tokenizer, llama.prepend_bos)
            with torch.no_grad(), trace(llama.adapter, read=[head]) as cache:
                runner.forward(llama.adapter, prompts)
            mean = mean_by_template(cache[head], names, bucket.n)
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
