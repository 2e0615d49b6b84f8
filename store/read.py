"""Read side: find runs and the records of one run.

Why: the CLI (``runs``, ``eval``, ``resume``), the report and resumed agents
need small, targeted queries (one run, a filtered list of runs, the
experiment behind an idempotency key) without loading a whole audit. Each
function is one read transaction and returns detached rows or plain dicts,
never an open session.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from store.audit import experiment_to_dict, explanation_to_dict, row_to_dict
from store.engine import Store, read_session
from store.lookup import require_run
from store.plain import clean_text
from store.tables import Evaluation, Experiment, Explanation, HypothesisExperiment, Run


def _as_datetime(value: dt.datetime | str | None) -> dt.datetime | None:
    """Accept datetimes or ISO-8601 strings (``2026-01-31``, ``...T12:00Z``)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def get_run(store: Store, run_id: str) -> Run:
    """Return one run.

    Raises:
        RunNotFound: "No run with id 'X' in <url>." if it does not exist.
    """
    with read_session(store) as session:
        return require_run(session, store, run_id)


def list_runs(
    store: Store,
    *,
    task: str | None = None,
    model: str | None = None,
    agent: str | None = None,
    status: str | None = None,
    since: dt.datetime | str | None = None,
    until: dt.datetime | str | None = None,
    limit: int | None = None,
) -> list[Run]:
    """List runs, newest first, optionally filtered.

    Args:
        store: The open store.
        task: Only runs of this task.
        model: Only runs of this model.
        agent: Only runs with this agent spec.
        status: Only runs with this status.
        since: Only runs created at or after this time (a datetime or an
            ISO-8601 string; naive means UTC).
        until: Only runs created before this time (same forms).
        limit: At most this many runs.

    Returns:
        Detached :class:`~store.tables.Run` rows.
    """
    since, until = _as_datetime(since), _as_datetime(until)
    query = select(Run)
    for column, value in (
        (Run.task, task),
        (Run.model, model),
        (Run.agent, agent),
        (Run.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(Run.created_at >= since)
    if until is not None:
        query = query.where(Run.created_at < until)
    query = query.order_by(Run.created_at.desc(), Run.id.desc())  # type: ignore[attr-defined]
    if limit is not None:
        query = query.limit(limit)
    with read_session(store) as session:
        return list(session.exec(query).all())


def count_experiments(store: Store, run_id: str) -> int:
    """Number of experiments recorded for a run (0 for an unknown run)."""
    with read_session(store) as session:
        query = select(func.count()).select_from(Experiment).where(Experiment.run_id == run_id)
        return int(session.exec(query).one())


def _experiment_dict(session: Any, exp: Experiment) -> dict[str, Any]:
    hyp_ids = session.exec(
        select(HypothesisExperiment.hypothesis_id)
        .where(HypothesisExperiment.experiment_id == exp.id)
        .order_by(HypothesisExperiment.hypothesis_id)  # type: ignore[arg-type]
    ).all()
    return experiment_to_dict(exp, list(hyp_ids))


def get_run_experiment(store: Store, run_id: str, seq: int) -> dict[str, Any] | None:
    """Experiment ``E<seq>`` of a run (its run-local number) as a plain dict, or None."""
    with read_session(store) as session:
        exp = session.exec(select(Experiment).where(Experiment.run_id == run_id, Experiment.seq == seq)).first()
        return None if exp is None else _experiment_dict(session, exp)


def get_experiment(store: Store, experiment_id: int) -> dict[str, Any] | None:
    """One experiment as a plain dict (with its hypothesis ids), or None."""
    with read_session(store) as session:
        exp = session.get(Experiment, experiment_id)
        return None if exp is None else _experiment_dict(session, exp)


def find_experiment(store: Store, run_id: str, idempotency_key: str) -> dict[str, Any] | None:
    """The experiment recorded under an idempotency key, or None.

    A resumed agent calls this before running a tool again, to reuse the
    stored result instead of recomputing it.
    """
    with read_session(store) as session:
        exp = session.exec(
            select(Experiment).where(
                Experiment.run_id == run_id,
                Experiment.idempotency_key == clean_text(idempotency_key),
            )
        ).first()
        return None if exp is None else _experiment_dict(session, exp)


def get_explanation(store: Store, run_id: str) -> dict[str, Any] | None:
    """A run's explanation as a plain dict, or None if it has none.

    Raises:
        RunNotFound: If the run does not exist.
    """
    with read_session(store) as session:
        require_run(session, store, run_id)
        return explanation_to_dict(session.get(Explanation, run_id))


def evaluation_version(evaluation: dict[str, Any]) -> int:
    """The version of a stored evaluation (``params["version"]``; rows from before versioning are version 1)."""
    version = (evaluation.get("params") or {}).get("version")
    return int(version) if isinstance(version, int) and not isinstance(version, bool) else 1


def next_evaluation_version(store: Store, run_id: str) -> int:
    """The version the next scoring of a run gets: 1 + the highest stored one (1 when none).

    Why: re-running ``autointerp eval`` adds a new, numbered evaluation instead
    of an unlabelled duplicate; readers show the newest version and keep the
    earlier ones as history.
    """
    existing = list_evaluations(store, run_id)
    return 1 + max((evaluation_version(e) for e in existing), default=0)


def current_evaluations(evaluations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The evaluations of the newest version among ``evaluations`` (a run's list, any order kept)."""
    if not evaluations:
        return []
    newest = max(evaluation_version(e) for e in evaluations)
    return [e for e in evaluations if evaluation_version(e) == newest]


def list_evaluations(store: Store, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    """A run's evaluations (oldest first) as plain dicts.

    Raises:
        RunNotFound: If the run does not exist.
    """
    query = select(Evaluation).where(Evaluation.run_id == run_id)
    if kind is not None:
        query = query.where(Evaluation.kind == kind)
    with read_session(store) as session:
        require_run(session, store, run_id)
        rows = session.exec(query.order_by(Evaluation.id)).all()  # type: ignore[arg-type]
        return [row_to_dict(r) for r in rows]
