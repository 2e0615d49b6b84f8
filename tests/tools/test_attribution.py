"""Attribution patching is the first-order term of exact patching."""

from __future__ import annotations

import json

import pytest

from engine.attribution import attribution_sweep
from engine.components import all_heads, all_mlps, all_resids
from engine.patching import patch_sweep
from engine.tasks import TaskData
from tools.base import ToolContext, run_tool
from tools.registry import get_tool


@pytest.mark.parametrize("direction", ["noising", "denoising"])
@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2", "tiny-neox"])
def test_exact_over_atp_tends_to_one_as_eps_shrinks(load, data, name, direction):
    """Patch ``clean + eps * (corrupt - clean)``: exact(eps) = eps * AtP + O(eps^2)."""
    target, task = load(name), data(name, "induction")  # IOI's counterbalanced couples cancel on random weights
    n_layers = target.n_layers
    comps = [c.id for c in all_heads(n_layers, target.n_heads) + all_mlps(n_layers) + all_resids(n_layers)[1:]]
    atp = attribution_sweep(target, task, comps, direction).effects
    checked = [c for c in comps if abs(atp[c]) > 0.2]  # large enough to sit well above float32 noise
    assert len(checked) >= 2
    worst = {}
    for eps in (0.1, 0.01, 0.001):
        exact = patch_sweep(target, task, checked, direction, alpha=eps).effects
        worst[eps] = max(abs(exact[c] / (eps * atp[c]) - 1) for c in checked)
    # the relative error is O(eps): it shrinks about tenfold from 0.1 to 0.01 and is small at 1e-3,
    # where float32 rounding of the logits (~1e-6 relative) is already a visible share of eps * AtP
    assert worst[0.001] < 0.03, worst
    assert worst[0.01] < worst[0.1] / 3, worst


def test_atp_positions_restrict_the_sum(load, data):
    target, full = load("tiny-llama"), data("tiny-llama")
    task = TaskData(full.task, full.buckets[:1])  # one prompt length
    comps = ["L1.H0", "L2.MLP", "L1.RESID"]
    total = attribution_sweep(target, task, comps).effects
    parts = [attribution_sweep(target, task, comps, positions=[p]).effects for p in range(task.buckets[0].seq_len)]
    for c in comps:
        assert sum(p[c] for p in parts) == pytest.approx(total[c], abs=1e-4)
    assert len({round(p["L1.H0"], 6) for p in parts}) > 2
    end = attribution_sweep(target, task, comps, positions=["END"]).effects
    minus_one = attribution_sweep(target, task, comps, positions=[-1]).effects
    assert end == pytest.approx(minus_one, abs=1e-6)


def test_attribution_tool_verifies_top(load, data):
    ctx = ToolContext(load("tiny-llama"), data("tiny-llama"))
    out = run_tool(get_tool("attribution_patching"), ctx, {"components": "all", "verify_top": 3, "top_k": 5})
    assert out.ok, out.error
    res = out.result
    assert len(res.effects) == 3 * 6 + 3  # every head and MLP
    assert len(res.top) == 5 and len(res.verified) == 3
    exact = patch_sweep(ctx.target, ctx.data, list(res.verified)).effects
    for cid, pair in res.verified.items():
        assert pair.exact == pytest.approx(exact[cid], abs=1e-5)
        assert pair.estimate == pytest.approx(res.effects[cid])
    assert "AtP" in out.summary and len(out.summary) <= 600


@pytest.mark.parametrize(("method", "steps"), [("atp*", 5), ("ig", 2)])
def test_attribution_tool_runs_the_chosen_variant(load, data, method, steps):
    ctx = ToolContext(load("tiny-gpt2"), data("tiny-gpt2"))
    comps = ["L0.H1", "L1.H0", "L2.MLP"]
    out = run_tool(get_tool("attribution_patching"), ctx, {"components": comps, "method": method, "ig_steps": steps})
    assert out.ok, out.error
    res = out.result
    assert res.method == "attribution" and res.variant == method
    assert res.ig_steps == (steps if method == "ig" else None)
    want = attribution_sweep(ctx.target, ctx.data, comps, method=method, ig_steps=steps).effects
    assert res.effects == pytest.approx(want, abs=1e-4)
    # the variant survives the stored JSON form (what a resumed run and the report read back)
    stored = get_tool("attribution_patching").parse_result(json.loads(res.model_dump_json()))
    assert stored.variant == method and stored.ig_steps == res.ig_steps
    assert out.summary.startswith("AtP*" if method == "atp*" else "IG (2 steps)")
    bad = run_tool(get_tool("attribution_patching"), ctx, {"components": comps, "method": "magic"})
    assert not bad.ok and "method" in bad.error
