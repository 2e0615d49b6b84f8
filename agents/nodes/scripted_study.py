"""``study_scripted``: the scripted researcher's loop over one component.

analyse evidence -> propose hypotheses -> run the deciding experiments ->
update each hypothesis -> follow up inconclusive ones -> measure whom it talks
to, edge by edge -> (a head) what makes it attend -> ask through which input
-> describe. Every
hypothesis and status change is written to the store as it happens, linked
to the experiment that decided it.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents.battery import measure, role_tokens
from agents.context import RunContext
from agents.describe import describe_component
from agents.evidence import (
    ComponentEvidence,
    Localisation,
    MeasureName,
    evidence_of,
    localisation_of,
)
from agents.nodes.common import Lab
from agents.recorder import propose as record_hypothesis
from agents.recorder import resolve
from agents.scripted import Hypothesis, Verdict, propose, propose_composition
from agents.state import ResearchState, component_budget_left
from engine.components import parse_component


def downstream_of(cid: str, circuit: list[str]) -> list[str]:
    """Circuit components in strictly later layers than ``cid``."""
    layer = parse_component(cid).layer
    return [c for c in circuit if parse_component(c).layer > layer]


def upstream_of(cid: str, circuit: list[str]) -> list[str]:
    """Circuit heads, ATTN and MLP components in strictly earlier layers than ``cid``: what writes into its
    input (a residual stream is a sum of these, not a writer of its own)."""
    layer = parse_component(cid).layer
    return [c for c in circuit if parse_component(c).layer < layer and parse_component(c).kind != "resid"]


def initial_evidence(cid: str, state: ResearchState) -> ComponentEvidence:
    """What localisation and the survey already say about ``cid`` (contribution orientation)."""
    loc = localisation_of(state) or Localisation(method="none")
    surveyed = evidence_of(state).get(cid)
    ev = surveyed.model_copy(deep=True) if surveyed is not None else ComponentEvidence(
        kind=parse_component(cid).kind)
    ev.scale = float(loc.scale or 1.0)
    exact = loc.exact.get(cid)
    if exact is not None:
        ev.record("exact", -float(exact), loc.exact_experiment)
    restore = loc.restoring.get(cid)
    if restore is not None:
        ev.record("restore", float(restore), loc.restoring_experiment)
    return ev


def _apply(lab: Lab, hyp: Hypothesis, ev: ComponentEvidence, measure_name: MeasureName, rule) -> None:
    status, reason = rule(ev)
    decided_by = ev.exp(measure_name)
    hyp.status, hyp.reason = status, reason
    if decided_by is not None and decided_by not in hyp.evidence:
        hyp.evidence.append(decided_by)
    if hyp.id is not None:
        resolve(lab.ctx, hyp.id, status, reason, decided_by)


def study_component(
    lab: Lab, cid: str, ev: ComponentEvidence, circuit: list[str], tokens: dict[str, str],
) -> list[Hypothesis]:
    """Run the research loop on one component; fills ``ev`` and returns its hypotheses.

    ``ev`` starts with the localisation effect and the survey (attention, direct
    logit attribution, mean ablation): the evidence so far.
    """
    downstream = [c for c in downstream_of(cid, circuit) if parse_component(c).kind == "head"]
    # 1-2. analyse the evidence so far and propose competing hypotheses from it
    hyps = propose(cid, ev, downstream, tokens)
    for h in hyps:
        h.id = record_hypothesis(lab.ctx, lab.run_id, cid, f"{cid}:{h.key}", h.text)
    lab.note(f"hyp:{cid}", f"{cid}: from the evidence so far I will test: " + "; ".join(h.text for h in hyps))
    # 3-4. run the experiment that decides each hypothesis (shared experiments run once)
    for h in hyps:
        verdict: Verdict | None = h.shortcut(ev) if h.shortcut and not ev.has(h.test) else None
        if verdict is not None:  # the evidence in hand suffices: no experiment needed
            h.status, h.reason = verdict
            h.evidence = sorted({i for n in ("exact", "path_logits") if (i := ev.exp(n)) is not None})
            if h.id is not None:
                resolve(lab.ctx, h.id, h.status, h.reason, ev.exp("path_logits"))
            continue
        if not ev.has(h.test):
            ids = [x.id for x in hyps if x.test == h.test and x.id is not None]
            measure(lab, h.test, cid, ev, downstream, ids, tokens)
        _apply(lab, h, ev, h.test, h.judge)
    # 5. follow up inconclusive hypotheses with a different experiment while budget lasts
    for h in hyps:
        for follow, rule in h.followups:
            if h.status != "inconclusive" or lab.exhausted:
                break
            if not ev.has(follow):
                measure(lab, follow, cid, ev, downstream, [h.id] if h.id else [], tokens)
            _apply(lab, h, ev, follow, rule)
    # 6. whom it talks to: each later circuit head's query, key and value on its own (one experiment,
    # also run when the direct path already carried the effect: the receivers' attention is evidence too)
    indirect = next((h for h in hyps if h.key == "indirect"), None)
    if downstream and not ev.has("path_edges") and not lab.exhausted:
        measure(lab, "path_edges", cid, ev, downstream, [indirect.id] if indirect and indirect.id else [], tokens)
    # 7. a head: what makes it attend where it does -- its query or its key input, from the corrupt run and
    # from the earlier circuit members only (one experiment; only the former where block outputs are normalised
    # before the residual stream, as the tool cannot send output differences there)
    if ev.kind == "head" and not ev.has("attention_inputs") and not lab.exhausted:
        senders = [] if lab.ctx.target.adapter.post_norms else upstream_of(cid, circuit)
        measure(lab, "attention_inputs", cid, ev, downstream, upstream=senders)
    # 8. when the effect goes through later circuit heads, ask through which of their inputs
    if indirect is not None and indirect.status == "supported" and not lab.exhausted:
        hyps += _composition(lab, cid, ev, downstream, tokens)
    return hyps


def _composition(
    lab: Lab, cid: str, ev: ComponentEvidence, downstream: list[str], tokens: dict[str, str],
) -> list[Hypothesis]:
    """Q-, K- and V-composition hypotheses, each judged on all three single-input paths."""
    hyps = propose_composition(cid)
    for h in hyps:
        h.id = record_hypothesis(lab.ctx, lab.run_id, cid, f"{cid}:{h.key}", h.text)
    lab.note(f"hyp:{cid}:composition", f"{cid} acts through the later circuit heads; through which of their "
             "inputs? " + "; ".join(h.text for h in hyps))
    for h in hyps:
        if not ev.has(h.test):
            measure(lab, h.test, cid, ev, downstream, [h.id] if h.id is not None else [], tokens)
    paths = sorted({i for h in hyps if (i := ev.exp(h.test)) is not None})
    for h in hyps:
        h.status, h.reason = h.judge(ev)
        h.evidence = paths
        if h.id is not None:
            resolve(lab.ctx, h.id, h.status, h.reason, ev.exp(h.test))
    return hyps


def study_scripted_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Study ``state['current']`` with the fixed battery and record a functional description."""
    cid = state["current"]
    assert cid is not None
    lab = Lab(state, runtime, limit=component_budget_left(state))
    ev = initial_evidence(cid, state)
    tokens = role_tokens(runtime.context.data)
    hyps = [h.record() for h in study_component(lab, cid, ev, list(state.get("circuit") or []), tokens)]
    if lab.exhausted:
        lab.note(f"budget:{cid}", f"{cid}: component step budget spent after {lab.used} experiments.")
    finding = describe_component(cid, ev, hyps)
    lab.note(f"describe:{cid}", finding.description)
    return {**lab.updates(), "component_steps": lab.used, "hypotheses": [h.model_dump() for h in hyps],
            "findings": {cid: finding.model_dump()}}
