"""LLM grouping and explanation, validated; None means "fall back to the evidence".

Why validation: an LLM may drop a component, invent one, put one in two
roles, or cite experiments that do not exist. The store rejects
explanations citing unknown experiments, so answers are checked here and an
invalid answer is recorded (as a message) and replaced by the scripted
evidence clustering rather than failing the run.
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.messages import HumanMessage

from agents.context import RunContext
from agents.evidence import Finding, Role, findings_of, localisation_of
from agents.prompts import EXPLAIN_PROMPT, GROUP_PROMPT, dumps
from agents.providers import invoke, message_text, usage_tokens
from agents.recorder import note
from store import add_tokens

_JSON = re.compile(r"\{.*\}", re.DOTALL)


def parse_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (code fences allowed).

    Raises:
        ValueError: no JSON object could be parsed.
    """
    match = _JSON.search(text or "")
    if not match:
        raise ValueError("the answer contains no JSON object")
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ValueError("the answer is not a JSON object")
    return value


def validate_clusters(raw: Any, members: list[str]) -> list[dict[str, Any]]:
    """Check that clusters partition ``members``; returns them in the stored shape.

    Raises:
        ValueError: a missing, unknown or repeated component, or a cluster without a name.
    """
    if not isinstance(raw, list) or not raw:
        raise ValueError("'clusters' must be a non-empty list")
    seen: list[str] = []
    out = []
    for c in raw:
        if not isinstance(c, dict) or not str(c.get("name") or "").strip():
            raise ValueError("every cluster needs a name")
        ms = [str(m) for m in c.get("members") or []]
        unknown = [m for m in ms if m not in members]
        if unknown:
            raise ValueError(f"clusters name components outside the circuit: {unknown}")
        seen += ms
        out.append({"name": str(c["name"]).strip(), "description": str(c.get("description") or ""),
                    "members": ms})
    dupes = sorted({m for m in seen if seen.count(m) > 1})
    missing = [m for m in members if m not in seen]
    if dupes or missing:
        raise ValueError(f"components must be in exactly one cluster (repeated: {dupes}, missing: {missing})")
    return out


def _ask(ctx: RunContext, run_id: str, key: str, prompt: str) -> tuple[str, int]:
    assert ctx.llm is not None
    note(ctx, run_id, f"{key}:prompt", "user", prompt)
    reply = invoke(ctx.llm, [HumanMessage(prompt)])
    prompt_t, completion_t = usage_tokens(reply)
    text = message_text(reply)
    note(ctx, run_id, f"{key}:reply", "assistant", text, provider=ctx.llm.provider, model=ctx.llm.model,
         prompt_tokens=prompt_t, completion_tokens=completion_t)
    if prompt_t or completion_t:
        add_tokens(ctx.store, run_id, prompt_t, completion_t)
    return text, prompt_t + completion_t


def _findings_text(findings: dict[str, Finding]) -> str:
    return "\n".join(f"- {c}: {f.description} (evidence: {', '.join(f'E{e}' for e in f.evidence_ids)})"
                     for c, f in findings.items())


def llm_clusters(state: dict[str, Any], ctx: RunContext) -> tuple[list[Role] | None, int]:
    """Roles proposed by the LLM, or None (with a recorded note) when invalid."""
    findings = findings_of(state)
    if not findings:
        return [], 0
    prompt = GROUP_PROMPT.format(task=ctx.data.task.name, model=ctx.target.name, findings=_findings_text(findings))
    text, tokens = _ask(ctx, state["run_id"], "group", prompt)
    try:
        clusters = validate_clusters(parse_json_object(text).get("clusters"), list(findings))
    except ValueError as exc:
        note(ctx, state["run_id"], "group:invalid", "assistant",
             f"The LLM's grouping was invalid ({exc}); using the evidence clustering instead.")
        return None, tokens
    roles = [Role(**c, evidence=sorted({e for m in c["members"] for e in findings[m].evidence_ids}))
             for c in clusters]
    return roles, tokens


def llm_summary(state: dict[str, Any], ctx: RunContext, clusters: list[Role]) -> tuple[str | None, int]:
    """The LLM's circuit explanation, or None when it cites experiments that do not exist."""
    findings = findings_of(state)
    prompt = EXPLAIN_PROMPT.format(task=ctx.data.task.name, model=ctx.target.name,
                                   clusters=dumps([c.stored() for c in clusters]),
                                   findings=_findings_text(findings))
    text, tokens = _ask(ctx, state["run_id"], "explain", prompt)
    loc = localisation_of(state)
    allowed = {e for f in findings.values() for e in f.evidence_ids} | set(loc.experiments if loc else [])
    cited = {int(x) for x in re.findall(r"E(\d+)", text)}
    if not text.strip() or cited - allowed:
        note(ctx, state["run_id"], "explain:invalid", "assistant",
             f"The LLM's explanation cites unknown experiments {sorted(cited - allowed)} or is empty; "
             "using the generated summary instead.")
        return None, tokens
    return text.strip(), tokens
