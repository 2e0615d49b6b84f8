"""Create the store's tables and check the schema version.

Why: the store creates its tables on first use, so a fresh SQLite file or an
empty PostgreSQL database just works, and it refuses a database written by a
newer version of the code instead of misreading it. A database written by an
older version is upgraded in place: the store's schema only ever grows by
nullable columns and new tables, so the migration adds what is missing
(``_add_missing_columns``) and every earlier row keeps its data. Several processes may
open a fresh database at the same moment (a batch of runs), so creation runs
under a lock: SQLite's write lock (``BEGIN IMMEDIATE``) or a PostgreSQL
transaction-level advisory lock; both back ends have transactional DDL.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, inspect, select, text

from store.engine import Store
from store.errors import SchemaTooNew
from store.plain import utcnow
from store.tables import METADATA, SCHEMA_VERSION, SchemaVersion

_PG_LOCK_KEY = 0x6175746F696E74  # "autoint": an arbitrary advisory-lock id
_TABLE: Table = SchemaVersion.__table__  # type: ignore[attr-defined]


def _stored_version(conn: Connection) -> int | None:
    """The version recorded in the database, or None if there is none."""
    if not inspect(conn).has_table(_TABLE.name):
        return None
    row = conn.execute(select(_TABLE.c.version).where(_TABLE.c.id == 1)).first()
    return None if row is None else int(row[0])


def _check(store: Store, version: int | None) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"The database at {store.masked_url} has schema version {version} but this "
            f"autointerp understands only up to version {SCHEMA_VERSION}; upgrade autointerp."
        )


def _complete(conn: Connection) -> bool:
    """Whether every store table and column exists."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    if not all(name in existing for name in METADATA.tables):
        return False
    return all({c.name for c in table.columns} <= {c["name"] for c in inspector.get_columns(name)}
               for name, table in METADATA.tables.items())


def _add_missing_columns(conn: Connection) -> None:
    """Add columns that the code's tables have and the database's lack (all nullable by design)."""
    inspector = inspect(conn)
    for name, table in METADATA.tables.items():
        present = {c["name"] for c in inspector.get_columns(name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise SchemaTooNew(f"Cannot add the required column {name}.{column.name} to an existing database.")
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE "{name}" ADD COLUMN "{column.name}" {kind}'))


def schema_version(store: Store) -> int | None:
    """Return the schema version recorded in the store's database."""
    with store.engine.connect() as conn:
        return _stored_version(conn)


def ensure_schema(store: Store) -> None:
    """Create missing tables and record the schema version.

    Raises:
        SchemaTooNew: If the database's recorded version is newer than
            :data:`~store.tables.SCHEMA_VERSION`.
    """
    with store.engine.connect() as conn:  # fast path: nothing to do
        version = _stored_version(conn)
        _check(store, version)
        if version == SCHEMA_VERSION and _complete(conn):
            return
    with store.writer.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        version = _stored_version(conn)
        _check(store, version)
        METADATA.create_all(conn)
        _add_missing_columns(conn)
        if version is None:
            conn.execute(_TABLE.insert().values(id=1, version=SCHEMA_VERSION, updated_at=utcnow()))
        elif version < SCHEMA_VERSION:
            conn.execute(
                _TABLE.update()
                .where(_TABLE.c.id == 1)
                .values(version=SCHEMA_VERSION, updated_at=utcnow())
            )
