"""Hard limits of a run and the LLM client's request policy, in one place.

Why: every budget must bind whatever the LLM or its server does. The step
budget bounds experiments (and, since every tool call costs a step, the
research loop); these limits bound what steps cannot see: the number of LLM
requests, the wall time of a run, and the time one request may take
including its retries (a hanging server must cost seconds, not
``timeout x attempts``). Defaults come from ``AUTOINTERP_*`` environment
variables; the CLI's flags override them per run.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_STEPS = 100_000
"""Largest step budget a run may be given (the engine's input bounds are in ``engine.bounds``)."""


class RunLimits(BaseSettings):
    """Per-run caps and the LLM client policy; read from ``AUTOINTERP_*`` variables.

    Attributes:
        max_llm_requests: LLM requests a run may make in all (0 = unlimited).
        max_wall_s: seconds one invocation (``explain`` or ``resume``) may
            drive a run before it stops with what it has (0 = unlimited).
        llm_timeout_s: seconds one HTTP attempt may take.
        llm_max_retries: retries of a failed attempt (rate limit, 5xx,
            timeout, connection error), with back-off.
        llm_deadline_s: seconds one request may take in all, retries and
            back-off included.
        llm_max_completion_tokens: completion tokens one request may produce.
    """

    model_config = SettingsConfigDict(env_prefix="AUTOINTERP_")

    max_llm_requests: int = Field(500, ge=0, le=1_000_000)
    max_wall_s: float = Field(86_400.0, ge=0)
    llm_timeout_s: float = Field(120.0, gt=0)
    llm_max_retries: int = Field(6, ge=0, le=100)
    llm_deadline_s: float = Field(600.0, gt=0)
    llm_max_completion_tokens: int = Field(4096, ge=1)


def run_limits() -> RunLimits:
    """The limits set in the environment now (a fresh read; no global state)."""
    return RunLimits()
