"""The real job function's plumbing: private store, resume of a cut-off run, clean-up.

``autointerp.api`` is replaced by fakes that record runs with the store API,
so no model is loaded; what is tested is how ``explain_job`` drives the API.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from batch_fakes import record_fake_run

import store as st
from autointerp import api
from autointerp.batch import worker
from autointerp.batch.spec import Job
from autointerp.batch.worker import _explain_kwargs, execute, explain_job


class FakeApi:
    """Stands in for ``autointerp.api``; the first ``explain`` can be told to die halfway."""

    def __init__(self, die: bool) -> None:
        self.die = die
        self.calls: list[tuple[str, Any]] = []

    def explain(self, task: str, model: str = "m", agent: str = "scripted", *, db: str | None = None,
                seed: int = 0, n: int | None = None, max_steps: int = 300, circuit: Any = None,
                evaluate: bool = True, null_draws: int = 200, target: Any = None) -> Any:
        assert target is not None and target.name == model  # the worker passes its loaded model
        self.calls.append(("explain", {"task": task, "n": n, "circuit": circuit, "evaluate": evaluate}))
        job = Job(task=task, model=model, agent=agent, seed=seed, n=n)
        run_id = record_fake_run(db, job, finish=not self.die)
        if self.die:
            raise RuntimeError("worker killed halfway")
        return SimpleNamespace(run_id=run_id)

    def resume(self, run_id: str, *, db: str | None = None, target: Any = None) -> Any:
        assert target is not None
        self.calls.append(("resume", run_id))
        with st.open_store(db) as private:
            st.save_explanation(private, run_id, "resumed", [], [], ["L0.H0"])
            st.finish_run(private, run_id, "finished", "resumed and completed")
        return SimpleNamespace(run_id=run_id)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi(die=True)
    monkeypatch.setattr(api, "explain", fake.explain)
    monkeypatch.setattr(api, "resume", fake.resume)
    # no model is loaded; the placement the worker asks for is kept on the stand-in
    monkeypatch.setattr(worker, "load_model",
                        lambda name, device=None, dtype=None: SimpleNamespace(name=name, device=device, dtype=dtype))
    return fake


def test_cut_off_job_is_resumed_from_its_work_directory(fake: FakeApi, tmp_path: Path) -> None:
    job = Job(task="ioi", model="tiny-gpt2", n=8, circuit=("L0.H0",), evaluate=False,
              workdir=str(tmp_path / "work" / "job1"))
    first = execute(explain_job, job, {})
    assert not first["ok"] and "killed halfway" in first["error"]
    partial = first["record"]["audit"]
    assert partial["run"]["status"] == "running" and partial["hypotheses"]
    assert (tmp_path / "work" / "job1" / "job.db").exists()  # kept for the resume
    assert fake.calls[0] == ("explain", {"task": "ioi", "n": 8, "circuit": ["L0.H0"], "evaluate": False})
    fake.die = False
    second = execute(explain_job, job, {})
    assert second["ok"], second["error"]
    record = second["record"]
    assert fake.calls[-1] == ("resume", partial["run"]["id"]) and record["resumed"] == partial["run"]["id"]
    assert record["audit"]["run"]["status"] == "finished"
    assert record["audit"]["hypotheses"] == partial["hypotheses"]  # the same run, continued
    assert not (tmp_path / "work" / "job1").exists()  # cleaned up once the record is out


def test_failed_run_in_work_directory_is_restarted(fake: FakeApi, tmp_path: Path) -> None:
    import store as st

    workdir = tmp_path / "w"
    job = Job(task="ioi", model="m", workdir=str(workdir))
    execute(explain_job, job, {})
    with st.open_store(f"sqlite:///{workdir / 'job.db'}") as private:
        [run] = st.list_runs(private)
        st.finish_run(private, run.id, "failed", "deterministic error")
    fake.die = False
    out = execute(explain_job, job, {})
    assert out["ok"] and out["record"]["resumed"] is None
    assert out["record"]["audit"]["run"]["id"] != run.id and fake.calls[-1][0] == "explain"


def test_without_workdir_a_temporary_store_is_used_and_removed(fake: FakeApi) -> None:
    fake.die = False
    out = execute(explain_job, Job(task="ioi", model="m"), {})
    assert out["ok"] and out["record"]["audit"]["run"]["status"] == "finished"
    assert out["record"]["artifacts"]  # the array bytes travel with the record


def test_the_worker_loads_the_model_where_the_job_asks(fake: FakeApi) -> None:
    cache: dict[str, Any] = {}
    job = Job(task="ioi", model="m", device="cpu", dtype="bfloat16")
    half = worker._target(job, cache)
    assert (half.device, half.dtype) == ("cpu", "bfloat16") and worker._target(job, cache) is half  # cached
    full = worker._target(Job(task="ioi", model="m"), cache)  # another placement is another model
    assert (full.device, full.dtype) == (None, None) and len(cache) == 1  # the previous one was let go


def test_real_api_accepts_every_job_option() -> None:
    job = Job(task="ioi", model="m", agent="scripted", seed=3, n=8, max_steps=5, circuit=("L0.H0",),
              null_draws=300, evaluate=False)
    kwargs = _explain_kwargs(job, "sqlite:///x.db")
    assert {"task", "model", "agent", "seed", "db", "n", "max_steps", "circuit", "evaluate",
            "null_draws"} == set(kwargs)
    assert set(kwargs) | {"target"} <= set(inspect.signature(api.explain).parameters)


def test_a_jobs_device_and_dtype_reach_the_api() -> None:
    kwargs = _explain_kwargs(Job(task="ioi", model="m", device="cpu", dtype="bfloat16"), "sqlite:///x.db")
    assert (kwargs["device"], kwargs["dtype"]) == ("cpu", "bfloat16")
    assert {"device", "dtype"} <= set(inspect.signature(api.explain).parameters)


def test_a_work_directory_in_use_by_another_process_is_waited_for(fake: FakeApi, tmp_path: Path) -> None:
    import subprocess
    import sys

    from autointerp.batch.worker import workdir_lock

    workdir = tmp_path / "w"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; h = open(sys.argv[1], 'a+'); fcntl.flock(h, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(60)"), str(tmp_path / "w.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RuntimeError, match="another process has been running this job"), \
                workdir_lock(workdir, wait_s=0.6):
            pass
        holder.kill()  # the OS releases a dead holder's lock: the job goes ahead
        holder.wait()
        fake.die = False
        out = execute(explain_job, Job(task="ioi", model="m", workdir=str(workdir)), {})
        assert out["ok"], out["error"]
    finally:
        holder.kill()


def test_work_directories_are_private_to_the_destination_database(tmp_path: Path) -> None:
    import store as st
    from autointerp.batch.driver import job_workdir

    key = Job(task="ioi", model="m").identity()
    with st.open_store(f"sqlite:///{tmp_path / 'a.db'}") as a, st.open_store(f"sqlite:///{tmp_path / 'b.db'}") as b:
        assert job_workdir(tmp_path, a, key) == job_workdir(tmp_path, a, key)
        assert job_workdir(tmp_path, a, key) != job_workdir(tmp_path, b, key)
