"""The report's research-process and replication sections, read from an audit dict.

Why a module of its own: these sections sit beside the intrinsic scores but
come from other records -- the process metrics computed from the trace
(``audit["process"]``, :mod:`store.process`) and the replication evaluations
(kinds ``replication*``). Reading is defensive like the rest of the report:
an audit without them shows nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autointerp.report import data, svg

PROCESS_COLUMNS = (
    ("component", "component"), ("tool_calls", "tool calls"), ("failed_calls", "failed"),
    ("iterations", "iterations"), ("hypotheses", "hyp."), ("supported", "supported"),
    ("refuted", "refuted"), ("inconclusive", "inconcl."), ("open", "open"),
    ("prompt_tokens", "prompt tok."), ("completion_tokens", "compl. tok."),
    ("experiment_time_s", "exp. time s"), ("cited_own", "own exps cited"),
)  # fmt: skip

REPLICATION_KEYS = ("precision", "recall", "ari", "assignment_accuracy", "judge_mean")

MEMORY_CAVEAT = ("Agreement with a published explanation can come from memory (the LLM may have read the "
                 "paper) rather than from the experiments; read it beside the intrinsic scores and the blind "
                 "and one-shot baselines, and check the memorisation control.")


def process_view(audit: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"columns", "rows", "totals", "chart"}`` of the run's process metrics, or None."""
    proc = data.mapping(audit.get("process"))
    if not proc:
        return None
    comps = [c for c in proc.get("components") or [] if isinstance(c, Mapping)]
    rows = [[c.get(key) for key, _ in PROCESS_COLUMNS] for c in comps]
    totals = [("tool calls", proc.get("tool_calls")), ("failed calls", proc.get("failed_calls")),
              ("iterations (assistant turns)", proc.get("iterations")),
              ("hypotheses", proc.get("hypotheses")), ("supported", proc.get("supported")),
              ("refuted", proc.get("refuted")), ("inconclusive", proc.get("inconclusive")),
              ("open", proc.get("open")), ("prompt tokens", proc.get("prompt_tokens")),
              ("completion tokens", proc.get("completion_tokens")),
              ("experiment time s", proc.get("experiment_time_s")), ("elapsed s", proc.get("elapsed_s")),
              ("experiments cited / run", f"{proc.get('experiments_cited')} / {proc.get('tool_calls')}")]
    chart = svg.bars([(str(c.get("component")), float(c.get("tool_calls") or 0)) for c in comps],
                     label="tool calls per component") if comps else None
    return {"columns": [label for _, label in PROCESS_COLUMNS], "rows": rows, "totals": totals, "chart": chart}


def replication_view(audit: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The newest replication score of each explainer (the run, and each baseline), with the caveat."""
    newest: dict[str, dict[str, Any]] = {}
    for ev in audit.get("evaluations") or []:
        if not isinstance(ev, Mapping) or not str(ev.get("kind") or "").startswith("replication"):
            continue
        scores = data.mapping(ev.get("scores"))
        newest[str(ev.get("kind"))] = {
            "kind": ev.get("kind"), "explainer": scores.get("explainer") or "run",
            "reference": scores.get("reference_source"),
            "scalars": [(k, data.num(scores.get(k))) for k in REPLICATION_KEYS],
        }
    return list(newest.values())
