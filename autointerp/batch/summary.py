"""Per-job figures for the batch tables: circuit size, interchangeability z, faithfulness, process.

Why here: the live status table, the final summary table and ``--json`` all
show the same three figures, read from an audit dict (a job that just ran)
or from the store (a job skipped because it finished earlier). Reading is
defensive: a run without an explanation or evaluation shows blanks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

import store as st

Scores = tuple[int | None, float | None, float | None]

STATUS_STYLE = {
    "pending": "dim", "running": "yellow", "skipped": "cyan", "finished": "green",
    "stopped": "magenta", "failed": "red", "interrupted": "red",
}  # fmt: skip


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def scores_of(explanation: Mapping[str, Any] | None, evaluations: Sequence[Mapping[str, Any]]) -> Scores:
    """(circuit size, interchangeability z, normalised faithfulness) from stored records."""
    size = None
    if explanation:
        circuit = explanation.get("circuit") or [c.get("id") for c in explanation.get("components") or []]
        size = len(circuit)
    z = faith = None
    for ev in evaluations:  # the newest of each kind wins
        scores = ev.get("scores") or {}
        if ev.get("kind") == "interchangeability":
            z = _number(scores.get("z"))
        elif ev.get("kind") == "faithfulness":
            faith = _number(scores.get("normalized"))
            if size is None and _number(scores.get("circuit_size")) is not None:
                size = int(scores["circuit_size"])
    return size, z, faith


def scores_from_audit(audit: Mapping[str, Any]) -> Scores:
    """Figures of a run given as an audit dict."""
    return scores_of(audit.get("explanation"), audit.get("evaluations") or [])


def scores_from_store(store: Any, run_id: str) -> Scores:
    """Figures of a stored run."""

    return scores_of(st.get_explanation(store, run_id), st.list_evaluations(store, run_id))


def _count(values: Mapping[str, Any], key: str) -> int | None:
    value = _number(values.get(key))
    return None if value is None else int(value)


Process = tuple[int | None, int | None, int | None]
"""(tool calls, hypotheses, refuted hypotheses) of a run: its research-process figures."""


def process_of(process: Mapping[str, Any] | None) -> Process:
    """The batch table's process figures from a ``store.process.RunProcess`` dump."""
    if not isinstance(process, Mapping):
        return None, None, None
    return _count(process, "tool_calls"), _count(process, "hypotheses"), _count(process, "refuted")


def process_from_store(store: Any, run_id: str) -> Process:
    """Process figures of a stored run."""
    return process_of(st.process_metrics(store, run_id).model_dump(mode="json"))


def _fmt(value: float | int | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def jobs_table(states: Sequence[Any], title: str = "Batch jobs", final: bool = False) -> Table:
    """The per-job table: live while running, the summary at the end.

    Args:
        states: :class:`~autointerp.batch.driver.JobState` rows.
        title: Table title.
        final: Show the error column (summary) instead of the worker column.
    """
    import time

    table = Table(title=title, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("Job")
    table.add_column("Status")
    table.add_column("Run", no_wrap=True)
    table.add_column("Circuit", justify="right")
    table.add_column("Interch. z", justify="right")
    table.add_column("Faithful.", justify="right")
    table.add_column("Calls", justify="right")
    table.add_column("Hyp. (refuted)", justify="right")
    table.add_column("Time s", justify="right")
    table.add_column("Error" if final else "Worker")
    for i, state in enumerate(states, 1):
        wall = state.wall_time_s
        if wall is None and state.status == "running" and state.started is not None:
            wall = time.monotonic() - state.started
        last = (state.error or "") if final else (state.worker or "")
        table.add_row(
            str(i), Text(state.job.label), Text(state.status, style=STATUS_STYLE.get(state.status, "")),
            Text(state.run_id or ""), _fmt(state.circuit_size, "d"), _fmt(state.z, ".2f"),
            _fmt(state.faithfulness, ".2f"), _fmt(state.tool_calls, "d"),
            "" if state.hypotheses is None else f"{state.hypotheses} ({state.refuted})",
            _fmt(wall, ".1f"), Text(last[:80]),
        )  # fmt: skip
    return table


def counts(states: Sequence[Any]) -> dict[str, int]:
    """Number of jobs per status."""
    out: dict[str, int] = {}
    for state in states:
        out[state.status] = out.get(state.status, 0) + 1
    return out
