"""Hypotheses, their status history and their links to experiments.

Why: an audit must show not only what the agent finally believed but how it
got there: which hypothesis an experiment tested, which result moved a
hypothesis from proposed to supported or refuted, and why. The status history
and the hypothesis-experiment links are therefore rows of their own rather
than fields overwritten in place.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, ForeignKey, Integer, UniqueConstraint
from sqlmodel import Field

from store.plain import utcnow
from store.tables.base import StoreModel, UTCDateTime, created_at_field

HYPOTHESIS_STATUSES = ("proposed", "supported", "refuted", "inconclusive")
"""Allowed values of :attr:`Hypothesis.status`."""

EVIDENCE_RELATIONS = ("tests", "supports", "refutes")
"""Usual values of :attr:`HypothesisExperiment.relation` (others are allowed)."""


class Hypothesis(StoreModel, table=True):
    """A claim about a component (or, with no component, the circuit)."""

    __tablename__ = "hypothesis"
    __table_args__ = (UniqueConstraint("run_id", "idempotency_key", name="uq_hypothesis_key"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True, ondelete="CASCADE", max_length=64)
    component: str | None = Field(default=None, index=True)
    text: str
    status: str = Field(default="proposed", max_length=16)
    confidence: float | None = None
    parent_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("hypothesis.id", ondelete="SET NULL"), nullable=True),
    )
    idempotency_key: str | None = None
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class HypothesisStatusChange(StoreModel, table=True):
    """One transition of a hypothesis's status, with its reason."""

    __tablename__ = "hypothesis_status_change"

    id: int | None = Field(default=None, primary_key=True)
    hypothesis_id: int = Field(foreign_key="hypothesis.id", index=True, ondelete="CASCADE")
    old: str = Field(max_length=16)
    new: str = Field(max_length=16)
    reason: str = ""
    experiment_id: int | None = Field(
        default=None, foreign_key="experiment.id", ondelete="SET NULL"
    )
    confidence: float | None = None
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class HypothesisExperiment(StoreModel, table=True):
    """Links a hypothesis to an experiment that bears on it."""

    __tablename__ = "hypothesis_experiment"

    hypothesis_id: int = Field(foreign_key="hypothesis.id", primary_key=True, ondelete="CASCADE")
    experiment_id: int = Field(foreign_key="experiment.id", primary_key=True, ondelete="CASCADE")
    relation: str = Field(default="tests", max_length=32)
    created_at: dt.datetime = created_at_field()
