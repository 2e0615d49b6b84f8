"""``evaluate`` and ``finish``: score the explanation, close the run record.

Evaluation can be switched off (the run records that it was skipped); a
failed evaluation is recorded with its reason and never loses the run.
Scores are stored per kind (``interchangeability``, ``faithfulness``).
"""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agents.context import RunContext
from agents.evidence import localisation_of, stated_parts
from agents.provenance import code_version, evaluation_label
from agents.recorder import note
from agents.state import ResearchState, wall_time_spent
from engine.evaluation import evaluate_explanation, interpretation_line
from engine.models.placement import dtype_name
from store import (
    finish_run,
    frozen_roles,
    get_explanation,
    list_evaluations,
    next_evaluation_version,
    save_evaluation,
)

log = logging.getLogger(__name__)


def _effects(state: ResearchState) -> dict[str, float] | None:
    loc = localisation_of(state)
    return dict(loc.exact) if loc is not None and loc.exact else None


def evaluate_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Score the run's frozen roles (read back from the store and checked against their hash)."""
    ctx = runtime.context
    run_id = state["run_id"]
    if not ctx.evaluate:
        return {"evaluation": {"skipped": "evaluation switched off"}}
    if ctx.out_of_time():  # the wall-time limit binds the evaluation too
        reason = wall_time_spent(state).reason
        return {"evaluation": {"skipped": reason}, "stop_reason": state.get("stop_reason") or reason}
    existing = list_evaluations(ctx.store, run_id)
    if existing:  # a replayed node: the scores are already stored
        scores = {e["kind"]: e["scores"] for e in existing}
        return {"evaluation": scores}
    frozen = frozen_roles(ctx.store, run_id)  # the evaluator scores only what was frozen
    ctx.progress("phase", {"name": "evaluate"})
    clusters = [{"name": c["name"], "members": list(c["members"])} for c in frozen.clusters]
    prompts = ctx.eval_prompts or {"prompts": "research", "n_pairs": ctx.data.n_pairs}
    version = next_evaluation_version(ctx.store, run_id)
    params = {"null_draws": ctx.null_draws, "seed": ctx.seed, "clusters": clusters,
              "roles_source": frozen.roles_source, "roles_hash": frozen.roles_hash,
              "frozen_at": frozen.frozen_at.isoformat(), "prompts": prompts, "source": "explain",
              "version": version, "code_version": code_version(),
              "label": evaluation_label(version, "explain", prompts, ctx.null_draws), "device": str(ctx.target.device),
              "dtype": dtype_name(ctx.target.dtype)}
    opposing, positions = stated_parts((get_explanation(ctx.store, run_id) or {}).get("components") or [])
    loc = localisation_of(state)  # a member the study never reached has no stored component, but keeps its part
    opposing = list(dict.fromkeys(opposing + (list(loc.opposing) if loc is not None else [])))
    try:
        data = ctx.eval_data if ctx.eval_data is not None else ctx.data
        result = evaluate_explanation(
            ctx.target, data, clusters=clusters, roles_source=frozen.roles_source, effects=_effects(state),
            null_draws=ctx.null_draws, seed=ctx.seed, opposing=opposing, positions=positions,
            progress=lambda stage, done, total: ctx.progress("phase", {"name": f"evaluate: {stage} {done}/{total}"}))
    except Exception as exc:  # noqa: BLE001 - a failed evaluation must not lose the run
        log.warning("evaluation failed", exc_info=True)
        reason = f"evaluation failed: {type(exc).__name__}: {exc}"
        note(ctx, run_id, "evaluate:failed", "assistant", reason)
        return {"evaluation": {"skipped": reason}}
    scores = {}
    for kind, value in result.items():
        if isinstance(value, dict):
            save_evaluation(ctx.store, run_id, kind, value, params)
            scores[kind] = value
    scores["interpretation"] = interpretation_line(result)
    return {"evaluation": scores}


def finish_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Mark the run finished, or stopped with the budget that ran out."""
    ctx = runtime.context
    reason = state.get("stop_reason")
    status = "stopped" if reason else "finished"
    finish_run(ctx.store, state["run_id"], status, reason or "explanation complete")
    ctx.progress("phase", {"name": "done"})
    return {"stop_reason": reason}
