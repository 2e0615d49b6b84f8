"""Round trip: everything written about a run comes back, linked, as JSON."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import numpy as np
import pytest
from rich.console import Console

from store import (
    StoreError,
    add_experiment,
    add_hypothesis,
    add_message,
    add_tokens,
    count_experiments,
    find_experiment,
    finish_run,
    get_experiment,
    get_explanation,
    get_run,
    link_evidence,
    list_evaluations,
    list_runs,
    load_array,
    load_run_for_audit,
    resume_run,
    save_array,
    save_evaluation,
    save_explanation,
    start_run,
    update_hypothesis,
    update_run_meta,
)
from store.render import audit_timeline, runs_table


def _write_run(store):
    """A small but complete research run; returns the ids written."""
    run = start_run(
        store, task="ioi", model="smollm2-135m", agent="scripted",
        config={"max_steps": 5, "circuit": ["L3.H1", "L5.MLP"]}, code_version="0.1.0+abc",
        seed=7, meta={"host": "test"},
    )  # fmt: skip
    h1 = add_hypothesis(store, run, "L3.H1 moves the name", component="L3.H1", confidence=0.4)
    h2 = add_hypothesis(store, run, "L5.MLP boosts the answer", component="L5.MLP")
    h3 = add_hypothesis(store, run, "circuit-level: names are moved", parent_id=h1)
    e1 = add_experiment(
        store, run, "attention_pattern", {"component": "L3.H1"}, "attends to IO",
        {"weights": [0.9, 0.1]}, 0.25, idempotency_key="k1", component="L3.H1",
        hypothesis_ids=[h1],
    )  # fmt: skip
    e2 = add_experiment(
        store, run, "ablate", {"component": "L5.MLP"}, "no effect", {"effect": 0.01}, 0.5,
        idempotency_key="k2", component="L5.MLP",
    )  # fmt: skip
    e3 = add_experiment(store, run, "broken", {}, "", None, 0.0, error="boom", idempotency_key="k3")
    update_hypothesis(store, h1, "supported", "attends to IO", experiment_id=e1, confidence=0.9)
    link_evidence(store, h2, e2, "tests")
    update_hypothesis(store, h2, "refuted", "ablation has no effect", experiment_id=e2)
    m1 = add_message(store, run, "system", "You are a researcher.")
    m2 = add_message(
        store, run, "assistant", "", provider="openai", model="gpt-x",
        tool_calls=[{"id": "call_1", "name": "ablate", "args": {"component": "L5.MLP"}}],
        prompt_tokens=100, completion_tokens=20,
    )  # fmt: skip
    m3 = add_message(store, run, "tool", "no effect", tool_call_id="call_1", name="ablate")
    add_tokens(store, run, 100, 20, 0.002)
    add_tokens(store, run, 50, 10, 0.001)
    save_explanation(
        store, run, "first draft", [{"id": "L3.H1", "role": "x", "evidence": []}], [], ["L3.H1"]
    )
    components = [
        {"id": "L3.H1", "role": "name mover", "description": "copies IO", "evidence": [e1]},
        {"id": "L5.MLP", "role": "none", "description": "irrelevant", "evidence": [e2]},
    ]
    clusters = [{"name": "name mover", "description": "copy names", "members": ["L3.H1"]}]
    save_explanation(store, run, "L3.H1 moves the name.", components, clusters, ["L3.H1"])
    ev1 = save_evaluation(store, run, "interchangeability", {"silhouette": 0.5, "z": 3.1},
                          {"n_random": 200})  # fmt: skip
    ev2 = save_evaluation(store, run, "faithfulness", {"normalized": float("nan")})
    sha = save_array(store, np.arange(12, dtype=np.float32).reshape(3, 4), run_id=run)
    update_run_meta(store, run, {"thread": "t-1"})
    finish_run(store, run, "finished", "evidence suffices")
    return {
        "run": run, "h": [h1, h2, h3], "e": [e1, e2, e3], "m": [m1, m2, m3],
        "ev": [ev1, ev2], "sha": sha,
    }  # fmt: skip


def test_round_trip_links_everything(store):
    ids = _write_run(store)
    audit = load_run_for_audit(store, ids["run"])
    json.dumps(audit)  # plain JSON all the way down
    assert set(audit) == {
        "run", "hypotheses", "experiments", "messages", "explanation", "evaluations", "artifacts",
        "unanswered_tool_calls", "process",
    }  # fmt: skip

    run = audit["run"]
    assert run["id"] == ids["run"] and run["id"].startswith("run-") and len(run["id"]) == 16
    assert (run["task"], run["model"], run["agent"], run["seed"]) == (
        "ioi", "smollm2-135m", "scripted", 7,
    )  # fmt: skip
    assert run["status"] == "finished" and run["stop_reason"] == "evidence suffices"
    assert (run["prompt_tokens"], run["completion_tokens"]) == (150, 30)
    assert run["cost_usd"] == pytest.approx(0.003)
    assert run["meta"] == {"host": "test", "thread": "t-1"}
    canonical = json.dumps(run["config"], sort_keys=True, separators=(",", ":"))
    assert run["config_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    finished = dt.datetime.fromisoformat(run["finished_at"])
    assert finished.tzinfo is not None
    assert dt.datetime.fromisoformat(run["created_at"]) <= finished

    h1, h2, h3 = ids["h"]
    e1, e2, e3 = ids["e"]
    hyps = {h["id"]: h for h in audit["hypotheses"]}
    assert list(hyps) == [h1, h2, h3]
    assert hyps[h1]["status"] == "supported" and hyps[h1]["confidence"] == 0.9
    assert hyps[h1]["evidence"] == [e1]
    assert hyps[h1]["evidence_links"] == [{"experiment_id": e1, "relation": "supports"}]
    assert [(c["old"], c["new"], c["experiment_id"]) for c in hyps[h1]["status_history"]] == [
        ("proposed", "supported", e1)
    ]
    assert hyps[h2]["status"] == "refuted"
    assert hyps[h2]["evidence_links"] == [{"experiment_id": e2, "relation": "refutes"}]
    assert hyps[h2]["status_history"][0]["reason"] == "ablation has no effect"
    assert hyps[h3]["parent_id"] == h1 and hyps[h3]["component"] is None
    assert hyps[h3]["evidence"] == [] and hyps[h3]["status_history"] == []

    exps = audit["experiments"]
    assert [e["id"] for e in exps] == [e1, e2, e3]
    assert [e["seq"] for e in exps] == [1, 2, 3]
    assert exps[0]["hypotheses"] == [h1] and exps[1]["hypotheses"] == [h2]
    assert exps[2]["hypotheses"] == [] and exps[2]["error"] == "boom"
    assert exps[0]["args"] == {"component": "L3.H1"}
    assert exps[0]["result"] == {"weights": [0.9, 0.1]}
    assert exps[0]["wall_time_s"] == 0.25 and exps[0]["component"] == "L3.H1"

    msgs = audit["messages"]
    assert [m["role"] for m in msgs] == ["system", "assistant", "tool"]
    assert [m["seq"] for m in msgs] == [1, 2, 3]
    assert msgs[1]["tool_calls"][0]["name"] == "ablate"
    assert msgs[1]["provider"] == "openai" and msgs[1]["prompt_tokens"] == 100
    assert msgs[2]["tool_call_id"] == "call_1"

    expl = audit["explanation"]
    assert expl["summary"] == "L3.H1 moves the name."  # replaced, not appended
    assert expl["components"][0] == {
        "id": "L3.H1", "role": "name mover", "description": "copies IO", "evidence": [e1],
    }  # fmt: skip
    assert expl["clusters"] == [
        {"name": "name mover", "description": "copy names", "members": ["L3.H1"]}
    ]
    assert expl["circuit"] == ["L3.H1"]

    evals = audit["evaluations"]
    assert [e["kind"] for e in evals] == ["interchangeability", "faithfulness"]
    assert evals[0]["scores"] == {"silhouette": 0.5, "z": 3.1}
    assert evals[0]["params"] == {"n_random": 200}
    assert evals[1]["scores"] == {"normalized": None}  # NaN is not JSON

    (art,) = audit["artifacts"]
    assert art["sha256"] == ids["sha"] and art["shape"] == [3, 4] and art["dtype"] == "float32"
    assert np.array_equal(
        load_array(store, ids["sha"]), np.arange(12, dtype=np.float32).reshape(3, 4)
    )


def test_targeted_reads(store):
    ids = _write_run(store)
    run = ids["run"]
    assert get_run(store, run).status == "finished"
    assert count_experiments(store, run) == 3
    assert count_experiments(store, "run-unknown") == 0
    found = find_experiment(store, run, "k2")
    assert found is not None and found["id"] == ids["e"][1] and found["hypotheses"] == [ids["h"][1]]
    assert find_experiment(store, run, "nope") is None
    assert get_experiment(store, ids["e"][0])["tool"] == "attention_pattern"
    assert get_experiment(store, 10**9) is None
    assert get_explanation(store, run)["circuit"] == ["L3.H1"]
    assert [e["kind"] for e in list_evaluations(store, run, kind="faithfulness")] == [
        "faithfulness"
    ]
    resume_run(store, run)
    again = get_run(store, run)
    assert again.status == "running" and again.finished_at is None and again.stop_reason is None


def test_list_runs_filters(store):
    a = start_run(store, task="ioi", model="m1", agent="scripted")
    b = start_run(store, task="induction", model="m1", agent="openai:gpt")
    c = start_run(store, task="ioi", model="m2", agent="scripted", parent_run_id=a)
    finish_run(store, b, "failed", "crash")
    assert [r.id for r in list_runs(store)] == [c, b, a]
    assert {r.id for r in list_runs(store, task="ioi")} == {a, c}
    assert [r.id for r in list_runs(store, model="m1", agent="openai:gpt")] == [b]
    assert [r.id for r in list_runs(store, status="failed")] == [b]
    assert len(list_runs(store, limit=2)) == 2
    created_b = get_run(store, b).created_at
    assert {r.id for r in list_runs(store, since=created_b)} == {b, c}
    assert [r.id for r in list_runs(store, until=created_b)] == [a]
    naive = created_b.astimezone(dt.UTC).replace(tzinfo=None)  # naive means UTC
    assert {r.id for r in list_runs(store, since=naive)} == {b, c}
    assert {r.id for r in list_runs(store, since=created_b.isoformat())} == {b, c}
    assert list_runs(store, since="2999-01-01") == []
    assert get_run(store, c).parent_run_id == a


def test_validation_errors(store):
    run = start_run(store, task="ioi", model="m", agent="scripted")
    other = start_run(store, task="ioi", model="m", agent="scripted")
    foreign = add_experiment(store, other, "t", {}, "", {}, idempotency_key="x")
    hyp = add_hypothesis(store, run, "claim")
    with pytest.raises(ValueError, match="cites experiments"):
        save_explanation(store, run, "s", [{"id": "L0.H0", "evidence": [foreign]}])
    with pytest.raises(ValueError, match="'id'"):
        save_explanation(store, run, "s", [{"role": "no id"}])
    with pytest.raises(StoreError, match="belongs to run"):
        link_evidence(store, hyp, foreign)
    with pytest.raises(StoreError, match="belongs to run"):
        update_hypothesis(store, hyp, "supported", "x", experiment_id=foreign)
    with pytest.raises(ValueError, match="status"):
        update_hypothesis(store, hyp, "maybe", "x")
    with pytest.raises(ValueError, match="status"):
        finish_run(store, run, "done")
    with pytest.raises(ValueError, match="role"):
        add_message(store, run, "robot", "hi")
    with pytest.raises(StoreError, match="already exists"):
        start_run(store, task="ioi", model="m", agent="a", run_id=run)
    assert get_explanation(store, run) is None
    assert load_run_for_audit(store, run)["explanation"] is None


def test_artifacts_are_content_addressed(store, tmp_path):
    run = start_run(store, task="ioi", model="m", agent="scripted")
    array = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float16)
    sha = save_array(store, array, run_id=run)
    assert save_array(store, array.copy(), run_id=run) == sha  # no-op
    files = [p for p in store.artifact_dir.rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].name == f"{sha}.npy"
    assert len(load_run_for_audit(store, run)["artifacts"]) == 1
    loaded = load_array(store, sha)
    assert loaded.dtype == np.float16 and np.array_equal(loaded, array)
    raw = save_array(store, b"\x00\x01raw bytes")
    assert load_array(store, raw) == b"\x00\x01raw bytes"
    files[0].write_bytes(b"tampered")
    with pytest.raises(StoreError, match="corrupted"):
        load_array(store, sha)
    with pytest.raises(StoreError, match="No artifact"):
        load_array(store, "0" * 64)


def test_renderers(store):
    ids = _write_run(store)
    # user text is never parsed as rich markup (an unbalanced tag would raise)
    add_message(store, ids["run"], "assistant", "see [/oops] and [bold]x[/bold]")
    add_hypothesis(store, ids["run"], "[red]literal[/red] brackets")
    console = Console(width=200, record=True, color_system=None)
    console.print(runs_table(list_runs(store)))
    audit = load_run_for_audit(store, ids["run"])
    console.print(audit_timeline(audit))
    text = console.export_text()
    local = {e["id"]: e["seq"] for e in audit["experiments"]}  # experiments are shown as E<seq>, run-local
    e1, e2, _ = ids["e"]
    for expected in (
        ids["run"], "smollm2-135m", "finished", "180",  # tokens 150 + 30
        f"H{ids['h'][0]} supported", f"supports: E{local[e1]} attention_pattern",
        f"refutes: E{local[e2]} ablate", "proposed → supported", "attends to IO",
        "error: boom", "name mover", "copy names", "interchangeability", "[tool calls: ablate]",
        "silhouette 0.5 · z 3.1", "normalized None",  # scalar scores in full, not cut JSON
        "[/oops]", "[bold]x[/bold]", "[red]literal[/red]",
    ):  # fmt: skip
        assert expected in text, expected


def test_audit_names_tool_calls_whose_replies_were_lost(store):
    run = start_run(store, task="ioi", model="m", agent="openai:gpt-test")
    calls = [{"id": "call_0", "name": "ablate", "args": {}}, {"id": "call_1", "name": "ablate", "args": {}}]
    add_message(store, run, "assistant", "", tool_calls=calls)
    add_message(store, run, "tool", "ok", tool_call_id="call_0")
    add_message(store, run, "tool", "ok", tool_call_id="call_1")
    second = add_message(store, run, "assistant", "", tool_calls=calls)
    add_message(store, run, "tool", "ok", tool_call_id="call_0")  # the reply to call_1 never reached the store
    add_message(store, run, "assistant", "done")
    audit = load_run_for_audit(store, run)
    assert [(g["message_id"], g["tool_calls"], g["replies"]) for g in audit["unanswered_tool_calls"]] == [
        (second, 2, 1)]
    console = Console(width=200, record=True, color_system=None)
    console.print(audit_timeline(audit))
    assert "incomplete trace: 1 LLM message(s) with tool calls that have no recorded reply" in console.export_text()
