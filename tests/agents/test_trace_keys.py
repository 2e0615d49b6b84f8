"""A provider that reuses tool-call ids loses nothing from the trace."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from autointerp import api
from store import load_run_for_audit, open_store
from store.audit import unanswered_tool_calls
from tests.agents.fakes import ToolCallingFake, bad_call, call


def test_reused_tool_call_ids_lose_no_hypothesis_or_reply(db, load):
    turns = []
    for k in range(4):  # every turn's calls are called "call_0", "call_1" again, as several servers do
        turns.append(AIMessage("", tool_calls=[
            call("propose_hypotheses", {"hypotheses": [f"turn {k} idea {j}" for j in range(3)]}, "call_1"),
        ], invalid_tool_calls=[bad_call("ablation", "{oops", "call_0")]))
    turns.append(AIMessage("Done."))
    turns.append(AIMessage('{"clusters": [{"name": "r", "description": "d", "members": ["L0.H0"]}]}'))
    turns.append(AIMessage("L0.H0 does it."))
    run = api.explain(task="ioi", model="tiny-gpt2", agent="openai:gpt-test", circuit="L0.H0", n=4, db=db,
                      chat_model=ToolCallingFake(responses=turns), evaluate=False, max_component_steps=20,
                      target=load("tiny-gpt2"))
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    texts = sorted(h["text"] for h in audit["hypotheses"])
    assert texts == sorted(f"turn {k} idea {j}" for k in range(4) for j in range(3))
    replies = [m for m in audit["messages"] if m["role"] == "tool"]
    assert len(replies) == 4 * 2  # the malformed call and the proposal of every turn
    assert sum("malformed call of ablation" in m["content"] for m in replies) == 4
    assert sum("Recorded hypotheses" in m["content"] for m in replies) == 4
    answers = [m for m in audit["messages"] if m["role"] == "assistant" and m["provider"] == "openai"]
    assert len(answers) == 4 + 1 + 2  # four tool turns, the final text, grouping and explanation
    assert audit["unanswered_tool_calls"] == []


def test_the_audit_flags_tool_calls_without_a_recorded_reply():
    calls = [{"id": "call_0"}, {"id": "call_1"}]
    messages = [
        {"id": 1, "seq": 1, "role": "assistant", "tool_calls": calls},
        {"id": 2, "seq": 2, "role": "tool", "tool_calls": []},
        {"id": 3, "seq": 3, "role": "tool", "tool_calls": []},
        {"id": 4, "seq": 4, "role": "assistant", "tool_calls": calls},
        {"id": 5, "seq": 5, "role": "tool", "tool_calls": []},  # one reply lost
        {"id": 6, "seq": 6, "role": "assistant", "tool_calls": []},
    ]
    assert unanswered_tool_calls(messages) == [{"message_id": 4, "seq": 4, "tool_calls": 2, "replies": 1}]
