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


class Budget(TypedDict):
    """Budgets of a run: total steps, steps per component, LLM tokens (0 = unlimited)."""

    max_steps: int
    max_component_steps: int
    max_tokens: int


class ResearchState(TypedDict, total=False):
    """Everything a run has decided so far.

    Keys:
        run_id: the store's run id (also the checkpointer's ``thread_id``).
        agent: agent spec (``scripted``, ``openai:gpt-4o`` ...).
        budget: the run's budgets.
        params: localisation settings (candidates, threshold, circuit size bounds).
        steps: experiments (tool calls) spent so far, across the run.
        tokens: LLM tokens spent so far.
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

    kind: Literal["steps", "tokens"]
    reason: str


def budget_exhausted(state: ResearchState) -> BudgetSpent | None:
    """Which global budget is spent, or None."""
    budget = state.get("budget") or {}
    max_steps = int(budget.get("max_steps") or 0)
    max_tokens = int(budget.get("max_tokens") or 0)
    if max_steps and int(state.get("steps") or 0) >= max_steps:
        return BudgetSpent("steps", f"step budget spent ({state.get('steps')} of {max_steps} steps)")
    if max_tokens and int(state.get("tokens") or 0) >= max_tokens:
        return BudgetSpent("tokens", f"token budget spent ({state.get('tokens')} of {max_tokens} LLM tokens)")
    return None


def component_budget_left(state: ResearchState) -> int:
    """Steps the current component may still spend (a large number when unlimited)."""
    budget = state.get("budget") or {}
    per = int(budget.get("max_component_steps") or 0)
    total = int(budget.get("max_steps") or 0)
    left = per - int(state.get("component_steps") or 0) if per else 10**9
    if total:
        left = min(left, total - int(state.get("steps") or 0))
    return max(0, left)
