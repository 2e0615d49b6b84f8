"""Tool: swap one head's weights into another head's place and measure the change.

Why as a tool: the agent can test a role hypothesis directly ("are these two
heads doing the same thing?") with the same primitive the final
interchangeability score uses (``autointerp.evaluation.swap``), before it
commits to a clustering.
"""

from __future__ import annotations

from pydantic import Field

from autointerp.errors import ComponentError
from autointerp.evaluation.divergence import JS_DISTANCE_MAX
from autointerp.evaluation.prompts import first_pairs
from autointerp.evaluation.swap import head_component, swap_effects
from tools.base import ToolArgs, ToolContext, ToolError, ToolSpec


class WeightSwapArgs(ToolArgs):
    target: str = Field(description="Head whose place is used, e.g. 'L9.H6'.")
    source: str = Field(description="Head whose weights (Q, its K/V group, O) run there, e.g. 'L9.H9'.")
    n: int | None = Field(default=None, ge=1, description="Use only the first n prompt pairs (default: all).")


def weight_swap(ctx: ToolContext, args: WeightSwapArgs) -> tuple[dict, str]:
    """Swap ``source`` into ``target``; JS distance of next-token distributions and metric change."""
    adapter = ctx.target.adapter
    try:
        target = head_component(adapter, ctx.component(args.target))
        source = head_component(adapter, ctx.component(args.source))
    except ComponentError as exc:
        raise ToolError(str(exc)) from None
    data = first_pairs(ctx.data, args.n)
    (outcome,) = swap_effects(ctx.target, data, [(target.id, source.id)])
    result = {**outcome.to_dict(), "js_distance_max": JS_DISTANCE_MAX, "log_base": "e"}
    summary = (
        f"Swapping {source.id} into {target.id} over {outcome.n_prompts} prompts: JS distance "
        f"{outcome.js_distance:.3f} (max {JS_DISTANCE_MAX:.3f}); logit diff "
        f"{outcome.logit_diff_clean:.2f} -> {outcome.logit_diff_swapped:.2f} "
        f"({outcome.logit_diff_change:+.2f})."
    )
    return result, summary


SPEC = ToolSpec(
    name="weight_swap",
    description=(
        "Compute head `target`'s output with head `source`'s weights (at target's place: its layer "
        "input, normalisation and positions) and report the Jensen-Shannon distance between the "
        "original and swapped next-token distributions (natural log, max 0.833) and the change "
        "of the task's logit difference. Small distance = the heads are interchangeable here."
    ),
    args_model=WeightSwapArgs,
    fn=weight_swap,
)
