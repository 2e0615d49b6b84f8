"""Experiments: every tool call the agent made, with its arguments and result.

Why: the experiment log is the evidence an explanation rests on, so it is
append-only, ordered (``seq``) and idempotent: a resumed or retried step that
replays the same ``idempotency_key`` must find the experiment it already ran
instead of logging (and paying for) it twice. The uniqueness is enforced by
the database, not by the caller, so it also holds across processes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from store.tables.base import StoreModel, created_at_field, json_type


class Experiment(StoreModel, table=True):
    """One tool call and its outcome."""

    __tablename__ = "experiment"
    __table_args__ = (
        UniqueConstraint("run_id", "idempotency_key", name="uq_experiment_key"),
        UniqueConstraint("run_id", "seq", name="uq_experiment_seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True, ondelete="CASCADE", max_length=64)
    seq: int
    tool: str = Field(index=True)
    args: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    summary: str = ""
    result: Any = Field(default=None, sa_type=json_type(), nullable=True)
    wall_time_s: float = 0.0
    error: str | None = None
    idempotency_key: str | None = None
    component: str | None = Field(default=None, index=True)
    created_at: dt.datetime = created_at_field()
