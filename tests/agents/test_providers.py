"""LLM providers: agent specs, keys, recorded wire payloads through the real chat classes, retries."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import httpx2
import pytest

from agents.providers import MissingKeyError, make_chat_model
from agents.spec import AgentSpecError, parse_agent
from autointerp import api
from store import load_run_for_audit, open_store

FIXTURES = Path(__file__).parent / "fixtures"
OPENAI_KEY = "sk-test-0123456789abcdefghijklmnop"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdefghijklmnop"


def fixture(name: str, exp: int = 2, text: str | None = None) -> dict:
    raw = (FIXTURES / name).read_text().replace("__EXP__", str(exp))
    body = json.loads(raw)
    if text is not None:
        if "choices" in body:
            body["choices"][0]["message"]["content"] = text
        else:
            body["content"][0]["text"] = text
    return body


class Replay:
    """An httpx transport answering with recorded responses, in order, recording requests."""

    def __init__(self, responses: list[tuple[int, dict, dict]], http=httpx):
        self.http = http  # the anthropic SDK speaks httpx2, langchain-openai's client httpx
        self.responses = list(responses)
        self.requests: list = []

    def __call__(self, request):
        self.requests.append(request)
        status, headers, body = self.responses.pop(0)
        return self.http.Response(status, headers=headers, json=body)

    def client(self):
        return self.http.Client(transport=self.http.MockTransport(self))


def ok(body: dict) -> tuple[int, dict, dict]:
    return 200, {}, body


def retry(status: int, body: dict) -> tuple[int, dict, dict]:
    return status, {"retry-after-ms": "1"}, body


GROUP = json.dumps({"clusters": [{"name": "direct writer", "description": "writes the answer [E2]",
                                  "members": ["L0.H0"]}]})
EXPLAIN = "L0.H0 writes towards the answer directly [E2]."


@pytest.mark.parametrize("text, kind, provider, model, base_url", [
    ("scripted", "scripted", None, None, None),
    ("openai:gpt-4o", "llm", "openai", "gpt-4o", None),
    ("anthropic:claude-sonnet-4-5", "llm", "anthropic", "claude-sonnet-4-5", None),
    ("compatible:http://localhost:8000/v1#Qwen/Qwen2.5-7B", "llm", "compatible", "Qwen/Qwen2.5-7B", "http://localhost:8000/v1"),
    ("oneshot:openai:gpt-4o-mini", "oneshot", "openai", "gpt-4o-mini", None),
    ("oneshot:compatible:http://h:1/v1#m", "oneshot", "compatible", "m", "http://h:1/v1"),
])
def test_parse_agent(text, kind, provider, model, base_url):
    spec = parse_agent(text)
    assert (spec.kind, spec.provider, spec.model, spec.base_url) == (kind, provider, model, base_url)


@pytest.mark.parametrize("text", ["gpt-4o", "openai:", "mistral:large", "compatible:http://x/v1", "oneshot:scripted"])
def test_parse_agent_errors_are_one_sentence(text):
    with pytest.raises(AgentSpecError) as err:
        parse_agent(text)
    assert "\n" not in str(err.value) and str(err.value).endswith(".")


def test_missing_key_is_a_clear_error(monkeypatch, db):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingKeyError, match="set OPENAI_API_KEY"):
        api.explain(task="ioi", model="tiny-gpt2", agent="openai:gpt-4o", db=db)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingKeyError, match="set ANTHROPIC_API_KEY"):
        make_chat_model(parse_agent("anthropic:claude-sonnet-4-5"))


def test_compatible_needs_no_key(monkeypatch):
    for name in ("OPENAI_API_KEY", "AUTOINTERP_COMPATIBLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    chat = make_chat_model(parse_agent("compatible:http://localhost:8000/v1#qwen"))
    assert chat.openai_api_base == "http://localhost:8000/v1" and chat.model_name == "qwen"


def _run(agent: str, replay: Replay, db: str):
    return api.explain(task="ioi", model="tiny-gpt2", agent=agent, circuit="L0.H0", n=4, db=db,
                       http_client=replay.client(), evaluate=False)


def _assert_secret_free(db: str, run_id: str, secret: str, caplog) -> None:
    with open_store(db) as st:
        audit = load_run_for_audit(st, run_id)
    assert secret not in json.dumps(audit)
    for path in Path(db.removeprefix("sqlite:///")).parent.iterdir():
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in caplog.text


@pytest.mark.parametrize("agent, url", [
    ("openai:gpt-4o", "https://api.openai.com/v1/chat/completions"),
    ("compatible:http://localhost:8000/v1#gpt-4o", "http://localhost:8000/v1/chat/completions"),
])
def test_openai_wire_payloads_drive_a_run(monkeypatch, db, load, caplog, agent, url):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.delenv("AUTOINTERP_COMPATIBLE_API_KEY", raising=False)
    replay = Replay([
        retry(429, {"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}}),
        ok(fixture("openai_tool_call.json")),
        retry(503, {"error": {"message": "overloaded"}}),
        ok(fixture("openai_conclude.json")),
        ok(fixture("openai_text.json", text=GROUP)),
        ok(fixture("openai_text.json", text=EXPLAIN)),
    ])
    run = _run(agent, replay, db)
    assert run.status == "finished" and not replay.responses  # both errors were retried
    assert str(replay.requests[0].url) == url
    first = json.loads(replay.requests[0].content)
    assert first["model"] == "gpt-4o"
    assert {t["function"]["name"] for t in first["tools"]} >= {"logit_lens", "conclude"}
    # the OpenAI key goes to OpenAI only; a compatible server has its own variable (unset here)
    expected = "Bearer not-needed" if agent.startswith("compatible:") else f"Bearer {OPENAI_KEY}"
    assert replay.requests[0].headers["authorization"] == expected
    # the tool results went back as tool messages answering the calls
    third = json.loads(replay.requests[3].content)
    assert [m["tool_call_id"] for m in third["messages"] if m["role"] == "tool"] == ["call_Lens01", "call_Prop01"]
    assert run.explanation["clusters"][0]["name"] == "direct writer"
    assert run.explanation["summary"] == EXPLAIN
    assert run.explanation["components"][0]["evidence"] == [2]
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    assert audit["run"]["prompt_tokens"] == 1312 + 1650 + 900 + 900
    assert [e["tool"] for e in audit["experiments"]] == ["activation_patching", "logit_lens"]
    assert len(audit["hypotheses"]) == 3
    _assert_secret_free(db, run.run_id, OPENAI_KEY, caplog)


def test_anthropic_wire_payloads_drive_a_run(monkeypatch, db, load, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    replay = Replay([
        retry(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ok(fixture("anthropic_tool_use.json")),
        ok(fixture("anthropic_conclude.json")),
        ok(fixture("anthropic_text.json", text=GROUP)),
        ok(fixture("anthropic_text.json", text=EXPLAIN)),
    ], http=httpx2)
    run = _run("anthropic:claude-test", replay, db)
    assert run.status == "finished" and not replay.responses
    first = json.loads(replay.requests[0].content)
    assert first["model"] == "claude-test"
    assert {t["name"] for t in first["tools"]} >= {"logit_lens", "conclude"}
    headers = replay.requests[0].headers
    assert ANTHROPIC_KEY in (headers.get("x-api-key", ""), headers.get("authorization", "").removeprefix("Bearer "))
    second = json.loads(replay.requests[2].content)
    results = [b for m in second["messages"] if m["role"] == "user" and isinstance(m["content"], list)
               for b in m["content"] if b.get("type") == "tool_result"]
    assert [r["tool_use_id"] for r in results] == ["toolu_01A09q90qw90lq917835lq9", "toolu_01B19q90qw90lq917835lq9"]
    assert run.explanation["components"][0]["evidence"] == [2]
    _assert_secret_free(db, run.run_id, ANTHROPIC_KEY, caplog)


def test_a_rejected_key_is_one_sentence_and_never_stored(monkeypatch, db, load, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    replay = Replay([(401, {}, {"error": {"message": f"Incorrect API key provided: {OPENAI_KEY}.",
                                          "type": "invalid_request_error", "code": "invalid_api_key"}})])
    from agents.providers import ProviderError

    with pytest.raises(ProviderError) as err:
        _run("openai:gpt-4o", replay, db)
    text = str(err.value)
    assert "AuthenticationError" in text and OPENAI_KEY not in text and "\n" not in text
    with open_store(db) as st:
        from store import list_runs

        run = list_runs(st)[0]
    assert run.status == "failed" and "AuthenticationError" in run.stop_reason
    _assert_secret_free(db, run.id, OPENAI_KEY, caplog)
