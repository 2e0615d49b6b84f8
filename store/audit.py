"""Read a whole run as one JSON document: the ``audit --json`` shape.

Why: auditing an agent means following links: which experiments a
hypothesis rests on, which hypotheses an experiment tested, which experiment
changed a status, which experiments each component of the explanation cites.
This module assembles those links from one consistent snapshot into the
shape fixed in DESIGN §6, with datetimes as ISO strings, so that the CLI, the
HTML report and tests all read the same, ``json.dumps``-able structure.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlmodel import Session, select

from store.engine import Store, read_session
from store.lookup import require_run
from store.process import process_metrics_of
from store.tables import (
    Artifact,
    Evaluation,
    Experiment,
    Explanation,
    Hypothesis,
    HypothesisExperiment,
    HypothesisStatusChange,
    Message,
    Run,
)
from store.tables.base import iso


def row_to_dict(row: Any) -> dict[str, Any]:
    """All columns of a row, datetimes as ISO strings."""
    out = {}
    for name in type(row).__table__.columns.keys():  # noqa: SIM118
        value = getattr(row, name)
        out[name] = iso(value) if hasattr(value, "isoformat") else value
    return out


def run_to_dict(run: Run) -> dict[str, Any]:
    """A run as plain JSON data (all fields, datetimes as ISO strings)."""
    return row_to_dict(run)


def experiment_to_dict(exp: Experiment, hypotheses: list[int] | None = None) -> dict[str, Any]:
    """An experiment as plain JSON data, with the hypotheses it bears on."""
    out = row_to_dict(exp)
    out["hypotheses"] = hypotheses or []
    return out


def explanation_to_dict(row: Explanation | None) -> dict[str, Any] | None:
    """An explanation as plain JSON data (or None)."""
    if row is None:
        return None
    return {
        "summary": row.summary,
        "components": row.components,
        "clusters": row.clusters,
        "circuit": row.circuit,
        "created_at": iso(row.created_at),
        "roles_source": row.roles_source,
        "roles_hash": row.roles_hash,
        "frozen_at": iso(row.frozen_at),
    }


def unanswered_tool_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Assistant messages whose tool calls are not all answered by the tool messages that follow.

    Every tool call an agent made is answered by one tool message (a result,
    an error or a refusal), recorded right after the call's message; a
    shortfall means trace records were lost.

    Returns:
        ``[{"message_id", "seq", "tool_calls", "replies"}]`` for each such message.
    """
    gaps = []
    for i, msg in enumerate(messages):
        calls = msg.get("tool_calls") or []
        if msg.get("role") != "assistant" or not calls:
            continue
        replies = 0
        for later in messages[i + 1:]:
            if later.get("role") != "tool":
                break
            replies += 1
        if replies < len(calls):
            gaps.append({"message_id": msg.get("id"), "seq": msg.get("seq"), "tool_calls": len(calls),
                         "replies": replies})
    return gaps


def _hypotheses(session: Session, run_id: str) -> tuple[list[dict[str, Any]], dict[int, list[int]]]:
    """Hypotheses with history and evidence; also experiment id -> hypothesis ids."""
    hyps = session.exec(
        select(Hypothesis).where(Hypothesis.run_id == run_id).order_by(Hypothesis.id)  # type: ignore[arg-type]
    ).all()
    ids = [h.id for h in hyps]
    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    links: dict[int, list[dict[str, Any]]] = defaultdict(list)
    by_experiment: dict[int, list[int]] = defaultdict(list)
    if ids:
        changes = session.exec(
            select(HypothesisStatusChange)
            .where(HypothesisStatusChange.hypothesis_id.in_(ids))  # type: ignore[attr-defined]
            .order_by(HypothesisStatusChange.id)  # type: ignore[arg-type]
        ).all()
        for change in changes:
            entry = row_to_dict(change)
            entry.pop("hypothesis_id")
            history[change.hypothesis_id].append(entry)
        rows = session.exec(
            select(HypothesisExperiment)
            .where(HypothesisExperiment.hypothesis_id.in_(ids))  # type: ignore[attr-defined]
            .order_by(HypothesisExperiment.experiment_id, HypothesisExperiment.hypothesis_id)  # type: ignore[arg-type]
        ).all()
        for link in rows:
            links[link.hypothesis_id].append(
                {"experiment_id": link.experiment_id, "relation": link.relation}
            )
            by_experiment[link.experiment_id].append(link.hypothesis_id)
    out = []
    for hyp in hyps:
        entry = row_to_dict(hyp)
        entry["status_history"] = history.get(hyp.id, [])  # type: ignore[arg-type]
        entry["evidence"] = [link["experiment_id"] for link in links.get(hyp.id, [])]  # type: ignore[arg-type]
        entry["evidence_links"] = links.get(hyp.id, [])  # type: ignore[arg-type]
        out.append(entry)
    return out, by_experiment


def load_run_for_audit(store: Store, run_id: str) -> dict[str, Any]:
    """Load everything recorded about a run, linked, as plain JSON data.

    Args:
        store: The open store.
        run_id: The run.

    Returns:
        ``{"run": {...}, "hypotheses": [{..., "status_history": [...],
        "evidence": [experiment ids], "evidence_links": [{"experiment_id",
        "relation"}]}], "experiments": [{..., "hypotheses": [hypothesis ids]}],
        "messages": [...], "explanation": {"summary", "components": [{"id",
        "role", "description", "evidence"}], "clusters": [{"name",
        "description", "members"}], "circuit": [...], "created_at"} or None,
        "evaluations": [...], "artifacts": [...], "unanswered_tool_calls":
        [...], "process": {...}}`` (``unanswered_tool_calls`` is empty for a complete trace,
        see :func:`unanswered_tool_calls`; ``process``: :class:`store.process.RunProcess`, the
        research-process metrics); lists are in creation order and everything is
        ``json.dumps``-able.

    Raises:
        RunNotFound: If the run does not exist.
    """
    with read_session(store) as session:
        run = require_run(session, store, run_id)
        hypotheses, by_experiment = _hypotheses(session, run_id)
        experiments = session.exec(
            select(Experiment).where(Experiment.run_id == run_id).order_by(Experiment.seq)  # type: ignore[arg-type]
        ).all()
        messages = session.exec(
            select(Message).where(Message.run_id == run_id).order_by(Message.seq)  # type: ignore[arg-type]
        ).all()
        explanation = session.get(Explanation, run_id)
        evaluations = session.exec(
            select(Evaluation).where(Evaluation.run_id == run_id).order_by(Evaluation.id)  # type: ignore[arg-type]
        ).all()
        artifacts = session.exec(
            select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.created_at)  # type: ignore[arg-type]
        ).all()
        message_rows = [row_to_dict(m) for m in messages]
        hypothesis_rows = session.exec(select(Hypothesis).where(Hypothesis.run_id == run_id)).all()
        process = process_metrics_of(run, experiments, hypothesis_rows, messages, explanation)
        return {
            "run": run_to_dict(run),
            "hypotheses": hypotheses,
            "experiments": [
                experiment_to_dict(e, sorted(by_experiment.get(e.id, [])))  # type: ignore[arg-type]
                for e in experiments
            ],
            "messages": message_rows,
            "explanation": explanation_to_dict(explanation),
            "evaluations": [row_to_dict(e) for e in evaluations],
            "artifacts": [row_to_dict(a) for a in artifacts],
            "unanswered_tool_calls": unanswered_tool_calls(message_rows),
            "process": process.model_dump(mode="json"),
        }
