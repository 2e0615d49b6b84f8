"""Shared building blocks of the store's tables.

Why: the store keeps its tables in its own SQLAlchemy registry so that other
rooms defining SQLModel tables can never collide with ours (and
``create_all`` creates only ours). Timestamps are stored as naive UTC and read
back as aware UTC, because SQLite has no time zones and PostgreSQL would
otherwise convert to the server's zone; both back ends then return the same
ISO strings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from store.plain import utcnow


class StoreModel(SQLModel, registry=registry()):
    """Base class of every store table; owns the store's private metadata."""


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A datetime column that always round-trips as timezone-aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Store as naive UTC; naive inputs are taken to be UTC already."""
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC)
        return value.replace(tzinfo=dt.UTC)


def json_type() -> JSON:
    """A JSON column type where Python None is stored as SQL NULL."""
    return JSON(none_as_null=True)


def created_at_field() -> Any:
    """A ``created_at`` column defaulting to now (UTC)."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def iso(value: dt.datetime | None) -> str | None:
    """Format a stored datetime as an ISO-8601 string (or None)."""
    return None if value is None else value.isoformat()
