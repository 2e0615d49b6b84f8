"""faithfulness: how much of the behaviour do the first k components of a ranking carry alone?

Why a tool: choosing a circuit is a research step, so it is an experiment
with a stored result like any other. Every head and MLP outside the first k
components is mean-ablated (``engine.evaluation.circuit_choice``) on the
run's own prompts; the result is the curve f(k) and the smallest k reaching
the target. The evaluator later measures the chosen circuit on held-out
prompts, which this tool never sees.
"""

from __future__ import annotations

from pydantic import Field

from engine.evaluation.circuit_choice import DEFAULT_TARGET, prefix_curve
from tools.base import ToolArgs, ToolContext, ToolSpec
from tools.common import expand_components, rounded, truncate
from tools.results import FaithfulnessPoint, FaithfulnessResult


class FaithfulnessArgs(ToolArgs):
    components: list[str] = Field(..., min_length=1, max_length=64,
                                  description="Head and MLP ids, best first; prefixes of this list are measured.")
    target_f: float = Field(DEFAULT_TARGET, gt=0.0, le=1.0,
                            description="The faithfulness the chosen prefix should reach.")
    ablate_mlps: bool = Field(True, description="Also mean-ablate the MLPs outside the prefix.")


def faithfulness(ctx: ToolContext, args: FaithfulnessArgs) -> tuple[FaithfulnessResult, str]:
    ids = [c.id for c in expand_components(ctx, args.components, allow=("head", "mlp"))]
    curve = prefix_curve(ctx.target, ctx.data, ids, ablate_mlps=args.ablate_mlps)
    size, reason = curve.choose(args.target_f)
    result = FaithfulnessResult(
        ablated=curve.ablated, n_pairs=ctx.data.n_pairs, m_full=rounded(curve.m_full),
        m_empty=rounded(curve.m_empty), ranking=curve.ranking,
        curve=[FaithfulnessPoint(size=k, f=None if f is None else rounded(f, 4))
               for k, f in zip(curve.sizes, curve.f, strict=True)],
        target_f=args.target_f, chosen_size=size, reason=reason,
    )
    shown = ", ".join(f"{p.size}:{p.f:.2f}" for p in result.curve if p.f is not None)
    summary = (f"Faithfulness of prefixes ({curve.ablated} outside the prefix mean-ablated, "
               f"{ctx.data.n_pairs} pairs): {shown}. Chosen: {reason}.")
    return result, truncate(summary)


SPEC = ToolSpec(
    name="faithfulness",
    description=("Mean-ablate every head (and MLP) outside the first k of a ranked component list and report "
                 "the normalised faithfulness f(k) for every k, with the smallest k reaching a target."),
    args_model=FaithfulnessArgs,
    result_model=FaithfulnessResult,
    fn=faithfulness,
)
