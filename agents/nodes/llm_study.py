"""``research``, ``act``, ``conclude``: the LLM researcher's loop over one component.

``research`` asks the chat model (tools bound natively: every experiment tool
plus the notebook tools) for its next move; ``act`` executes the tool calls
ToolNode-style -- each experiment is recorded, and malformed calls, unknown
tools and tool errors come back to the model as tool messages instead of
ending the run; ``conclude`` stores the component's description once the
model calls ``conclude``, answers without tools, or the budget ends.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.runtime import Runtime

from agents.context import RunContext
from agents.evidence import Finding, HypothesisRecord, Localisation, findings_of, localisation_of
from agents.nodes.common import Lab
from agents.notebook import NOTEBOOK, handle_notebook, notebook_schemas
from agents.prompts import COMPONENT_BRIEF, RESEARCHER_SYSTEM, dumps
from agents.providers import invoke, message_text, usage_tokens
from agents.recorder import note, resolve
from agents.state import ResearchState, budget_exhausted, component_budget_left
from agents.toolbox import EVALUATOR_TOOLS, experiment_tool_schemas
from store import add_tokens


def _brief(state: ResearchState, ctx: RunContext, cid: str) -> str:
    data, target = ctx.data, ctx.target
    pair = data.task.pairs[0]
    loc = localisation_of(state) or Localisation(method="none")
    evidence = {"reason": loc.reasons.get(cid), "exact_effect": loc.exact.get(cid),
                "experiments": [f"E{i}" for i in loc.experiments]}
    studied = {c: f.description[:300] for c, f in findings_of(state).items()}
    return COMPONENT_BRIEF.format(
        task=data.task.name, task_description=data.task.description, n_pairs=data.n_pairs,
        roles=", ".join(data.role_names), example_clean=pair.clean, example_answer=pair.answer,
        example_distractor=pair.distractor, model=target.name, n_layers=target.n_layers,
        n_heads=target.n_heads, circuit=", ".join(state.get("circuit") or []), component=cid,
        evidence=dumps(evidence), studied=dumps(studied) if studied else "none")


def _key(cid: str, turn: int, message: AIMessage) -> str:
    body = json.dumps({"c": message.content, "t": message.tool_calls, "i": message.invalid_tool_calls},
                      sort_keys=True, default=str)
    return f"{cid}:turn{turn}:{hashlib.sha256(body.encode()).hexdigest()[:12]}"


def research_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """One LLM turn about ``state['current']``."""
    ctx = runtime.context
    assert ctx.llm is not None, "an LLM agent needs a chat model"
    cid, run_id = state["current"], state["run_id"]
    messages = list(state.get("messages") or [])
    new: list[Any] = []
    if not messages:
        system = RESEARCHER_SYSTEM.format(budget=component_budget_left(state))
        new = [SystemMessage(system), HumanMessage(_brief(state, ctx, cid))]
        note(ctx, run_id, f"{cid}:system", "system", system)
        note(ctx, run_id, f"{cid}:brief", "user", new[1].content)
    hidden = () if ctx.swaps_allowed else EVALUATOR_TOOLS
    reply = invoke(ctx.llm, messages + new, experiment_tool_schemas(exclude=hidden) + notebook_schemas())
    prompt, completion = usage_tokens(reply)
    note(ctx, run_id, _key(cid, len(messages), reply), "assistant", reply.content,
         tool_calls=[*reply.tool_calls, *[{**c, "invalid": True} for c in reply.invalid_tool_calls]],
         provider=ctx.llm.provider, model=ctx.llm.model, prompt_tokens=prompt, completion_tokens=completion)
    if prompt or completion:

        add_tokens(ctx.store, run_id, prompt, completion)
    return {"messages": [*new, reply], "tokens": int(state.get("tokens") or 0) + prompt + completion}


def route_after_research(state: ResearchState) -> Literal["act", "conclude"]:
    last = (state.get("messages") or [None])[-1]
    if isinstance(last, AIMessage) and (last.tool_calls or last.invalid_tool_calls):
        return "act"
    return "conclude"


def act_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Execute the last AI message's tool calls; every outcome becomes a tool message."""
    ctx = runtime.context
    cid, run_id = state["current"], state["run_id"]
    last = state["messages"][-1]
    lab = Lab(state, runtime, limit=component_budget_left(state))
    hyps = [HypothesisRecord.model_validate(h) for h in state.get("hypotheses") or []]
    loc = localisation_of(state)
    loc_experiments = set(loc.experiments if loc else [])
    known = set(state.get("component_experiments") or []) | loc_experiments
    conclusion = None
    replies: list[ToolMessage] = []
    for bad in last.invalid_tool_calls:
        text = (f"Error: malformed call of {bad.get('name') or 'a tool'}: {bad.get('error') or 'arguments are not valid JSON'}. "
                "Arguments must be one JSON object matching the tool's schema.")
        replies.append(ToolMessage(text, tool_call_id=bad.get("id") or "invalid", name=bad.get("name") or "invalid", status="error"))
    for i, call in enumerate(last.tool_calls):
        name, args, call_id = call["name"], call.get("args"), call.get("id") or f"call{i}"
        failed = False
        if name in NOTEBOOK:
            text, hyps, concl = handle_notebook(ctx, run_id, cid, f"{cid}:{lab.step}:{call_id}", name, args, hyps, known)
            conclusion = concl or conclusion
            failed = text.startswith("Error")
        elif lab.exhausted:
            text, failed = f"Not run: the experiment budget for {cid} is spent; call conclude.", True
        else:
            out = lab.run(name, args if isinstance(args, dict) else {"__raw__": args}, cid)
            assert out is not None
            known.add(out.id)
            failed = out.error is not None
            text = (f"E{out.id} ({name}) failed: {out.error}" if failed
                    else f"E{out.id} ({name}): {out.summary}\nresult: {dumps(out.result_json())[:4000]}")
        replies.append(ToolMessage(text, tool_call_id=call_id, name=name, status="error" if failed else "success"))
    for j, msg in enumerate(replies):
        note(ctx, run_id, f"{cid}:{lab.start}:tool{j}:{msg.tool_call_id}", "tool", msg.content,
             tool_call_id=msg.tool_call_id, name=msg.name)
    return {**lab.updates(), "messages": replies, "hypotheses": [h.model_dump() for h in hyps], "conclusion": conclusion,
            "component_steps": int(state.get("component_steps") or 0) + lab.used,
            "component_experiments": sorted(known - loc_experiments)}


