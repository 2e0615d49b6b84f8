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
from agents.recorder import Experiment, call_tool, note
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
        self.experiments: list[Experiment] = []

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
    ) -> Experiment | None:
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
