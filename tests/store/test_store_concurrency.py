"""Idempotency, concurrent writers and interrupted writes.

These are the guarantees a resumable, multi-process agent relies on: a
replayed step never duplicates a record, eight processes writing into one
run lose nothing and duplicate nothing, and a write that dies halfway leaves
no trace.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest
import store_workers as workers
from sqlalchemy import event, func, select, text

from store import (
    SCHEMA_VERSION,
    StoreError,
    add_experiment,
    add_hypothesis,
    add_message,
    count_experiments,
    get_run,
    list_runs,
    load_run_for_audit,
    open_store,
    schema_version,
    start_run,
    update_hypothesis,
)
from store.tables import Experiment, HypothesisExperiment, HypothesisStatusChange


def _rows(store, table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_add_experiment_is_idempotent(store):
    run = start_run(store, task="ioi", model="m", agent="scripted")
    other = start_run(store, task="ioi", model="m", agent="scripted")
    first = add_experiment(store, run, "ablate", {"c": "L0.H0"}, "s", {"v": 1}, idempotency_key="k")
    again = add_experiment(
        store, run, "ablate", {"c": "DIFFERENT"}, "s2", {"v": 2}, idempotency_key="k"
    )
    assert again == first
    assert count_experiments(store, run) == 1
    stored = load_run_for_audit(store, run)["experiments"][0]
    assert stored["args"] == {"c": "L0.H0"} and stored["result"] == {"v": 1}  # nothing rewritten
    elsewhere = add_experiment(store, other, "ablate", {}, "s", {}, idempotency_key="k")
    assert elsewhere != first
    assert _rows(store, Experiment) == 2
    # without a key every call is a new experiment
    add_experiment(store, run, "ablate", {}, "s", {})
    add_experiment(store, run, "ablate", {}, "s", {})
    assert count_experiments(store, run) == 3


def test_messages_and_hypotheses_are_idempotent(store):
    run = start_run(store, task="ioi", model="m", agent="scripted")
    m1 = add_message(store, run, "user", "hi", idempotency_key="m")
    assert add_message(store, run, "user", "hi again", idempotency_key="m") == m1
    h1 = add_hypothesis(store, run, "claim", idempotency_key="h")
    assert add_hypothesis(store, run, "claim", idempotency_key="h") == h1
    audit = load_run_for_audit(store, run)
    assert len(audit["messages"]) == 1 and len(audit["hypotheses"]) == 1
    # replaying the same status change does not double the history
    exp = add_experiment(store, run, "t", {}, "", {}, idempotency_key="e")
    update_hypothesis(store, h1, "supported", "why", experiment_id=exp)
    update_hypothesis(store, h1, "supported", "why", experiment_id=exp)
    assert len(load_run_for_audit(store, run)["hypotheses"][0]["status_history"]) == 1


def _spawn(target, *args):
    proc = mp.get_context("spawn").Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def _collect(out, procs, timeout: float) -> list:
    """One result per process; fail fast if a process dies without one."""
    import queue

    results: list = []
    deadline = time.monotonic() + timeout
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=0.5))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not dead, f"writer process(es) failed with exit codes {dead}"
            assert time.monotonic() < deadline, "writers timed out"
    return results


def test_concurrent_writers_one_run(db_url):
    """Eight processes, one run, shared and private keys: no loss, no duplicates."""
    store = open_store(db_url)
    run = start_run(store, task="ioi", model="m", agent="scripted")
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(workers.N_PROCESSES), ctx.Queue()
    procs = [
        _spawn(workers.concurrent_writer, db_url, run, w, barrier, out)
        for w in range(workers.N_PROCESSES)
    ]
    results = _collect(out, procs, timeout=120)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    expected = workers.expected_unique()
    assert count_experiments(store, run) == expected
    with store.engine.connect() as conn:
        keys = conn.execute(select(Experiment.idempotency_key).where(Experiment.run_id == run))
        keys = [k for (k,) in keys]
        seqs = sorted(
            s for (s,) in conn.execute(select(Experiment.seq).where(Experiment.run_id == run))
        )
    assert len(keys) == len(set(keys)) == expected
    assert seqs == list(range(1, expected + 1))  # no collisions, no gaps
    # every process got the same id for each shared key
    shared = {}
    for _, ids in results:
        for key, exp_id in ids.items():
            shared.setdefault(key, set()).add(exp_id)
    assert shared and all(len(v) == 1 for v in shared.values())
    # atomic increments: no lost token updates
    total = workers.N_PROCESSES * workers.PER_PROCESS
    row = get_run(store, run)
    assert (row.prompt_tokens, row.completion_tokens) == (total, 2 * total)
    assert row.cost_usd == pytest.approx(0.5 * total)
    store.close()


def test_concurrent_first_open(db_url):
    """Processes racing to create the schema of a fresh database all succeed."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [_spawn(workers.open_fresh, db_url, w, barrier, out) for w in range(4)]
    results = _collect(out, procs, timeout=120)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    with open_store(db_url) as store:
        assert schema_version(store) == SCHEMA_VERSION
        assert {r.id for r in list_runs(store)} == {run_id for _, run_id in results}


