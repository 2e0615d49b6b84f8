"""Run leases on both back ends: one driver per run, killed drivers let go, stale runs show as interrupted."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading

import pytest
from sqlmodel import select

from store import (
    RunBusy,
    acquire_lease,
    add_message,
    hold_lease,
    release_lease,
    run_activity,
    start_run,
)
from store.engine import write_session
from store.read import get_run
from store.tables import RunLease


def test_a_held_lease_refuses_a_second_driver(store):
    run_id = start_run(store, task="ioi", model="m", agent="scripted")
    first = acquire_lease(store, run_id)
    with pytest.raises(RunBusy) as err:
        acquire_lease(store, run_id)
    assert run_id in str(err.value) and "\n" not in str(err.value)
    release_lease(store, first)
    second = acquire_lease(store, run_id)  # free again once released
    assert second.token != first.token


def test_racing_drivers_get_exactly_one_lease(store):
    run_id = start_run(store, task="ioi", model="m", agent="scripted")
    wins, busy, barrier = [], [], threading.Barrier(6)

    def race() -> None:
        barrier.wait()
        try:
            wins.append(acquire_lease(store, run_id))
        except RunBusy:
            busy.append(1)

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(wins) == 1 and len(busy) == 5


def test_an_expired_lease_or_a_dead_holder_frees_the_run(store):
    run_id = start_run(store, task="ioi", model="m", agent="scripted")
    acquire_lease(store, run_id, ttl_s=60)
    with write_session(store) as session:  # the holder stopped renewing a minute ago
        lease = session.exec(select(RunLease).where(RunLease.run_id == run_id)).one()
        lease.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.add(lease)
    acquire_lease(store, run_id)  # taken over
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with write_session(store) as session:  # a holder on this host whose process is gone (kill -9)
        lease = session.exec(select(RunLease).where(RunLease.run_id == run_id)).one()
        lease.pid = int(dead.stdout)
        session.add(lease)
    acquire_lease(store, run_id)  # taken over at once, no need to wait for expiry


def test_a_running_run_without_a_live_lease_shows_as_interrupted(store):
    live = start_run(store, task="ioi", model="m", agent="scripted")
    stale = start_run(store, task="ioi", model="m", agent="scripted")
    add_message(store, stale, "assistant", "last words")
    with hold_lease(store, live):
        activity = run_activity(store, [get_run(store, live), get_run(store, stale)])
    assert activity[live].status == "running" and not activity[live].stale and activity[live].holder
    assert activity[stale].status == "interrupted" and activity[stale].stale
    assert activity[stale].last_event_at is not None
    assert get_run(store, stale).status == "running"  # the record itself is not rewritten by a read
    after = run_activity(store, [get_run(store, live)])  # released on leaving the block
    assert after[live].status == "interrupted"
