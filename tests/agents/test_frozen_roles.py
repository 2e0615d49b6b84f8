"""The evaluator's measurement is never the agent's input: roles are frozen before any swap, and stay frozen.

A default run makes no weight swap at all before its roles are frozen; the
evaluation reads the frozen roles back (hash checked) and records which
roles it scored; roles changed after freezing are refused, by the store and
by ``autointerp eval``; an LLM agent neither sees nor may run ``weight_swap``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from langchain_core.messages import AIMessage
from sqlalchemy import text

from autointerp import api
from store import (
    RolesChanged,
    freeze_roles,
    frozen_roles,
    load_run_for_audit,
    open_store,
    roles_hash,
    save_explanation,
)
from tests.agents.fakes import ToolCallingFake, call


@pytest.fixture(scope="module")
def scripted(tmp_path_factory, load):
    db = f"sqlite:///{tmp_path_factory.mktemp('frozen') / 'runs.db'}"
    run = api.explain(task="ioi", model="tiny-llama", db=db, n=8, target=load("tiny-llama"))
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    return db, run, audit


def _at(text_time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text_time)


def test_a_default_run_freezes_its_roles_before_any_swap(scripted):
    _, run, audit = scripted
    assert not [e for e in audit["experiments"] if e["tool"] == "weight_swap"]
    explanation = audit["explanation"]
    assert explanation["roles_source"] == "evidence" and len(explanation["roles_hash"]) == 64
    frozen_at = _at(explanation["frozen_at"])
    assert all(_at(e["created_at"]) <= frozen_at for e in audit["experiments"])  # every experiment came first
    evaluations = audit["evaluations"]
    assert {e["kind"] for e in evaluations} >= {"interchangeability", "faithfulness"}
    for e in evaluations:
        assert _at(e["created_at"]) >= frozen_at
        assert e["params"]["roles_hash"] == explanation["roles_hash"]
        assert e["params"]["roles_source"] == "evidence"
    # the hash is the roles' content: recomputed independently from the stored clusters
    assert roles_hash(explanation["clusters"]) == explanation["roles_hash"]
    inter = run.evaluation["interchangeability"]
    assert inter["roles_source"] == "evidence" and inter["selection_aware"] is None
    assert "layer_matched" in inter and "ceiling" in inter and "n_singletons" in inter


def test_frozen_roles_cannot_be_changed_and_a_tampered_row_is_refused(scripted, tmp_path):
    db, run, audit = scripted
    clusters = audit["explanation"]["clusters"]
    components = audit["explanation"]["components"]
    with open_store(db) as st:
        save_explanation(st, run.run_id, "same roles, new prose", components, clusters, run.circuit)  # allowed
        changed = [{**clusters[0], "members": clusters[0]["members"][:1]}, *clusters[1:]]
        with pytest.raises(RolesChanged, match="cannot be changed"):
            save_explanation(st, run.run_id, "x", components, changed, run.circuit)
        assert frozen_roles(st, run.run_id).clusters == clusters
        assert freeze_roles(st, run.run_id, "llm").roles_source == "evidence"  # freezing again changes nothing
        with st.engine.begin() as conn:  # behind the store's back
            conn.execute(text("UPDATE explanation SET clusters = :c WHERE run_id = :r"),
                         {"c": '[{"name": "all", "description": "", "members": []}]', "r": run.run_id})
        with pytest.raises(RolesChanged, match="changed after they were frozen"):
            frozen_roles(st, run.run_id)
    proc = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "eval", run.run_id, "--db", db],
                          capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "changed after they were frozen" in lines[0]


def test_an_llm_agent_neither_sees_nor_runs_weight_swap(db, load):
    turns = [AIMessage("", tool_calls=[call("weight_swap", {"target": "L1.H0", "source": "L2.H1"}, "ws")]),
             AIMessage("Done.")]
    chat = ToolCallingFake(responses=turns)
    run = api.explain(task="ioi", model="tiny-llama", agent="openai:gpt-test", circuit="L1.H0", n=4, db=db,
                      chat_model=chat, evaluate=False, target=load("tiny-llama"))
    assert run.status == "finished"
    assert "weight_swap" not in {t["function"]["name"] for t in chat.bound[0]}
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    [swap] = [e for e in audit["experiments"] if e["tool"] == "weight_swap"]
    assert "not available to the agent" in swap["error"] and swap["result"] in ({}, None)
    assert any("not available to the agent" in m["content"] for m in audit["messages"] if m["role"] == "tool")
