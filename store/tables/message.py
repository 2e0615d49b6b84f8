"""LLM conversation messages of a run.

Why: auditing an agent means reading what it was told and what it said, next
to the experiments it ran. Messages are stored in order (``seq``) with their
tool calls, provider and token counts, and may carry an idempotency key so a
resumed run does not log the same message twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from store.tables.base import StoreModel, created_at_field, json_type

MESSAGE_ROLES = ("system", "user", "assistant", "tool")
"""Allowed values of :attr:`Message.role`."""


class Message(StoreModel, table=True):
    """One chat message."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("run_id", "idempotency_key", name="uq_message_key"),
        UniqueConstraint("run_id", "seq", name="uq_message_seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="run.id", index=True, ondelete="CASCADE", max_length=64)
    seq: int
    role: str = Field(max_length=16)
    content: str = ""
    tool_calls: list[Any] = Field(default_factory=list, sa_type=json_type())
    tool_call_id: str | None = None
    name: str | None = None
    provider: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    idempotency_key: str | None = None
    created_at: dt.datetime = created_at_field()
