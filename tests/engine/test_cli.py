"""End-to-end CLI: the console script, JSON output, one-sentence errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def autointerp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autointerp.cli.app", *args], capture_output=True, text=True, timeout=300
    )


def test_models_and_tasks_json():
    models = json.loads(autointerp("models", "--json").stdout)
    assert {m["name"] for m in models["models"]} >= {"smollm2-135m", "tiny-gpt2", "tiny-llama", "tiny-neox"}
    tasks = json.loads(autointerp("tasks", "--json").stdout)
    assert {t["name"] for t in tasks["tasks"]} >= {"ioi", "induction", "capitals", "antonyms"}


@pytest.mark.slow
def test_task_check_ioi_on_bundled_model_json():
    proc = autointerp("task", "check", "ioi", "--model", "smollm2-135m", "--n", "24", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) >= {"task", "model", "n_pairs", "clean_metric", "corrupt_metric", "accuracy"}
    assert out["n_pairs"] == 24 and out["clean_metric"] > 3 and abs(out["corrupt_metric"]) < 0.5


def test_bad_task_file_exits_nonzero_with_one_sentence(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"clean": "The capital of France is", "corrupt": "The capital of Spain is",
                    "answer": " Paris", "distractor": " Madrid"}) + "\n"
        + json.dumps({"clean": "The capital of France is", "corrupt": "The capital of France is",
                      "answer": " Parisian-ish", "distractor": " Madrid"}) + "\n"
    )
    proc = autointerp("task", "check", str(bad), "--model", "tiny-gpt2")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "line 2 of bad.jsonl" in lines[0] and "Traceback" not in proc.stderr


def test_unknown_model_and_task_exit_2():
    for args in (("task", "check", "ioi", "--model", "nope/nope"), ("task", "check", "nope", "--model", "tiny-gpt2")):
        proc = autointerp(*args)
        assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr
