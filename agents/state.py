"""Checkpointed research state: plain, JSON-like data only.

Why plain data: LangGraph checkpoints this state after every super-step so a
killed run resumes where it stopped (DESIGN §8). Anything that cannot be
serialised or must not outlive the process -- the loaded model, the DB
handle, the chat model, API keys -- lives in the runtime context
(``agents.context.RunContext``), never here. The step budget is explicit
state, so a resumed run continues counting from where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: shallow-merge ``right`` into ``left`` (per-component findings, per-key updates)."""
    out = dict(left or {})
    out.update(right or {})
    return out


class Budget(TypedDict, total=False):
    """Budgets of a run (0 = unlimited): total steps, steps per component, LLM tokens,
    LLM requests, and the wall time of one invocation (seconds)."""

    max_steps: int
    max_component_steps: int
    max_tokens: int
    max_llm_requests: int
    max_wall_s: float


class ResearchState(TypedDict, total=False):
    """Everything a run has decided so far.

    Keys:
        run_id: the store's run id (also the checkpointer's ``thread_id``).
        agent: agent spec (``scripted``, ``openai:gpt-4o`` ...).
        budget: the run's budgets.
        params: localisation settings (candidates, threshold, circuit size bounds).
        steps: steps spent so far, across the run: one per experiment and one per
            other tool call of an LLM (notebook calls, malformed or refused calls).
        tokens: LLM tokens spent so far (estimated when a provider reports none).
        llm_requests: LLM requests made so far; also the per-run sequence number
            that keys the LLM conversation's records (provider ids may repeat).
        halted: ``{kind, reason}`` once a hard limit (LLM requests, wall time)
            stopped the run; never cleared.
        circuit_given: component ids passed with ``--circuit`` (empty = localise).
        localisation: ranking, threshold and the in/out reason of each candidate.
        circuit: the kept component ids, in layer order.
        survey: component id -> batched first-look measures (attention, DLA, ablation).
        queue: components still to study, in order.
        current: the component being studied (None between components).
        component_steps: steps spent on the component at the head of the queue.
        hypotheses: the current component's hypotheses ``[{id, text, status, ...}]``.
        component_experiments: experiment ids run on the current component.
        conclusion: the LLM's ``conclude`` call for the current component, once made.
        findings: component id -> ``{description, evidence, signature, hypotheses}``.
        clusters: functional roles ``[{name, description, members}]``.
        roles_source: how the roles were chosen (``evidence``, ``llm``, ``oneshot`` or
            ``fitted_to_swaps``); frozen with them before the evaluation.
        explanation: ``{summary, components, clusters, circuit}`` as stored.
        evaluation: the evaluation module's scores (or a note why skipped).
        stop_reason: set when a budget ran out (which one) or the run ended.
        messages: the LLM conversation about the current component (cleared, with
            ``RemoveMessage(REMOVE_ALL_MESSAGES)``, when the next one starts).
    """

    run_id: str
    agent: str
    budget: Budget
    params: dict[str, Any]
    steps: int
    tokens: int
    llm_requests: int
    halted: dict[str, str] | None
    circuit_given: list[str]
    localisation: dict[str, Any]
    circuit: list[str]
    survey: dict[str, Any]
    queue: list[str]
    current: str | None
    component_steps: int
    hypotheses: list[dict[str, Any]]
    component_experiments: list[int]
    conclusion: dict[str, Any] | None
    findings: Annotated[dict[str, Any], merge_dicts]
    clusters: list[dict[str, Any]]
    roles_source: str
    explanation: dict[str, Any]
    evaluation: dict[str, Any]
    stop_reason: str | None
    messages: Annotated[list[AnyMessage], add_messages]


@dataclass(frozen=True)
class BudgetSpent:
    """A global budget that ran out: which one, and the sentence recorded as ``stop_reason``."""

    kind: Literal["steps", "tokens", "requests", "wall"]
    reason: str

    def as_state(self) -> dict[str, str]:
        """The ``halted`` state entry of a hard limit."""
        return {"kind": self.kind, "reason": self.reason}


def _limit(budget: Any, name: str) -> int:
    return int((budget or {}).get(name) or 0)


def budget_exhausted(state: ResearchState) -> BudgetSpent | None:
    """Which global budget is spent, or None (wall time is seen once a node recorded it)."""
    halted = state.get("halted")
    if halted:
        return BudgetSpent(halted["kind"], halted["reason"])  # type: ignore[arg-type]
    budget = state.get("budget") or {}
    max_steps, max_tokens = _limit(budget, "max_steps"), _limit(budget, "max_tokens")
    max_requests = _limit(budget, "max_llm_requests")
    if max_steps and int(state.get("steps") or 0) >= max_steps:
        return BudgetSpent("steps", f"step budget spent ({state.get('steps')} of {max_steps} steps)")
    if max_tokens and int(state.get("tokens") or 0) >= max_tokens:
        return BudgetSpent("tokens", f"token budget spent ({state.get('tokens')} of {max_tokens} LLM tokens)")
    if max_requests and int(state.get("llm_requests") or 0) >= max_requests:
        return BudgetSpent("requests", f"LLM request cap reached ({state.get('llm_requests')} of "
                                       f"{max_requests} requests)")
    return None


def wall_time_spent(state: ResearchState) -> BudgetSpent:
    """The stop of an invocation whose wall-time limit passed."""
    wall = float((state.get("budget") or {}).get("max_wall_s") or 0)
    return BudgetSpent("wall", f"wall-time limit reached ({wall:g} s in this invocation)")


def out_of_budget(state: ResearchState, ctx: Any) -> BudgetSpent | None:
    """``budget_exhausted`` plus this invocation's wall-time limit (``ctx`` is the ``RunContext``)."""
    spent = budget_exhausted(state)
    if spent is None and ctx.out_of_time():
        spent = wall_time_spent(state)
    return spent


def llm_refused(state: ResearchState, ctx: Any) -> BudgetSpent | None:
    """The limit that forbids another LLM request now, or None.

    A spent step budget does not: grouping and explaining what was studied
    still ask the LLM. Spent tokens, the request cap and wall time do.
    """
    spent = out_of_budget(state, ctx)
    return spent if spent is not None and spent.kind != "steps" else None


def steps_left(state: ResearchState) -> int | None:
    """Steps the run may still spend (None when unlimited)."""
    total = _limit(state.get("budget"), "max_steps")
    return None if not total else max(0, total - int(state.get("steps") or 0))


def component_budget_left(state: ResearchState) -> int:
    """Steps the current component may still spend (a large number when unlimited)."""
    per = _limit(state.get("budget"), "max_component_steps")
    left = per - int(state.get("component_steps") or 0) if per else 10**9
    total = steps_left(state)
    if total is not None:
        left = min(left, total)
    return max(0, left)
