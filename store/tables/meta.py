"""The schema-version row.

Why: a database outlives the code that wrote it. Recording an integer schema
version lets a newer autointerp migrate an old database and lets an older
autointerp refuse, with a clear sentence, a database it does not understand
instead of corrupting it.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field

from store.plain import utcnow
from store.tables.base import StoreModel, UTCDateTime

SCHEMA_VERSION = 2
"""The schema version this code writes and understands (2: frozen roles on the explanation)."""


class SchemaVersion(StoreModel, table=True):
    """A single row (id 1) holding the database's schema version."""

    __tablename__ = "schema_version"

    id: int = Field(default=1, primary_key=True)
    version: int
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
