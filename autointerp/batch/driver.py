"""The batch driver: plan which jobs still need running, run them, record them.

Why resumable by identity: a batch over many models and seeds is interrupted
(a laptop lid, a pre-empted node) and re-run. Each job's identity (the hash
of its normalised settings) is stored in its run's ``meta["batch"]["job"]``,
so re-running the same spec skips jobs whose run finished (or stopped on its
budget: it has a result), and runs again those whose run failed or was cut
off; a cut-off run (still ``running`` in the database because the driver
died mid-import, or ``interrupted``) is marked ``interrupted`` with a pointer
to the run that replaced it. The driver thread is the only writer to the
database: executors yield plain outcomes and :func:`run_batch` imports them.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import store as st
from autointerp.batch.importer import import_run
from autointerp.batch.local import EventFn
from autointerp.batch.spec import Job
from autointerp.batch.summary import (
    process_from_store,
    process_of,
    scores_from_audit,
    scores_from_store,
)
from autointerp.batch.worker import JobFn

DONE_STATUSES = ("finished", "stopped")
"""Run statuses that count as a finished job (skipped when the spec is re-run)."""


class Executor(Protocol):
    """Runs jobs and yields ``(job index, outcome)`` as they finish."""

    name: str

    def run(
        self, jobs: Sequence[Job], job_fn: JobFn, on_event: EventFn | None = None
    ) -> Iterable[tuple[int, dict[str, Any]]]: ...


@dataclass
class JobState:
    """What the driver knows about one job; one row of the status and summary tables."""

    job: Job
    key: str
    status: str = "pending"  # pending, skipped, running, finished, stopped, failed, interrupted
    run_id: str | None = None
    stale_runs: list[str] = field(default_factory=list)
    worker: str | None = None
    started: float | None = None
    wall_time_s: float | None = None
    error: str | None = None
    circuit_size: int | None = None
    z: float | None = None
    faithfulness: float | None = None
    tool_calls: int | None = None
    hypotheses: int | None = None
    refuted: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` form of this row."""
        data = asdict(self)
        data.pop("job")
        data.pop("started")
        return {"label": self.job.label, **self.job.settings(), "timeout_s": self.job.timeout_s, **data}


def batch_meta(job: Job, batch_name: str | None) -> dict[str, Any]:
    """What is stored in a run's ``meta["batch"]``: the job identity and settings."""
    return {"batch": {"job": job.identity(), "name": batch_name, "settings": job.settings()}}


def plan(store: Any, jobs: Sequence[Job]) -> list[JobState]:
    """Look up each job in the store: done jobs are ``skipped``, others ``pending``.

    A pending job remembers its earlier unfinished runs (``stale_runs``:
    ``running`` or ``interrupted``) so they can be marked as replaced.
    """

    by_key: dict[str, list[Any]] = {}
    for run in st.list_runs(store):  # newest first; the API may normalise task/model names
        key = ((run.meta or {}).get("batch") or {}).get("job")
        if key:
            by_key.setdefault(str(key), []).append(run)
    states = []
    for job in jobs:
        state = JobState(job=job, key=job.identity())
        mine = by_key.get(state.key, [])
        done = [r for r in mine if r.status in DONE_STATUSES]
        if done:
            state.status = "skipped"
            state.run_id = done[0].id
            state.circuit_size, state.z, state.faithfulness = scores_from_store(store, done[0].id)
            state.tool_calls, state.hypotheses, state.refuted = process_from_store(store, done[0].id)
            state.wall_time_s = (done[0].meta or {}).get("batch_wall_time_s")
        else:
            state.stale_runs = [r.id for r in mine if r.status in ("running", "interrupted")]
        states.append(state)
    return states


