"""The local executor and the driver: bounded concurrency, failures, resumption by identity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from batch_fakes import fake_job

from autointerp.batch import LocalExecutor, run_batch
from autointerp.batch.spec import Job

HERE = Path(__file__).parent


def jobs(*names: str | None, model: str = "tiny-gpt2", **kw) -> list[Job]:
    return [Job(task="ioi", model=model, seed=i, name=name, **kw) for i, name in enumerate(names)]


@pytest.fixture
def dest(tmp_path: Path):
    import store as st

    with st.open_store(f"sqlite:///{tmp_path / 'batch.db'}") as opened:
        yield opened


def test_thread_executor_records_runs_and_rerun_skips_them(dest) -> None:
    import store as st

    events = []
    states = run_batch(dest, jobs(None, None, "fail"), LocalExecutor(2, mode="thread"), fake_job,
                       batch_name="t", on_change=lambda e, s: events.append((e, s.job.seed)))
    assert [s.status for s in states] == ["finished", "finished", "failed"]
    assert [s.circuit_size for s in states[:2]] == [2, 2] and [s.z for s in states[:2]] == [4.0, 5.0]
    assert states[0].faithfulness == 0.8 and "failed on purpose" in states[2].error
    assert {e for e, _ in events} == {"planned", "start", "done"}
    runs = st.list_runs(dest)
    assert len(runs) == 3
    by_key = {r.meta["batch"]["job"]: r for r in runs}
    assert set(by_key) == {s.key for s in states}
    assert by_key[states[2].key].status == "failed" and "failed on purpose" in by_key[states[2].key].stop_reason
    # re-run: the finished jobs are skipped, the failed one is run again (and fails again)
    again = run_batch(dest, jobs(None, None, "fail"), LocalExecutor(1), fake_job)
    assert [s.status for s in again] == ["skipped", "skipped", "failed"]
    assert again[0].run_id == states[0].run_id and again[0].z == 4.0
    assert len(st.list_runs(dest)) == 4


def test_partial_run_of_a_failed_job_is_kept(dest) -> None:
    import store as st

    [state] = run_batch(dest, jobs("partial"), LocalExecutor(1), fake_job)
    assert state.status == "failed" and "broke halfway" in state.error
    audit = st.load_run_for_audit(dest, state.run_id)
    assert audit["hypotheses"] and audit["experiments"] and audit["run"]["status"] == "failed"


def test_stale_unfinished_run_is_replaced_and_marked(dest) -> None:
    import store as st
    from autointerp.batch.driver import batch_meta

    [job] = jobs(None)
    stale = st.start_run(dest, task=job.task, model=job.model, agent=job.agent, meta=batch_meta(job, "t"))
    [state] = run_batch(dest, [job], LocalExecutor(1), fake_job)
    assert state.status == "finished" and state.run_id != stale
    old = st.get_run(dest, stale)
    assert old.status == "interrupted" and state.run_id in old.stop_reason
    [again] = run_batch(dest, [job], LocalExecutor(1), fake_job)
    assert again.status == "skipped" and again.run_id == state.run_id


def test_process_pool_reuses_workers_and_survives_a_crash(dest) -> None:
    batch = jobs(None, "crash", None, None, None)
    executor = LocalExecutor(2)
    assert executor.mode == "process"
    outcomes = dict(executor.run(batch, fake_job))
    assert sorted(outcomes) == list(range(5))
    assert not outcomes[1]["ok"] and "died" in outcomes[1]["error"]
    good = [outcomes[i] for i in (0, 2, 3, 4)]
    assert all(o["ok"] for o in good), [o["error"] for o in good]
    pids = {o["record"]["worker_pid"] for o in good}
    assert os.getpid() not in pids
    # a worker keeps its cache between jobs: some worker ran several jobs but loaded the model once
    assert max(o["record"]["worker_calls"] for o in good) >= 2
    assert all(o["record"]["worker_loads"] == 1 for o in good)


def test_job_over_its_time_limit_is_stopped(dest) -> None:
    # the slow job would sleep 10 minutes; stopped at its 1 s limit, the batch ends long before that even on a
    # loaded machine (the bound is a proof that the job was killed, not a speed target)
    batch = [Job(task="ioi", model="m", name="slow", n=600, timeout_s=1.0), *jobs(None, None)]
    start = time.monotonic()
    states = run_batch(dest, batch, LocalExecutor(2), fake_job)
    assert time.monotonic() - start < 300
    assert states[0].status == "failed" and "time limit of 1 s" in states[0].error
    assert [s.status for s in states[1:]] == ["finished", "finished"]


def test_cli_batch_json_resume_and_exit_codes(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent("""
        name: cli-test
        tasks: [ioi]
        models: [tiny-gpt2]
        seeds: [0, 1]
        jobs:
          - {task: induction, model: tiny-gpt2, name: fail}
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "autointerp.cli.app", "batch", str(spec), "--db", f"sqlite:///{tmp_path / 'b.db'}",
           "--job-fn", "batch_fakes:fake_job", "--workers", "2", "--workdir", str(tmp_path / "work"), "--json"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert first.returncode == 1, first.stderr  # one job failed
    out = json.loads(first.stdout)
    assert out["counts"] == {"finished": 2, "failed": 1} and out["executor"] == "local"
    rows = {row["label"]: row for row in out["jobs"]}
    assert rows["fail"]["status"] == "failed" and "failed on purpose" in rows["fail"]["error"]
    ok = [r for r in out["jobs"] if r["status"] == "finished"]
    assert all(r["circuit_size"] == 2 and r["faithfulness"] == 0.8 and r["run_id"] for r in ok)
    assert {r["z"] for r in ok} == {4.0, 5.0} and all(r["wall_time_s"] >= 0 for r in ok)
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    out2 = json.loads(second.stdout)
    assert out2["counts"] == {"skipped": 2, "failed": 1}
    assert {r["run_id"] for r in out2["jobs"] if r["status"] == "skipped"} == {r["run_id"] for r in ok}
    table = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=180, env={**env, "COLUMNS": "200"})
    assert "Batch summary" in table.stdout and "skipped" in table.stdout and table.returncode == 1
