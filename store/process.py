"""Research-process metrics: how a run reached its explanation, per component and per run.

Why: outcome scores (interchangeability, faithfulness, replication) hide how
an explanation was reached. Haklay et al. (2026) report the research process
beside them: how many tool calls and iterations each component took, how
many hypotheses were proposed and how many of them were supported, refuted or
left inconclusive, what it cost (LLM tokens, time), and whether the final
text rests on the experiments that were run. Everything here is counted from
the stored trace (experiments, hypotheses, messages, explanation), so it is
the same for a run read back from another machine or an older database.

Definitions (what each number counts):

* ``tool_calls``: experiments recorded with the component as their subject
  (failed calls included: they are part of the process); per run, every
  experiment of the run.
* ``failed_calls``: those with an error.
* ``iterations``: agent turns about the component -- assistant messages whose
  idempotency key names the component (an LLM researcher's turns, or the
  scripted agent's decision notes); per run, every assistant message.
* ``hypotheses``: hypotheses recorded for the component; ``supported`` /
  ``refuted`` / ``inconclusive`` / ``open`` count them by current status
  (``open``: still ``proposed``).
* ``prompt_tokens`` / ``completion_tokens``: LLM tokens of the component's
  messages; per run, the run's totals.
* ``experiment_time_s``: summed wall time of the component's experiments;
  per run ``elapsed_s`` is the run's creation-to-finish time (None while it
  runs).
* ``cited``: experiment ids the final explanation cites for the component;
  ``cited_own``: how many of them are the component's own experiments;
  ``cited_share``: ``cited_own / tool_calls`` (None with no call). Per run:
  distinct experiments cited anywhere in the explanation against all run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from pydantic import BaseModel
from sqlmodel import select

from store.engine import Store, read_session
from store.lookup import require_run
from store.tables import Experiment, Explanation, Hypothesis, Message, Run


class ComponentProcess(BaseModel):
    """The research process on one component."""

    component: str
    tool_calls: int = 0
    failed_calls: int = 0
    iterations: int = 0
    hypotheses: int = 0
    supported: int = 0
    refuted: int = 0
    inconclusive: int = 0
    open: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    experiment_time_s: float = 0.0
    cited: list[int] = []
    cited_own: int = 0
    cited_share: float | None = None


class RunProcess(BaseModel):
    """The research process of a whole run, with its per-component rows."""

    run_id: str
    tool_calls: int
    failed_calls: int
    iterations: int
    hypotheses: int
    supported: int
    refuted: int
    inconclusive: int
    open: int
    prompt_tokens: int
    completion_tokens: int
    experiment_time_s: float
    elapsed_s: float | None
    experiments_cited: int
    cited_share: float | None
    components: list[ComponentProcess]


def _message_subject(key: str | None, run_id: str) -> list[str]:
    """The colon-separated parts of a message's idempotency key after the run prefix."""
    if not key:
        return []
    return key.removeprefix(f"{run_id}:msg:").split(":")


def _statuses(rows: Iterable[Hypothesis]) -> dict[str, int]:
    counts = {"supported": 0, "refuted": 0, "inconclusive": 0, "open": 0}
    for hyp in rows:
        key = "open" if hyp.status == "proposed" else hyp.status
        counts[key] = counts.get(key, 0) + 1
    return {k: counts[k] for k in ("supported", "refuted", "inconclusive", "open")}


def _elapsed(run: Run) -> float | None:
    if run.finished_at is None or run.created_at is None:
        return None
    return max(0.0, (run.finished_at - run.created_at) / dt.timedelta(seconds=1))


def process_metrics_of(
    run: Run,
    experiments: Sequence[Experiment],
    hypotheses: Sequence[Hypothesis],
    messages: Sequence[Message],
    explanation: Explanation | None,
) -> RunProcess:
    """Process metrics from a run's rows (see the module docstring for the definitions)."""
    described = [c for c in (explanation.components if explanation else []) if isinstance(c, dict)]
    order = [str(c.get("id")) for c in described]
    for subject in [*(e.component for e in experiments), *(h.component for h in hypotheses)]:
        if subject and subject not in order:
            order.append(subject)
    cited_by = {str(c.get("id")): sorted({int(e) for e in c.get("evidence") or []}) for c in described}
    rows = []
    for cid in order:
        own = [e for e in experiments if e.component == cid]
        hyps = [h for h in hypotheses if h.component == cid]
        turns = [m for m in messages
                 if m.role == "assistant" and cid in _message_subject(m.idempotency_key, run.id)]
        cited = cited_by.get(cid, [])
        own_ids = {e.seq for e in own}  # explanations cite E<seq>, the run-local number
        cited_own = sum(1 for e in cited if e in own_ids)
        rows.append(ComponentProcess(
            component=cid, tool_calls=len(own), failed_calls=sum(1 for e in own if e.error),
            iterations=len(turns), hypotheses=len(hyps), **_statuses(hyps),
            prompt_tokens=sum(m.prompt_tokens or 0 for m in turns),
            completion_tokens=sum(m.completion_tokens or 0 for m in turns),
            experiment_time_s=sum(e.wall_time_s or 0.0 for e in own),
            cited=cited, cited_own=cited_own, cited_share=cited_own / len(own) if own else None,
        ))
    all_cited = {e for ids in cited_by.values() for e in ids}
    run_ids = {e.seq for e in experiments}
    return RunProcess(
        run_id=run.id, tool_calls=len(experiments), failed_calls=sum(1 for e in experiments if e.error),
        iterations=sum(1 for m in messages if m.role == "assistant"), hypotheses=len(hypotheses),
        **_statuses(hypotheses), prompt_tokens=run.prompt_tokens or 0,
        completion_tokens=run.completion_tokens or 0,
        experiment_time_s=sum(e.wall_time_s or 0.0 for e in experiments), elapsed_s=_elapsed(run),
        experiments_cited=len(all_cited & run_ids),
        cited_share=len(all_cited & run_ids) / len(run_ids) if run_ids else None, components=rows,
    )


def process_metrics(store: Store, run_id: str) -> RunProcess:
    """Process metrics of a stored run.

    Raises:
        RunNotFound: If the run does not exist.
    """
    with read_session(store) as session:
        run = require_run(session, store, run_id)
        experiments = session.exec(select(Experiment).where(Experiment.run_id == run_id)).all()
        hypotheses = session.exec(select(Hypothesis).where(Hypothesis.run_id == run_id)).all()
        messages = session.exec(select(Message).where(Message.run_id == run_id)).all()
        explanation = session.get(Explanation, run_id)
        return process_metrics_of(run, experiments, hypotheses, messages, explanation)
