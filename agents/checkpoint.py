"""Where a run's LangGraph checkpoints live, and opening them.

Why a file of its own: ``autointerp resume RUN`` must find the checkpoints
of a run from nothing but the store URL and the run id. For a SQLite store
the checkpoint database sits next to the store file
(``runs.db`` -> ``runs.checkpoints.sqlite``); for PostgreSQL (or an in-memory
store) it is ``checkpoints.sqlite`` in the user data directory. The
``thread_id`` of a run's checkpoints is the run id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from engine.config import settings
from store import Store, sqlite_file


def checkpoint_path(store: Store) -> Path | None:
    """The checkpoint file for ``store``; None for an in-memory SQLite store."""
    if store.dialect == "sqlite":
        path = sqlite_file(store.url)
        if path is None:
            return None
        db = path.resolve()
        return db.with_name(db.stem + ".checkpoints.sqlite")
    return settings().data_dir / "checkpoints.sqlite"


@contextmanager
def open_checkpointer(store: Store) -> Iterator[SqliteSaver]:
    """A SQLite checkpointer for runs recorded in ``store`` (closed on exit)."""
    path = checkpoint_path(store)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, timeout=30)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


def thread_config(run_id: str) -> dict:
    """The LangGraph config of a run: its thread and a recursion limit the budgets make moot."""
    return {"configurable": {"thread_id": run_id}, "recursion_limit": 100_000}
