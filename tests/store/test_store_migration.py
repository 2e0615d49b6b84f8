"""A database written before roles were frozen (schema 1) opens, gains the new columns and keeps its rows."""

from __future__ import annotations

from sqlalchemy import inspect, text

from store import (
    SCHEMA_VERSION,
    freeze_roles,
    get_explanation,
    open_store,
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
