"""The one-shot baseline: all standard experiments up front, one validated JSON answer."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage

from agents.nodes.oneshot import OneShotError, validate_answer
from autointerp import api
from store import RunNotFound, get_run, load_run_for_audit, open_store
from tests.agents.fakes import ToolCallingFake


def _answer(evidence: list[int]) -> str:
    return "```json\n" + json.dumps({
        "components": [{"id": "L0.H0", "role": "writer", "description": "writes [E2]", "evidence": evidence},
                       {"id": "L1.H1", "role": "writer", "description": "writes too", "evidence": ["E3"]}],
        "clusters": [{"name": "writer", "description": "both write", "members": ["L0.H0", "L1.H1"]}],
        "summary": "Two writers [E2, E3].",
    }) + "\n```"


def test_oneshot_runs_the_battery_and_retries_an_invalid_answer(db, load):
    chat = ToolCallingFake(responses=[AIMessage("not json at all"), AIMessage(_answer([2]))])
    run = api.explain(task="ioi", model="tiny-gpt2", agent="oneshot:openai:gpt-test", circuit="L0.H0,L1.H1",
                      n=4, db=db, chat_model=chat, evaluate=False)
    assert run.status == "finished"
    assert [c["id"] for c in run.explanation["components"]] == ["L0.H0", "L1.H1"]
    assert run.explanation["clusters"][0]["members"] == ["L0.H0", "L1.H1"]
    prompt = chat.seen[0][0].content
    assert "attention_pattern" in prompt and "path_patching" in prompt and "ablation" in prompt
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    tools = [e["tool"] for e in audit["experiments"]]
    assert tools[:4] == ["activation_patching", "attention_pattern", "logit_lens", "ablation"]  # localise + survey
    assert tools.count("path_patching") == 3  # L0.H0 -> logits, L0.H0 -> L1.H1, L1.H1 -> logits
    assert any("Your answer is invalid" in m["content"] for m in audit["messages"])


def test_oneshot_fails_clearly_after_two_invalid_answers(db, load):
    chat = ToolCallingFake(responses=[AIMessage(_answer([99999]))])
    with pytest.raises(OneShotError, match="cites experiments \\[99999\\]"):
        api.explain(task="ioi", model="tiny-gpt2", agent="oneshot:openai:gpt-test", circuit="L0.H0,L1.H1",
                    n=4, db=db, chat_model=chat, evaluate=False)
    with open_store(db) as st:
        from store import list_runs

        assert list_runs(st)[0].status == "failed"


def test_validate_answer_rejects_partial_answers():
    good = json.loads(_answer([2]).strip("`").removeprefix("json\n"))
    assert validate_answer(good, ["L0.H0", "L1.H1"], {2, 3})["summary"]
    with pytest.raises(ValueError, match="not described"):
        validate_answer(good, ["L0.H0", "L1.H1", "L2.H0"], {2, 3})
    bad = {**good, "clusters": [{"name": "x", "members": ["L0.H0"]}]}
    with pytest.raises(ValueError, match="missing"):
        validate_answer(bad, ["L0.H0", "L1.H1"], {2, 3})


def test_unknown_run_resume_is_a_store_error(db):
    with open_store(db) as st, pytest.raises(RunNotFound):
        get_run(st, "run-nope")
    with pytest.raises(RunNotFound):
        api.resume("run-nope", db=db)
