"""``select``: pick the next component to study, or leave the study loop.

The loop ends when the queue is empty or a global budget (total steps, LLM
tokens, LLM requests, wall time) is spent; in the latter case ``stop_reason`` says which, the
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
from agents.state import ResearchState, out_of_budget


def select_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Move the head of the queue into ``current`` (resetting per-component state)."""
    ctx = runtime.context
    queue = list(state.get("queue") or [])
    reset: dict[str, Any] = {"component_steps": 0, "hypotheses": [], "component_experiments": [],
                             "conclusion": None,
                             "messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES)]}
    spent = out_of_budget(state, ctx)
    if spent and (queue or spent.kind in ("requests", "wall")):
        note(ctx, state["run_id"], f"stop:{state.get('steps')}:{state.get('llm_requests') or 0}", "assistant",
             f"Stopping the study phase: {spent.reason}; not studied: {', '.join(queue) or 'none'}.")
        halted = {"halted": spent.as_state()} if spent.kind in ("requests", "wall") else {}
        return {**reset, **halted, "current": None, "queue": [], "stop_reason": spent.reason}
    if not queue:
        return {**reset, "current": None}
    done = len(state.get("findings") or {})
    total = done + len(queue)
    ctx.progress("component", {"component": queue[0], "index": done + 1, "total": total})
    return {**reset, "current": queue[0], "queue": queue[1:]}
