"""Redaction removes keys and only keys: stored paths and ordinary words survive intact."""

from __future__ import annotations

import json

import pytest

from store import REDACTED, get_run, start_run
from store.redact import redact_text

ORDINARY = [
    "/home/me/data/task-specific-prompts/names.jsonl",
    "desk-lamp-and-chair-positions",
    "risk-assessment-framework-2024",
    "mask-token-position-embedding",
    "sk-learn-compatible-estimators",  # a word that starts like a key but is not one
    "ask-the-model-a-question-now",
    "the L9.H6 head moves the IO name",
]
KEYS = [
    "sk-proj-1234567890abcdefXYZ",
    "sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAA",
    "sk-0123456789abcdefABCDEF0123456789abcdefABCDEF01",
    "hf_" + "aB3" * 12,
    "ghp_" + "x9Y" * 12,
    "AKIAABCDEFGH01234567",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_alone(text):
    assert redact_text(text, []) == text


@pytest.mark.parametrize("key", KEYS)
def test_key_shapes_are_redacted_as_whole_tokens(key):
    assert redact_text(f"Authorization: Bearer {key}", []) == f"Authorization: Bearer {REDACTED}"
    assert redact_text(f'{{"api_key": "{key}"}}', []) == f'{{"api_key": "{REDACTED}"}}'


def test_environment_values_are_redacted_exactly(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plainvalue9")
    assert redact_text("x plainvalue9 y plainvalue8") == f"x {REDACTED} y plainvalue8"


def test_a_stored_task_path_round_trips(store, tmp_path):
    path = str(tmp_path / "task-specific-prompts" / "names.jsonl")
    config = {"task": path, "notes": ["desk-lamp-and-chair-positions", "risk-assessment-framework-2024"]}
    run_id = start_run(store, task=path, model="tiny-gpt2", agent="scripted", config=config)
    run = get_run(store, run_id)
    assert run.task == path and run.config == config
    assert REDACTED not in json.dumps(run.config)

