"""Database URLs: the default one, parsing, masking passwords, and where a SQLite database lives.

Why one module: several rooms need to know whether a URL names a SQLite file
(and which), an in-memory database or a server -- the checkpointer puts its
file beside the store's, the viewer opens the file read-only. The rule is
written once, here (``sqlite_file``), and everything else asks it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

import platformdirs
from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from store.errors import StoreError

ENV_VAR = "AUTOINTERP_DB"
"""Environment variable naming the default database URL."""

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
    password whatever the user typed. A SQLite URI (``sqlite:///file:PATH?mode=ro&uri=true``,
    how the viewer opens a file read-only) is shown as the ``sqlite:///PATH``
    the user gave, not the percent-encoded internal rewrite.
    """
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:  # noqa: BLE001 - malformed: fall back to a pattern
        return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", str(url))
    if parsed.get_backend_name() == "sqlite" and (parsed.database or "").startswith("file:"):
        path = sqlite_file(parsed)
        if path is not None:
            return f"sqlite:///{path}"
    return parsed.render_as_string(hide_password=True)


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


def connection_reason(exc: BaseException, password: str | None) -> str:
    """One short clause describing why a connection failed, no password."""
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    text = lines[0] if lines else type(orig).__name__
    text = text.rsplit(": ", 1)[-1].rstrip(".") or type(orig).__name__
    if password:
        text = text.replace(password, "***")
    return text[:1].lower() + text[1:]



def sqlite_file(url: str | URL) -> Path | None:
    """The file behind a SQLite URL; None for an in-memory database or another back end.

    ``sqlite:///PATH`` and URI forms (``sqlite:///file:PATH?mode=ro&uri=true``)
    name a file; ``sqlite://``, ``sqlite:///:memory:`` and ``file::memory:`` (or
    ``mode=memory``) name none.
    """
    parsed = url if isinstance(url, URL) else make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        path = unquote(database[len("file:"):].split("?", 1)[0])
        mode = parsed.query.get("mode")
        if not path or path.startswith(":memory:") or mode == "memory":
            return None
        return Path(path).expanduser()
    return Path(database).expanduser()


def is_sqlite_memory(url: str | URL) -> bool:
    """Whether ``url`` names an in-memory SQLite database."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.get_backend_name() == "sqlite" and sqlite_file(parsed) is None