def route_after_act(state: ResearchState) -> Literal["research", "conclude"]:
    if state.get("conclusion") or budget_exhausted(state) or component_budget_left(state) <= 0:
        return "conclude"
    return "research"


def conclude_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Store the component's description; undecided hypotheses become inconclusive."""
    ctx = runtime.context
    cid = state["current"]
    concl = state.get("conclusion")
    if concl:
        description, evidence = concl["description"], concl["evidence"]
    else:
        last = next((m for m in reversed(state.get("messages") or []) if isinstance(m, AIMessage)), None)
        text = message_text(last) if last is not None else ""
        spent = budget_exhausted(state)
        why = spent.reason if spent else ("component budget spent" if component_budget_left(state) <= 0 else "")
        description = text.strip() or f"No conclusion reached for {cid} ({why or 'the model stopped'})."
        evidence = [e for e in state.get("component_experiments") or []]
    hyps = []
    for h in (HypothesisRecord.model_validate(x) for x in state.get("hypotheses") or []):
        if h.status == "proposed":
            reason = "not decided before the study of the component ended"
            if h.id is not None:
                resolve(ctx, h.id, "inconclusive", reason)
            h = h.model_copy(update={"status": "inconclusive", "reason": reason})
        hyps.append(h)
    note(ctx, state["run_id"], f"describe:{cid}", "assistant", description)
    finding = Finding(description=description, evidence_ids=sorted(set(evidence)), hypotheses=hyps)
    return {"findings": {cid: finding.model_dump()}, "hypotheses": [h.model_dump() for h in hyps]}
