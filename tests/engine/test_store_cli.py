"""`autointerp runs` / `audit`: the CLI round-trips what the store holds, errors are one sentence."""

from __future__ import annotations

import json
import subprocess
import sys

from store import (
    add_experiment,
    add_hypothesis,
    add_message,
    link_evidence,
    load_run_for_audit,
    open_store,
    save_evaluation,
    save_explanation,
    start_run,
    update_hypothesis,
)


def autointerp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autointerp.cli.app", *args], capture_output=True, text=True, timeout=120)


def make_run(url: str) -> str:
    with open_store(url) as st:
        run_id = start_run(st, task="ioi", model="tiny-gpt2", agent="scripted", config={"n": 4}, seed=1)
        exp = add_experiment(st, run_id, "ablation", {"components": ["L1.H2"], "kind": "mean"}, "effect -0.4",
                             {"effect": -0.4}, 0.01, idempotency_key="k1", component="L1.H2")
        hyp = add_hypothesis(st, run_id, "L1.H2 moves the IO name", component="L1.H2")
        link_evidence(st, hyp, exp, "supports")
        update_hypothesis(st, hyp, "supported", "ablation hurts the metric", experiment_id=exp)
        add_message(st, run_id, "assistant", "I will ablate L1.H2.")
        save_explanation(st, run_id, "one head", [{"id": "L1.H2", "role": "mover", "description": "moves",
                                                   "evidence": [exp]}],
                         [{"name": "mover", "description": "moves", "members": ["L1.H2"]}], ["L1.H2"])
        save_evaluation(st, run_id, "faithfulness", {"normalized": 0.8}, {"ablation": "mean"})
    return run_id


def test_audit_json_round_trips_the_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    run_id = make_run(url)
    proc = autointerp("audit", run_id, "--db", url, "--json")
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    with open_store(url) as st:
        expected = json.loads(json.dumps(load_run_for_audit(st, run_id), default=str))
    assert printed == expected
    assert set(printed) >= {"run", "hypotheses", "experiments", "messages", "explanation", "evaluations"}
    exp_id = printed["experiments"][0]["id"]
    assert printed["hypotheses"][0]["evidence"] == [exp_id]
    assert printed["experiments"][0]["hypotheses"] == [printed["hypotheses"][0]["id"]]
    assert printed["explanation"]["components"][0]["evidence"] == [exp_id]
    timeline = autointerp("audit", run_id, "--db", url)
    assert timeline.returncode == 0 and "L1.H2 moves the IO name" in timeline.stdout


def test_runs_lists_and_filters(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    run_id = make_run(url)
    listed = json.loads(autointerp("runs", "--db", url, "--json").stdout)["runs"]
    assert [r["id"] for r in listed] == [run_id]
    none = json.loads(autointerp("runs", "--db", url, "--task", "induction", "--json").stdout)["runs"]
    assert none == []


def test_unknown_run_and_unreachable_db_are_one_sentence(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    make_run(url)
    for args in (("audit", "run-nope", "--db", url),
                 ("audit", "x", "--db", "postgresql://user:hunter2@127.0.0.1:1/db")):
        proc = autointerp(*args)
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and "hunter2" not in proc.stderr
