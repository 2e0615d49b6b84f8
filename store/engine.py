"""The store's engines and sessions: one code path for SQLite files and PostgreSQL servers.

Why: runs are written by many processes at once (batch jobs, Ray workers, a
``serve`` process reading while an agent writes). SQLite copes only when it is
set up for it: WAL journal, a busy timeout so writers wait instead of failing,
and write transactions that take the write lock up front (``BEGIN
IMMEDIATE``), so that "read max(seq), insert seq+1" can never be interleaved
or hit ``SQLITE_BUSY`` halfway. PostgreSQL gets the same code through
psycopg 3; there writers of one run serialise on a row lock of the run
instead. ``store.connect.open_store`` builds a ``Store`` from a URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from store.errors import StoreError
from store.plain import dumps
from store.urls import connection_reason, is_sqlite_memory, mask_url

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another process's write lock."""

PG_CONNECT_TIMEOUT_S = 10
"""How long to wait for a PostgreSQL server before giving up."""

WRITE_OPTION = "autointerp_write"


@dataclass(frozen=True)
class Store:
    """An open store: the engine plus where its arrays live.

    Hold one per process and pass it to the functions of :mod:`store`
    (``start_run(store, ...)``); close it with :meth:`close` or a ``with``
    block. Never put it in checkpointed agent state.

    Attributes:
        url: The normalised SQLAlchemy URL (may contain a password; use
            :attr:`masked_url` for anything shown to people).
        engine: The SQLAlchemy engine.
        artifact_dir: Directory of content-addressed array files.
    """

    url: URL
    engine: Engine
    artifact_dir: Path
    writer: Engine = field(repr=False)

    @property
    def masked_url(self) -> str:
        """The URL with its password masked, for messages."""
        return mask_url(self.url)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release all pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sqlite_engine(url: URL) -> Engine:
    """Create a SQLite engine set up for several concurrent processes."""
    memory = is_sqlite_memory(url)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    if memory:
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
    engine = create_engine(url, json_serializer=dumps, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite (SQLAlchemy's recipe),
        # so that BEGIN IMMEDIATE below is honoured and DDL is transactional.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def postgres_engine(url: URL) -> Engine:
    """Create a PostgreSQL (psycopg 3) engine."""
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return create_engine(url, json_serializer=dumps, pool_pre_ping=True, connect_args=connect_args)


@contextlib.contextmanager
def write_session(store: Store) -> Iterator[Session]:
    """A session inside one write transaction, committed on success.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE``, so it holds the
    database's write lock from its first statement. Any exception rolls the
    whole transaction back; operational failures become ``StoreError``.
    """
    try:
        with Session(store.writer, expire_on_commit=False) as session, session.begin():
            yield session
    except OperationalError as exc:
        raise StoreError(
            f"A write to the database at {store.masked_url} failed "
            f"({connection_reason(exc, store.url.password)})."
        ) from exc


@contextlib.contextmanager
def read_session(store: Store) -> Iterator[Session]:
    """A session inside one read transaction (one consistent snapshot).

    On PostgreSQL the transaction is REPEATABLE READ, so multi-query reads
    (an audit) see one snapshot; SQLite read transactions already do.
    """
    try:
        with Session(store.engine, expire_on_commit=False) as session:
            if store.dialect == "postgresql":
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session  # closing the session ends (rolls back) the read
    except OperationalError as exc:
        raise StoreError(
            f"A read from the database at {store.masked_url} failed "
            f"({connection_reason(exc, store.url.password)})."
        ) from exc
