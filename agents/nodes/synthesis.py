"""``group`` and ``explain``: from per-component findings to roles and an explanation.

The scripted agent groups components by their discrete evidence signature
(``agents.grouping``, a rule fixed in advance and recorded with the run) and
names each role by that signature; only in the opt-in
fitted-roles mode does it test and regroup them by weight swaps
(``agents.roles``). LLM agents are asked to cluster and explain
(``agents.llm_synthesis``) and fall back to the evidence clustering, with a
recorded note, when their answer does not validate. Every component claim and
role description cites experiment ids, and the stored explanation is checked
by the store to cite only experiments of this run. The explain node freezes
the roles in the store (hash, time, ``roles_source``) before the evaluation
runs: the evaluator scores only what was frozen.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents.context import RunContext
from agents.describe import circuit_summary, claimed_positions, describe_cluster
from agents.evidence import (
    Finding,
    Localisation,
    Role,
    evidence_of,
    findings_of,
    localisation_of,
    roles_of,
)
from agents.grouping import GROUPING_RULE, group_by_signature
from agents.llm_synthesis import llm_clusters, llm_summary
from agents.nodes.common import Lab
from agents.providers import Completion
from agents.recorder import note
from agents.roles import swap_test_roles, unique_names
from agents.state import ResearchState, budget_exhausted, llm_refused
from engine.evaluation import FITTED
from store import freeze_roles, save_explanation


def evidence_clusters(findings: dict[str, Finding]) -> list[Role]:
    """Roles from the studied components' evidence signatures, by the fixed rule of ``agents.grouping``."""
    evidence = {c: f.evidence for c, f in findings.items() if f.evidence is not None}
    rest = [c for c in findings if c not in evidence]
    tail = [Role(name="unclassified", members=rest,
                 description="Components without a measured evidence signature (described individually).")
            ] if rest else []
    clusters = [describe_cluster(members, evidence) for _, members in group_by_signature(evidence)]
    return unique_names(clusters) + tail


def _llm_agent(ctx: RunContext) -> bool:
    return ctx.llm is not None and ctx.agent_kind == "llm"


def _llm_allowed(state: ResearchState, ctx: RunContext) -> bool:
    """LLM agents group and explain with the LLM, unless tokens, the request cap or the wall time are spent."""
    return _llm_agent(ctx) and llm_refused(state, ctx) is None


def _spent(state: ResearchState, ctx: RunContext, answer: Completion | None) -> dict[str, Any]:
    """The token and request counters after ``answer``; or, when a limit kept an LLM agent from
    asking, the stop reason that says so (the run then does not claim a complete LLM explanation)."""
    if answer is not None:
        return {"tokens": int(state.get("tokens") or 0) + answer.tokens,
                "llm_requests": int(state.get("llm_requests") or 0) + 1}
    refused = llm_refused(state, ctx) if _llm_agent(ctx) else None
    if refused is not None and not state.get("stop_reason"):
        return {"stop_reason": refused.reason}
    return {}


def group_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Group the studied components into functional roles."""
    ctx = runtime.context
    ctx.progress("phase", {"name": "group"})
    findings = findings_of(state)
    clusters: list[Role] | None = None
    answer = None
    source = "evidence"
    if _llm_allowed(state, ctx):
        clusters, answer = llm_clusters(state, ctx)
        source = "llm"
    lab = Lab(state, runtime)
    if clusters is None:
        clusters, source = evidence_clusters(findings), "evidence"
        spent = budget_exhausted(state)
        if ctx.swaps_allowed and not (spent and spent.kind == "steps"):  # opt-in: roles fitted to swaps
            evidence = {c: f.evidence for c, f in findings.items() if f.evidence is not None}
            clusters = swap_test_roles(lab, clusters, evidence)
    if ctx.swaps_allowed:
        source = FITTED  # the agent could see swap distances before its roles were final
    rule = f" Rule: {GROUPING_RULE}" if source == "evidence" else ""
    note(ctx, state["run_id"], "group", "assistant",
         f"Functional roles ({source}):{rule} " + "; ".join(f"{c.name}: {', '.join(c.members)}" for c in clusters))
    return {**lab.updates(), "clusters": [c.model_dump() for c in clusters], "roles_source": source,
            **_spent(state, ctx, answer)}


def explain_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Write and store the circuit-level explanation."""
    ctx = runtime.context
    ctx.progress("phase", {"name": "explain"})
    findings = findings_of(state)
    clusters = roles_of(state)
    circuit = list(state.get("circuit") or [])
    role_of = {m: c.name for c in clusters for m in c.members}
    loc = localisation_of(state) or Localisation(method="none")
    evidence = evidence_of(state)
    components = [
        {"id": cid, "role": role_of.get(cid), "description": f.description, "evidence": f.evidence_ids,
         "hypotheses": [h.model_dump() for h in f.hypotheses],
         "headline": f.headline or f.description.split(". ")[0],
         # which part of the circuit it belongs to: the evaluator scores f with and without the opposing part
         "part": "opposing" if cid in loc.opposing else "core",
         # the task roles at whose positions it acts (None: all); the evaluator keeps it only there
         "positions": claimed_positions(evidence[cid]) if cid in evidence else None}
        for cid in circuit if (f := findings.get(cid)) is not None
    ]
    summary = circuit_summary(ctx.data.task.name, ctx.target.name, circuit, clusters,
                              loc, state.get("stop_reason"))
    answer = None
    if _llm_allowed(state, ctx):
        text, answer = llm_summary(state, ctx, clusters)
        if text:
            summary = text
    stored_clusters = [c.stored() for c in clusters]
    save_explanation(ctx.store, state["run_id"], summary, components, stored_clusters, circuit)
    frozen = freeze_roles(ctx.store, state["run_id"], state.get("roles_source") or "evidence")
    note(ctx, state["run_id"], "freeze", "assistant",
         f"Roles frozen at {frozen.frozen_at.isoformat()} (sha256 {frozen.roles_hash[:12]}, source "
         f"{frozen.roles_source}); the evaluation scores these.")
    explanation = {"summary": summary, "components": components, "clusters": stored_clusters, "circuit": circuit,
                   "roles_source": frozen.roles_source, "roles_hash": frozen.roles_hash,
                   "frozen_at": frozen.frozen_at.isoformat()}
    return {"explanation": explanation, **_spent(state, ctx, answer)}
