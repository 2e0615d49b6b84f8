"""Keys never reach the checkpoint database, the console, or a server they do not belong to.

An OpenAI-compatible server on loopback plays an LLM that echoes a key it
should never have seen into every answer: its text, its tool-call arguments,
its roles and its explanation. The run goes through the real CLI, the real
chat client and the real checkpointer.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from agents.providers import MissingKeyError, complete, make_llm
from agents.spec import parse_agent
from tests.agents.fake_openai_server import completion, fake_openai_server, tool_call

ROOT = Path(__file__).resolve().parents[2]


def _echoing_llm(leak: str):
    """Answers that repeat ``leak`` everywhere an LLM can put text."""

    def reply(n: int, body: dict) -> dict:
        prompt = json.dumps(body["messages"])
        if body.get("tools"):
            if '"role": "tool"' not in prompt:
                return completion(f"Noted {leak}.", [tool_call("propose_hypotheses", {
                    "hypotheses": [f"it copies {leak}", "it writes the answer", "it does nothing"]})])
            return completion("", [tool_call("conclude", {"description": f"L0.H0 repeats {leak}.", "evidence": []})])
        if "Group them" in prompt:
            return completion(json.dumps({"clusters": [{"name": f"leakers {leak}", "description": leak,
                                                        "members": ["L0.H0"]}]}))
        return completion(f"The circuit is one head; the key is {leak}.")

    return reply


def _explain(url: str, db: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    args = ["explain", "--task", "ioi", "--model", "tiny-gpt2", "--n", "4", "--circuit", "L0.H0", "--no-eval",
            "--agent", f"compatible:{url}#fake-model", "--db", db, *extra]
    return subprocess.run([sys.executable, "-m", "autointerp.cli.app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_an_echoed_key_reaches_no_file_console_or_foreign_server(tmp_path):
    env_key = f"canary-{secrets.token_hex(12)}"  # only redactable because it is in the environment
    shaped_key = f"sk-proj-{secrets.token_hex(10)}AbC{secrets.token_hex(6)}"  # a key shape, not in the environment
    env = dict(os.environ, HF_HUB_OFFLINE="1", OPENAI_API_KEY=env_key)
    env.pop("AUTOINTERP_COMPATIBLE_API_KEY", None)
    db_path = tmp_path / "runs.db"
    db = f"sqlite:///{db_path}"
    with fake_openai_server(_echoing_llm(f"{env_key} {shaped_key}")) as (url, seen):
        table = _explain(url, db, env)
        as_json = _explain(url, db, env, "--json")
    assert table.returncode == 0, table.stderr
    assert as_json.returncode == 0, as_json.stderr
    assert seen.count >= 8
    # the OpenAI key is not a compatible server's key: it was never sent there
    assert {h.get("authorization") for h in seen.headers} == {"Bearer not-needed"}
    # the explanation (with the echoed key) was printed, redacted
    assert "[REDACTED]" in table.stdout and "[REDACTED]" in as_json.stdout
    summary = json.loads(as_json.stdout)["explanation"]["summary"]
    assert summary == "The circuit is one head; the key is [REDACTED] [REDACTED]."
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert any(p.name.startswith("runs.checkpoints.sqlite") for p in files)
    for key in (env_key, shaped_key):
        for out in (table.stdout, table.stderr, as_json.stdout, as_json.stderr):
            assert key not in out
        for path in files:  # the store, the checkpoint database and their WAL files
            assert key.encode() not in path.read_bytes(), path.name


def test_a_compatible_server_gets_only_its_own_key(tmp_path, monkeypatch, load):
    own = f"own-{secrets.token_hex(8)}"
    monkeypatch.setenv("OPENAI_API_KEY", f"openai-{secrets.token_hex(8)}")
    monkeypatch.setenv("AUTOINTERP_COMPATIBLE_API_KEY", own)
    monkeypatch.setenv("MY_SERVER_TOKEN", "server-token-123456")
    with fake_openai_server(lambda n, body: completion("hi")) as (url, seen):
        spec = parse_agent(f"compatible:{url}#m")
        complete(make_llm(spec), ["hello"])
        complete(make_llm(spec, api_key_env="MY_SERVER_TOKEN"), ["hello"])
    assert [h["authorization"] for h in seen.headers] == [f"Bearer {own}", "Bearer server-token-123456"]
    try:  # a variable whose value would not be redacted is refused
        make_llm(spec, api_key_env="HOME")
        raise AssertionError("HOME was accepted as a key variable")
    except MissingKeyError as exc:
        assert "_API_KEY, _KEY, _TOKEN or _SECRET" in str(exc)
