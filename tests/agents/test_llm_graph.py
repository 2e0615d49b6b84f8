"""The LLM researcher loop with a scripted fake chat model: tool errors never end a run."""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage

from autointerp import api
from store import load_run_for_audit, open_store
from tests.agents.fakes import ToolCallingFake, bad_call, call


def _script(component_count: int) -> list[AIMessage]:
    """Per component: mistakes first, then a proper study; then grouping and explanation."""
    turns: list[AIMessage] = []
    for k in range(component_count):
        turns += [
            AIMessage("", tool_calls=[call("propose_hypotheses", {"hypotheses": [
                "it writes to the logits directly", "it acts through later heads", "it is not needed"]}, f"p{k}")]),
            AIMessage("", invalid_tool_calls=[bad_call("logit_lens", "{component: L0.H0", f"bad{k}")]),
            AIMessage("", tool_calls=[
                call("attention_pattern", {"heads": ["L0.H99"]}, f"oor{k}"),
                call("no_such_tool", {"x": 1}, f"unk{k}"),
                call("logit_lens", {"components": ["L0.H0"], "bogus": True}, f"extra{k}"),
                call("buggy_tool", {}, f"bug{k}"),
            ]),
            AIMessage("", tool_calls=[call("logit_lens", {"components": ["L0.H0"]}, f"ok{k}")]),
            AIMessage("", tool_calls=[call("update_hypothesis", {
                "hypothesis_id": 999999, "status": "supported", "reason": "?"}, f"upd-bad{k}")]),
            AIMessage("I am done with this one."),
        ]
    turns.append(AIMessage(json.dumps({"clusters": [{"name": "everything", "description": "all", "members": []}]})))
    turns.append(AIMessage("The circuit is explained [E999999]."))
    return turns


def test_llm_agent_survives_malformed_and_bad_tool_calls(db, buggy_registry, load):
    chat = ToolCallingFake(responses=_script(2))
    run = api.explain(task="ioi", model="tiny-gpt2", agent="openai:gpt-test", circuit="L0.H0,L1.MLP",
                      n=4, db=db, chat_model=chat, evaluate=False)
    assert run.status == "finished"
    assert {m for c in run.explanation["clusters"] for m in c["members"]} == {"L0.H0", "L1.MLP"}
    # tools were bound natively, with JSON schemas of the experiment and notebook tools
    names = {t["function"]["name"] for t in chat.bound[0]}
    assert {"logit_lens", "propose_hypotheses", "update_hypothesis", "conclude"} <= names
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    errors = [e["error"] for e in audit["experiments"] if e["error"]]
    assert any("out of range" in e for e in errors)  # L0.H99
    assert any("Unknown tool 'no_such_tool'" in e for e in errors)
    assert any("bogus" in e for e in errors)  # extra argument rejected by the schema
    assert any("RuntimeError" in e for e in errors)  # a tool bug
    tool_msgs = [m["content"] for m in audit["messages"] if m["role"] == "tool"]
    assert any("malformed call of logit_lens" in m for m in tool_msgs)
    assert any("no hypothesis 999999" in m for m in tool_msgs)
    assert any(m.startswith("E") and "(logit_lens):" in m for m in tool_msgs)
    # hypotheses were recorded and, undecided, closed as inconclusive
    assert len(audit["hypotheses"]) == 6
    assert {h["status"] for h in audit["hypotheses"]} == {"inconclusive"}
    # the invalid grouping and the explanation citing an unknown experiment fell back to the evidence
    notes = " ".join(m["content"] for m in audit["messages"])
    assert "grouping was invalid" in notes and "cites unknown experiments" in notes
    assert audit["run"]["prompt_tokens"] > 0


