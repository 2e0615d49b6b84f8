"""Fake job functions for the batch tests (no model needed).

Why a module: worker processes (``spawn``) and Ray actors import job
functions by module name, so they must live in an importable module. Each
fake records a small but realistic run in its own private SQLite store with
the public store API and returns it the way the real job does
(:func:`autointerp.batch.worker.read_record`). The job's ``name`` selects a
behaviour: ``fail`` raises, ``partial`` raises after recording a partial run,
``crash`` kills its worker process, ``slow`` sleeps ``n`` seconds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from autointerp.batch.worker import read_record


def record_fake_run(url: str, job: Any, finish: bool = True) -> str:
    """Write one run of ``job`` into the store at ``url``; return its id."""
    import store as st

    with st.open_store(url) as private:
        run_id = st.start_run(private, task=job.task, model=job.model, agent=job.agent, seed=job.seed,
                              config={"task": job.task, "n": job.n}, code_version="test")
        hyp = st.add_hypothesis(private, run_id, "L1.H0 moves the indirect object <b>name</b>",
                                component="L1.H0")
        exp = st.add_experiment(
            private, run_id, "activation_patching", {"components": ["L0.H0", "L1.H0"]},
            "L1.H0 matters most", {"method": "exact", "effects": {"L0.H0": -0.2, "L1.H0": -1.4}},
            wall_time_s=0.01, hypothesis_ids=[hyp],
        )
        st.update_hypothesis(private, hyp, "supported", "large effect", exp, 0.9)
        st.add_message(private, run_id, "assistant", f"Studying L1.H0 for seed {job.seed}.")
        if not finish:
            return run_id
        circuit = ["L0.H0", "L1.H0"]
        st.save_explanation(
            private, run_id, "Two heads.",
            [{"id": c, "role": "mover", "description": "moves", "evidence": [exp]} for c in circuit],
            [{"name": "mover", "description": "moves names", "members": circuit}], circuit,
        )
        st.save_evaluation(private, run_id, "interchangeability",
                           {"silhouette": 0.4, "random_mean": 0.0, "random_std": 0.1, "z": 4.0 + job.seed})
        st.save_evaluation(private, run_id, "faithfulness", {"normalized": 0.8, "circuit_size": 2})
        st.save_array(private, [[1.0, 2.0], [3.0, 4.0]], run_id=run_id, kind="attention")
        st.add_tokens(private, run_id, 10, 5, 0.001)
        st.finish_run(private, run_id, "finished", "explanation complete")
    return run_id


def fake_job(job: Any, cache: dict[str, Any]) -> dict[str, Any]:
    """Record a run in a private store and return it; counts calls per worker in ``cache``."""
    cache["calls"] = cache.get("calls", 0) + 1
    if cache.get("model") != job.model:
        cache["model"], cache["loads"] = job.model, cache.get("loads", 0) + 1
    behaviour = job.name or ""
    if behaviour == "slow":
        time.sleep(float(job.n or 1))
    if behaviour == "crash":
        os._exit(3)
    if behaviour == "fail":
        raise ValueError("the fake job failed on purpose")
    tmp = Path(tempfile.mkdtemp(prefix="fake-job-"))
    url = f"sqlite:///{tmp / 'job.db'}"
    try:
        run_id = record_fake_run(url, job, finish=behaviour != "partial")
        record = read_record(url, tmp / "artifacts", run_id)
        if behaviour == "partial":
            error = RuntimeError("the fake job broke halfway")
            error.record = record  # type: ignore[attr-defined]
            raise error
        record["worker_calls"] = cache["calls"]
        record["worker_loads"] = cache["loads"]
        record["worker_pid"] = os.getpid()
        return record
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
