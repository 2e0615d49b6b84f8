"""Tool: swap one head's weights into another head's place and measure the change.

Why as a tool: the agent can test a role hypothesis directly ("are these two
heads doing the same thing?") with the same primitive the final
interchangeability score uses (``engine.evaluation.swap``), before it
commits to a clustering. ``among`` runs every ordered pair of a set of heads
in one batched sweep, so testing a whole grouping is one experiment.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from engine.errors import ComponentError
from engine.evaluation.divergence import JS_DISTANCE_MAX
from engine.evaluation.interchangeability import all_ordered_pairs, directed_matrix, symmetrise
from engine.evaluation.prompts import first_pairs
from engine.evaluation.swap import head_component, swap_effects
from tools.base import ToolArgs, ToolContext, ToolError, ToolSpec
from tools.results import SwapRecord, WeightSwapResult

MAX_AMONG = 32
"""Most heads in one ``among`` sweep (it runs m (m - 1) swaps)."""


class WeightSwapArgs(ToolArgs):
    target: str | None = Field(default=None, description="Head whose place is used, e.g. 'L9.H6'.")
    source: str | None = Field(default=None, description="Head whose weights (Q, its K/V group, O) run there.")
    among: list[str] | None = Field(
        default=None, min_length=2, max_length=MAX_AMONG,
        description="Instead of target/source: swap every ordered pair of these heads (one batched sweep).")
    n: int | None = Field(default=None, ge=1, description="Use only the first n prompt pairs (default: all).")

    @model_validator(mode="after")
    def _one_mode(self) -> WeightSwapArgs:
        pair = self.target is not None and self.source is not None
        if pair == (self.among is not None) or (not pair and (self.target or self.source)):
            raise ValueError("give either both target and source, or among (a list of heads)")
        return self


def weight_swap(ctx: ToolContext, args: WeightSwapArgs) -> tuple[WeightSwapResult, str]:
    """Swap ``source`` into ``target`` (or every pair ``among``); JS distances and metric changes."""
    adapter = ctx.target.adapter
    data = first_pairs(ctx.data, args.n)
    try:
        if args.among is not None:
            heads = list(dict.fromkeys(head_component(adapter, ctx.component(h)).id for h in args.among))
            if len(heads) < 2:
                raise ToolError("among needs at least two different heads")
            return _sweep(ctx, data, heads)
        assert args.target is not None and args.source is not None
        target = head_component(adapter, ctx.component(args.target))
        source = head_component(adapter, ctx.component(args.source))
    except ComponentError as exc:
        raise ToolError(str(exc)) from None
    (outcome,) = swap_effects(ctx.target, data, [(target.id, source.id)])
    result = WeightSwapResult(n_prompts=outcome.n_prompts, js_distance_max=JS_DISTANCE_MAX,
                              swaps=[SwapRecord(**outcome.to_dict())])
    summary = (
        f"Swapping {source.id} into {target.id} over {outcome.n_prompts} prompts: JS distance "
        f"{outcome.js_distance:.3f} (max {JS_DISTANCE_MAX:.3f}); logit diff "
        f"{outcome.logit_diff_clean:.2f} -> {outcome.logit_diff_swapped:.2f} "
        f"({outcome.logit_diff_change:+.2f})."
    )
    return result, summary


def _sweep(ctx: ToolContext, data, heads: list[str]) -> tuple[WeightSwapResult, str]:
    """All ordered swaps among ``heads``: the directed and symmetric distance matrices."""
    outcomes = swap_effects(ctx.target, data, all_ordered_pairs(heads))
    directed = directed_matrix(heads, outcomes)
    sym = symmetrise(directed)
    m = len(heads)
    pairs = sorted((float(sym[a, b]), heads[a], heads[b]) for a in range(m) for b in range(a + 1, m))
    result = WeightSwapResult(
        n_prompts=data.n_pairs, js_distance_max=JS_DISTANCE_MAX,
        swaps=[SwapRecord(**o.to_dict()) for o in outcomes],
        heads=heads, directed=directed.tolist(), distances=sym.tolist(),
        note="directed[a][b] = d(heads[a] <- heads[b]); distances = (directed + its transpose) / 2",
    )
    close = ", ".join(f"{a}~{b} {d:.3f}" for d, a, b in pairs[:3])
    far = ", ".join(f"{a}~{b} {d:.3f}" for d, a, b in pairs[-3:][::-1])
    summary = (f"Swapped every ordered pair of {m} heads ({m * (m - 1)} swaps over {result.n_prompts} prompt "
               f"pairs): most interchangeable {close}; least {far} (JS distance, max {JS_DISTANCE_MAX:.3f}).")
    return result, summary


SPEC = ToolSpec(
    name="weight_swap",
    description=(
        "Compute head `target`'s output with head `source`'s weights (at target's place: its layer "
        "input, normalisation and positions) and report the Jensen-Shannon distance between the "
        "original and swapped next-token distributions (natural log, max 0.833) and the change "
        "of the task's logit difference. Small distance = the heads are interchangeable here. "
        "With `among` (a list of heads) every ordered pair is swapped in one sweep and the "
        "symmetric distance matrix is returned: use it to test whether a proposed role's heads "
        "are more interchangeable with each other than with the rest."
    ),
    args_model=WeightSwapArgs,
    result_model=WeightSwapResult,
    fn=weight_swap,
)
