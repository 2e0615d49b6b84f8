"""Where a run's LangGraph checkpoints live, opening them, and keeping secrets out of them.

Why a file of its own: ``autointerp resume RUN`` must find the checkpoints
of a run from nothing but the store URL and the run id. For a SQLite store
the checkpoint database sits next to the store file
(``runs.db`` -> ``runs.checkpoints.sqlite``); for PostgreSQL (or an in-memory
store) it is ``checkpoints.sqlite`` in the user data directory. The
``thread_id`` of a run's checkpoints is the run id.

Why a redacting serializer: the checkpoint database is a second copy of the
run's state on disk -- LLM messages included -- so a key an LLM echoes would
land there even though the store scrubs its own copy. Every value LangGraph
checkpoints passes through :class:`RedactingSerializer`, which replaces
secrets (:mod:`store.redact`) in every string of the value *before* it is
serialised, so the serialised form stays well-formed.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel

from engine.config import settings
from store import Store, sqlite_file
from store.redact import redact_text, secret_values


def scrub(value: Any, secrets: list[str]) -> Any:
    """A copy of ``value`` with secrets replaced in every string it holds.

    Walks dicts, lists, tuples (named tuples too), sets, pydantic models
    (LangChain messages) and dataclasses; other objects are returned as they are.
    """
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return type(value)((scrub(k, secrets), scrub(v, secrets)) for k, v in value.items())
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, tuple):
        items = [scrub(v, secrets) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, set | frozenset):
        return type(value)(scrub(v, secrets) for v in value)
    if isinstance(value, BaseModel):
        return value.model_copy(update={name: scrub(getattr(value, name), secrets)
                                        for name in type(value).model_fields})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: scrub(getattr(value, f.name), secrets) for f in dataclasses.fields(value) if f.init}
        try:
            return dataclasses.replace(value, **fields)
        except (TypeError, ValueError):
            return value
    return value


class RedactingSerializer(JsonPlusSerializer):
    """LangGraph's serializer with secrets scrubbed from every value before it is written.

    A subclass (not a wrapper) so that LangGraph's msgpack allow-list, which
    it derives from the graph's state types, keeps working on it.
    """

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        return super().dumps_typed(scrub(obj, secret_values()))


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
    """A SQLite checkpointer for runs recorded in ``store`` (closed on exit); it never stores secrets."""
    path = checkpoint_path(store)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, timeout=30)
    try:
        saver = SqliteSaver(conn, serde=RedactingSerializer())
        saver.setup()
        yield saver
    finally:
        conn.close()


def thread_config(run_id: str) -> dict:
    """The LangGraph config of a run: its thread and a recursion limit the budgets make moot."""
    return {"configurable": {"thread_id": run_id}, "recursion_limit": 100_000}
