"""Choosing the circuit by faithfulness: the choice rule by hand, the curve against plain mean ablation."""

from __future__ import annotations

import pytest

from engine.evaluation.circuit_choice import PrefixCurve, circuit_parts, prefix_curve
from engine.tasks import load_task
from tests.evaluation.ablation_reference import every_component, plain_metric
from tools.base import ToolContext, run_tool
from tools.registry import get_tool


def _curve(fs: list[float | None]) -> PrefixCurve:
    ranking = [f"L{i}.H0" for i in range(len(fs))]
    return PrefixCurve(ranking=ranking, sizes=list(range(1, len(fs) + 1)), f=fs, m_full=1.0, m_empty=0.0,
                       ablated="heads and MLPs")


def test_the_smallest_prefix_reaching_the_target_else_the_most_faithful():
    assert _curve([0.2, 0.85, 0.9, 0.7]).choose(0.8)[0] == 2
    size, reason = _curve([0.2, 0.5, 0.5, 0.4]).choose(0.8)
    assert size == 2 and "none of up to 4" in reason and "0.50 at 2" in reason  # a tie keeps the smaller
    assert _curve([None, None]).choose(0.8)[0] == 2 and "undefined" in _curve([None]).choose()[1]


@pytest.fixture(scope="module")
def gpt2(load):
    return load("tiny-gpt2")


def _plain_metric(target, data, keep: set[str]) -> float:
    """The metric with every head and MLP outside ``keep`` mean-ablated (independent reference)."""
    return plain_metric(target, data, [c for c in every_component(target) if c not in keep])


def test_prefix_curve_and_parts_match_plain_mean_ablation(gpt2):
    data = load_task("ioi", gpt2, n=8)
    ranking = ["L1.H0", "L0.MLP", "L2.H2", "L1.MLP"]
    curve = prefix_curve(gpt2, data, ranking)
    full, empty = _plain_metric(gpt2, data, set(every_component(gpt2))), _plain_metric(gpt2, data, set())
    assert curve.m_full == pytest.approx(full, abs=1e-4) and curve.m_empty == pytest.approx(empty, abs=1e-4)
    for k in (1, 3):
        plain = (_plain_metric(gpt2, data, set(ranking[:k])) - empty) / (full - empty)
        assert curve.f[curve.sizes.index(k)] == pytest.approx(plain, abs=1e-3)
    parts = circuit_parts(gpt2, data, core=ranking[:2], opposing=["L2.H2"])
    plain_core = (_plain_metric(gpt2, data, set(ranking[:2])) - empty) / (full - empty)
    assert parts["heads_and_mlps"]["without_opposing"] == pytest.approx(plain_core, abs=1e-3)
    assert parts["heads_and_mlps"]["with_opposing"] == pytest.approx(curve.f[curve.sizes.index(3)], abs=1e-6)


def test_the_tool_reports_the_curve_and_its_choice(gpt2):
    data = load_task("ioi", gpt2, n=8)
    ctx = ToolContext(target=gpt2, data=data)
    out = run_tool(get_tool("faithfulness"), ctx, {"components": ["L1.H0", "L0.MLP", "L2.H2"], "target_f": 0.5})
    assert out.ok, out.error
    res = out.result
    fs = [p.f for p in res.curve]
    reached = [p.size for p in res.curve if p.f is not None and p.f >= 0.5]
    assert res.chosen_size == (min(reached) if reached else max(res.curve, key=lambda p: p.f).size)
    empty = _plain_metric(gpt2, data, set())
    full = _plain_metric(gpt2, data, set(every_component(gpt2)))
    assert fs[0] == pytest.approx((_plain_metric(gpt2, data, {"L1.H0"}) - empty) / (full - empty), abs=1e-3)
    bad = run_tool(get_tool("faithfulness"), ctx, {"components": ["L1.RESID"]})
    assert not bad.ok and "L1.RESID" in bad.error
