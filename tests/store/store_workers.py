"""Child-process bodies for the store's concurrency and interruption tests.

Why a separate module: ``multiprocessing`` with the 'spawn' start method
imports the target function by module name in a fresh interpreter, so the
targets must live in an importable module, not inside a test function.
"""

from __future__ import annotations

import time
from typing import Any

N_PROCESSES = 8
PER_PROCESS = 25
SHARED_EVERY = 5  # every 5th write of every process uses a key shared by all


def shared_key(i: int) -> str:
    """The idempotency key that every process writes at step ``i``."""
    return f"shared-{i // SHARED_EVERY}"


def expected_unique() -> int:
    """How many distinct experiments the concurrent writers should leave."""
    shared = len({i for i in range(PER_PROCESS) if i % SHARED_EVERY == 0})
    own = PER_PROCESS - shared
    return N_PROCESSES * own + shared


def concurrent_writer(url: str, run_id: str, worker: int, barrier: Any, out: Any) -> None:
    """Write PER_PROCESS experiments (some with shared keys) and token counts."""
    from store import add_experiment, add_tokens, open_store

    store = open_store(url)
    barrier.wait(timeout=60)
    shared_ids = {}
    for i in range(PER_PROCESS):
        key = shared_key(i) if i % SHARED_EVERY == 0 else f"w{worker}-{i}"
        exp_id = add_experiment(
            store, run_id, "probe", {"worker": worker, "i": i}, f"w{worker} i{i}",
            {"value": i}, 0.001, idempotency_key=key,
        )  # fmt: skip
        if key.startswith("shared"):
            shared_ids[key] = exp_id
        add_tokens(store, run_id, 1, 2, 0.5)
    store.close()
    out.put((worker, shared_ids))


def research_loop(url: str, run_id: str, steps: int) -> None:
    """An agent-like loop: hypothesis, experiment, status change, per step."""
    from store import open_store

    store = open_store(url)
    for i in range(steps):
        replay_step(store, run_id, i)
    store.close()


def replay_step(store: Any, run_id: str, i: int) -> None:
    """One deterministic research step, safe to replay (idempotency keys)."""
    from store import add_experiment, add_hypothesis, update_hypothesis

    hyp = add_hypothesis(store, run_id, f"claim {i}", component=f"L{i % 4}.H0",
                         idempotency_key=f"h{i}")  # fmt: skip
    exp = add_experiment(
        store, run_id, "ablate", {"i": i}, f"step {i}", {"effect": i / 10}, 0.0,
        idempotency_key=f"e{i}", component=f"L{i % 4}.H0", hypothesis_ids=[hyp],
    )  # fmt: skip
    update_hypothesis(store, hyp, "supported", f"effect {i}", experiment_id=exp, confidence=0.9)


def hold_open_transaction(url: str, run_id: str, hypothesis_id: int, ready: Any) -> None:
    """Write half of a composite record inside a transaction, then hang.

    The parent SIGKILLs this process while the transaction is open.
    """
    from store import open_store
    from store.engine import write_session
    from store.tables import Experiment, HypothesisStatusChange

    store = open_store(url)
    with write_session(store) as session:
        session.add(Experiment(run_id=run_id, seq=999, tool="half", idempotency_key="half"))
        session.flush()
        session.add(
            HypothesisStatusChange(hypothesis_id=hypothesis_id, old="proposed", new="refuted")
        )
        session.flush()
        ready.set()
        time.sleep(120)


def open_fresh(url: str, worker: int, barrier: Any, out: Any) -> None:
    """Open a store that may not exist yet (all workers at once) and start a run."""
    from store import open_store, start_run

    barrier.wait(timeout=60)
    store = open_store(url)
    run_id = start_run(store, task="ioi", model="m", agent=f"worker-{worker}")
    store.close()
    out.put((worker, run_id))
