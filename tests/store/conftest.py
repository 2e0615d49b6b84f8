"""Fixtures for the store tests: a throw-away PostgreSQL server and stores.

Why: the store promises that the same code works on SQLite and PostgreSQL,
so every store test runs against both. The PostgreSQL server is real (found on
PATH or under /usr/lib/postgresql/*/bin), started once per session on
loopback in a temporary data directory and stopped afterwards. initdb refuses
to run as root, so as root the server runs as an unprivileged system user.
If no server can be started the PostgreSQL half is skipped, except under
``CI=true``, where it fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER_FALLBACK = "autointerp-pg"
PG_ROLE = "autointerp"


@dataclass
class PgServer:
    """A running throw-away PostgreSQL server."""

    host: str
    port: int
    role: str

    def url(self, database: str) -> str:
        """SQLAlchemy URL of one database on this server."""
        return f"postgresql+psycopg://{self.role}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement in autocommit mode on the maintenance database."""
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.role, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)


def _pg_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def _run_as_user() -> str | None:
    """The unprivileged user to run PostgreSQL as when we are root (else None)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", PG_USER_FALLBACK):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", PG_USER_FALLBACK],
        check=True,
        capture_output=True,
    )
    return PG_USER_FALLBACK


def _as_user(user: str | None) -> Callable[[list[str]], list[str]]:
    """Wrap a command so that it runs as ``user`` (runuser, else su)."""
    if user is None:
        return lambda argv: argv
    if shutil.which("runuser"):
        return lambda argv: ["runuser", "-u", user, "--", *argv]
    return lambda argv: ["su", "-s", "/bin/sh", user, "-c", shlex.join(argv)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_pg(tmp: Path) -> tuple[PgServer, Callable[[], None]]:
    """Initialise and start a server in ``tmp``; return it and its stop function."""
    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL (initdb/pg_ctl) is not installed")
    user = _run_as_user()
    as_user = _as_user(user)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(tmp, entry.pw_uid, entry.pw_gid)
    data, sock = tmp / "data", tmp / "sock"
    for path in (data, sock):
        path.mkdir()
        if user:
            os.chown(path, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    data.chmod(0o700)
    init = subprocess.run(
        as_user([str(bindir / "initdb"), "-D", str(data), "-U", PG_ROLE, "--auth=trust",
         "-E", "UTF8", "--locale=C", "--no-sync"]),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr.strip()[-500:]}")
    log = tmp / "server.log"
    last_error = ""
    for _ in range(3):  # the free port may be taken between probe and start
        port = _free_port()
        options = (
            f"-k {sock} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        start = subprocess.run(
            as_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                     "-t", "60", "-o", options, "start"]),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if start.returncode == 0:
            break
        last_error = (start.stderr or start.stdout).strip()[-300:]
        if log.exists():
            last_error += " " + log.read_text(errors="replace")[-300:]
    else:
        raise RuntimeError(f"pg_ctl start failed: {last_error}")

    def stop() -> None:
        subprocess.run(
            as_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True, timeout=60,
        )  # fmt: skip

    return PgServer(host="127.0.0.1", port=port, role=PG_ROLE), stop


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL could not be started for the store tests: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server on loopback for the whole session (skip/fail if none)."""
    tmp = Path(tempfile.mkdtemp(prefix="autointerp-pg-", dir="/tmp" if os.geteuid() == 0 else None))
    stop: Callable[[], None] | None = None
    try:
        try:
            server, stop = _start_pg(tmp)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            _unavailable(str(exc))
        yield server
    finally:
        if stop is not None:
            stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg_server.admin(f'CREATE DATABASE "{name}"')
    yield pg_server.url(name)
    for _ in range(5):
        try:
            pg_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            break
        except Exception:  # noqa: BLE001 - best effort cleanup
            time.sleep(0.2)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[object]:
    """An open store on a fresh database (both back ends)."""
    from store import open_store

    opened = open_store(db_url, artifact_dir=tmp_path / "artifacts")
    yield opened
    opened.close()
