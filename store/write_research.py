"""Write side, research trace: hypotheses, experiments and evidence links.

Why: these rows are appended by agents that may crash, be killed, be resumed
and replay their last step, and may run as several processes on one
database. So every function here is one transaction (an interruption leaves
either the whole record or nothing), rows carrying an ``idempotency_key`` are
written at most once per run (a replay returns the existing id), and the
order number ``seq`` is assigned under the run's write lock so concurrent
writers never collide. A unique-constraint race that slips through anyway is
caught and resolved by re-reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from store.engine import Store, write_session
from store.errors import StoreError
from store.idempotent import insert_once
from store.lookup import next_seq, require_experiment, require_experiment_seq, require_hypothesis
from store.plain import clean, clean_text, utcnow
from store.redact import secret_values
from store.tables import (
    HYPOTHESIS_STATUSES,
    Experiment,
    Hypothesis,
    HypothesisExperiment,
    HypothesisStatusChange,
)

_ATTEMPTS = 8  # retries of a link insert that raced an identical one
_STATUS_RELATION = {"supported": "supports", "refuted": "refutes"}


def _check_status(status: str) -> None:
    if status not in HYPOTHESIS_STATUSES:
        raise ValueError(
            f"Hypothesis status must be one of {', '.join(HYPOTHESIS_STATUSES)}, not {status!r}."
        )


def _link(session: Session, hypothesis_id: int, experiment_id: int, relation: str) -> None:
    """Create or update one hypothesis-experiment link."""
    link = session.get(HypothesisExperiment, (hypothesis_id, experiment_id))
    if link is None:
        session.add(
            HypothesisExperiment(
                hypothesis_id=hypothesis_id, experiment_id=experiment_id, relation=relation
            )
        )
    elif link.relation != relation:
        link.relation = relation
        session.add(link)


def add_hypothesis(
    store: Store,
    run_id: str,
    text: str,
    *,
    component: str | None = None,
    status: str = "proposed",
    confidence: float | None = None,
    parent_id: int | None = None,
    idempotency_key: str | None = None,
) -> int:
    """Record a hypothesis.

    Args:
        store: The open store.
        run_id: The run it belongs to.
        text: The claim (stored redacted).
        component: Component id (``L3.H1``, ``L2.MLP``); None for a
            circuit-level hypothesis.
        status: Initial status (usually ``proposed``).
        confidence: Optional confidence in [0, 1].
        parent_id: A hypothesis of the same run this one refines.
        idempotency_key: If given, a second call with the same key in the same
            run returns the first hypothesis's id and writes nothing.

    Returns:
        The hypothesis id.

    Raises:
        RunNotFound: If the run does not exist.
        StoreError: If ``parent_id`` is not a hypothesis of this run.
        ValueError: If ``status`` is not a hypothesis status.
    """
    _check_status(status)

    def build(session: Session) -> Hypothesis:
        if parent_id is not None:
            parent = require_hypothesis(session, store, parent_id)
            if parent.run_id != run_id:
                raise StoreError(
                    f"Parent hypothesis {parent_id} belongs to run '{parent.run_id}', "
                    f"not to run '{run_id}'."
                )
        return Hypothesis(
            run_id=run_id,
            component=clean_text(component),
            text=clean_text(text) or "",
            status=status,
            confidence=confidence,
            parent_id=parent_id,
            idempotency_key=clean_text(idempotency_key),
        )

    return insert_once(store, Hypothesis, run_id, idempotency_key, build)


def update_hypothesis(
    store: Store,
    hypothesis_id: int,
    status: str,
    reason: str = "",
    experiment_id: int | None = None,
    confidence: float | None = None,
    *,
    relation: str | None = None,
    experiment_seq: int | None = None,
) -> None:
    """Change a hypothesis's status and record the change, in one transaction.

    The history row, the new status/confidence and (when ``experiment_id`` is
    given) the evidence link are written together or not at all. Replaying
    the very same change (same new status, reason and experiment as the last
    recorded change) is a no-op, so a resumed agent does not double the
    history.

    Args:
        store: The open store.
        hypothesis_id: The hypothesis.
        status: New status: proposed, supported, refuted or inconclusive.
        reason: Why (stored redacted).
        experiment_id: The experiment (of the same run) that prompted the
            change; it is also linked as evidence.
        confidence: New confidence; unchanged when None.
        relation: Relation of the evidence link; by default ``supports`` for
            supported, ``refutes`` for refuted, else ``tests``.
        experiment_seq: Instead of ``experiment_id``: the experiment's
            run-local number (``seq``, what agents cite as ``E<seq>``).

    Raises:
        StoreError: Unknown hypothesis, or an experiment of another run.
        ValueError: If ``status`` is not a hypothesis status.
    """
    _check_status(status)
    reason_text = clean_text(reason) or ""
    with write_session(store) as session:
        hyp = require_hypothesis(session, store, hypothesis_id, lock=True)
        if experiment_seq is not None:
            experiment_id = require_experiment_seq(session, store, hyp.run_id, experiment_seq).id
        if experiment_id is not None:
            require_experiment(session, store, experiment_id, hyp.run_id)
        last = session.exec(
            select(HypothesisStatusChange)
            .where(HypothesisStatusChange.hypothesis_id == hypothesis_id)
            .order_by(HypothesisStatusChange.id.desc())  # type: ignore[union-attr]
            .limit(1)
        ).first()
        replay = (
            last is not None
            and hyp.status == status
            and (last.new, last.reason, last.experiment_id) == (status, reason_text, experiment_id)
        )
        if replay:
            return
        now = utcnow()
        session.add(
            HypothesisStatusChange(
                hypothesis_id=hypothesis_id,
                old=hyp.status,
                new=status,
                reason=reason_text,
                experiment_id=experiment_id,
                confidence=confidence,
                at=now,
            )
        )
        hyp.status = status
        if confidence is not None:
            hyp.confidence = confidence
        hyp.updated_at = now
        session.add(hyp)
        if experiment_id is not None:
            _link(
                session,
                hypothesis_id,
                experiment_id,
                relation or _STATUS_RELATION.get(status, "tests"),
            )


def link_evidence(
    store: Store, hypothesis_id: int, experiment_id: int, relation: str = "tests"
) -> None:
    """Link an experiment to a hypothesis as evidence (idempotent; updates relation).

    Args:
        store: The open store.
        hypothesis_id: The hypothesis.
        experiment_id: An experiment of the same run.
        relation: Usually ``tests``, ``supports`` or ``refutes``.

    Raises:
        StoreError: Unknown ids, or hypothesis and experiment of different runs.
    """
    relation = clean_text(relation) or "tests"
    for attempt in range(_ATTEMPTS):
        try:
            with write_session(store) as session:
                hyp = require_hypothesis(session, store, hypothesis_id)
                require_experiment(session, store, experiment_id, hyp.run_id)
                _link(session, hypothesis_id, experiment_id, relation)
            return
        except IntegrityError:  # a concurrent identical link: retry as an update
            if attempt == _ATTEMPTS - 1:
                raise


def add_experiment(
    store: Store,
    run_id: str,
    tool: str,
    args: Any,
    summary: str,
    result: Any,
    wall_time_s: float = 0.0,
    error: str | None = None,
    idempotency_key: str | None = None,
    component: str | None = None,
    *,
    hypothesis_ids: Sequence[int] = (),
) -> int:
    """Record one experiment (tool call), at most once per idempotency key.

    If an experiment with the same ``(run_id, idempotency_key)`` exists, its id
    is returned and nothing is written; this holds across processes.

    Args:
        store: The open store.
        run_id: The run.
        tool: Tool name from the registry.
        args: Validated arguments (dict or pydantic model); stored as plain,
            redacted JSON.
        summary: Short text summary shown to the LLM (stored redacted).
        result: JSON-serialisable result (stored as plain, redacted JSON).
        wall_time_s: How long the tool ran.
        error: Error text if the tool failed (stored redacted).
        idempotency_key: Deduplication key, unique within the run.
        component: The component studied, if any.
        hypothesis_ids: Hypotheses of this run the experiment tests; linked
            with relation ``tests`` in the same transaction.

    Returns:
        The experiment id.

    Raises:
        RunNotFound: If the run does not exist.
        StoreError: If a hypothesis id is not a hypothesis of this run.
    """
    secret = secret_values()
    plain_args = clean({} if args is None else args, secret)
    plain_result = clean(result, secret)

    def build(session: Session) -> Experiment:
        return Experiment(
            run_id=run_id,
            seq=next_seq(session, Experiment, run_id),
            tool=clean_text(tool, secret) or "",
            args=plain_args,
            summary=clean_text(summary, secret) or "",
            result=plain_result,
            wall_time_s=float(wall_time_s),
            error=clean_text(error, secret),
            idempotency_key=clean_text(idempotency_key, secret),
            component=clean_text(component, secret),
        )

    def after(session: Session, row: Experiment) -> None:
        for hid in dict.fromkeys(hypothesis_ids):
            hyp = require_hypothesis(session, store, hid)
            if hyp.run_id != run_id:
                raise StoreError(f"Hypothesis {hid} belongs to run '{hyp.run_id}', not '{run_id}'.")
            _link(session, hid, int(row.id), "tests")  # type: ignore[arg-type]

    return insert_once(store, Experiment, run_id, idempotency_key, build, after)
