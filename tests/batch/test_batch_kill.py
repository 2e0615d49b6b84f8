"""Killing a real batch midway (SIGKILL to the driver) and running it again.

The real job function (``explain_job``: the scripted agent on tiny-gpt2) runs
in two worker processes. The driver is killed while a job is halfway through
its private store; its orphaned workers must exit on their own, and the
second run must finish only the missing jobs, resuming the cut-off one from
its checkpoint rather than recording a spurious failure.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SPEC = """
    name: kill-test
    tasks: [ioi, capitals]
    models: [tiny-gpt2]
    seeds: [0, 1]
    options: {n: 8}
"""


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with open(task / "children") as handle:
            out |= {int(p) for p in handle.read().split()}
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _job_midway(workdir: Path) -> bool:
    """A job's private store holds a run with experiments but no explanation yet."""
    for db in workdir.glob("*/job.db"):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2) as conn:
                experiments = conn.execute("SELECT count(*) FROM experiment").fetchone()[0]
                running = conn.execute("SELECT count(*) FROM run WHERE status = 'running'").fetchone()[0]
        except sqlite3.Error:
            continue
        if experiments >= 2 and running:
            return True
    return False


def _runs(db: Path) -> list[tuple[str, str, dict]]:
    with sqlite3.connect(db) as conn:
        return [(status, run_id, json.loads(meta or "{}"))
                for status, run_id, meta in conn.execute("SELECT status, id, meta FROM run")]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc")
def test_batch_killed_midway_finishes_only_the_missing_jobs_on_rerun(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(SPEC))
    db, workdir = tmp_path / "b.db", tmp_path / "work"
    cmd = [sys.executable, "-m", "autointerp.cli.app", "batch", str(spec), "--db", f"sqlite:///{db}",
           "--workers", "2", "--workdir", str(workdir), "--json"]
    driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 240
    while not _job_midway(workdir):
        assert driver.poll() is None, "the batch ended before any job was seen midway"
        assert time.monotonic() < deadline, "no job reached its experiments in time"
        workers |= _children(driver.pid)
        time.sleep(0.05)
    workers |= _children(driver.pid)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert workers, "the batch should run its jobs in worker processes"
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers), "workers outlived their killed driver"

    before = _runs(db) if db.exists() else []
    done_before = {run_id for status, run_id, _ in before if status == "finished"}
    assert len(done_before) < 4

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    out = json.loads(second.stdout)
    assert out["counts"] == {k: v for k, v in {"skipped": len(done_before),
                                               "finished": 4 - len(done_before)}.items() if v}
    assert {r["run_id"] for r in out["jobs"] if r["status"] == "skipped"} == done_before
    after = _runs(db)
    assert not [r for r in after if r[0] == "failed"], "a cut-off job was recorded as failed"
    finished = [meta for status, _, meta in after if status == "finished"]
    assert len(finished) == 4 and len({m["batch"]["job"] for m in finished}) == 4
    assert any(m.get("batch_resumed_from") for m in finished), "the cut-off job should resume, not restart"
    assert not list(workdir.glob("*/job.db")), "completed jobs leave no private store behind"
