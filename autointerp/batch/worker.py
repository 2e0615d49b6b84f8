"""What runs inside a worker: one job, recorded in a private store, returned as plain data.

Why a private store: the batch driver is the only writer to the real
database (one writer means no lock contention across machines and no
half-written runs when a worker dies). A worker therefore records its run in
a temporary SQLite file, reads it back with ``store.load_run_for_audit`` and
returns that plain-JSON record (plus artifact bytes); the driver imports it
with :func:`autointerp.batch.importer.import_run`.

A *job function* has the signature ``job_fn(job, cache) -> record`` where
``record`` is ``{"audit": <load_run_for_audit dict>, "artifacts": {sha256:
bytes}}`` and ``cache`` is a dict that lives as long as the worker (a Ray
actor or a pool process), so a job function may keep a loaded model there.
Tests inject tiny fake job functions; :func:`explain_job` is the real one.
A job function that fails after recording a partial run may attach that
record to its exception as ``exc.record``; it is imported as a failed run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import store as st
from autointerp import api
from autointerp.batch.spec import Job
from engine.models import load_model

JobFn = Callable[[Job, dict[str, Any]], dict[str, Any]]
"""``(job, worker cache) -> {"audit": dict, "artifacts": {sha: bytes}}``."""

MAX_ARTIFACT_BYTES = 64 * 2**20
"""Artifacts larger than this stay behind (the record says which were dropped)."""


def worker_name() -> str:
    """``host:pid`` of the current process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def execute(job_fn: JobFn, job: Job, cache: dict[str, Any]) -> dict[str, Any]:
    """Run one job and describe the outcome; never raises (except KeyboardInterrupt).

    Returns:
        ``{"key", "ok", "error", "record", "wall_time_s", "worker"}``: ``record``
        is what the job function returned (or attached to its exception), or
        None.
    """
    start = time.perf_counter()
    outcome: dict[str, Any] = {"key": job.identity(), "ok": True, "error": None,
                               "record": None, "worker": worker_name()}
    try:
        record = job_fn(job, cache)
        if not isinstance(record, dict) or not isinstance(record.get("audit"), dict):
            raise TypeError("the job function must return {'audit': {...}, 'artifacts': {...}}")
        outcome["record"] = record
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a failed job must not kill its worker
        outcome["ok"] = False
        outcome["error"] = f"{type(exc).__name__}: {exc}".strip()
        outcome["traceback"] = traceback.format_exc(limit=20)
        partial = getattr(exc, "record", None)
        outcome["record"] = partial if isinstance(partial, dict) else None
    outcome["wall_time_s"] = time.perf_counter() - start
    return outcome


def read_record(db_url: str, artifact_dir: Path, run_id: str | None = None) -> dict[str, Any]:
    """Read a run of a private store back as a record (its newest run when no id is given)."""

    with st.open_store(db_url, artifact_dir=artifact_dir) as private:
        if run_id is None:
            runs = st.list_runs(private, limit=1)
            if not runs:
                raise RuntimeError("the job recorded no run")
            run_id = runs[0].id
        audit = st.load_run_for_audit(private, run_id)
    artifacts: dict[str, bytes] = {}
    dropped = []
    for row in audit.get("artifacts") or []:
        path = Path(row.get("path") or "")
        if path.is_file() and path.stat().st_size <= MAX_ARTIFACT_BYTES:
            artifacts[row["sha256"]] = path.read_bytes()
        else:
            dropped.append(row.get("sha256"))
    return {"audit": audit, "artifacts": artifacts, "dropped_artifacts": dropped}


def _unfinished_run(url: str, artifact_dir: Path) -> str | None:
    """The run left ``running``/``interrupted`` in a job's work directory, if any."""

    with st.open_store(url, artifact_dir=artifact_dir) as private:
        runs = st.list_runs(private, limit=1)
    return runs[0].id if runs and runs[0].status in ("running", "interrupted") else None