def test_exception_mid_write_leaves_nothing(store):
    """A failure after part of a composite write rolls back all of it."""
    run = start_run(store, task="ioi", model="m", agent="scripted")
    hyp = add_hypothesis(store, run, "claim", component="L1.H1")
    exp = add_experiment(store, run, "ablate", {}, "", {}, idempotency_key="e1")
    executed: list[str] = []

    def fail_on(fragment):
        def listener(conn, cursor, statement, params, context, executemany):
            executed.append(statement.split()[0])
            if fragment in statement:
                raise RuntimeError("simulated crash")

        return listener

    listener = fail_on("INSERT INTO hypothesis_status_change")
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            update_hypothesis(store, hyp, "refuted", "no effect", experiment_id=exp)
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    assert "UPDATE" in executed  # the status update really ran before the crash
    audit = load_run_for_audit(store, run)
    assert audit["hypotheses"][0]["status"] == "proposed"
    assert audit["hypotheses"][0]["status_history"] == []
    assert audit["hypotheses"][0]["evidence"] == []

    listener = fail_on("INSERT INTO hypothesis_experiment")
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        with pytest.raises(RuntimeError):
            add_experiment(
                store, run, "probe", {}, "", {}, idempotency_key="e2", hypothesis_ids=[hyp]
            )
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    assert count_experiments(store, run) == 1  # the experiment insert was rolled back
    replayed = add_experiment(
        store, run, "probe", {}, "", {}, idempotency_key="e2", hypothesis_ids=[hyp]
    )
    assert add_experiment(store, run, "probe", {}, "", {}, idempotency_key="e2") == replayed
    assert count_experiments(store, run) == 2
    assert load_run_for_audit(store, run)["hypotheses"][0]["evidence"] == [replayed]


def test_sigkill_inside_transaction(db_url):
    """A process killed with an open transaction leaves nothing behind."""
    store = open_store(db_url)
    run = start_run(store, task="ioi", model="m", agent="scripted")
    hyp = add_hypothesis(store, run, "claim")
    ready = mp.get_context("spawn").Event()
    proc = _spawn(workers.hold_open_transaction, db_url, run, hyp, ready)
    assert ready.wait(timeout=60), "child never reached the open transaction"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL
    store.close()

    reopened = open_store(db_url)  # opens cleanly; the dead writer's lock is gone
    if reopened.dialect == "sqlite":
        with reopened.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    assert count_experiments(reopened, run) == 0
    assert _rows(reopened, HypothesisStatusChange) == 0
    # the same key can be written now, exactly once
    first = add_experiment(reopened, run, "half", {}, "", {}, idempotency_key="half")
    assert add_experiment(reopened, run, "half", {}, "", {}, idempotency_key="half") == first
    assert count_experiments(reopened, run) == 1
    reopened.close()


def test_sigkill_mid_loop_then_replay(db_url):
    """Kill an agent-like loop at a random point, replay it: consistent, no duplicates."""
    store = open_store(db_url)
    run = start_run(store, task="ioi", model="m", agent="scripted")
    proc = _spawn(workers.research_loop, db_url, run, 100_000)
    deadline = time.monotonic() + 60
    while count_experiments(store, run) < 12:
        assert time.monotonic() < deadline and proc.is_alive(), "writer made no progress"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    store.close()

    store = open_store(db_url)
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    audit = load_run_for_audit(store, run)
    done = len(audit["experiments"])
    assert done >= 12
    for hyp in audit["hypotheses"]:  # status and history always agree
        history = hyp["status_history"]
        if history:
            assert hyp["status"] == history[-1]["new"] == "supported"
            assert hyp["evidence_links"][0]["relation"] == "supports"
        else:
            assert hyp["status"] == "proposed"
    for exp in audit["experiments"]:  # an experiment never exists without its link
        assert len(exp["hypotheses"]) == 1

    steps = done + 3
    for i in range(steps):  # the resumed agent replays from the start
        workers.replay_step(store, run, i)
    audit = load_run_for_audit(store, run)
    assert len(audit["experiments"]) == steps
    assert len(audit["hypotheses"]) == steps
    assert [e["seq"] for e in audit["experiments"]] == list(range(1, steps + 1))
    assert all(len(h["status_history"]) == 1 for h in audit["hypotheses"])
    assert _rows(store, HypothesisExperiment) == steps
    store.close()


def test_unknown_run_in_writes(store):
    with pytest.raises(StoreError, match="No run with id 'run-missing'"):
        add_experiment(store, "run-missing", "t", {}, "", {}, idempotency_key="k")
