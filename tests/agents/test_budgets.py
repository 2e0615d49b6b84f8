"""Budgets bind whatever the LLM (or its server) does.

Each test drives a real run (tiny model, real tools, real store) with a chat
model or server that misbehaves in one way the issue reproduced: malformed
tool calls forever, notebook calls forever, no usage reported, a server that
never answers; plus the hard caps on LLM requests and wall time, and the
scripted agent under a one-step budget.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from agents.providers import ProviderError, complete, make_llm
from agents.spec import parse_agent
from autointerp import api
from store import load_run_for_audit, open_store
from tests.agents.fake_openai_server import HANG, fake_openai_server
from tests.agents.fakes import ToolCallingFake, bad_call, call


class Counting(ToolCallingFake):
    """Repeats its last answer; refuses (fails the test) beyond ``limit`` requests instead of looping forever."""

    limit: int = 60
    usage: bool = True
    calls: int = 0

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.calls += 1
        if self.calls > self.limit:
            raise AssertionError(f"the agent made more than {self.limit} LLM requests")
        result = super()._generate(messages, stop, run_manager, **kwargs)
        if not self.usage:
            message = result.generations[0].message.model_copy(update={"usage_metadata": None})
            result.generations[0].message = message
        return result


def _audit(db: str, run_id: str) -> dict:
    with open_store(db) as st:
        return load_run_for_audit(st, run_id)


def _run(db, load, chat, **kw):
    kw.setdefault("circuit", "L0.H0,L1.H0")
    return api.explain(task="ioi", model="tiny-gpt2", agent="openai:gpt-test", n=4, db=db, chat_model=chat,
                       evaluate=False, target=load("tiny-gpt2"), **kw)


@pytest.mark.parametrize("answer", [
    AIMessage("", invalid_tool_calls=[bad_call("logit_lens", "{components: [L0.H0", "call_0")]),
    AIMessage("", tool_calls=[call("propose_hypotheses", {"hypotheses": ["a", "b", "c"]}, "call_0")]),
], ids=["malformed-calls", "notebook-calls"])
def test_calls_that_run_no_experiment_still_spend_the_step_budget(db, load, answer):
    chat = Counting(responses=[answer])
    run = _run(db, load, chat, circuit="L0.H0,L1.H0,L2.H0", max_steps=5, max_component_steps=3)
    audit = _audit(db, run.run_id)
    requests = [m for m in audit["messages"] if m["role"] == "assistant" and m["provider"] == "openai"]
    # step 1 patches the given circuit; 3 steps on L0.H0, the last one on L1.H0, none left for L2.H0;
    # then the grouping and explanation requests
    assert chat.calls == len(requests) == 3 + 1 + 2
    assert run.status == "stopped" and "step budget spent (5 of 5 steps)" in run.stop_reason
    tool_replies = [m for m in audit["messages"] if m["role"] == "tool"]
    assert len(tool_replies) == 3 + 1  # every call was answered, none for free


def test_the_llm_request_cap_stops_the_run(db, load):
    chat = Counting(responses=[AIMessage("", tool_calls=[call("logit_lens", {"components": ["L0.H0"]}, "x")])])
    run = _run(db, load, chat, max_steps=0, max_component_steps=0, max_llm_requests=4)
    assert chat.calls == 4
    assert run.status == "stopped" and "LLM request cap reached (4 of 4 requests)" in run.stop_reason
    assert run.explanation["clusters"]  # grouped from the evidence, without asking the LLM again


def test_tokens_are_estimated_when_the_provider_reports_none(db, load):
    chat = Counting(responses=[AIMessage("", tool_calls=[call("logit_lens", {"components": ["L0.H0"]}, "x")])],
                    usage=False)
    run = _run(db, load, chat, max_steps=0, max_component_steps=0, max_tokens=20_000)
    audit = _audit(db, run.run_id)
    assert run.status == "stopped" and "token budget spent" in run.stop_reason
    # the tool schemas alone are several thousand characters: the estimate is far from zero
    assert audit["run"]["prompt_tokens"] >= 20_000 - 500 and audit["run"]["completion_tokens"] > 0
    assert chat.calls < 10


def test_a_hanging_server_costs_the_deadline_not_timeout_times_attempts(monkeypatch):
    monkeypatch.setenv("AUTOINTERP_LLM_TIMEOUT_S", "0.5")
    monkeypatch.setenv("AUTOINTERP_LLM_MAX_RETRIES", "2")
    monkeypatch.setenv("AUTOINTERP_LLM_DEADLINE_S", "30")
    with fake_openai_server(lambda n, body: HANG) as (url, seen):
        llm = make_llm(parse_agent(f"compatible:{url}#m"))
        with pytest.raises(ProviderError) as err:
            complete(llm, ["hello"])
        assert seen.count == 3  # one attempt and the two configured retries
    assert "after 3 attempts" in str(err.value) and "Timeout" in str(err.value)
    monkeypatch.setenv("AUTOINTERP_LLM_MAX_RETRIES", "50")
    monkeypatch.setenv("AUTOINTERP_LLM_DEADLINE_S", "2.2")
    with fake_openai_server(lambda n, body: HANG) as (url, seen):
        with pytest.raises(ProviderError):
            complete(make_llm(parse_agent(f"compatible:{url}#m")), ["hello"])
        # each attempt waits 0.5 s plus back-off: the total deadline, not the 51 attempts, ends it
        assert 2 <= seen.count <= 4


def test_the_wall_time_limit_stops_a_scripted_run(db, load):
    run = api.explain(task="ioi", model="tiny-gpt2", n=4, db=db, target=load("tiny-gpt2"), max_wall_s=1e-6)
    audit = _audit(db, run.run_id)
    assert run.status == "stopped" and "wall-time limit reached" in run.stop_reason
    assert audit["experiments"] == [] and "skipped" in run.evaluation


def test_the_scripted_agent_keeps_to_a_one_step_budget(db, load):
    run = api.explain(task="ioi", model="tiny-gpt2", n=4, db=db, target=load("tiny-gpt2"), max_steps=1,
                      evaluate=False)
    audit = _audit(db, run.run_id)
    assert len(audit["experiments"]) == 1
    assert run.status == "stopped" and "step budget spent (1 of 1 steps)" in run.stop_reason
