"""Everything the agent does goes into the store as it happens, exactly once.

Why idempotency keys: a run killed mid-node is resumed from its last
checkpoint and the node runs again. Every write made here carries a key
derived only from checkpointed facts -- the run id, the step number at which
the call was made, the tool and its canonical arguments -- so a replayed node
finds its earlier experiments (and reuses their stored results instead of
recomputing them) rather than writing them twice. Tool failures, unknown tools
and even unexpected exceptions inside a tool become an experiment with its
``error`` set, never a crashed run.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from agents.context import RunContext
from agents.toolbox import EVALUATOR_TOOLS, get_spec, tool_names
from store import add_experiment, add_hypothesis, add_message, find_experiment, update_hypothesis
from store.plain import canonical_json, clean
from tools.base import ToolResult, run_tool
from tools.results import ToolOutput

log = logging.getLogger(__name__)


def args_hash(args: Any) -> str:
    """Short sha256 of the canonical JSON of ``args`` (or of its repr when not JSON-able)."""
    try:
        text = canonical_json(args)
    except (TypeError, ValueError):
        text = repr(args)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def experiment_key(run_id: str, step: int, tool: str, args: Any) -> str:
    """Deterministic idempotency key of one tool call: run, step, tool, argument hash."""
    return f"{run_id}:{step}:{tool}:{args_hash(args)}"


@dataclass(frozen=True)
class Experiment:
    """One recorded tool call as the agent sees it, identical whether computed now or replayed.

    ``result`` is the tool's typed result read back from its stored (redacted,
    plain-JSON) form, None when the call failed.
    """

    id: int
    tool: str
    args: dict[str, Any]
    result: ToolOutput | None
    summary: str
    error: str | None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None

    def result_json(self) -> dict[str, Any]:
        """The result as stored (what an LLM reads)."""
        return {} if self.result is None else self.result.model_dump(mode="json")


def _typed(tool: str, stored: dict[str, Any] | None) -> ToolOutput | None:
    spec = get_spec(tool)
    return None if spec is None or not stored else spec.parse_result(stored)


def call_tool(
    ctx: RunContext,
    run_id: str,
    step: int,
    tool: str,
    args: Any,
    component: str | None = None,
    hypothesis_ids: list[int] | tuple[int, ...] = (),
) -> Experiment:
    """Run one tool call and record it as an experiment, at most once per (step, tool, args).

    Args:
        ctx: the run context (model, task, store).
        run_id: the run.
        step: the run-wide step number of this call (checkpointed, so stable on replay).
        tool: tool name; an unknown name is recorded as a failed experiment.
        args: raw arguments (validated by the tool; invalid ones are a recorded error).
        component: the component being studied, if any.
        hypothesis_ids: hypotheses the experiment tests (linked in the store).

    Returns:
        The recorded ``Experiment`` (replayed from the store when this call was made before).
    """
    raw = args if isinstance(args, dict) else {"__raw__": args}
    key = experiment_key(run_id, step, tool, raw)
    existing = find_experiment(ctx.store, run_id, key)
    if existing is not None:
        return Experiment(int(existing["id"]), existing["tool"], existing.get("args") or {},
                          _typed(tool, existing.get("result")), existing.get("summary") or "",
                          existing.get("error"), replayed=True)
    spec = get_spec(tool)
    if spec is None:
        outcome = ToolResult(tool, raw, None, "", 0.0,
                             error=f"Unknown tool '{tool}'; available tools: {', '.join(tool_names())}.")
    elif tool in EVALUATOR_TOOLS and not ctx.swaps_allowed:
        outcome = ToolResult(tool, raw, None, "", 0.0, error=(
            f"{tool} is the evaluator's measurement and is not available to the agent (roles are scored by "
            "weight swaps after they are frozen); run with --fit-roles-to-swaps to opt in."))
    elif not isinstance(args, dict):
        outcome = ToolResult(tool, raw, None, "", 0.0,
                             error=f"Arguments of {tool} must be a JSON object, got {type(args).__name__}.")
    else:
        try:
            outcome = run_tool(spec, ctx.tools, args)
        except Exception as exc:  # noqa: BLE001 - a tool bug must not end the run
            log.warning("tool %s raised %s", tool, type(exc).__name__, exc_info=True)
            outcome = ToolResult(tool, raw, None, "", 0.0,
                                 error=f"{tool} failed with {type(exc).__name__}: {exc}")
    result = clean(outcome.result_json())
    exp_id = add_experiment(
        ctx.store, run_id, tool, outcome.args, outcome.summary, result,
        wall_time_s=outcome.wall_time_s, error=outcome.error, idempotency_key=key,
        component=component, hypothesis_ids=list(hypothesis_ids),
    )
    ctx.progress("experiment", {"tool": tool, "component": component, "error": outcome.error})
    return Experiment(exp_id, tool, clean(outcome.args), _typed(tool, result), outcome.summary, outcome.error)


def propose(ctx: RunContext, run_id: str, component: str | None, key: str, text: str) -> int:
    """Record a proposed hypothesis once per key; returns its id."""
    return add_hypothesis(ctx.store, run_id, text, component=component,
                          idempotency_key=f"{run_id}:hyp:{key}")


def resolve(
    ctx: RunContext, hypothesis_id: int, status: str, reason: str,
    experiment_id: int | None = None, confidence: float | None = None,
) -> None:
    """Move a hypothesis to supported / refuted / inconclusive, citing the deciding experiment."""
    update_hypothesis(ctx.store, hypothesis_id, status, reason, experiment_id, confidence)


def note(
    ctx: RunContext, run_id: str, key: str, role: str, content: Any, **extra: Any
) -> int:
    """Record one message (decision, LLM turn, tool reply) once per key."""
    return add_message(ctx.store, run_id, role, content, idempotency_key=f"{run_id}:msg:{key}", **extra)
