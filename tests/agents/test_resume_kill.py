"""kill -9 during ``autointerp explain``, then ``autointerp resume``: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from store import count_experiments, list_runs, open_store

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.agents.cli_runner", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _env(delay: float) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["AUTOINTERP_TEST_TOOL_DELAY"] = str(delay)
    return env


ARGS = ["explain", "--task", "ioi", "--model", "tiny-gpt2", "--n", "6", "--seed", "3", "--no-eval", "--json"]


def test_kill_9_then_resume(tmp_path):
    # an uninterrupted run with the same seed
    full_db = f"sqlite:///{tmp_path / 'full.db'}"
    proc = _cli([*ARGS, "--db", full_db], _env(0))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    full = json.loads(out)
    with open_store(full_db) as st:
        expected = count_experiments(st, full["run_id"])
    assert expected > 8

    # the same run, killed with SIGKILL once a few experiments are recorded
    db = f"sqlite:///{tmp_path / 'killed.db'}"
    proc = _cli([*ARGS, "--db", db], _env(0.15))
    deadline = time.time() + 240
    run_id, seen = None, 0
    with open_store(db) as st:
        while time.time() < deadline and proc.poll() is None:
            runs = list_runs(st) if (tmp_path / "killed.db").exists() else []
            if runs:
                run_id = runs[0].id
                seen = count_experiments(st, run_id)
                if seen >= 6:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert run_id is not None
        killed_at = count_experiments(st, run_id)
        assert 6 <= killed_at < expected
        assert list_runs(st)[0].status == "running"

    resumed = _cli(["resume", run_id, "--db", db, "--json"], _env(0))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert result["run_id"] == run_id
    with open_store(db) as st:
        assert count_experiments(st, run_id) == expected
        assert list_runs(st)[0].status == "finished"
    assert result["circuit"] == full["circuit"]
    assert [c["id"] for c in result["explanation"]["components"]] == [c["id"] for c in full["explanation"]["components"]]