def test_llm_agent_conclude_and_hypothesis_updates(db, load):
    turns = [
        AIMessage("", tool_calls=[call("propose_hypotheses", {"hypotheses": ["direct", "indirect", "copy"]}, "p")]),
        AIMessage("", tool_calls=[call("logit_lens", {"components": ["L1.H0"]}, "x")]),
    ]
    chat = ToolCallingFake(responses=turns)
    # after the experiment the fake keeps repeating the last call until the component budget ends
    run = api.explain(task="ioi", model="tiny-gpt2", agent="anthropic:claude-test", circuit="L1.H0", n=4, db=db,
                      chat_model=chat, evaluate=False, max_component_steps=3)
    assert run.status == "finished"
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    # the localisation patching + the component budget of 3 steps, one spent on propose_hypotheses
    assert len(audit["experiments"]) == 1 + 2
    refusals = [m for m in audit["messages"] if m["role"] == "tool" and "budget" in m["content"]]
    assert not refusals or all("spent" in m["content"] for m in refusals)


def test_llm_agent_records_verdicts_and_conclusions(db, load):
    turns = [
        AIMessage("", tool_calls=[call("propose_hypotheses", {"hypotheses": ["direct", "indirect", "copy"]}, "p")]),
        AIMessage("", tool_calls=[call("logit_lens", {"components": ["L1.H0"]}, "x")]),
        AIMessage("", tool_calls=[
            call("update_hypothesis", {"hypothesis_id": 1, "status": "supported", "reason": "DLA is large",
                                       "experiment_ids": [2]}, "u1"),
            call("update_hypothesis", {"hypothesis_id": 2, "status": "refuted", "reason": "no", "experiment_ids": [77]}, "u2"),
            call("update_hypothesis", {"hypothesis_id": 2, "status": "refuted", "reason": "no"}, "u3"),
        ]),
        AIMessage("", tool_calls=[call("conclude", {"description": "L1.H0 writes directly [E2].", "evidence": [2, 55]}, "c")]),
        AIMessage('{"clusters": [{"name": "writer", "description": "[E2]", "members": ["L1.H0"]}]}'),
        AIMessage("L1.H0 writes the answer directly [E2]."),
    ]
    run = api.explain(task="ioi", model="tiny-gpt2", agent="openai:gpt-test", circuit="L1.H0", n=4, db=db,
                      chat_model=ToolCallingFake(responses=turns), evaluate=False, target=load("tiny-gpt2"))
    comp = run.explanation["components"][0]
    assert comp["description"] == "L1.H0 writes directly [E2]." and comp["evidence"] == [2]
    assert run.explanation["clusters"][0]["name"] == "writer"
    assert run.explanation["summary"] == "L1.H0 writes the answer directly [E2]."
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    status = {h["id"]: h["status"] for h in audit["hypotheses"]}
    assert status == {1: "supported", 2: "refuted", 3: "inconclusive"}
    tool_msgs = " ".join(m["content"] for m in audit["messages"] if m["role"] == "tool")
    assert "experiments [77] are not experiments of this component" in tool_msgs
    assert "Ignored unknown experiment ids [55]" in tool_msgs


def test_token_budget_stops_the_run_cleanly(db, load):
    turns = [AIMessage("", tool_calls=[call("logit_lens", {"components": ["L0.H0"]}, f"x{i}")]) for i in range(3)]
    run = api.explain(task="ioi", model="tiny-gpt2", agent="openai:gpt-test", circuit="L0.H0,L1.H0,L2.H0", n=4,
                      db=db, chat_model=ToolCallingFake(responses=turns), evaluate=False, max_tokens=250,
                      target=load("tiny-gpt2"))
    assert run.status == "stopped" and "token budget spent" in run.stop_reason
    with open_store(db) as st:
        assert "token budget" in load_run_for_audit(st, run.run_id)["run"]["stop_reason"]
    assert len(run.explanation["components"]) == 1  # L0.H0 studied; L1.H0, L2.H0 not
    assert run.explanation["clusters"][0]["name"] == "unclassified"  # no LLM grouping once the budget is spent
