"""Insert a row at most once per (run, idempotency key), safely under concurrency.

Why: agents replay steps after a crash or resume, and several processes may
write into one run. Each insert here runs in one write transaction that
first takes the run's write lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a
row lock on the run), then looks the key up, then assigns the next ``seq``.
The database's unique constraints are the last line of defence: if a race
slips through anyway, the ``IntegrityError`` is caught, the existing row is
re-read and its id returned, or the insert is retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from store.engine import Store, read_session, write_session
from store.lookup import require_run
from store.plain import clean_text
from store.tables import Experiment, Hypothesis, Message

_ATTEMPTS = 8

RowT = TypeVar("RowT", Hypothesis, Experiment, Message)


def find_by_key(session: Session, table: type[RowT], run_id: str, key: str) -> int | None:
    """The id of the row of ``table`` with this idempotency key in the run, or None."""
    query = select(table.id).where(table.run_id == run_id, table.idempotency_key == key)
    return session.exec(query).first()


def insert_once(
    store: Store,
    table: type[RowT],
    run_id: str,
    key: str | None,
    build: Callable[[Session], SQLModel],
    after: Callable[[Session, Any], None] | None = None,
) -> int:
    """Insert one row under the run's lock, at most once per idempotency key.

    ``build`` makes the row inside the transaction (so it can take ``seq``);
    ``after`` writes dependent rows in the same transaction.
    """
    key = clean_text(key)
    for attempt in range(_ATTEMPTS):
        try:
            with write_session(store) as session:
                require_run(session, store, run_id, lock=True)
                if key is not None:
                    existing = find_by_key(session, table, run_id, key)
                    if existing is not None:
                        return existing
                row = build(session)
                session.add(row)
                session.flush()
                if after is not None:
                    after(session, row)
                return int(row.id)  # type: ignore[attr-defined]
        except IntegrityError:
            if key is not None:
                with read_session(store) as session:
                    existing = find_by_key(session, table, run_id, key)
                if existing is not None:
                    return existing
            if attempt == _ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover
