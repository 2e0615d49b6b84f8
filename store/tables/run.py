"""The run: one agent's attempt to explain one behaviour of one model.

Why: every other record (hypotheses, experiments, messages, explanation,
scores, arrays) hangs off a run, so the run row carries what is needed to
find, compare and reproduce it: the task, model and agent spec, the full
config and its hash, the code version and seed, its lifecycle status, and
running token/cost totals.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field

from store.plain import utcnow
from store.tables.base import StoreModel, UTCDateTime, created_at_field, json_type

RUN_STATUSES = ("running", "finished", "failed", "stopped", "interrupted")
"""Allowed values of :attr:`Run.status`."""


class Run(StoreModel, table=True):
    """One research run."""

    __tablename__ = "run"

    id: str = Field(primary_key=True, max_length=64)
    task: str = Field(index=True)
    model: str = Field(index=True)
    agent: str = Field(index=True)
    config: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    config_hash: str = Field(index=True, max_length=64)
    code_version: str = ""
    seed: int | None = None
    status: str = Field(default="running", index=True, max_length=16)
    stop_reason: str | None = None
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    parent_run_id: str | None = Field(
        default=None,
        sa_column=Column(String(64), ForeignKey("run.id", ondelete="SET NULL"), nullable=True),
    )
    meta: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
