"""The research workflow as a LangGraph ``StateGraph``.

Why this shape: the workflow is fixed (localise, study each component, group,
explain, evaluate -- the researcher-agent protocol of Haklay et al., 2026),
while *who decides* inside the study phase varies by agent. So one graph
serves all agents and only the study sub-loop branches::

    START -> localise -+-> survey -> select   (scripted)
                       +-> survey -> oneshot -> evaluate   (one-shot baseline)
                       +-> choose -> select      (LLM researcher; choose is skipped with --circuit)

    select -+-> study_scripted --------------> select
            +-> research <-> act -> conclude -> select
            +-> group -> explain -> evaluate -> finish -> END

``survey`` measures every circuit component in a few batched experiments
(attention by role, direct logit attribution, mean ablation) before the
per-component loop; the LLM researcher chooses its own experiments instead.
``select`` picks the next component (or leaves the loop when the queue is
empty or a global budget is spent); every node returns plain-data updates, so
the SQLite checkpointer can persist the state after each step and
``resume`` continues a killed run by its id (``thread_id`` = run id).
"""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph

from agents.context import RunContext
from agents.nodes.choose import choose_node
from agents.nodes.evaluate import evaluate_node, finish_node
from agents.nodes.llm_study import (
    act_node,
    conclude_node,
    research_node,
    route_after_act,
    route_after_research,
)
from agents.nodes.localise import localise_node
from agents.nodes.oneshot import oneshot_node
from agents.nodes.scripted_study import study_scripted_node
from agents.nodes.select import select_node
from agents.nodes.survey import survey_node
from agents.nodes.synthesis import explain_node, group_node
from agents.spec import parse_agent
from agents.state import ResearchState


def _kind(state: ResearchState) -> str:
    """``scripted``, ``llm`` or ``oneshot``: which agent the run uses."""
    return parse_agent(state.get("agent") or "scripted").kind


def _route_after_localise(state: ResearchState) -> Literal["survey", "choose", "select"]:
    if _kind(state) in ("scripted", "oneshot"):
        return "survey"
    # an LLM researcher chooses what it studies, unless the user fixed the circuit
    return "select" if state.get("circuit_given") else "choose"


def _route_after_survey(state: ResearchState) -> Literal["oneshot", "select"]:
    return "oneshot" if _kind(state) == "oneshot" else "select"


def _route_after_select(state: ResearchState) -> Literal["group", "study_scripted", "research"]:
    if not state.get("current"):
        return "group"
    return "study_scripted" if _kind(state) == "scripted" else "research"


def build_graph() -> StateGraph:
    """The uncompiled research graph (compile it with a checkpointer)."""
    graph = StateGraph(ResearchState, context_schema=RunContext)
    graph.add_node("localise", localise_node)
    graph.add_node("survey", survey_node)
    graph.add_node("choose", choose_node)
    graph.add_node("select", select_node)
    graph.add_node("study_scripted", study_scripted_node)
    graph.add_node("research", research_node)
    graph.add_node("act", act_node)
    graph.add_node("conclude", conclude_node)
    graph.add_node("oneshot", oneshot_node)
    graph.add_node("group", group_node)
    graph.add_node("explain", explain_node)
    graph.add_node("evaluate", evaluate_node)
    graph.add_node("finish", finish_node)

    graph.add_edge(START, "localise")
    graph.add_conditional_edges("localise", _route_after_localise)
    graph.add_conditional_edges("survey", _route_after_survey)
    graph.add_edge("choose", "select")
    graph.add_conditional_edges("select", _route_after_select)
    graph.add_edge("study_scripted", "select")
    graph.add_conditional_edges("research", route_after_research)
    graph.add_conditional_edges("act", route_after_act)
    graph.add_edge("conclude", "select")
    graph.add_edge("oneshot", "evaluate")
    graph.add_edge("group", "explain")
    graph.add_edge("explain", "evaluate")
    graph.add_edge("evaluate", "finish")
    graph.add_edge("finish", END)
    return graph


def compile_graph(checkpointer=None):
    """Compile the research graph with ``checkpointer`` (None = in-memory only)."""
    return build_graph().compile(checkpointer=checkpointer)


__all__ = ["RunContext", "build_graph", "compile_graph"]
