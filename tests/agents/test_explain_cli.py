"""``autointerp explain`` / ``resume`` through the console script: JSON, tables, one-sentence errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env_extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(HF_HUB_OFFLINE="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "tests.agents.cli_runner", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_explain_json_then_tables_on_resume(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    proc = cli("explain", "--task", "ioi", "--model", "tiny-llama", "--n", "4", "--db", db, "--no-eval", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"run_id", "circuit", "explanation", "evaluation"}
    assert out["circuit"] and {c["id"] for c in out["explanation"]["components"]} == set(out["circuit"])
    assert all(c["evidence"] for c in out["explanation"]["components"])
    again = cli("resume", out["run_id"], "--db", db)
    assert again.returncode == 0, again.stderr
    assert out["run_id"] in again.stdout and "explanation" in again.stdout and "circuit" in again.stdout


def test_explain_errors_are_one_sentence(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    cases = [
        (("--agent", "openai:gpt-4o"), "set OPENAI_API_KEY"),
        (("--agent", "llama:7b"), "Unknown agent"),
        (("--circuit", "L0.H99"), "out of range"),
    ]
    for extra, expected in cases:
        proc = cli("explain", "--task", "ioi", "--model", "tiny-gpt2", "--db", db, *extra, drop=("OPENAI_API_KEY",))
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        assert proc.returncode == 2, proc.stderr
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    proc = cli("resume", "run-missing", "--db", db)
    assert proc.returncode == 2 and "run-missing" in proc.stderr
