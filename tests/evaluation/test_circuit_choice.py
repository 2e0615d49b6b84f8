"""Choosing the circuit by faithfulness: the choice rule by hand, greedy selection against plain mean ablation.

The planted case: two heads of a tiny model rewritten to cancel exactly (same
query and value, opposite output weights). Each has a large effect when
ablated alone, so a prefix by single-component effect takes the pair, which
together carries nothing; greedy selection must not, and every step it takes
must be the best addition by an independent one-forward-per-set loop.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools

import pytest
import torch

from engine import runner
from engine.ablation import ablation_edits
from engine.adapters import adapter_for
from engine.evaluation.circuit_choice import (
    GreedyCurve,
    circuit_parts,
    greedy_circuit,
    restoration_gradients,
)
from engine.hooks import trace
from engine.tasks import load_task, logit_diff
from tests.evaluation.ablation_reference import every_component, plain_f, plain_metric
from tools.base import ToolContext, run_tool
from tools.registry import get_tool


def _curve(fs: list[float | None]) -> GreedyCurve:
    order = [f"L{i}.H0" for i in range(len(fs))]
    return GreedyCurve(order=order, sizes=list(range(1, len(fs) + 1)), f=fs, m_full=1.0, m_empty=0.0,
                       ablated="heads and MLPs")


def test_the_smallest_size_reaching_the_target_else_the_most_faithful():
    assert _curve([0.2, 0.85, 0.9, 0.7]).choose(0.8)[0] == 2
    size, reason = _curve([0.2, 0.5, 0.5, 0.4]).choose(0.8)
    assert size == 2 and "none of up to 4" in reason and "0.50 at 2" in reason  # a tie keeps the smaller
    assert _curve([None, None]).choose(0.8)[0] == 2 and "undefined" in _curve([None]).choose()[1]


@pytest.fixture(scope="module")
def gpt2(load):
    return load("tiny-gpt2")


D_HEAD = 16  # tiny-llama's head dimension


@pytest.fixture(scope="module")
def cancelling(load):
    """tiny-llama with L1.H1 = -L1.H0 (shared KV group, copied query, negated and scaled output weights)."""
    base = load("tiny-llama")
    clone = copy.deepcopy(base.model)
    attn = clone.model.layers[1].self_attn
    with torch.no_grad():
        attn.q_proj.weight[D_HEAD:2 * D_HEAD] = attn.q_proj.weight[:D_HEAD]
        attn.o_proj.weight[:, :D_HEAD] *= 8.0
        attn.o_proj.weight[:, D_HEAD:2 * D_HEAD] = -attn.o_proj.weight[:, :D_HEAD]
    return dataclasses.replace(base, model=clone, adapter=adapter_for(clone))


POOL = ["L1.H0", "L1.H1", "L0.MLP", "L2.H1", "L2.MLP", "L2.H0", "L2.H3", "L0.H2"]


def test_greedy_skips_a_cancelling_pair_that_a_prefix_by_single_effect_takes(cancelling):
    # 16 pairs: with 8 the pair's effects were lopsided (each template's own corrupt prompts were one prompt)
    target, data = cancelling, load_task("ioi", cancelling, n=16)
    base = plain_metric(target, data, [])
    single = {c: plain_metric(target, data, [c]) - base for c in POOL}
    prefix = sorted(POOL, key=lambda c: -abs(single[c]))[:2]
    assert sorted(prefix) == ["L1.H0", "L1.H1"]  # the planted pair dominates single-component effects
    # brute force over every subset of up to two, one plain forward per set
    f = {frozenset(s): plain_f(target, data, s) for k in (1, 2) for s in itertools.combinations(POOL, k)}
    assert f[frozenset(prefix)] == pytest.approx(plain_f(target, data, []), abs=1e-4)  # together: nothing

    curve = greedy_circuit(target, data, POOL, target_f=0.99, cap=2)
    first = max(POOL, key=lambda c: f[frozenset([c])])
    second = max((c for c in POOL if c != first), key=lambda c: f[frozenset([first, c])])
    assert curve.order == [first, second] and curve.sizes == [1, 2]
    assert curve.f[0] == pytest.approx(f[frozenset([first])], abs=1e-3)
    assert curve.f[1] == pytest.approx(f[frozenset([first, second])], abs=1e-3)
    assert set(curve.order) != set(prefix) and curve.f[1] > f[frozenset(prefix)] + 0.1


def test_greedy_stops_at_the_target_and_starts_from_the_given_set(cancelling):
    target, data = cancelling, load_task("ioi", cancelling, n=8)
    start = ["L2.MLP"]
    f_start = plain_f(target, data, start)
    options = {c: plain_f(target, data, start + [c]) for c in POOL if c not in start}
    best = max(options, key=lambda c: options[c])
    # a target just below the best first addition: one step, then stop
    curve = greedy_circuit(target, data, POOL, start=start, target_f=options[best] - 1e-3, cap=5)
    assert curve.order == start + [best] and curve.sizes == [1, 2]
    assert curve.f == pytest.approx([f_start, options[best]], abs=1e-3)
    assert curve.choose(options[best] - 1e-3)[0] == 2


def _plain_metric(target, data, keep: set[str]) -> float:
    """The metric with every head and MLP outside ``keep`` mean-ablated (independent reference)."""
    return plain_metric(target, data, [c for c in every_component(target) if c not in keep])


def test_parts_match_plain_mean_ablation(gpt2):
    data = load_task("ioi", gpt2, n=8)
    core, opposing = ["L1.H0", "L0.MLP"], ["L2.H2"]
    parts = circuit_parts(gpt2, data, core=core, opposing=opposing)
    full, empty = _plain_metric(gpt2, data, set(every_component(gpt2))), _plain_metric(gpt2, data, set())
    plain_core = (_plain_metric(gpt2, data, set(core)) - empty) / (full - empty)
    plain_all = (_plain_metric(gpt2, data, set(core + opposing)) - empty) / (full - empty)
    assert parts["heads_and_mlps"]["m_full"] == pytest.approx(full, abs=1e-4)
    assert parts["heads_and_mlps"]["without_opposing"] == pytest.approx(plain_core, abs=1e-3)
    assert parts["heads_and_mlps"]["with_opposing"] == pytest.approx(plain_all, abs=1e-3)
    heads_only = plain_f(gpt2, data, core + opposing, mlps=False)
    assert parts["heads"]["with_opposing"] == pytest.approx(heads_only, abs=1e-3)


def test_the_tool_reports_the_steps_and_its_choice(gpt2):
    data = load_task("ioi", gpt2, n=8)
    ctx = ToolContext(target=gpt2, data=data)
    pool = ["L1.H0", "L0.MLP", "L2.H2", "L1.MLP"]
    out = run_tool(get_tool("faithfulness"), ctx, {"components": pool, "start": ["L1.H0"], "target_f": 0.99,
                                                   "max_size": 3})
    assert out.ok, out.error
    res = out.result
    assert res.order[0] == "L1.H0" and len(res.order) == 3 and [p.size for p in res.curve] == [1, 2, 3]
    options = {c: plain_f(gpt2, data, ["L1.H0", c]) for c in pool[1:]}
    assert res.order[1] == max(options, key=lambda c: options[c])
    assert res.curve[1].f == pytest.approx(options[res.order[1]], abs=1e-3)
    reached = [p.size for p in res.curve if p.f is not None and p.f >= 0.99]
    best = max(res.curve, key=lambda p: (round(p.f, 6), -p.size))
    assert res.chosen_size == (min(reached) if reached else best.size)
    bad = run_tool(get_tool("faithfulness"), ctx, {"components": ["L1.RESID"]})
    assert not bad.ok and "L1.RESID" in bad.error
    # every head and MLP, shortlisted: the measured f of each step is the set's true f
    wide = run_tool(get_tool("faithfulness"), ctx, {"components": "all", "start": ["L1.H0"], "max_size": 3,
                                                    "target_f": 0.99, "shortlist": 3})
    assert wide.ok, wide.error
    assert wide.result.shortlist == 3 and wide.result.candidates == every_component(gpt2)
    for point in wide.result.curve:
        assert point.f == pytest.approx(plain_f(gpt2, data, wide.result.order[:point.size]), abs=1e-3)


def _interpolated_metric(target, data, alphas: dict[str, float]) -> float:
    """The metric with each listed component at ``mean + alpha (activation - mean)`` (plain hook loop)."""
    total = 0.0
    for bucket in data.buckets:
        ablated = ablation_edits(target, bucket, list(alphas), kind="mean")

        def mix(cid, ablated=ablated):
            return lambda cur: ablated[cid](cur) + alphas[cid] * (cur - ablated[cid](cur))

        with torch.no_grad(), trace(target.adapter, edit={c: mix(c) for c in alphas}):
            logits = runner.forward(target.adapter, bucket.clean)
        total += float(logit_diff(logits, bucket.answer, bucket.distractor).sum())
    return total / data.n_pairs


def test_restoration_gradients_match_finite_differences(gpt2):
    data = load_task("ioi", gpt2, n=8)
    universe = every_component(gpt2)
    kept = {"L1.H0", "L0.MLP"}
    grads = restoration_gradients(gpt2, data, kept, universe)
    eps = 1e-2
    base = {c: (1.0 if c in kept else 0.0) for c in universe}
    for cid in ["L2.H2", "L1.MLP", "L0.H3", "L1.H0"]:
        sign = -1.0 if cid in kept else 1.0  # step inside [0, 1]
        up = _interpolated_metric(gpt2, data, {**base, cid: base[cid] + sign * eps})
        estimate = (up - _interpolated_metric(gpt2, data, base)) / (sign * eps)
        assert grads[cid] == pytest.approx(estimate, rel=0.05, abs=2e-3)
    assert max(abs(v) for v in grads.values()) > 1e-2  # not a vacuous all-zero gradient


def test_a_shortlist_as_long_as_the_pool_is_exact_greedy_and_a_short_one_measures_true_f(cancelling):
    target, data = cancelling, load_task("ioi", cancelling, n=8)
    exact = greedy_circuit(target, data, POOL, target_f=0.99, cap=3)
    assert greedy_circuit(target, data, POOL, target_f=0.99, cap=3, shortlist=len(POOL)).order == exact.order
    short = greedy_circuit(target, data, POOL, target_f=0.99, cap=3, shortlist=2)
    assert short.shortlist == 2 and len(short.measured) == 3
    # each step measured the 2 candidates of largest estimated gain in f (gradient / span), in the pool's order
    span = plain_metric(target, data, []) - plain_metric(target, data, every_component(target))
    for k, measured in enumerate(short.measured):
        grads = restoration_gradients(target, data, set(short.order[:k]), every_component(target))
        left = [c for c in POOL if c not in short.order[:k]]
        top = sorted(left, key=lambda c: -grads[c] / span)[:2]
        assert measured == [c for c in left if c in top] and short.order[k] in measured
    assert greedy_circuit(target, data, POOL, target_f=0.99, cap=3).measured is None  # nothing shortlisted
    for k, f in zip(short.sizes, short.f, strict=True):  # each step's f is the set's true f, whatever was measured
        assert f == pytest.approx(plain_f(target, data, short.order[:k]), abs=1e-3)
