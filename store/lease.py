"""Run leases: one driver per run at a time, and stale "running" runs told apart from live ones.

Why: ``resume RUN`` twice at once used to drive one run twice (doubling its
evaluation rows), and a run whose process was killed with ``-9`` stayed
"running" forever. A process now takes the run's lease before driving it
(:func:`hold_lease`) and renews it from a background thread; a second
process asking for a held lease gets :class:`RunBusy`, one sentence naming
the holder. A lease is free again when it is released, when it expires
(``LEASE_TTL_S`` without renewal), or -- on the same host -- as soon as its
holder's process is gone, so a killed run is resumable at once.

Taking a lease is one write transaction that first locks the run (SQLite
``BEGIN IMMEDIATE``; a PostgreSQL row lock), so two processes racing for one
lease are serialised by the database and exactly one wins.

:func:`run_activity` shows what a recorded status hides: a run recorded as
``running`` with no live lease is *interrupted*, and the time of its last
recorded event says when it stopped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, update
from sqlmodel import select

from store.engine import Store, read_session, write_session
from store.errors import StoreError
from store.lookup import require_run
from store.plain import utcnow
from store.tables import Experiment, Hypothesis, Message, Run, RunLease
from store.urls import is_sqlite_memory

log = logging.getLogger(__name__)

LEASE_TTL_S = 60.0
"""Seconds a lease lasts without renewal."""
RENEW_EVERY_S = 15.0
"""How often the holder renews its lease."""


class RunBusy(StoreError):
    """Another live process holds the run's lease."""


@dataclass(frozen=True)
class Lease:
    """A lease this process holds on a run."""

    run_id: str
    token: str


@dataclass(frozen=True)
class RunActivity:
    """What a run is doing now, beyond its recorded status.

    Attributes:
        status: the recorded status, except that a ``running`` run without a
            live lease is ``interrupted``.
        stale: True for such a run (recorded ``running``, nobody driving it).
        last_event_at: the time of the run's last recorded event (experiment,
            message, hypothesis or update of the run row).
        holder: ``host:pid`` of the live lease holder, if any.
    """

    status: str
    stale: bool
    last_event_at: dt.datetime | None
    holder: str | None


def _host() -> str:
    return socket.gethostname()


def _process_gone(pid: int) -> bool:
    """Whether process ``pid`` of this host no longer exists (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def lease_is_live(lease: RunLease | None, now: dt.datetime | None = None) -> bool:
    """Whether ``lease`` still binds: not expired, and its holder alive when it is on this host."""
    if lease is None:
        return False
    now = now or utcnow()
    if lease.expires_at <= now:
        return False
    return not (lease.host == _host() and _process_gone(lease.pid))


def _busy(store: Store, lease: RunLease) -> RunBusy:
    until = lease.expires_at.isoformat(timespec="seconds")
    return RunBusy(
        f"Run '{lease.run_id}' is being driven by another process (pid {lease.pid} on {lease.host}, "
        f"lease renewed until {until}); wait for it to end, or stop it, before resuming the run."
    )


def acquire_lease(store: Store, run_id: str, ttl_s: float = LEASE_TTL_S) -> Lease:
    """Take the lease of a run for this process.

    Raises:
        RunNotFound: the run does not exist.
        RunBusy: another live process holds it.
    """
    token = secrets.token_hex(16)
    now = utcnow()
    with write_session(store) as session:
        require_run(session, store, run_id, lock=True)
        current = session.get(RunLease, run_id)
        if lease_is_live(current, now):
            assert current is not None
            raise _busy(store, current)
        row = current or RunLease(run_id=run_id, token=token, acquired_at=now, expires_at=now)
        row.token, row.host, row.pid = token, _host(), os.getpid()
        row.acquired_at, row.expires_at = now, now + dt.timedelta(seconds=ttl_s)
        session.add(row)
    return Lease(run_id, token)


def renew_lease(store: Store, lease: Lease, ttl_s: float = LEASE_TTL_S) -> bool:
    """Extend a held lease; False when it is no longer ours (it expired and was taken)."""
    with write_session(store) as session:
        result = session.exec(
            update(RunLease)  # type: ignore[arg-type]
            .where(RunLease.run_id == lease.run_id, RunLease.token == lease.token)  # type: ignore[arg-type]
            .values(expires_at=utcnow() + dt.timedelta(seconds=ttl_s))
        )
        return bool(result.rowcount)


def release_lease(store: Store, lease: Lease) -> None:
    """Give a lease back (a no-op when it is no longer ours)."""
    with write_session(store) as session:
        session.exec(
            delete(RunLease).where(  # type: ignore[arg-type]
                RunLease.run_id == lease.run_id, RunLease.token == lease.token  # type: ignore[arg-type]
            )
        )


@contextlib.contextmanager
def hold_lease(
    store: Store, run_id: str, ttl_s: float = LEASE_TTL_S, renew_every_s: float = RENEW_EVERY_S
) -> Iterator[Lease | None]:
    """Hold a run's lease while the block runs, renewing it from a background thread.

    An in-memory SQLite store is private to this process, so it needs no
    lease (and its single shared connection must not be used from a second
    thread): the block then runs with None.

    Raises:
        RunBusy: another live process holds the lease.
    """
    if is_sqlite_memory(store.url):
        yield None
        return
    lease = acquire_lease(store, run_id, ttl_s)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(renew_every_s):
            try:
                if not renew_lease(store, lease, ttl_s):
                    log.warning("lost the lease of run %s to another process", run_id)
                    return
            except StoreError as exc:  # a store hiccup: try again at the next beat
                log.warning("could not renew the lease of run %s: %s", run_id, exc)

    thread = threading.Thread(target=renew, name=f"lease-{run_id}", daemon=True)
    thread.start()
    try:
        yield lease
    finally:
        stop.set()
        thread.join(timeout=renew_every_s + 5)
        try:
            release_lease(store, lease)
        except StoreError as exc:  # the lease then expires on its own
            log.warning("could not release the lease of run %s: %s", run_id, exc)


def run_activity(store: Store, runs: Iterable[Run]) -> dict[str, RunActivity]:
    """What each run is doing now: live, or ``interrupted`` when recorded ``running`` without a live lease."""
    runs = list(runs)
    ids = [r.id for r in runs]
    if not ids:
        return {}
    now = utcnow()
    with read_session(store) as session:
        leases = {lease.run_id: lease for lease in session.exec(
            select(RunLease).where(RunLease.run_id.in_(ids))  # type: ignore[attr-defined]
        ).all()}
        last: dict[str, dt.datetime] = {}
        for table in (Experiment, Message, Hypothesis):
            rows = session.exec(
                select(table.run_id, func.max(table.created_at))  # type: ignore[call-overload]
                .where(table.run_id.in_(ids))  # type: ignore[attr-defined]
                .group_by(table.run_id)
            ).all()
            for run_id, when in rows:
                if when is not None and (run_id not in last or when > last[run_id]):
                    last[run_id] = when
    out = {}
    for run in runs:
        lease = leases.get(run.id)
        live = lease_is_live(lease, now)
        events = [t for t in (run.updated_at, last.get(run.id)) if t is not None]
        stale = run.status == "running" and not live
        out[run.id] = RunActivity(
            status="interrupted" if stale else run.status, stale=stale,
            last_event_at=max(events) if events else None,
            holder=f"{lease.host}:{lease.pid}" if live and lease is not None else None,
        )
    return out
