"""``oneshot``: the baseline -- every standard experiment up front, one LLM answer.

Why a baseline: an agent's iterative research is only worth its cost if it
beats simply showing an LLM the standard experiment outputs once. This node
runs the same battery as the scripted agent on every circuit component
(recorded as ordinary experiments), gives all outputs to the LLM in one
prompt and parses its JSON explanation; an answer that does not validate
gets one retry with the validation error, then the run fails with one
clear sentence.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime

from agents.battery import PER_COMPONENT, measure
from agents.context import RunContext
from agents.evidence import Finding, Localisation, evidence_of, localisation_of
from agents.llm_synthesis import parse_json_object, validate_clusters
from agents.nodes.common import Lab
from agents.nodes.scripted_study import downstream_of, initial_evidence
from agents.prompts import ONESHOT_PROMPT, dumps
from agents.providers import invoke, message_text, usage_tokens
from agents.recorder import note
from agents.state import ResearchState
from engine.errors import AutointerpError
from store import add_tokens, freeze_roles, get_experiment, save_explanation


class OneShotError(AutointerpError):
    """The one-shot LLM answer could not be turned into a valid explanation."""


def validate_answer(answer: dict[str, Any], circuit: list[str], experiments: set[int]) -> dict[str, Any]:
    """Check a one-shot answer; returns ``{components, clusters, summary}``.

    Raises:
        ValueError: components missing or unknown, bad clusters, or unknown experiment ids.
    """
    comps = answer.get("components")
    if not isinstance(comps, list):
        raise ValueError("'components' must be a list")
    out = []
    for c in comps:
        if not isinstance(c, dict) or c.get("id") not in circuit:
            raise ValueError(f"component {c!r} is not a circuit component")
        raw = [str(e).strip().lstrip("E") for e in c.get("evidence") or []]
        if not all(r.isdigit() for r in raw):
            raise ValueError(f"evidence of {c['id']} must be experiment ids")
        evidence = [int(r) for r in raw]
        unknown = sorted(set(evidence) - experiments)
        if unknown:
            raise ValueError(f"{c['id']} cites experiments {unknown} that were not run")
        out.append({"id": c["id"], "role": str(c.get("role") or ""), "description": str(c.get("description") or ""),
                    "evidence": evidence})
    missing = [c for c in circuit if c not in {o["id"] for o in out}]
    if missing:
        raise ValueError(f"components {missing} are not described")
    clusters = validate_clusters(answer.get("clusters"), circuit)
    summary = answer.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise ValueError("'summary' must be a non-empty string")
    return {"components": out, "clusters": clusters, "summary": summary.strip()}


def oneshot_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Run the standard battery on the whole circuit, then ask the LLM once."""
    ctx = runtime.context
    assert ctx.llm is not None, "the one-shot agent needs a chat model"
    run_id, circuit = state["run_id"], list(state.get("circuit") or [])
    lab = Lab(state, runtime)
    records = []
    for cid in circuit:
        ctx.progress("component", {"component": cid, "index": circuit.index(cid) + 1, "total": len(circuit)})
        ev = initial_evidence(cid, state)
        for name in PER_COMPONENT:
            measure(lab, name, cid, ev, downstream_of(cid, circuit))
    survey_ids = sorted({i for ev in evidence_of(state).values() for i in ev.evidence_ids()})
    for out in [get_experiment(ctx.store, i) for i in survey_ids]:
        if out:
            records.append({"id": f"E{out['id']}", "tool": out["tool"], "args": out["args"],
                            "summary": out["summary"], "error": out["error"]})
    for exp in lab.experiments:
        records.append({"id": f"E{exp.id}", "tool": exp.tool, "args": exp.args, "summary": exp.summary,
                        "error": exp.error})
    loc = localisation_of(state) or Localisation(method="none")
    prompt = ONESHOT_PROMPT.format(
        model=ctx.target.name, task=ctx.data.task.name, task_description=ctx.data.task.description,
        roles=", ".join(ctx.data.role_names),
        circuit=dumps({c: loc.reasons.get(c) for c in circuit}),
        experiments="\n".join(dumps(r) for r in records))
    known = {exp.id for exp in lab.experiments} | set(loc.experiments) | set(survey_ids)
    messages: list[Any] = [HumanMessage(prompt)]
    note(ctx, run_id, "oneshot:prompt", "user", prompt)
    tokens = int(state.get("tokens") or 0)
    error = ""
    for attempt in range(2):
        reply = invoke(ctx.llm, messages)
        p, c = usage_tokens(reply)
        tokens += p + c
        text = message_text(reply)
        note(ctx, run_id, f"oneshot:reply{attempt}", "assistant", text, provider=ctx.llm.provider,
             model=ctx.llm.model, prompt_tokens=p, completion_tokens=c)
        if p or c:
            add_tokens(ctx.store, run_id, p, c)
        try:
            result = validate_answer(parse_json_object(text), circuit, known)
            break
        except ValueError as exc:
            error = str(exc)
            messages += [AIMessage(text), HumanMessage(f"Your answer is invalid: {error}. Answer again with JSON only.")]
            note(ctx, run_id, f"oneshot:invalid{attempt}", "user", messages[-1].content)
    else:
        raise OneShotError(f"The one-shot LLM answer was not a valid explanation: {error}.")
    save_explanation(ctx.store, run_id, result["summary"], result["components"], result["clusters"], circuit)
    frozen = freeze_roles(ctx.store, run_id, "oneshot")
    explanation = {**result, "circuit": circuit, "roles_source": frozen.roles_source,
                   "roles_hash": frozen.roles_hash, "frozen_at": frozen.frozen_at.isoformat()}
    findings = {c["id"]: Finding(description=c["description"], evidence_ids=c["evidence"]).model_dump()
                for c in result["components"]}
    return {**lab.updates(), "tokens": tokens, "clusters": result["clusters"], "explanation": explanation,
            "findings": findings, "roles_source": "oneshot"}
