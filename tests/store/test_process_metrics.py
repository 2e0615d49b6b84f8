"""Research-process metrics against a hand-built trace whose figures are counted by hand."""

from __future__ import annotations

import re

import pytest

from autointerp.batch.summary import process_from_store, process_of
from autointerp.report.render import render_report
from store import (
    add_experiment,
    add_hypothesis,
    add_message,
    add_tokens,
    finish_run,
    load_run_for_audit,
    open_store,
    process_metrics,
    save_explanation,
    start_run,
    update_hypothesis,
)


@pytest.fixture
def trace(tmp_path):
    """Two components; every figure below is written out in the test, not recomputed."""
    st = open_store(f"sqlite:///{tmp_path / 'p.db'}", artifact_dir=tmp_path / "a")
    rid = start_run(st, task="ioi", model="tiny-gpt2", agent="openai:x")
    loc = add_experiment(st, rid, "attribution_patching", {}, "", {}, wall_time_s=2.0)
    a1 = add_experiment(st, rid, "logit_lens", {"c": 1}, "", {}, wall_time_s=0.5, component="L0.H1")
    a2 = add_experiment(st, rid, "attention_pattern", {"c": 2}, "", {}, wall_time_s=0.25, component="L0.H1")
    a3 = add_experiment(st, rid, "probe", {"c": 3}, "", None, error="boom", wall_time_s=0.0, component="L0.H1")
    b1 = add_experiment(st, rid, "ablation", {"c": 4}, "", {}, wall_time_s=1.0, component="L1.MLP")
    h = [add_hypothesis(st, rid, f"h{i}", component="L0.H1") for i in range(4)]
    update_hypothesis(st, h[0], "supported", "x", a1)
    update_hypothesis(st, h[1], "refuted", "y", a2)
    update_hypothesis(st, h[2], "inconclusive", "z")
    hb = add_hypothesis(st, rid, "hb", component="L1.MLP")
    update_hypothesis(st, hb, "refuted", "w", b1)
    add_hypothesis(st, rid, "circuit-level", component=None)
    # messages: two LLM turns about L0.H1 (one with tokens), a tool reply, one note about L1.MLP, a group turn
    add_message(st, rid, "assistant", "t1", prompt_tokens=100, completion_tokens=10,
                idempotency_key=f"{rid}:msg:L0.H1:turn2:abc")
    add_message(st, rid, "assistant", "t2", prompt_tokens=50, completion_tokens=5,
                idempotency_key=f"{rid}:msg:L0.H1:turn4:def")
    add_message(st, rid, "tool", "E2 ...", idempotency_key=f"{rid}:msg:L0.H1:3:tool0:c1")
    add_message(st, rid, "assistant", "decided", idempotency_key=f"{rid}:msg:describe:L1.MLP")
    add_message(st, rid, "assistant", "groups", prompt_tokens=7, completion_tokens=3,
                idempotency_key=f"{rid}:msg:group:reply")
    add_tokens(st, rid, 157, 18)
    save_explanation(st, rid, "s", [
        {"id": "L0.H1", "role": "a", "description": "d", "evidence": [a1, loc]},
        {"id": "L1.MLP", "role": "b", "description": "d", "evidence": [b1]},
    ], [{"name": "a", "members": ["L0.H1"]}, {"name": "b", "members": ["L1.MLP"]}], ["L0.H1", "L1.MLP"])
    finish_run(st, rid, "finished")
    yield st, rid, {"loc": loc, "a1": a1, "a2": a2, "a3": a3, "b1": b1}
    st.close()


def test_process_metrics_match_the_hand_count(trace):
    st, rid, ids = trace
    proc = process_metrics(st, rid)
    a, b = proc.components
    assert (a.component, b.component) == ("L0.H1", "L1.MLP")
    assert (a.tool_calls, a.failed_calls, a.iterations) == (3, 1, 2)
    assert (a.hypotheses, a.supported, a.refuted, a.inconclusive, a.open) == (4, 1, 1, 1, 1)
    assert (a.prompt_tokens, a.completion_tokens) == (150, 15)
    assert a.experiment_time_s == pytest.approx(0.75)
    assert a.cited == sorted([ids["a1"], ids["loc"]]) and a.cited_own == 1
    assert a.cited_share == pytest.approx(1 / 3)
    assert (b.tool_calls, b.iterations, b.hypotheses, b.refuted, b.cited_own, b.cited_share) == (1, 1, 1, 1, 1, 1.0)
    assert (b.prompt_tokens, b.completion_tokens) == (0, 0)
    # run level: 5 experiments, 4 assistant messages, 6 hypotheses (one circuit-level, still open)
    assert (proc.tool_calls, proc.failed_calls, proc.iterations, proc.hypotheses) == (5, 1, 4, 6)
    assert (proc.supported, proc.refuted, proc.inconclusive, proc.open) == (1, 2, 1, 2)
    assert (proc.prompt_tokens, proc.completion_tokens) == (157, 18)
    assert proc.experiment_time_s == pytest.approx(3.75)
    assert proc.experiments_cited == 3 and proc.cited_share == pytest.approx(3 / 5)
    assert proc.elapsed_s is not None and proc.elapsed_s >= 0


def test_audit_carries_the_process_metrics(trace):
    st, rid, _ = trace
    audit = load_run_for_audit(st, rid)
    assert audit["process"]["tool_calls"] == 5
    assert [c["component"] for c in audit["process"]["components"]] == ["L0.H1", "L1.MLP"]
    assert audit["process"]["components"][0]["refuted"] == 1


def test_report_and_batch_show_the_process_figures(trace):
    st, rid, _ = trace
    audit = load_run_for_audit(st, rid)
    html = render_report(audit)
    assert 'id="process"' in html
    # the L0.H1 row, in the column order of the table: calls 3, failed 1, iterations 2, hypotheses 4
    assert re.search(r"<td[^>]*>L0\.H1</td><td[^>]*>3</td><td[^>]*>1</td><td[^>]*>2</td><td[^>]*>4</td>", html)
    assert process_of(audit["process"]) == (5, 6, 2) == process_from_store(st, rid)
