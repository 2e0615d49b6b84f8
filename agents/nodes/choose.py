"""``choose``: an LLM researcher chooses the components it studies from the localisation results.

Why: the memorisation control (a head-permuted model, ``eval``'s
permutation check) can only catch an agent that recites a remembered
circuit if the agent decides what it studies. With the circuit always
chosen by code, every agent passes the circuit half of the control by
construction. So an LLM researcher (not the scripted agent, not the
one-shot baseline, and not when ``--circuit`` is given) is shown the
localisation ranking and answers with the components it will study: it may
keep the threshold rule's circuit, re-rank, drop or add any component of
the model. Components outside the measured candidates are measured by exact
patching before the study (so every studied component has its effect), and
every choice is recorded with its reason. An answer that is not a valid
list of the model's component ids keeps the threshold rule's circuit, with
a recorded note -- the run does not fail.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime

from agents.context import RunContext
from agents.evidence import Localisation, localisation_of
from agents.llm_synthesis import parse_json_object
from agents.nodes.common import Lab
from agents.nodes.localise import order_components
from agents.prompts import CHOOSE_PROMPT
from agents.providers import complete, message_text
from agents.state import ResearchState, llm_refused
from engine.components import parse_component
from engine.errors import AutointerpError
from store import add_tokens
from tools.results import SweepResult

SHOWN = 24  # exact effects shown to the LLM (the strongest first)


def validate_choice(raw: Any, n_layers: int, n_heads: int, max_circuit: int) -> list[str]:
    """The chosen component ids, checked against the model's shape.

    Raises:
        ValueError: not a non-empty list, too long, or an id that is not a head or MLP of the model.
    """
    if not isinstance(raw, list) or not raw:
        raise ValueError("'circuit' must be a non-empty list of component ids")
    if len(raw) > max_circuit:
        raise ValueError(f"at most {max_circuit} components, got {len(raw)}")
    out = []
    for item in raw:
        try:
            comp = parse_component(str(item))
        except AutointerpError as exc:
            raise ValueError(str(exc)) from None
        if comp.kind not in ("head", "mlp") or comp.layer >= n_layers or (comp.head or 0) >= n_heads:
            raise ValueError(f"{item} is not an attention head or MLP of this model")
        out.append(comp.id)
    return order_components(out)


def choose_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Ask the LLM which components to study; measure any it adds; record why."""
    ctx = runtime.context
    assert ctx.llm is not None, "an LLM agent needs a chat model"
    run_id, params = state["run_id"], dict(state.get("params") or {})
    loc = localisation_of(state) or Localisation(method="none")
    kept = list(state.get("circuit") or [])
    ranked = sorted(loc.exact, key=lambda c: -abs(loc.exact[c]))[:SHOWN]
    prompt = CHOOSE_PROMPT.format(
        model=ctx.target.name, n_layers=ctx.target.n_layers, n_heads=ctx.target.n_heads, task=ctx.data.task.name,
        task_description=ctx.data.task.description, scale=loc.scale,
        effects="\n".join(f"  {c}: {loc.exact[c]:+.3f}" for c in ranked) or "  (none)",
        kept=", ".join(kept) or "nothing", max_circuit=params.get("max_circuit", 20))
    lab = Lab(state, runtime)
    refused = llm_refused(state, ctx)
    if refused is not None:  # a spent LLM budget: study the threshold rule's circuit
        lab.note("choose:budget", f"Not asking the LLM to choose components: {refused.reason}; studying the "
                 f"threshold rule's circuit: {', '.join(kept)}.")
        return {}
    lab.note("choose:prompt", prompt, role="user")
    answer_ = complete(ctx.llm, [HumanMessage(prompt)])
    p, c = answer_.prompt_tokens, answer_.completion_tokens
    text = message_text(answer_.message)
    lab.note("choose:reply", text, provider=ctx.llm.provider, model=ctx.llm.model, prompt_tokens=p, completion_tokens=c)
    add_tokens(ctx.store, run_id, p, c)
    tokens = int(state.get("tokens") or 0) + p + c
    requests = int(state.get("llm_requests") or 0) + 1
    try:
        answer = parse_json_object(text)
        chosen = validate_choice(answer.get("circuit"), ctx.target.n_layers, ctx.target.n_heads,
                                 int(params.get("max_circuit", 20)))
    except ValueError as exc:
        lab.note("choose:invalid", f"The LLM's choice of components was invalid ({exc}); studying the "
                 f"threshold rule's circuit: {', '.join(kept)}.")
        return {"tokens": tokens, "llm_requests": requests}
    extra = [cid for cid in chosen if cid not in loc.exact]
    exact = dict(loc.exact)
    if extra:  # measured like the rest, so every studied component has its exact effect
        out = lab.run("activation_patching", {"components": extra})
        if out is not None and isinstance(out.result, SweepResult):
            exact.update(out.result.effects)
    why = str(answer.get("reason") or "")[:500]
    reasons = dict(loc.reasons)
    for cid in chosen:
        origin = "not among the localisation candidates" if cid in extra else (
            "kept by the threshold rule" if cid in kept else "below the threshold rule")
        reasons[cid] = f"in: chosen by the LLM ({origin}; exact effect {exact.get(cid, float('nan')):+.3f}): {why}"
    for cid in kept:
        if cid not in chosen:
            reasons[cid] = f"out: dropped by the LLM (kept by the threshold rule): {why}"
    loc = loc.model_copy(update={"method": f"{loc.method}+llm-choice", "exact": exact, "reasons": reasons,
                                 "experiments": [*loc.experiments, *[o.id for o in lab.experiments]]})
    lab.note("choose", f"The LLM chose {', '.join(chosen)} (threshold rule: {', '.join(kept) or 'nothing'}).")
    ctx.progress("circuit", {"circuit": chosen})
    return {**lab.updates(), "tokens": tokens, "llm_requests": requests, "localisation": loc.model_dump(),
            "circuit": chosen, "queue": list(chosen)}
