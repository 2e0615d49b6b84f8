"""Open a store: one entry point for SQLite files and PostgreSQL servers.

Why its own module: opening creates the tables on first use
(``store.schema``), and the schema module works on an open engine
(``store.engine``); this module sits above both, so neither imports the other
back. Everything a user can get wrong (bad URL, unreachable server,
unwritable directory) becomes a ``StoreError`` with one sentence that names
the URL with its password masked.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from sqlalchemy import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from store.engine import WRITE_OPTION, Store, postgres_engine, sqlite_engine
from store.errors import StoreError
from store.schema import ensure_schema
from store.urls import connection_reason, default_url, mask_url, parse_url, sqlite_file


def _artifact_dir(url: URL, artifact_dir: str | Path | None) -> Path:
    """Choose the artifact directory: given, next to a SQLite file, or user data."""
    if artifact_dir is not None:
        return Path(artifact_dir).expanduser().resolve()
    path = sqlite_file(url)
    if path is not None:
        return path.resolve().parent / "artifacts"
    return Path(platformdirs.user_data_dir("autointerp")) / "artifacts"


def open_store(
    url: str | None = None, *, artifact_dir: str | Path | None = None, create: bool = True
) -> Store:
    """Open (and on first use create) a store.

    Args:
        url: A SQLAlchemy URL: ``sqlite:///PATH`` (the directory is created),
            ``postgresql://USER:PASS@HOST:PORT/DB`` (psycopg 3 is used) or
            ``postgresql+psycopg://...``. Defaults to :func:`default_url`.
        artifact_dir: Where content-addressed arrays are written; defaults to
            ``artifacts/`` next to a SQLite file, else the user data dir.
        create: Create a SQLite file that does not exist yet. Commands that
            only read or continue recorded runs pass False, so a mistyped
            path is an error instead of a fresh, empty database.

    Returns:
        An open :class:`Store` whose tables exist and whose schema version
        has been checked.

    Raises:
        StoreError: The URL is malformed or unsupported, the database cannot
            be reached or created (or, with ``create=False``, does not
            exist), or it was written by a newer autointerp
            (:class:`~store.errors.SchemaTooNew`).
    """
    raw = default_url() if url is None else url
    parsed = parse_url(raw)
    masked = mask_url(parsed)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None and not create and not path.is_file():
            raise StoreError(
                f"There is no database at {path}; check --db (or $AUTOINTERP_DB), "
                "or record a run there first with `autointerp explain`."
            )
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"Cannot create the directory of the database at {masked} "
                    f"({exc.strerror or exc})."
                ) from exc
        engine = sqlite_engine(parsed)
    else:
        try:
            engine = postgres_engine(parsed)
        except (ImportError, ArgumentError) as exc:
            raise StoreError(f"Cannot use the database at {masked} ({exc}).") from exc
    store = Store(
        url=parsed,
        engine=engine,
        artifact_dir=_artifact_dir(parsed, artifact_dir),
        writer=engine.execution_options(**{WRITE_OPTION: True}),
    )
    try:
        ensure_schema(store)
    except StoreError:
        engine.dispose()
        raise
    except (OperationalError, DBAPIError) as exc:
        engine.dispose()
        raise StoreError(
            f"Cannot open the database at {masked} ({connection_reason(exc, parsed.password)})."
        ) from exc
    return store


