"""User-facing failures: one clear sentence, URL named, password never shown."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from store import (
    SCHEMA_VERSION,
    RunNotFound,
    SchemaTooNew,
    StoreError,
    default_url,
    get_run,
    load_run_for_audit,
    open_store,
    parse_url,
    schema_version,
    start_run,
)

PASSWORD = "hunter2-very-secret"


def _one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message.endswith(".")
    assert PASSWORD not in message


def test_unknown_run_id(store):
    with pytest.raises(RunNotFound) as info:
        get_run(store, "run-000000000000")
    message = str(info.value)
    assert message == f"No run with id 'run-000000000000' in {store.masked_url}."
    _one_sentence(message)
    with pytest.raises(RunNotFound):
        load_run_for_audit(store, "run-000000000000")


@pytest.mark.postgres
def test_run_not_found_masks_password(pg_url):
    # the throw-away server trusts loopback, so any password is accepted
    url = pg_url.replace("autointerp@", f"autointerp:{PASSWORD}@")
    with open_store(url) as opened, pytest.raises(RunNotFound) as info:
        get_run(opened, "run-nope")
    _one_sentence(str(info.value))
    assert "***" in str(info.value)


def test_unreachable_postgres():
    url = f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/x"
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    _one_sentence(message)
    assert "postgresql+psycopg://u:***@127.0.0.1:1/x" in message
    assert message.startswith("Cannot open the database at")


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{PASSWORD}@localhost:notaport/db",
        f"mysql://u:{PASSWORD}@localhost/db",
        "just some words",
        "",
    ],
)
def test_malformed_urls(url):
    with pytest.raises(StoreError) as info:
        open_store(url)
    _one_sentence(str(info.value))


def test_unwritable_sqlite_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError) as info:
        open_store(f"sqlite:///{blocker}/sub/db.sqlite")
    _one_sentence(str(info.value))


def test_postgres_url_uses_psycopg():
    assert parse_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/d").drivername == "postgresql+psycopg"
    assert parse_url("postgresql+psycopg://u@h/d").drivername == "postgresql+psycopg"


def test_default_url(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOINTERP_DB", "sqlite:////somewhere/x.db")
    assert default_url() == "sqlite:////somewhere/x.db"
    monkeypatch.delenv("AUTOINTERP_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_url() == f"sqlite:///{tmp_path / 'xdg' / 'autointerp' / 'autointerp.db'}"
    with open_store() as opened:  # the directory is created
        run = start_run(opened, task="t", model="m", agent="a")
        assert get_run(opened, run).id == run
    assert (tmp_path / "xdg" / "autointerp" / "autointerp.db").is_file()


def test_sqlite_pragmas(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'p.db'}") as opened, opened.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() >= 10_000


def test_schema_version(db_url):
    with open_store(db_url) as opened:
        assert schema_version(opened) == SCHEMA_VERSION == 2
        with opened.engine.begin() as conn:
            conn.execute(text("UPDATE schema_version SET version = 0"))
    with open_store(db_url) as opened:  # an older database is brought up to date
        assert schema_version(opened) == SCHEMA_VERSION
        with opened.engine.begin() as conn:
            conn.execute(text("UPDATE schema_version SET version = 99"))
    with pytest.raises(SchemaTooNew) as info:
        open_store(db_url)
    message = str(info.value)
    _one_sentence(message)
    assert "99" in message and "upgrade autointerp" in message
