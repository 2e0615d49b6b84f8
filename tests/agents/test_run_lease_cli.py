"""A run killed with -9 shows as interrupted and is resumable; two resumes of it cannot both drive it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from store import count_experiments, list_evaluations, list_runs, open_store

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], delay: float = 0.0) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               AUTOINTERP_TEST_TOOL_DELAY=str(delay))
    return subprocess.Popen([sys.executable, "-m", "tests.agents.cli_runner", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_run_is_interrupted_and_only_one_resume_drives_it(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    proc = _cli(["explain", "--task", "ioi", "--model", "tiny-gpt2", "--n", "6", "--seed", "3", "--db", db,
                 "--json"], delay=0.2)
    deadline = time.time() + 240
    run_id = None
    with open_store(db) as st:
        while time.time() < deadline and proc.poll() is None:
            runs = list_runs(st)
            if runs and count_experiments(st, runs[0].id) >= 4:
                run_id = runs[0].id
                break
            time.sleep(0.05)
    assert run_id is not None and proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    listed = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "runs", "--db", db, "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    [row] = json.loads(listed.stdout)["runs"]
    assert row["status"] == "interrupted" and row["recorded_status"] == "running"
    assert row["resumable"] and row["last_event_at"] >= row["created_at"]
    only = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "runs", "--db", db, "--status",
                           "interrupted", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert [r["id"] for r in json.loads(only.stdout)["runs"]] == [run_id]

    # two resumes at once: exactly one drives the run, the other is refused in one sentence
    first, second = (_cli(["resume", run_id, "--db", db, "--json"], delay=0.2) for _ in range(2))
    outcomes = []
    for p in (first, second):
        out, err = p.communicate(timeout=600)
        outcomes.append((p.returncode, out, err))
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 2], [(c, e[-1500:]) for c, _, e in outcomes]
    refused = next(err for code, _, err in outcomes if code == 2)
    lines = [line for line in refused.splitlines() if line.strip()]
    assert len(lines) == 1 and f"Run '{run_id}' is being driven by another process" in lines[0]
    with open_store(db) as st:
        assert list_runs(st)[0].status == "finished"
        kinds = Counter(e["kind"] for e in list_evaluations(st, run_id))
    assert kinds and set(kinds.values()) == {1}  # each score stored once, not once per resume
