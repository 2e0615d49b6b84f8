"""What a run concludes and how it scores: explanation and evaluations.

Why: the explanation (components, their roles and evidence, role clusters,
the circuit) is the product of a run and is replaced whole when the agent
revises it, so it is one row per run -- until its roles are *frozen*: the
evaluation scores only frozen roles, and a frozen row keeps a content hash of
its roles, when they were frozen and how they were chosen (``roles_source``),
so a later change cannot be scored as if it were the original. Evaluations are scored separately and
possibly many times (different kinds, different parameters), so each is its
own row with its parameters recorded next to its scores.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Field

from store.tables.base import StoreModel, UTCDateTime, created_at_field, json_type


class Explanation(StoreModel, table=True):
    """The run's current explanation (one per run, replaceable)."""

    __tablename__ = "explanation"

    run_id: str = Field(foreign_key="run.id", primary_key=True, ondelete="CASCADE", max_length=64)
    summary: str = ""
    components: list[Any] = Field(default_factory=list, sa_type=json_type())
    clusters: list[Any] = Field(default_factory=list, sa_type=json_type())
    circuit: list[Any] = Field(default_factory=list, sa_type=json_type())
    created_at: dt.datetime = created_at_field()
    roles_source: str | None = None
    roles_hash: str | None = Field(default=None, max_length=64)
    frozen_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Evaluation(StoreModel, table=True):
    """One scoring of a run's explanation (interchangeability, faithfulness...)."""

    __tablename__ = "evaluation"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True, ondelete="CASCADE", max_length=64)
    kind: str = Field(index=True)
    scores: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    params: dict[str, Any] = Field(default_factory=dict, sa_type=json_type())
    created_at: dt.datetime = created_at_field()
