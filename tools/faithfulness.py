"""faithfulness: grow a circuit greedily by how much of the behaviour it carries alone.

Why a tool: choosing a circuit is a research step, so it is an experiment
with a stored result like any other. Starting from the given components,
each step adds the candidate whose addition gives the largest faithfulness
f, with every head and MLP outside the set mean-ablated (measured exactly for
the ``shortlist`` candidates of largest restoration gradient a step)
(``engine.evaluation.circuit_choice``), on the run's own prompts, until f
reaches the target or the set its cap; the result is the order of joining,
f after each step, and the chosen size. The evaluator later measures the
chosen circuit on held-out prompts, which this tool never sees.
"""

from __future__ import annotations

from pydantic import Field

from engine.evaluation.circuit_choice import (
    DEFAULT_CAP,
    DEFAULT_SHORTLIST,
    DEFAULT_TARGET,
    greedy_circuit,
)
from tools.base import ToolArgs, ToolContext, ToolSpec
from tools.common import expand_components, rounded, truncate
from tools.results import FaithfulnessPoint, FaithfulnessResult


class FaithfulnessArgs(ToolArgs):
    components: list[str] | str = Field(..., min_length=1, max_length=1_000_000,
                                        description="Head and MLP ids that may join the circuit, best first "
                                                    "(ties go to the earlier one), or 'all' / 'heads' / 'mlps'.")
    start: list[str] = Field(default_factory=list, max_length=64,
                             description="Head and MLP ids the circuit starts with.")
    target_f: float = Field(DEFAULT_TARGET, gt=0.0, le=1.0,
                            description="The faithfulness at which selection stops.")
    max_size: int = Field(DEFAULT_CAP, ge=1, le=64, description="The most components in the circuit.")
    ablate_mlps: bool = Field(True, description="Also mean-ablate the MLPs outside the circuit.")
    shortlist: int | None = Field(DEFAULT_SHORTLIST, ge=1, le=4096,
                                  description="Candidates measured exactly per step: those of largest restoration "
                                              "gradient (null: every candidate, slow for many).")


def faithfulness(ctx: ToolContext, args: FaithfulnessArgs) -> tuple[FaithfulnessResult, str]:
    ids = [c.id for c in expand_components(ctx, args.components, allow=("head", "mlp"))]
    start = [c.id for c in expand_components(ctx, args.start, allow=("head", "mlp"))] if args.start else []
    curve = greedy_circuit(ctx.target, ctx.data, ids, start=start, target_f=args.target_f, cap=args.max_size,
                           ablate_mlps=args.ablate_mlps, shortlist=args.shortlist)
    size, reason = curve.choose(args.target_f)
    result = FaithfulnessResult(
        ablated=curve.ablated, n_pairs=ctx.data.n_pairs, m_full=rounded(curve.m_full),
        m_empty=rounded(curve.m_empty), order=curve.order, candidates=ids, start=start,
        curve=[FaithfulnessPoint(size=k, f=None if f is None else rounded(f, 4))
               for k, f in zip(curve.sizes, curve.f, strict=True)],
        target_f=args.target_f, chosen_size=size, reason=reason, shortlist=curve.shortlist,
        measured=curve.measured,
    )
    shown = ", ".join(f"{'start' if start and p.size == len(start) else '+' + curve.order[p.size - 1]} "
                      f"{p.f:.2f}" for p in result.curve if p.f is not None)
    measured = "" if curve.shortlist is None or curve.shortlist >= len(ids) else \
        f", the {curve.shortlist} of largest restoration gradient measured a step"
    summary = (f"Greedy faithfulness selection from {len(ids)} candidates{measured} ({curve.ablated} outside the set "
               f"mean-ablated, {ctx.data.n_pairs} pairs): {shown}. Chosen: {reason}.")
    return result, truncate(summary)


SPEC = ToolSpec(
    name="faithfulness",
    description=("Grow a circuit greedily: starting from given components, repeatedly add the candidate (head or "
                 "MLP) whose addition gives the largest normalised faithfulness f with every other head (and MLP) "
                 "mean-ablated, until f reaches a target or the circuit a size cap; reports f after each step."),
    args_model=FaithfulnessArgs,
    result_model=FaithfulnessResult,
    fn=faithfulness,
)
