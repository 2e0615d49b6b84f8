"""Durable execution in-process: a run that dies mid-node resumes with no experiment lost or doubled."""

from __future__ import annotations

import pytest

from agents.nodes import common
from agents.session import ExplainConfig, resume_explain, run_explain
from store import count_experiments, get_run, load_run_for_audit, open_store


def _config(**kw) -> ExplainConfig:
    return ExplainConfig(task="ioi", model="tiny-gpt2", n=4, evaluate=False, **kw)


def crash_after(monkeypatch, steps: int) -> None:
    """Make the process 'die' (SystemExit) right after the ``steps``-th experiment is recorded."""
    real, calls = common.call_tool, []

    def call_then_maybe_crash(*args, **kwargs):
        outcome = real(*args, **kwargs)
        calls.append(outcome)
        if len(calls) >= steps:
            raise SystemExit(f"simulated crash after {steps} experiments")
        return outcome

    monkeypatch.setattr(common, "call_tool", call_then_maybe_crash)


@pytest.mark.parametrize("crash_at", [1, 7, 15])
def test_crash_then_resume_matches_an_uninterrupted_run(tmp_path, load, monkeypatch, crash_at):
    with open_store(f"sqlite:///{tmp_path / 'a.db'}") as st:
        whole = run_explain(_config(), st)
        expected = count_experiments(st, whole.run_id)
        expected_hyps = len(load_run_for_audit(st, whole.run_id)["hypotheses"])
    with open_store(f"sqlite:///{tmp_path / 'b.db'}") as st:
        with monkeypatch.context() as patch, pytest.raises(SystemExit):
            crash_after(patch, crash_at)
            run_explain(_config(), st, run_id="run-crashy")
        assert get_run(st, "run-crashy").status == "running"
        assert count_experiments(st, "run-crashy") == crash_at
        done = resume_explain("run-crashy", st)
        assert done.status == "finished"
        assert count_experiments(st, "run-crashy") == expected
        audit = load_run_for_audit(st, "run-crashy")
        assert len(audit["hypotheses"]) == expected_hyps
        assert [c["id"] for c in done.explanation["components"]] == [c["id"] for c in whole.explanation["components"]]
        # resuming a finished run reads it back
        again = resume_explain("run-crashy", st)
        assert again.explanation == done.explanation and count_experiments(st, "run-crashy") == expected


def test_step_budget_stops_cleanly(db, load):
    with open_store(db) as st:
        out = run_explain(_config(max_steps=13), st)
        run = get_run(st, out.run_id)
    assert run.status == "stopped"
    assert "step budget spent" in run.stop_reason
    assert out.explanation["components"]  # what was studied is still explained
    assert len(out.explanation["components"]) < len(out.circuit)
