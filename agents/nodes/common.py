"""Shared plumbing of nodes: step counting and tool calls bound to one run.

Why: every experiment costs one step of the run's budget and gets its
idempotency key from the step number at which it was made. ``Lab`` starts
from the checkpointed step counter, so a replayed node makes the same calls
under the same keys and finds them already recorded. Every ``Lab`` is bounded
by what is left of the run's step budget (whatever limit its node asks for)
and by the invocation's wall time, so no node -- localisation and survey
included -- can run past ``--max-steps`` or ``--max-wall``.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents.context import RunContext
from agents.recorder import Experiment, call_tool, note
from agents.state import BudgetSpent, ResearchState, steps_left, wall_time_spent


class Lab:
    """Tool calls of one node invocation, numbered from the state's step counter.

    Args:
        state: the graph state at node entry.
        runtime: the LangGraph runtime (its ``context`` is the ``RunContext``).
        limit: the most steps this invocation may spend (None = what is left of
            the run's step budget; never more than that).
    """

    def __init__(self, state: ResearchState, runtime: Runtime[RunContext], limit: int | None = None):
        self.ctx: RunContext = runtime.context
        self.run_id: str = state["run_id"]
        self.start = int(state.get("steps") or 0)
        self.used = 0
        left = steps_left(state)
        self.limit = left if limit is None else (limit if left is None else min(limit, left))
        self.experiments: list[Experiment] = []
        self._state = state
        self.halted: BudgetSpent | None = None

    @property
    def step(self) -> int:
        """The run-wide number of the next experiment."""
        return self.start + self.used

    @property
    def exhausted(self) -> bool:
        """No step may be spent now: the limit is reached or the wall time is up."""
        if self.limit is not None and self.used >= self.limit:
            return True
        if self.halted is None and self.ctx.out_of_time():
            self.halted = wall_time_spent(self._state)
        return self.halted is not None

    def charge(self) -> bool:
        """Spend one step on a call that is not an experiment (an LLM's notebook or malformed call).

        Returns:
            False (nothing spent) when no step is left.
        """
        if self.exhausted:
            return False
        self.used += 1
        return True

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
        """The state updates for the steps spent here (and a wall-time stop, if one happened)."""
        out: dict[str, Any] = {"steps": self.step}
        if self.halted is not None:
            out["halted"] = self.halted.as_state()
        return out
