"""The ``ray`` executor: jobs on Ray actors that load a model once and keep it.

Why actors: loading a model (and moving it to a GPU) costs more than many a
job, so each actor is a long-lived worker with its own cache; the driver
hands an idle actor the next job of the model it already holds when there is
one. Why the up-front checks: Ray queues a request for resources that do not
exist forever (a GPU on a CPU-only cluster), so the executor compares each
actor's request with ``ray.cluster_resources()`` before starting anything,
waits for actors with ``ray.wait(..., timeout=...)``, and fails with one
sentence naming what was asked and what exists. Actors never write to the
database; they return plain records (see :mod:`autointerp.batch.worker`).

Ray is an optional extra (``autointerp[ray]``) and is imported lazily.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from autointerp.batch.local import EventFn, failure
from autointerp.batch.spec import Job, RaySettings
from autointerp.batch.worker import JobFn, execute, worker_name
from engine.errors import AutointerpError


class BatchError(AutointerpError):
    """A batch that cannot run as asked (missing extra, resources that do not exist)."""


class JobActor:
    """A long-lived worker: keeps a cache (the loaded model) across jobs."""

    def __init__(self, job_fn: JobFn) -> None:
        self.job_fn = job_fn
        self.cache: dict[str, Any] = {}

    def ready(self) -> str:
        """Name of the worker once the actor is up."""
        return worker_name()

    def run(self, job: Job) -> dict[str, Any]:
        """Run one job; see :func:`autointerp.batch.worker.execute`."""
        return execute(self.job_fn, job, self.cache)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BatchError(
            "The ray executor needs Ray; install it with pip install 'autointerp[ray]'."
        ) from None
    return ray


def actor_count(workers: int, request: dict[str, float], total: dict[str, float]) -> int:
    """How many actors of ``request`` fit in ``total`` (capped at ``workers``).

    Raises:
        BatchError: If not even one actor fits in the whole cluster.
    """
    fits = workers
    for resource, amount in request.items():
        if amount <= 0:
            continue
        have = float(total.get(resource, 0.0))
        if have < amount:
            raise BatchError(
                f"Each Ray worker asks for {amount:g} {resource} but the Ray cluster has "
                f"{have:g} {resource} in total; lower ray.num_{resource.lower()}s in the spec "
                "or add such resources to the cluster."
            )
        fits = min(fits, math.floor(have / amount + 1e-9))
    return max(1, fits)


def check_gpu_request(jobs: Sequence[Job], settings: RaySettings) -> None:
    """Jobs that insist on a CUDA device need actors that ask Ray for a GPU.

    Ray hides GPUs from an actor that did not ask for one (``CUDA_VISIBLE_DEVICES``
    is empty), so such a job could only fail on its worker.

    Raises:
        BatchError: a job names a ``cuda`` device while ``ray.num_gpus`` is 0.
    """
    if settings.num_gpus > 0:
        return
    asking = sorted({j.label for j in jobs if (j.device or "").startswith("cuda")})
    if asking:
        raise BatchError(
            f"Job(s) {', '.join(asking[:3])}{' ...' if len(asking) > 3 else ''} ask for a CUDA device but the "
            "spec's ray.num_gpus is 0, so Ray gives their workers no GPU; set ray.num_gpus (e.g. 1) or use device: auto."
        )


class RayExecutor:
    """Run jobs on Ray actors.

    Args:
        workers: Maximum number of actors (concurrent jobs).
        settings: Actor resources, cluster address and start-up timeout.
        poll_s: How often to look at time limits while waiting for results.
    """

    name = "ray"

    def __init__(self, workers: int = 1, settings: RaySettings | None = None, poll_s: float = 0.5) -> None:
        self.workers = max(1, workers)
        self.settings = settings or RaySettings()
        self.poll_s = poll_s
        self._names: dict[Any, str] = {}
        self._all: list[Any] = []

    def _start_actors(self, ray: Any, cls: Any, job_fn: JobFn, count: int) -> list[Any]:
        """Start ``count`` actors and wait (bounded) until they are up; record their names."""
        actors = [cls.remote(job_fn) for _ in range(count)]
        pings = {a.ready.remote(): a for a in actors}
        ready, _ = ray.wait(list(pings), num_returns=len(pings), timeout=self.settings.startup_timeout_s)
        up = [pings[r] for r in ready]
        for ref in ready:
            self._names[pings[ref]] = f"ray {ray.get(ref)}"
        for actor in actors:
            if actor not in up:
                ray.kill(actor)
        self._all.extend(up)
        if not up:
            raise BatchError(
                f"No Ray worker with {self.settings.num_cpus:g} CPU and {self.settings.num_gpus:g} GPU "
                f"started within {self.settings.startup_timeout_s:g} s (available now: "
                f"{_fmt(ray.available_resources())}); free resources or raise ray.startup_timeout_s."
            )
        return up

    def run(
        self, jobs: Sequence[Job], job_fn: JobFn, on_event: EventFn | None = None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield ``(job index, outcome)`` as jobs finish.

        Uses the running Ray instance if ``ray.init`` was called, else
        connects to ``settings.address`` (or starts a local instance) and
        shuts it down at the end.

        Raises:
            BatchError: Ray missing, resources that do not exist, or actors
                that do not start in time.
        """
        if not jobs:
            return
        check_gpu_request(jobs, self.settings)
        ray = _ray()
        started_here = False
        if not ray.is_initialized():
            address = self.settings.address or os.environ.get("RAY_ADDRESS") or None
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
            started_here = True
        self._names, self._all = {}, []
        try:
            request = {"CPU": self.settings.num_cpus, "GPU": self.settings.num_gpus}
            count = actor_count(min(self.workers, len(jobs)), request, ray.cluster_resources())
            cls = ray.remote(num_cpus=self.settings.num_cpus, num_gpus=self.settings.num_gpus,
                             max_restarts=0)(JobActor)
            actors = self._start_actors(ray, cls, job_fn, count)
            yield from self._dispatch(ray, cls, job_fn, jobs, actors, on_event)
        finally:
            for actor in self._all:
                with contextlib.suppress(Exception):  # already gone
                    ray.kill(actor)
            if started_here:
                ray.shutdown()

    def _dispatch(
        self, ray: Any, cls: Any, job_fn: JobFn, jobs: Sequence[Job], actors: list[Any],
        on_event: EventFn | None,
    ) -> Iterator[tuple[int, dict[str, Any]]]:  # fmt: skip
        """Hand jobs to idle actors (same model first); collect results; replace dead actors."""
        pending = list(range(len(jobs)))
        idle: list[tuple[Any, str | None]] = [(a, None) for a in actors]  # (actor, model it holds)
        flight: dict[Any, tuple[Any, int, float]] = {}  # ref -> (actor, job index, start)
        while pending or flight:
            while idle and pending:
                actor, held = idle.pop(0)
                index = next((i for i in pending if jobs[i].model == held), pending[0])
                pending.remove(index)
                flight[actor.run.remote(jobs[index])] = (actor, index, time.monotonic())
                if on_event is not None:
                    on_event("start", index, {"worker": self._names.get(actor, "ray")})
            ready, _ = ray.wait(list(flight), num_returns=1, timeout=self.poll_s)
            for ref in ready:
                actor, index, started = flight.pop(ref)
                try:
                    outcome = ray.get(ref)
                    idle.append((actor, jobs[index].model))
                except Exception as exc:  # noqa: BLE001 - the actor died (RayActorError, ...)
                    outcome = failure(jobs[index], f"the Ray worker died while running this job "
                                      f"({type(exc).__name__})", time.monotonic() - started)
                    idle.extend((a, None) for a in self._replace(ray, cls, job_fn, actor, pending))
                yield index, outcome
            now = time.monotonic()
            for ref, (actor, index, started) in list(flight.items()):
                limit = jobs[index].timeout_s
                if limit is not None and now - started > limit:
                    flight.pop(ref)
                    yield index, failure(jobs[index], f"the job ran longer than its time limit of "
                                         f"{limit:g} s and was stopped", now - started)
                    idle.extend((a, None) for a in self._replace(ray, cls, job_fn, actor, pending))
            if not idle and not flight and pending:
                for index in pending:
                    yield index, failure(jobs[index], "no Ray worker was left to run this job")
                return

    def _replace(self, ray: Any, cls: Any, job_fn: JobFn, actor: Any, pending: list[int]) -> list[Any]:
        """Kill ``actor`` and start a fresh one if jobs remain (none if it does not start)."""
        with contextlib.suppress(Exception):  # already gone
            ray.kill(actor)
        if not pending:
            return []
        try:
            return self._start_actors(ray, cls, job_fn, 1)
        except BatchError:
            return []


def _fmt(resources: dict[str, float]) -> str:
    keys = [k for k in ("CPU", "GPU", "memory") if k in resources]
    return ", ".join(f"{k}={resources[k]:g}" for k in keys) or "none"
