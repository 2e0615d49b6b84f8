"""Runtime context of a research run: the handles that are never checkpointed.

Why a separate object: LangGraph checkpoints state after every step, and a
resumed run rebuilds everything else from the store's run record. The loaded
model, the tokenised task, the open store, the chat model (which holds an API
key) and the progress callback therefore travel in the graph's
``context_schema`` (DESIGN §8): available to every node, written nowhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.models import TargetModel
from engine.tasks import TaskData
from store import Store
from tools.base import ToolContext

#: progress callback: (event, payload) -- e.g. ("phase", {"name": "localise"})
ProgressFn = Callable[[str, dict[str, Any]], None]


def _quiet(_event: str, _payload: dict[str, Any]) -> None:
    """Default progress callback: say nothing."""


@dataclass
class LLMHandle:
    """A chat model and how to name it in the trace (never its key).

    Attributes:
        chat: a langchain ``BaseChatModel`` (tools are bound per call).
        provider: ``openai``, ``anthropic``, ``compatible`` or ``fake``.
        model: the provider's model name.
    """

    chat: Any
    provider: str
    model: str


@dataclass
class RunContext:
    """Handles every node may use; passed as ``context=`` to ``graph.invoke``.

    Attributes:
        target: the loaded target model.
        data: the task, tokenised for ``target``.
        store: the open store the run is recorded in.
        tools: the tool context (target, data, seed, memo of shared intermediates).
        agent_kind: ``scripted``, ``llm`` or ``oneshot``.
        llm: the chat model for ``llm``/``oneshot`` agents; None for ``scripted``.
        progress: progress callback (rich bar in the CLI, silent in the API).
        evaluate: run the evaluation module at the end (when importable).
        null_draws: random relabelings of the interchangeability null.
        eval_data: the prompts the evaluation scores on (None = ``data``;
            see ``agents.session.evaluation_data``).
        eval_prompts: how ``eval_data`` was drawn (stored with the scores).
        swaps_allowed: the opt-in fitted-roles mode: the agent may run
            ``weight_swap`` (the run's roles are then ``fitted_to_swaps``).
    """

    target: TargetModel
    data: TaskData
    store: Store
    tools: ToolContext
    agent_kind: str = "scripted"
    llm: LLMHandle | None = None
    progress: ProgressFn = _quiet
    evaluate: bool = True
    null_draws: int = 200
    eval_data: TaskData | None = None
    eval_prompts: dict[str, Any] = field(default_factory=dict)
    swaps_allowed: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.tools.seed
