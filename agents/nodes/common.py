"""Shared plumbing of nodes: step counting and tool calls bound to one run.

Why: every experiment costs one step of the run's budget and gets its
idempotency key from the step number at which it was made. ``Lab`` starts
from the checkpointed step counter, so a replayed node makes the same calls
under the same keys and finds them already recorded.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents.context import RunContext
from agents.recorder import call_tool, note
from agents.state import ResearchState


class Lab:
    """Tool calls of one node invocation, numbered from the state's step counter.

    Args:
        state: the graph state at node entry.
        runtime: the LangGraph runtime (its ``context`` is the ``RunContext``).
        limit: the most experiments this invocation may run (None = no limit).
    """

    def __init__(self, state: ResearchState, runtime: Runtime[RunContext], limit: int | None = None):
        self.ctx: RunContext = runtime.context
        self.run_id: str = state["run_id"]
        self.start = int(state.get("steps") or 0)
        self.used = 0
        self.limit = limit
        self.experiments: list[dict[str, Any]] = []

    @property
    def step(self) -> int:
        """The run-wide number of the next experiment."""
        return self.start + self.used

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    def run(
        self, tool: str, args: dict[str, Any], component: str | None = None,
        hypothesis_ids: list[int] | tuple[int, ...] = (),
    ) -> dict[str, Any] | None:
        """Run and record one experiment; None (nothing run) when the limit is reached."""
        if self.exhausted:
            return None
        outcome = call_tool(self.ctx, self.run_id, self.step, tool, args, component, hypothesis_ids)
        self.used += 1
        self.experiments.append(outcome)
        return outcome

    def note(self, key: str, content: Any, role: str = "assistant", **extra: Any) -> int:
        """Record a decision (as an assistant message) once per key."""
        return note(self.ctx, self.run_id, key, role, content, **extra)

    def updates(self) -> dict[str, Any]:
        """The state updates for the steps spent here."""
        return {"steps": self.step}


def effects_of(result: dict[str, Any] | None) -> dict[str, float]:
    """The ``{component id: effect}`` mapping inside a sweep-like tool result."""
    if not result:
        return {}
    for key in ("effects", "estimates", "scores", "attributions"):
        value = result.get(key)
        if isinstance(value, dict):
            return {str(k): float(v) for k, v in value.items() if isinstance(v, int | float)}
        if isinstance(value, list):  # [{"component": id, "effect": x}, ...]
            out = {}
            for row in value:
                if isinstance(row, dict):
                    cid = row.get("component") or row.get("id")
                    val = row.get("effect", row.get("score"))
                    if cid is not None and isinstance(val, int | float):
                        out[str(cid)] = float(val)
            if out:
                return out
    return {}
