"""Open a store: one code path for SQLite files and PostgreSQL servers.

Why: runs are written by many processes at once (batch jobs, Ray workers, a
``serve`` process reading while an agent writes). SQLite copes only when it is
set up for it: WAL journal, a busy timeout so writers wait instead of failing,
and write transactions that take the write lock up front (``BEGIN
IMMEDIATE``), so that "read max(seq), insert seq+1" can never be interleaved
or hit ``SQLITE_BUSY`` halfway. PostgreSQL gets the same code through
psycopg 3; there writers of one run serialise on a row lock of the run
instead. Everything a user can get wrong (bad URL, unreachable server,
unwritable directory) becomes a :class:`~store.errors.StoreError` with one
sentence that names the URL with its password masked.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from store.errors import StoreError
from store.plain import dumps

ENV_VAR = "AUTOINTERP_DB"
"""Environment variable naming the default database URL."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another process's write lock."""

PG_CONNECT_TIMEOUT_S = 10
"""How long to wait for a PostgreSQL server before giving up."""

_WRITE_OPTION = "autointerp_write"
_USAGE = "use sqlite:///PATH or postgresql://USER@HOST/DB"


def default_url() -> str:
    """Return the database URL used when none is given.

    ``$AUTOINTERP_DB`` if set, else a SQLite file ``autointerp.db`` in the
    user data directory (``platformdirs.user_data_dir("autointerp")``).
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return env
    return f"sqlite:///{Path(platformdirs.user_data_dir('autointerp')) / 'autointerp.db'}"


def mask_url(url: str | URL) -> str:
    """Return ``url`` as a string with any password replaced by ``***``.

    Works on malformed URLs too (by pattern), so error messages never leak a
    password whatever the user typed.
    """
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - malformed: fall back to a pattern
        return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", url)


def parse_url(url: str) -> URL:
    """Parse and normalise a database URL.

    ``postgresql://`` and ``postgres://`` select the psycopg 3 driver. Only
    SQLite and PostgreSQL are supported.

    Raises:
        StoreError: If the URL is malformed or names another database.
    """
    masked = mask_url(url)
    if "://" not in url:
        raise StoreError(f"The database URL '{masked}' is not a URL; {_USAGE}.")
    try:
        parsed = make_url(url)
        _ = parsed.port  # a non-numeric port fails here
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"The database URL '{masked}' is malformed; {_USAGE}.") from exc
    backend = parsed.get_backend_name()
    if backend == "postgres" or parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"The database URL '{masked}' names an unsupported database ({backend}); {_USAGE}."
        )
    return parsed


def _reason(exc: BaseException, password: str | None) -> str:
    """One short clause describing why a connection failed, no password."""
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    text = lines[0] if lines else type(orig).__name__
    text = text.rsplit(": ", 1)[-1].rstrip(".") or type(orig).__name__
    if password:
        text = text.replace(password, "***")
    return text[:1].lower() + text[1:]


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


def _sqlite_engine(url: URL) -> Engine:
    """Create a SQLite engine set up for several concurrent processes."""
    database = url.database or ""
    memory = database in ("", ":memory:") or database.startswith("file::memory:")
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
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgres_engine(url: URL) -> Engine:
    """Create a PostgreSQL (psycopg 3) engine."""
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return create_engine(url, json_serializer=dumps, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL, or None for other back ends and in-memory DBs."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database).expanduser()


def _artifact_dir(url: URL, artifact_dir: str | Path | None) -> Path:
    """Choose the artifact directory: given, next to a SQLite file, or user data."""
    if artifact_dir is not None:
        return Path(artifact_dir).expanduser().resolve()
    path = _sqlite_file(url)
    if path is not None:
        return path.resolve().parent / "artifacts"
    return Path(platformdirs.user_data_dir("autointerp")) / "artifacts"


def open_store(url: str | None = None, *, artifact_dir: str | Path | None = None) -> Store:
    """Open (and on first use create) a store.

    Args:
        url: A SQLAlchemy URL: ``sqlite:///PATH`` (the directory is created),
            ``postgresql://USER:PASS@HOST:PORT/DB`` (psycopg 3 is used) or
            ``postgresql+psycopg://...``. Defaults to :func:`default_url`.
        artifact_dir: Where content-addressed arrays are written; defaults to
            ``artifacts/`` next to a SQLite file, else the user data dir.

    Returns:
        An open :class:`Store` whose tables exist and whose schema version
        has been checked.

    Raises:
        StoreError: The URL is malformed or unsupported, the database cannot
            be reached or created, or it was written by a newer autointerp
            (:class:`~store.errors.SchemaTooNew`).
    """
    from store.schema import ensure_schema  # schema imports this module

    raw = default_url() if url is None else url
    parsed = parse_url(raw)
    masked = mask_url(parsed)
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_file(parsed)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"Cannot create the directory of the database at {masked} "
                    f"({exc.strerror or exc})."
                ) from exc
        engine = _sqlite_engine(parsed)
    else:
        try:
            engine = _postgres_engine(parsed)
        except (ImportError, ArgumentError) as exc:
            raise StoreError(f"Cannot use the database at {masked} ({exc}).") from exc
    store = Store(
        url=parsed,
        engine=engine,
        artifact_dir=_artifact_dir(parsed, artifact_dir),
        writer=engine.execution_options(**{_WRITE_OPTION: True}),
    )
    try:
        ensure_schema(store)
    except StoreError:
        engine.dispose()
        raise
    except (OperationalError, DBAPIError) as exc:
        engine.dispose()
        raise StoreError(
            f"Cannot open the database at {masked} ({_reason(exc, parsed.password)})."
        ) from exc
    return store


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
            f"({_reason(exc, store.url.password)})."
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
            f"({_reason(exc, store.url.password)})."
        ) from exc
