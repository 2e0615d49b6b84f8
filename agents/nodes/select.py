"""``select``: pick the next component to study, or leave the study loop.

The loop ends when the queue is empty or a global budget (total steps, LLM
tokens) is spent; in the latter case ``stop_reason`` says which, the
remaining components are recorded as not studied, and the run goes on to
group and explain what it has.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import RemoveMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.runtime import Runtime

from agents.context import RunContext
from agents.recorder import note
from agents.state import ResearchState, budget_exhausted


def select_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Move the head of the queue into ``current`` (resetting per-component state)."""
    ctx = runtime.context
    queue = list(state.get("queue") or [])
    reset: dict[str, Any] = {"component_steps": 0, "hypotheses": [], "component_experiments": [],
                             "conclusion": None,
                             "messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES)]}
    spent = budget_exhausted(state)
    if spent and queue:
        note(ctx, state["run_id"], f"stop:{state.get('steps')}", "assistant",
             f"Stopping the study phase: {spent.reason}; not studied: {', '.join(queue)}.")
        return {**reset, "current": None, "queue": [], "stop_reason": spent.reason}
    if not queue:
        return {**reset, "current": None}
    done = len(state.get("findings") or {})
    total = done + len(queue)
    ctx.progress("component", {"component": queue[0], "index": done + 1, "total": total})
    return {**reset, "current": queue[0], "queue": queue[1:]}
