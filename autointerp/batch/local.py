"""The ``local`` executor: jobs on this machine, in threads or worker processes.

Why own worker loops rather than ``concurrent.futures``: each worker keeps a
cache for as long as it lives (the loaded model, reused by every job of that
model), a worker that dies (out of memory, a segfault in a kernel) must fail
only the job it held and be replaced, and a job over its time limit must be
stopped. Workers pull ``(index, job)`` from one inbox and report
``("start", ...)`` and ``("done", ...)`` on one outbox; the driver thread
consumes the outbox and is the only one that writes to the database.

``mode="process"`` (the default with more than one worker) uses ``spawn``
processes, so the job function must be importable (a module-level function).
``mode="thread"`` runs jobs in threads of this process (a hung thread cannot
be stopped; its late result is ignored).
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from autointerp.batch.spec import Job
from autointerp.batch.worker import JobFn, execute, worker_name

EventFn = Callable[[str, int, dict[str, Any]], None]
"""``(event, job index, info)``: ``start`` when a worker takes a job."""

POLL_S = 0.2


def _worker_loop(job_fn: JobFn, inbox: Any, outbox: Any, slot: Any) -> None:
    """Take jobs until the ``None`` sentinel; report start and outcome of each.

    ``slot.value`` holds the index of the job being run (-1 when idle). It is
    shared memory, written synchronously, so the driver knows which job a
    worker held even when the worker dies before its queued messages leave.
    """
    cache: dict[str, Any] = {}
    name = worker_name()
    if threading.current_thread() is not threading.main_thread():
        name = f"{name}/{threading.current_thread().name}"
    else:
        _exit_with_parent()
    while True:
        item = inbox.get()
        if item is None:
            return
        index, job = item
        slot.value = index
        outbox.put(("start", index, name, None))
        outcome = execute(job_fn, job, cache)
        outbox.put(("done", index, name, outcome))
        slot.value = -1


def _exit_with_parent() -> None:
    """End this worker process as soon as the batch driver that spawned it is gone.

    A driver killed with SIGKILL cannot stop its workers, and an orphan that
    went on with its job would race the next run of the same spec for the
    job's work directory (and finish work no driver records).
    """
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        mp.connection.wait([parent.sentinel])
        os._exit(70)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _receive(outbox: Any, timeout: float) -> Any:
    """The next message from a thread ``queue.Queue`` or a process ``SimpleQueue``; queue.Empty on timeout."""
    if isinstance(outbox, queue.Queue):
        return outbox.get(timeout=timeout)
    if not outbox._poll(timeout):  # SimpleQueue has no get(timeout=); poll its pipe instead
        raise queue.Empty
    return outbox.get()


class _Slot:
    """Thread-mode stand-in for ``multiprocessing.Value('i')``."""

    def __init__(self) -> None:
        self.value = -1


def failure(job: Job, error: str, wall_time_s: float = 0.0, worker: str | None = None) -> dict[str, Any]:
    """An outcome for a job whose worker could not report one."""
    return {"key": job.identity(), "ok": False, "error": error, "record": None,
            "wall_time_s": wall_time_s, "worker": worker}


class LocalExecutor:
    """Run jobs with bounded concurrency on this machine.

    Args:
        workers: Concurrent jobs (at least 1).
        mode: ``process`` or ``thread``; default ``process`` when
            ``workers > 1``, else ``thread``.
    """

    name = "local"

    def __init__(self, workers: int = 1, mode: str | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.mode = mode or ("process" if workers > 1 else "thread")
        if self.mode not in ("process", "thread"):
            raise ValueError(f"mode must be 'process' or 'thread', not {self.mode!r}")

    def run(
        self, jobs: Sequence[Job], job_fn: JobFn, on_event: EventFn | None = None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield ``(job index, outcome)`` as jobs finish (in completion order).

        Args:
            jobs: The jobs to run.
            job_fn: The job function (importable when ``mode="process"``).
            on_event: Called as ``on_event("start", index, {"worker": name})``.
        """
        if not jobs:
            return
        if self.mode == "process":
            ctx = mp.get_context("spawn")
            inbox: Any = ctx.Queue()
            # SimpleQueue writes synchronously in the worker's own thread: a worker that dies
            # during a job has already released the shared write lock. A Queue's background
            # feeder thread could still hold it, wedging every other worker's reports.
            outbox: Any = ctx.SimpleQueue()
        else:
            ctx, inbox, outbox = None, queue.Queue(), queue.Queue()
        for item in enumerate(jobs):
            inbox.put(item)
        n_workers = min(self.workers, len(jobs))
        for _ in range(n_workers):
            inbox.put(None)
        workers: list[tuple[Any, Any]] = []  # (process or thread, its job slot)

        def spawn() -> None:
            slot: Any = ctx.Value("i", -1) if ctx is not None else _Slot()
            args = (job_fn, inbox, outbox, slot)
            if ctx is not None:
                worker: Any = ctx.Process(target=_worker_loop, args=args, daemon=True)
            else:
                worker = threading.Thread(target=_worker_loop, args=args, daemon=True)
            worker.start()
            workers.append((worker, slot))

        for _ in range(n_workers):
            spawn()
        try:
            yield from self._collect(jobs, outbox, workers, spawn, on_event)
        finally:
            for worker, _ in workers:
                if ctx is not None and worker.is_alive():
                    worker.terminate()
            for worker, _ in workers:
                worker.join(timeout=5)

    def _collect(
        self, jobs: Sequence[Job], outbox: Any, workers: list[tuple[Any, Any]],
        spawn: Callable[[], None], on_event: EventFn | None,
    ) -> Iterator[tuple[int, dict[str, Any]]]:  # fmt: skip
        """Consume the outbox; handle dead workers and jobs over their time limit."""
        remaining = set(range(len(jobs)))
        started: dict[int, float] = {}  # job index -> start time
        handled: set[int] = set()  # ids of workers already given up on
        while remaining:
            try:
                kind, index, name, payload = _receive(outbox, POLL_S)
            except queue.Empty:
                yield from self._check(jobs, workers, started, handled, remaining, spawn)
                continue
            if kind == "start":
                started.setdefault(index, time.monotonic())
                if on_event is not None:
                    on_event("start", index, {"worker": name})
            elif index in remaining:
                remaining.discard(index)
                yield index, payload

    def _check(
        self, jobs: Sequence[Job], workers: list[tuple[Any, Any]], started: dict[int, float],
        handled: set[int], remaining: set[int], spawn: Callable[[], None],
    ) -> Iterator[tuple[int, dict[str, Any]]]:  # fmt: skip
        """Fail jobs whose worker died or ran out of time; replace stopped workers."""
        now = time.monotonic()
        for worker, slot in list(workers):
            if id(worker) in handled:
                continue
            index = int(slot.value)
            dead = not worker.is_alive()
            if dead and (index < 0 or index not in remaining):
                handled.add(id(worker))
                if remaining and getattr(worker, "exitcode", 0) not in (0, None):
                    spawn()  # died idle: its share of the inbox still needs a reader
                continue
            if index < 0 or index not in remaining:
                continue
            started.setdefault(index, now)  # its start message may have been lost
            limit = jobs[index].timeout_s
            timed_out = limit is not None and now - started[index] > limit
            if not (dead or timed_out):
                continue
            handled.add(id(worker))
            if dead:
                error = (f"the worker process died (exit code {getattr(worker, 'exitcode', None)}) "
                         "while running this job")
            else:
                error = f"the job ran longer than its time limit of {limit:g} s and was stopped"
                if self.mode == "process":
                    worker.terminate()
                    worker.join(timeout=5)
            remaining.discard(index)
            spawn()  # replaces the stopped worker and takes over its sentinel
            yield index, failure(jobs[index], error, now - started[index])
        if remaining and all(not w.is_alive() or id(w) in handled for w, _ in workers):
            for index in sorted(remaining):
                yield index, failure(jobs[index], "no worker was left to run this job")
            remaining.clear()
