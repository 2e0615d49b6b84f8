"""Content-addressed arrays (activations, attention patterns, ...).

Why: arrays are too large for JSON columns and are often produced twice
(a resumed run, two runs on the same prompts). Keying them by the sha256 of
their bytes makes a second write a no-op and lets experiments refer to them
by hash in their results.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger
from sqlmodel import Field

from store.tables.base import StoreModel, created_at_field, json_type


class Artifact(StoreModel, table=True):
    """One stored file, named by the sha256 of its content."""

    __tablename__ = "artifact"

    sha256: str = Field(primary_key=True, max_length=64)
    run_id: str | None = Field(
        default=None, foreign_key="run.id", index=True, ondelete="SET NULL", max_length=64
    )
    path: str
    kind: str = "ndarray"
    shape: list[int] | None = Field(default=None, sa_type=json_type())
    dtype: str | None = None
    size: int = Field(default=0, sa_type=BigInteger)
    created_at: dt.datetime = created_at_field()
