"""End-to-end CLI: the console script, JSON output, one-sentence errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch


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


def _one_error_line(proc) -> str:
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_bad_device_or_dtype_is_one_sentence_and_exit_2():
    line = _one_error_line(autointerp("task", "check", "ioi", "--model", "tiny-gpt2", "--device", "gpu"))
    assert "Unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps." in line
    line = _one_error_line(autointerp("patch", "--task", "ioi", "--model", "tiny-gpt2", "--dtype", "float8"))
    assert "Unknown dtype 'float8'; use float32, bfloat16, float16." in line
    line = _one_error_line(autointerp("explain", "--task", "ioi", "--model", "tiny-gpt2", "--device", "cuda:x"))
    assert "Unknown device 'cuda:x'" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_a_missing_gpu_is_one_sentence():
    line = _one_error_line(autointerp("task", "check", "ioi", "--model", "tiny-gpt2", "--device", "cuda"))
    assert "Device 'cuda' was asked for but PyTorch sees no CUDA GPU on this machine; use cpu or auto." in line


def test_task_check_runs_a_new_family_in_bfloat16():
    proc = autointerp("task", "check", "ioi", "--model", "tiny-gemma2", "--n", "6", "--dtype", "bfloat16",
                      "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["model"] == "tiny-gemma2" and out["n_pairs"] == 6
