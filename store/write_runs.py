"""Write side, runs: start, finish, resume, count tokens.

Why: a run's row is its lifecycle record. Starting one hashes its (redacted)
config so identical configurations are recognisable; finishing one records
why it stopped; token and cost totals are incremented in SQL (``x = x + n``)
so concurrent writers never lose an update.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import update
from sqlmodel import select

from store.engine import Store, write_session
from store.errors import StoreError
from store.lookup import require_run, run_not_found
from store.plain import clean, clean_text, config_hash, utcnow
from store.redact import secret_values
from store.tables import RUN_STATUSES, Run

FINAL_STATUSES = tuple(s for s in RUN_STATUSES if s != "running")
"""Statuses :func:`finish_run` accepts."""


def new_run_id() -> str:
    """Return a fresh run id, ``run-`` followed by 12 hex digits."""
    return f"run-{secrets.token_hex(6)}"


def start_run(
    store: Store,
    *,
    task: str,
    model: str,
    agent: str,
    config: Any = None,
    code_version: str = "",
    seed: int | None = None,
    parent_run_id: str | None = None,
    meta: Any = None,
    run_id: str | None = None,
) -> str:
    """Record a new run with status ``running``.

    Args:
        store: The open store.
        task: Task name or JSONL path.
        model: Target model name or path.
        agent: Agent spec string (e.g. ``scripted``, ``openai:gpt-4o``).
        config: The run's full configuration (dict or pydantic model); stored
            redacted, and hashed (sha256 of canonical JSON) into
            ``config_hash``.
        code_version: Version string of the code that ran (e.g. git describe).
        seed: Random seed, if any.
        parent_run_id: The run this one derives from (e.g. the original run of
            a head-permuted control).
        meta: Free-form JSON metadata.
        run_id: Use this id instead of a fresh ``run-<12 hex>``.

    Returns:
        The run id.

    Raises:
        StoreError: If ``run_id`` is already taken or ``parent_run_id`` is
            unknown.
    """
    secret = secret_values()
    plain_config = clean({} if config is None else config, secret)
    run = Run(
        id=run_id or new_run_id(),
        task=clean_text(task, secret) or "",
        model=clean_text(model, secret) or "",
        agent=clean_text(agent, secret) or "",
        config=plain_config,
        config_hash=config_hash(plain_config),
        code_version=clean_text(code_version, secret) or "",
        seed=seed,
        parent_run_id=parent_run_id,
        meta=clean({} if meta is None else meta, secret),
    )
    with write_session(store) as session:
        if session.get(Run, run.id) is not None:
            raise StoreError(f"A run with id '{run.id}' already exists in {store.masked_url}.")
        if parent_run_id is not None:
            require_run(session, store, parent_run_id)
        session.add(run)
    return run.id


def finish_run(store: Store, run_id: str, status: str, stop_reason: str | None = None) -> None:
    """Mark a run as ended.

    Args:
        store: The open store.
        run_id: The run.
        status: One of ``finished``, ``failed``, ``stopped``, ``interrupted``.
        stop_reason: Why it ended (stored redacted), e.g. the agent's stop
            message or an error.

    Raises:
        ValueError: If ``status`` is not a final status.
        RunNotFound: If the run does not exist.
    """
    if status not in FINAL_STATUSES:
        raise ValueError(f"Run status must be one of {', '.join(FINAL_STATUSES)}, not {status!r}.")
    now = utcnow()
    _update_run(
        store,
        run_id,
        status=status,
        stop_reason=clean_text(stop_reason),
        finished_at=now,
        updated_at=now,
    )


def resume_run(store: Store, run_id: str) -> None:
    """Set a run back to ``running`` (clearing its end time and stop reason)."""
    _update_run(
        store, run_id, status="running", stop_reason=None, finished_at=None, updated_at=utcnow()
    )


def add_tokens(
    store: Store, run_id: str, prompt: int = 0, completion: int = 0, cost: float = 0.0
) -> None:
    """Add LLM token counts and cost to a run's totals (atomic increment).

    Raises:
        RunNotFound: If the run does not exist.
    """
    _update_run(
        store,
        run_id,
        prompt_tokens=Run.prompt_tokens + int(prompt),
        completion_tokens=Run.completion_tokens + int(completion),
        cost_usd=Run.cost_usd + float(cost),
        updated_at=utcnow(),
    )


def update_run_meta(store: Store, run_id: str, meta: dict[str, Any]) -> None:
    """Merge keys into a run's ``meta`` JSON (stored redacted).

    Raises:
        RunNotFound: If the run does not exist.
    """
    with write_session(store) as session:
        run = require_run(session, store, run_id, lock=True)
        merged = dict(run.meta or {})
        merged.update(clean(meta))
        run.meta = merged
        run.updated_at = utcnow()
        session.add(run)


def _update_run(store: Store, run_id: str, **values: Any) -> None:
    """Apply an UPDATE to one run, raising RunNotFound if it matched nothing."""
    with write_session(store) as session:
        result = session.exec(
            update(Run).where(Run.id == run_id).values(**values)  # type: ignore[arg-type]
        )
        if result.rowcount == 0:
            exists = session.exec(select(Run.id).where(Run.id == run_id)).first()
            if exists is None:
                raise run_not_found(store, run_id)