def record_outcome(store: Any, state: JobState, outcome: dict[str, Any], batch_name: str | None) -> None:
    """Write one job's outcome to the store (the driver's only write path)."""

    state.wall_time_s = float(outcome.get("wall_time_s") or 0.0)
    state.worker = state.worker or outcome.get("worker")
    state.error = outcome.get("error")
    record = outcome.get("record") or {}
    meta = {**batch_meta(state.job, batch_name), "batch_wall_time_s": state.wall_time_s,
            "batch_worker": state.worker}
    if record.get("resumed"):  # continued from the checkpoint of a cut-off attempt
        meta["batch_resumed_from"] = record["resumed"]
    if record.get("audit"):
        audit = record["audit"]
        status = None if outcome.get("ok") else "failed"
        if status == "failed" and audit["run"].get("status") in DONE_STATUSES:
            status = None  # the run itself completed; the failure came after it
        reason = f"batch job failed: {state.error}" if status == "failed" else None
        state.run_id = import_run(store, audit, meta=meta, artifacts=record.get("artifacts"),
                                  status=status, stop_reason=reason)
        state.circuit_size, state.z, state.faithfulness = scores_from_audit(audit)
        state.tool_calls, state.hypotheses, state.refuted = process_of(audit.get("process"))
        state.status = st.get_run(store, state.run_id).status
    else:  # nothing recorded: keep a failed run so the failure is visible in `runs`/`serve`
        job = state.job
        state.run_id = st.start_run(
            store, task=job.task, model=job.model, agent=job.agent, seed=job.seed,
            config={"batch_job": job.settings()}, meta=meta,
        )  # fmt: skip
        st.finish_run(store, state.run_id, "failed", f"batch job failed: {state.error or 'no record'}")
        state.status = "failed"
    for stale in state.stale_runs:
        with contextlib.suppress(st.StoreError):
            st.finish_run(store, stale, "interrupted", f"superseded by batch run {state.run_id}")


def job_workdir(root: str | Path, store: Any, key: str) -> Path:
    """Where a job keeps its private store: one directory per (destination database, job).

    Keyed by the database too, so that the same job in batches writing to
    different databases never resumes the other's cut-off run.
    """
    url = getattr(store, "url", None)
    rendered = url.render_as_string(hide_password=False) if hasattr(url, "render_as_string") else str(url)
    return Path(root) / hashlib.sha256(f"{rendered}\n{key}".encode()).hexdigest()[:32]


Listener = Callable[[str, JobState], None]


def run_batch(
    store: Any,
    jobs: Sequence[Job],
    executor: Executor,
    job_fn: JobFn,
    *,
    batch_name: str | None = None,
    on_change: Listener | None = None,
    workdir: str | Path | None = None,
) -> list[JobState]:
    """Run every job of ``jobs`` that has not finished yet, recording each as it ends.

    Args:
        store: The open destination store (only this thread writes to it).
        jobs: The spec's jobs.
        executor: ``LocalExecutor`` or ``RayExecutor`` (or any :class:`Executor`).
        job_fn: The job function (see :mod:`autointerp.batch.worker`).
        batch_name: The spec's name, stored with each run.
        on_change: Called as ``on_change(event, state)`` for ``planned``,
            ``start`` and ``done`` (for progress bars and tables).
        workdir: Root of the jobs' work directories (see :func:`job_workdir`);
            a job cut off mid-run leaves its private store there and is
            resumed from it next time (when the worker runs on this machine).

    Returns:
        One :class:`JobState` per job, in spec order.
    """
    notify = on_change or (lambda _event, _state: None)
    states = plan(store, jobs)
    for state in states:
        notify("planned", state)
    todo = [s for s in states if s.status == "pending"]

    def on_event(event: str, index: int, info: dict[str, Any]) -> None:
        state = todo[index]
        state.status, state.worker, state.started = "running", info.get("worker"), time.monotonic()
        notify("start", state)

    sent = [s.job if workdir is None else s.job.model_copy(update={"workdir": str(job_workdir(workdir, store, s.key))})
            for s in todo]
    outcomes = executor.run(sent, job_fn, on_event)
    try:
        for index, outcome in outcomes:
            state = todo[index]
            record_outcome(store, state, outcome, batch_name)
            notify("done", state)
    finally:
        close = getattr(outcomes, "close", None)
        if close is not None:
            close()  # stops workers promptly on KeyboardInterrupt
    return states
