"""``survey``: the first look at every circuit component, in a few batched experiments.

Why batched: attention by role, direct logit attribution and mean ablation
each need one forward pass that serves every component at once, so
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
    """Measure attention, DLA and ablation of every circuit component; store them in ``survey``."""
    ctx = runtime.context
    circuit = list(state.get("circuit") or [])
    ctx.progress("phase", {"name": "survey"})
    lab = Lab(state, runtime)
    evidence = {c: initial_evidence(c, {**state, "survey": {}}) for c in circuit}
    if circuit:
        survey(lab, circuit, evidence)
    ids = ", ".join(f"E{o.id}" for o in lab.experiments)
    lab.note("survey", "Survey of the circuit (attention from the final position, direct logit attribution, "
             f"mean ablation): experiments {ids}.")
    return {**lab.updates(), "survey": {c: evidence[c].model_dump() for c in circuit}}
