"""The blind baseline of replication: an LLM that sees the task and the component ids, no experiment.

Why: a replication score means little on its own -- an LLM that knows the
literature can name the IOI heads' roles without running anything. The
blind baseline measures exactly that: the same LLM is given the task and
the run's component list and nothing else, and its answer is scored like
the run's. "The agent beats guessing" is then a measured claim: the run's
agreement minus the blind baseline's. (The other baseline, the one-shot
agent, is an ordinary run: ``explain --agent oneshot:<provider>``, scored by
``replicate --oneshot-run``.)

The answer must describe every component and put each in exactly one role
and may cite no experiment (there are none); an invalid answer gets one
retry with the error, then one clear sentence.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel

from agents.context import LLMHandle
from agents.llm_synthesis import parse_json_object
from agents.nodes.oneshot import validate_answer
from agents.providers import complete, message_text
from agents.replication_prompts import BLIND_PROMPT
from engine.catalog import BUILTIN_TASKS
from engine.errors import AutointerpError


class BlindBaselineError(AutointerpError):
    """The blind baseline's answer could not be turned into an explanation."""


class BlindAnswer(BaseModel):
    """The blind baseline's explanation with the prompt and raw replies it came from."""

    llm: str
    prompt: str
    raw: str
    explanation: dict[str, Any]


def blind_prompt(task: str, model: str, circuit: list[str]) -> str:
    """The prompt: task name and description, model name, component ids -- and nothing measured."""
    info = BUILTIN_TASKS.get(task)
    description = info.description if info else "a custom task given as clean/corrupt prompt pairs"
    return BLIND_PROMPT.format(model=model, task=task, task_description=description, circuit=", ".join(circuit))


def blind_baseline(llm: LLMHandle, task: str, model: str, circuit: list[str]) -> BlindAnswer:
    """Ask ``llm`` for an explanation of ``circuit`` from the task alone.

    Raises:
        BlindBaselineError: the answer is invalid twice.
        ProviderError: the provider failed for good.
    """
    prompt = blind_prompt(task, model, circuit)
    messages: list[Any] = [HumanMessage(prompt)]
    replies: list[str] = []
    error = ""
    for _attempt in range(2):
        text = message_text(complete(llm, messages).message)
        replies.append(text)
        try:
            answer = validate_answer(parse_json_object(text), circuit, set())
            break
        except ValueError as exc:
            error = str(exc)
            messages += [AIMessage(text), HumanMessage(f"Your answer is invalid: {error}. Answer again with JSON only.")]
    else:
        raise BlindBaselineError(f"The blind baseline's answer ({llm.provider}:{llm.model}) was not a valid "
                                 f"explanation: {error}.")
    return BlindAnswer(llm=f"{llm.provider}:{llm.model}", prompt=prompt, raw="\n---\n".join(replies),
                       explanation={**answer, "circuit": circuit})
