"""Secrets never reach the store: canary keys are scrubbed from every row."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import text

from store import (
    REDACTED,
    add_experiment,
    add_hypothesis,
    add_message,
    finish_run,
    redact,
    save_array,
    save_evaluation,
    save_explanation,
    start_run,
    update_hypothesis,
    update_run_meta,
)
from store.tables import METADATA


def test_redact_unit(monkeypatch):
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-abcdefghijkl")
    monkeypatch.setenv("SHORT_API_KEY", "tiny")  # too short to be treated as a secret
    monkeypatch.setenv("PLAIN_SETTING", "visible-value-123")
    value = {
        "a": "x tok-abcdefghijkl y",
        "b": ["tiny", "visible-value-123", "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAA"],
        "tok-abcdefghijkl": 3,
        "n": 1.5,
    }
    assert redact(value) == {
        "a": f"x {REDACTED} y",
        "b": ["tiny", "visible-value-123", REDACTED],
        REDACTED: 3,
        "n": 1.5,
    }
    assert redact("key sk-proj-1234567890abcdefXYZ end") == f"key {REDACTED} end"


def test_canary_secrets_never_stored(store, monkeypatch):
    env_canary = f"canary-{uuid.uuid4().hex}"  # only known from the environment
    password_canary = f"pw-{uuid.uuid4().hex}"
    pattern_canary = f"sk-ant-api03-{uuid.uuid4().hex}"  # not in the environment at all
    monkeypatch.setenv("OPENAI_API_KEY", env_canary)
    monkeypatch.setenv("DB_PASSWORD", password_canary)
    canaries = (env_canary, password_canary, pattern_canary)
    leak = f"key={env_canary} pw={password_canary} ant={pattern_canary}"

    run = start_run(
        store, task="ioi", model="m", agent=f"compatible:http://h/?k={env_canary}#m",
        config={"api_key": env_canary, "nested": [{"pw": password_canary}], leak: 1},
        code_version=leak, meta={"header": f"Bearer {pattern_canary}"},
    )  # fmt: skip
    hyp = add_hypothesis(store, run, f"hyp {leak}", component="L0.H0", idempotency_key=leak)
    exp = add_experiment(
        store, run, "probe", {"token": env_canary, "list": [leak]}, f"summary {leak}",
        {"echo": leak, "deep": {"k": [password_canary]}}, 0.1, error=f"401: {leak}",
        idempotency_key=f"key-{env_canary}", component="L0.H0", hypothesis_ids=[hyp],
    )  # fmt: skip
    update_hypothesis(store, hyp, "supported", f"because {leak}", experiment_id=exp)
    add_message(store, run, "system", f"system {leak}")
    add_message(
        store, run, "assistant", [{"type": "text", "text": leak}],
        tool_calls=[{"id": "c1", "name": "probe", "args": {"api_key": env_canary}}],
        provider="openai", model="gpt", name=leak,
    )  # fmt: skip
    add_message(store, run, "tool", f"tool said {leak}", tool_call_id=f"c-{env_canary}")
    save_explanation(
        store, run, f"summary {leak}",
        [{"id": "L0.H0", "role": leak, "description": leak, "evidence": [exp]}],
        [{"name": "role", "description": leak, "members": ["L0.H0"]}], ["L0.H0", leak],
    )  # fmt: skip
    save_evaluation(store, run, "faithfulness", {"note": leak}, {"api_key": env_canary})
    save_array(store, np.zeros(3), run_id=run)
    update_run_meta(store, run, {"later": leak})
    finish_run(store, run, "failed", f"provider error: {leak}")

    dumped = []
    with store.engine.connect() as conn:
        for table in METADATA.sorted_tables:
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                dumped.append(repr(tuple(row)))
    everything = "\n".join(dumped)
    assert REDACTED in everything
    assert "sk-ant" not in everything
    for canary in canaries:
        assert canary not in everything

    if store.dialect == "sqlite":  # not in the raw database files either
        db = Path(store.url.database)
        for path in (db, db.with_name(db.name + "-wal")):
            if path.exists():
                raw = path.read_bytes()
                for canary in canaries:
                    assert canary.encode() not in raw
