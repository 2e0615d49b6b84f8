"""``survey``: the first look at every circuit component, in a few batched experiments.

Why batched: attention by role, direct logit attribution, mean ablation and
patching at one task role's position each need one batched pass that serves
every component at once, so
measuring the whole circuit together costs about as much as measuring one
component alone. The per-component loop then starts from this evidence.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents.battery import survey
from agents.context import RunContext
from agents.nodes.common import Lab
from agents.nodes.scripted_study import initial_evidence
from agents.state import ResearchState


def survey_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Measure attention, DLA, ablation and position-specific patching of every circuit component (``survey``)."""
    ctx = runtime.context
    circuit = list(state.get("circuit") or [])
    ctx.progress("phase", {"name": "survey"})
    lab = Lab(state, runtime)
    evidence = {c: initial_evidence(c, {**state, "survey": {}}) for c in circuit}
    if circuit:
        survey(lab, circuit, evidence, tuple(ctx.data.role_names))
    ids = ", ".join(f"E{o.id}" for o in lab.experiments)
    lab.note("survey", "Survey of the circuit (attention from the final position, direct logit attribution, "
             f"mean ablation, patching at each task role's position only): experiments {ids}.")
    return {**lab.updates(), "survey": {c: evidence[c].model_dump() for c in circuit}}