LOCK_WAIT_S = 120.0
"""How long a job waits for another process to let go of its work directory."""


@contextlib.contextmanager
def workdir_lock(workdir: Path, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold ``<workdir>.lock`` exclusively: one process at a time uses a job's work directory.

    The lock file sits beside the directory, not in it, because the directory
    is removed when the job completes while the lock is still held. The OS
    drops the lock when its holder dies, so a killed worker never blocks the
    job's next run for long.

    Raises:
        RuntimeError: If another process still holds it after ``wait_s`` seconds.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one batch at a time is the user's job
        yield
        return
    workdir.parent.mkdir(parents=True, exist_ok=True)
    with open(workdir.with_name(workdir.name + ".lock"), "a+") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"another process has been running this job in {workdir} for over {wait_s:g} s; "
                        "wait for it to end or stop it, then run the batch again"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def explain_job(job: Job, cache: dict[str, Any]) -> dict[str, Any]:
    """The real job: ``autointerp.explain`` into a private SQLite store, read back as a record.

    The store lives in ``job.workdir`` (kept when the job does not complete,
    so that running the job again *resumes* its run from the last LangGraph
    checkpoint via ``autointerp.resume``) or in a temporary directory. It is
    removed once the record has been read. The model is loaded once per
    worker (kept in ``cache``) and reused by every job of that model.
    """
    if job.workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="autointerp-job-"))
        try:
            return _explain_in(job, workdir, cache)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    workdir = Path(job.workdir)
    with workdir_lock(workdir):
        record = _explain_in(job, workdir, cache)
        shutil.rmtree(workdir, ignore_errors=True)  # only once complete: a failed job keeps it to resume
        return record


def _explain_in(job: Job, workdir: Path, cache: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) ``job`` with its private store in ``workdir``; its record."""

    url, artifacts = f"sqlite:///{workdir / 'job.db'}", workdir / "artifacts"
    resumable = None
    if (workdir / "job.db").exists():
        try:
            resumable = _unfinished_run(url, artifacts)
        except st.StoreError:  # unreadable leftovers (an older schema, a torn file): start afresh
            resumable = None
        if resumable is None:  # a failed, finished or foreign run: start afresh
            shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if resumable is not None:
            result = api.resume(resumable, db=url, target=_target(job, cache))
        else:
            result = api.explain(**_explain_kwargs(job, url), target=_target(job, cache))
    except Exception as exc:
        with contextlib.suppress(Exception):  # nothing recorded: report the original error
            exc.record = read_record(url, artifacts)  # type: ignore[attr-defined]
        raise
    record = read_record(url, artifacts, getattr(result, "run_id", None))
    record["resumed"] = resumable
    return record


def _explain_kwargs(job: Job, url: str) -> dict[str, Any]:
    """Keyword arguments of ``autointerp.explain`` for ``job`` (the loaded model aside)."""
    kwargs: dict[str, Any] = {"task": job.task, "model": job.model, "agent": job.agent,
                              "seed": job.seed, "db": url, "evaluate": job.evaluate}
    optional = {"n": job.n, "max_steps": job.max_steps,
                "circuit": list(job.circuit) if job.circuit else None, "null_draws": job.null_draws,
                "device": job.device, "dtype": job.dtype}
    kwargs.update({k: v for k, v in optional.items() if v is not None})
    return kwargs


def _target(job: Job, cache: dict[str, Any]) -> Any:
    """The loaded model for ``job`` from the worker's cache (one model per worker at a time).

    The model is placed as the job asks (``device``/``dtype``; None = the
    worker's settings); on a Ray actor given a GPU, ``auto`` finds it.
    """
    key = f"model:{job.model}|{job.device or ''}|{job.dtype or ''}"
    if key not in cache:
        for old in [k for k in cache if k.startswith("model:")]:
            del cache[old]  # memory, not load time, is the constraint
        cache[key] = load_model(job.model, device=job.device, dtype=job.dtype)
    return cache[key]
