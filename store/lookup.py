"""Shared lookups and guards used by the read and write modules.

Why: "does this run exist, and lock it while I append to it" is needed by
nearly every write, and the error for a missing run must read the same
everywhere. Keeping it here keeps the write modules short and the message
consistent.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from store.engine import Store
from store.errors import RunNotFound, StoreError
from store.tables import Experiment, Hypothesis, Run


def run_not_found(store: Store, run_id: str) -> RunNotFound:
    """The error for an unknown run id."""
    return RunNotFound(f"No run with id '{run_id}' in {store.masked_url}.")


def require_run(session: Session, store: Store, run_id: str, *, lock: bool = False) -> Run:
    """Return the run or raise :class:`RunNotFound`.

    Args:
        session: An open session.
        store: The store (for the error message).
        run_id: The run to fetch.
        lock: Take a row lock (PostgreSQL ``FOR NO KEY UPDATE``) so that
            concurrent appenders to the same run serialise; SQLite write
            transactions are serialised by ``BEGIN IMMEDIATE`` already.
    """
    query = select(Run).where(Run.id == run_id)
    if lock:
        query = query.with_for_update(key_share=True)
    run = session.exec(query).first()
    if run is None:
        raise run_not_found(store, run_id)
    return run


def require_hypothesis(
    session: Session, store: Store, hypothesis_id: int, *, lock: bool = False
) -> Hypothesis:
    """Return the hypothesis or raise :class:`StoreError`."""
    query = select(Hypothesis).where(Hypothesis.id == hypothesis_id)
    if lock:
        query = query.with_for_update(key_share=True)
    hyp = session.exec(query).first()
    if hyp is None:
        raise StoreError(f"No hypothesis with id {hypothesis_id} in {store.masked_url}.")
    return hyp


def require_experiment(
    session: Session, store: Store, experiment_id: int, run_id: str | None = None
) -> Experiment:
    """Return the experiment (optionally checking its run) or raise StoreError."""
    exp = session.get(Experiment, experiment_id)
    if exp is None:
        raise StoreError(f"No experiment with id {experiment_id} in {store.masked_url}.")
    if run_id is not None and exp.run_id != run_id:
        raise StoreError(
            f"Experiment {experiment_id} belongs to run '{exp.run_id}', not to run '{run_id}'."
        )
    return exp


def require_experiment_seq(session: Session, store: Store, run_id: str, seq: int) -> Experiment:
    """The experiment numbered ``seq`` within ``run_id`` (what agents cite as ``E<seq>``), or raise StoreError."""
    exp = session.exec(select(Experiment).where(Experiment.run_id == run_id, Experiment.seq == seq)).first()
    if exp is None:
        raise StoreError(f"Run '{run_id}' has no experiment E{seq} in {store.masked_url}.")
    return exp


def next_seq(session: Session, table: Any, run_id: str) -> int:
    """The next free ``seq`` of ``table`` within a run (inside the caller's lock)."""
    from sqlalchemy import func

    current = session.exec(select(func.max(table.seq)).where(table.run_id == run_id)).one()
    return 1 if current is None else int(current) + 1
