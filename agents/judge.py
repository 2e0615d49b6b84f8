"""The replication judge: an LLM rates each component's description against the reference's.

Why an LLM and why stored: whether "copies the indirect object's name to the
logits" and "moves the IO token to the output" name the same function is a
judgement, which Haklay et al. (2026) leave to an LLM judge. A judgement is
only auditable with its question and its answer, so the prompt and the raw
reply are kept verbatim in the :class:`~agents.replication.JudgeRecord`
stored with the scores. Reference components the explanation does not
describe score 0 without asking (the judge is not asked to rate nothing).
An answer that does not parse, or misses a component, gets one retry with
the error; a second failure is one clear sentence.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from agents.context import LLMHandle
from agents.llm_synthesis import parse_json_object
from agents.prompts import dumps
from agents.providers import complete, message_text
from agents.replication import ComponentVerdict, JudgeRecord
from agents.replication_prompts import JUDGE_PROMPT
from engine.errors import AutointerpError
from engine.planted.reference import Reference


class JudgeError(AutointerpError):
    """The judge's answer could not be read as one verdict per component."""


def judge_prompt(reference: Reference, descriptions: dict[str, str]) -> tuple[str, list[str]]:
    """The judge's prompt and the components it is asked about (the reference's, described by the candidate)."""
    asked = [cid for cid in reference.components if descriptions.get(cid, "").strip()]
    pairs = "\n".join(dumps({"component": cid, "reference": reference.components[cid].description,
                             "candidate": descriptions[cid]}) for cid in asked)
    return JUDGE_PROMPT.format(task=reference.task, pairs=pairs or "(none)"), asked


def parse_verdicts(text: str, asked: list[str]) -> dict[str, ComponentVerdict]:
    """Verdicts by component from the judge's reply.

    Raises:
        ValueError: no JSON, a bad score, or a missing or unknown component.
    """
    raw = parse_json_object(text).get("verdicts")
    if not isinstance(raw, list):
        raise ValueError("'verdicts' must be a list")
    out: dict[str, ComponentVerdict] = {}
    for item in raw:
        if not isinstance(item, dict) or item.get("component") not in asked:
            raise ValueError(f"verdict {item!r} is not about one of the asked components")
        score = item.get("score")
        if isinstance(score, bool) or score not in (0, 1, 2):
            raise ValueError(f"the score of {item['component']} must be 0, 1 or 2")
        out[item["component"]] = ComponentVerdict(component=item["component"], score=int(score),
                                                  reason=str(item.get("reason") or ""))
    missing = [c for c in asked if c not in out]
    if missing:
        raise ValueError(f"no verdict for {missing}")
    return out


def judge_descriptions(llm: LLMHandle, reference: Reference, descriptions: dict[str, str]) -> JudgeRecord:
    """Ask the judge about every described reference component; missing ones score 0.

    Args:
        llm: the judge's chat model.
        reference: the reference explanation.
        descriptions: component id -> the candidate's description (ids of the reference's model).

    Returns:
        The record: judge name, prompt, raw reply (all attempts), verdicts for
        every reference component, and the mean score scaled to [0, 1].

    Raises:
        JudgeError: the reply is invalid twice.
        ProviderError: the provider failed for good.
    """
    prompt, asked = judge_prompt(reference, descriptions)
    verdicts: dict[str, ComponentVerdict] = {}
    replies: list[str] = []
    if asked:
        messages: list[Any] = [HumanMessage(prompt)]
        error = ""
        for _attempt in range(2):
            text = message_text(complete(llm, messages).message)
            replies.append(text)
            try:
                verdicts = parse_verdicts(text, asked)
                break
            except ValueError as exc:
                error = str(exc)
                messages += [AIMessage(text), HumanMessage(f"Your answer is invalid: {error}. Answer again with JSON only.")]
        else:
            raise JudgeError(f"The judge {llm.provider}:{llm.model} gave no valid verdicts: {error}.")
    every = [verdicts.get(cid) or ComponentVerdict(component=cid, score=0, reason="not described",
                                                    described=False)
             for cid in reference.components]
    mean = sum(v.score for v in every) / (2 * len(every)) if every else None
    return JudgeRecord(judge=f"{llm.provider}:{llm.model}", prompt=prompt, raw="\n---\n".join(replies),
                       verdicts=every, mean=mean)
