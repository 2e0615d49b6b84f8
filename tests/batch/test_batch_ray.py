"""The Ray executor on a real local Ray instance (2 CPUs, no dashboard).

One Ray instance serves the whole module (start-up is the slow part). The
fake job function is imported by the actors from this directory, which the
runtime environment puts on their ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_fakes import fake_job

from autointerp.batch import BatchError, RayExecutor, run_batch
from autointerp.batch.ray_executor import actor_count
from autointerp.batch.spec import Job, RaySettings

ray = pytest.importorskip("ray")
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(HERE)}})
    yield ray
    ray.shutdown()


def job(seed: int, model: str = "tiny-gpt2", **kw) -> Job:
    return Job(task="ioi", model=model, seed=seed, **kw)


def test_cli_batch_on_ray_starts_and_stops_its_own_instance(tmp_path: Path) -> None:
    """``--executor ray`` without a running Ray: the executor starts a local instance and stops it."""
    spec = tmp_path / "spec.yaml"
    spec.write_text("tasks: [ioi]\nmodels: [tiny-gpt2]\nseeds: [0, 1]\nray: {num_cpus: 1, startup_timeout_s: 60}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "RAY_ADDRESS": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "autointerp.cli.app", "batch", str(spec), "--executor", "ray", "--workers", "2",
         "--db", f"sqlite:///{tmp_path / 'b.db'}", "--job-fn", "batch_fakes:fake_job", "--json"],
        capture_output=True, text=True, timeout=150, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["executor"] == "ray" and out["counts"] == {"finished": 2}
    assert all(job["worker"].startswith("ray ") for job in out["jobs"])


def test_actor_count_checks_resources_up_front() -> None:
    assert actor_count(4, {"CPU": 1, "GPU": 0}, {"CPU": 2.0}) == 2
    assert actor_count(1, {"CPU": 0.5, "GPU": 0}, {"CPU": 2.0}) == 1
    with pytest.raises(BatchError, match="asks for 1 GPU but the Ray cluster has 0 GPU"):
        actor_count(2, {"CPU": 1, "GPU": 1}, {"CPU": 2.0})


def test_jobs_run_on_actors_that_keep_their_model_and_the_driver_writes(local_ray, tmp_path: Path) -> None:
    import store as st

    jobs = [job(0), job(1, "tiny-llama"), job(2), job(3, "tiny-llama"), job(4, name="crash"), job(5)]
    executor = RayExecutor(2, RaySettings(num_cpus=1), poll_s=0.2)
    outcomes = dict(executor.run(jobs, fake_job))
    assert sorted(outcomes) == list(range(6))
    assert not outcomes[4]["ok"] and "Ray worker died" in outcomes[4]["error"]
    good = [outcomes[i] for i in (0, 1, 2, 3, 5)]
    assert all(o["ok"] for o in good), [o["error"] for o in good]
    assert os.getpid() not in {o["record"]["worker_pid"] for o in good}
    # each actor loads a model once and reuses it for later jobs of that model
    assert max(o["record"]["worker_calls"] for o in good) >= 2
    assert min(o["record"]["worker_calls"] / o["record"]["worker_loads"] for o in good) >= 1
    assert any(o["record"]["worker_loads"] < o["record"]["worker_calls"] for o in good)
    # the same through the driver: one writer, runs in the database, then a resume skips them
    with st.open_store(f"sqlite:///{tmp_path / 'ray.db'}") as dest:
        states = run_batch(dest, jobs[:3], executor, fake_job, batch_name="ray")
        assert [s.status for s in states] == ["finished"] * 3
        assert all(s.worker and s.worker.startswith("ray ") for s in states)
        assert len(st.list_runs(dest)) == 3
        again = run_batch(dest, jobs[:3], executor, fake_job)
        assert [s.status for s in again] == ["skipped"] * 3


def test_gpu_request_on_cpu_cluster_fails_fast(local_ray) -> None:
    start = time.monotonic()
    with pytest.raises(BatchError, match="GPU"):
        list(RayExecutor(1, RaySettings(num_gpus=1)).run([job(0)], fake_job))
    assert time.monotonic() - start < 10


def test_actors_that_cannot_start_time_out(local_ray) -> None:
    @ray.remote(num_cpus=2)
    class Blocker:
        def ping(self) -> int:
            return 1

    blocker = Blocker.remote()
    ray.get(blocker.ping.remote())  # holds both CPUs
    try:
        start = time.monotonic()
        with pytest.raises(BatchError, match="started within 2 s"):
            list(RayExecutor(1, RaySettings(num_cpus=1, startup_timeout_s=2)).run([job(0)], fake_job))
        assert time.monotonic() - start < 15
    finally:
        ray.kill(blocker)


def test_job_over_time_limit_is_stopped_and_others_continue(local_ray) -> None:
    jobs = [job(0, name="slow", n=60, timeout_s=1.0), job(1), job(2)]
    start = time.monotonic()
    outcomes = dict(RayExecutor(1, RaySettings(num_cpus=1), poll_s=0.2).run(jobs, fake_job))
    assert time.monotonic() - start < 45
    assert "time limit of 1 s" in outcomes[0]["error"]
    assert outcomes[1]["ok"] and outcomes[2]["ok"]
