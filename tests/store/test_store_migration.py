"""A database written before roles were frozen (schema 1) or before run leases opens, gains the new columns and
tables and keeps its rows; the read-only viewer says it must be upgraded instead of misreading it."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from autointerp.report import open_readonly
from store import (
    SCHEMA_VERSION,
    SchemaNeedsUpgrade,
    acquire_lease,
    add_message,
    freeze_roles,
    get_explanation,
    get_run,
    open_store,
    run_activity,
    save_explanation,
    schema_version,
    start_run,
)

NEW_COLUMNS = ("roles_source", "roles_hash", "frozen_at")


def test_a_schema_1_database_is_upgraded_in_place(db_url, tmp_path):
    clusters = [{"name": "movers", "description": "copy the name", "members": ["L9.H6", "L9.H9"]}]
    with open_store(db_url, artifact_dir=tmp_path / "a") as st:
        run = start_run(st, task="ioi", model="m", agent="scripted")
        save_explanation(st, run, "old explanation", [], clusters, ["L9.H6", "L9.H9"])
        with st.engine.begin() as conn:  # turn it into what the previous release wrote
            for column in NEW_COLUMNS:
                conn.execute(text(f'ALTER TABLE explanation DROP COLUMN "{column}"'))
            conn.execute(text("UPDATE schema_version SET version = 1"))
    with open_store(db_url, artifact_dir=tmp_path / "a") as st:
        assert schema_version(st) == SCHEMA_VERSION == 2
        present = {c["name"] for c in inspect(st.engine).get_columns("explanation")}
        assert set(NEW_COLUMNS) <= present
        old = get_explanation(st, run)
        assert old["summary"] == "old explanation" and old["clusters"] == clusters
        assert old["roles_hash"] is None and old["frozen_at"] is None  # never frozen: nothing invented
        frozen = freeze_roles(st, run, "evidence")
        assert frozen.clusters == clusters and get_explanation(st, run)["roles_hash"] == frozen.roles_hash


def test_a_database_without_run_leases_gains_the_table_and_keeps_its_runs(db_url, tmp_path):
    with open_store(db_url, artifact_dir=tmp_path / "a") as st:
        run = start_run(st, task="ioi", model="m", agent="scripted")  # recorded "running", killed long ago
        add_message(st, run, "assistant", "the last thing it said")
        with st.engine.begin() as conn:  # what the previous releases wrote: no lease table, schema 1
            conn.execute(text("DROP TABLE run_lease"))
            conn.execute(text('ALTER TABLE explanation DROP COLUMN "roles_hash"'))
            conn.execute(text("UPDATE schema_version SET version = 1"))
    with pytest.raises(SchemaNeedsUpgrade) as err:  # the viewer never writes, so it cannot upgrade
        open_readonly(db_url)
    assert "older autointerp" in str(err.value) and "\n" not in str(err.value)
    with open_store(db_url, artifact_dir=tmp_path / "a") as st:
        assert schema_version(st) == SCHEMA_VERSION
        assert "run_lease" in inspect(st.engine).get_table_names()
        old = get_run(st, run)
        assert old.status == "running" and old.task == "ioi"
        activity = run_activity(st, [old])[run]
        assert activity.status == "interrupted" and activity.last_event_at is not None
        lease = acquire_lease(st, run)  # and it can be resumed under a lease
        assert lease.run_id == run
    with open_readonly(db_url) as st:  # upgraded: the viewer reads it
        assert get_run(st, run).id == run
