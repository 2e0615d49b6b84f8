"""attribution_patching: a fast first-order estimate of every component's patching effect.

Why: attribution patching (AtP) scores all heads and MLPs with one forward and
one backward pass per bucket (gradient x activation difference; see
``engine.attribution``), so it is the cheap first look over a large model.
It is a linear approximation: it is accurate where the metric is locally
linear in the activation and can be badly off where it is not (saturated
attention, early layers whose corrupt values differ a lot, especially when
noising). Confirm anything it ranks highly with ``activation_patching``;
``verify_top`` does that for the top few in the same call. ``method`` picks
the variant (``atp``, ``atp*`` with the QK fix and GradDrop, ``ig`` integrated
gradients; see ``engine.attribution``).
"""

from __future__ import annotations

from pydantic import Field

from engine.attribution import (
    DEFAULT_IG_STEPS,
    DEFAULT_METHOD,
    MAX_IG_STEPS,
    AttributionMethod,
    attribution_sweep,
)
from engine.patching import patch_sweep
from tools.base import ToolArgs, ToolContext, ToolSpec
from tools.common import (
    Direction,
    Positions,
    components_field,
    core_call,
    expand_components,
    format_top,
    position_list,
    positions_field,
    rounded,
    top_items,
    truncate,
)
from tools.results import AttributionPatchingResult, VerifiedEstimate


class AttributionPatchingArgs(ToolArgs):
    components: list[str] | str = components_field("all")
    direction: Direction = Field(
        "noising",
        description="'noising': gradient on clean prompts, corrupt - clean difference; 'denoising': the reverse.",
    )
    positions: Positions = positions_field("all")
    method: AttributionMethod = Field(
        DEFAULT_METHOD,
        description="'atp': gradient at the input run (cheapest); 'atp*': AtP with the QK fix and GradDrop "
        "(several times the cost); 'ig': integrated gradients along the input path (2 + 3 * ig_steps forward-equivalents).",
    )
    ig_steps: int = Field(DEFAULT_IG_STEPS, ge=1, le=MAX_IG_STEPS, description="Integration steps of method 'ig'.")
    top_k: int = Field(10, ge=1, le=100, description="How many components of largest |estimate| to rank.")
    verify_top: int = Field(0, ge=0, le=20, description="Also run exact activation patching on this many top-ranked components and report both.")


def attribution_patching(ctx: ToolContext, args: AttributionPatchingArgs) -> tuple[AttributionPatchingResult, str]:
    comps = expand_components(ctx, args.components)
    positions = position_list(args.positions)
    res = core_call(attribution_sweep, ctx.target, ctx.data, comps, args.direction, positions,
                    method=args.method, ig_steps=args.ig_steps)
    top = top_items(res.effects, args.top_k)
    result = AttributionPatchingResult(
        method="attribution", variant=args.method, ig_steps=args.ig_steps if args.method == "ig" else None,
        direction=args.direction, positions=args.positions, n_pairs=res.n_pairs,
        clean_metric=rounded(res.clean_metric), corrupt_metric=rounded(res.corrupt_metric),
        effects={k: rounded(v) for k, v in res.effects.items()}, top=[(k, rounded(v)) for k, v in top],
    )
    label = {"atp": "AtP", "atp*": "AtP*", "ig": f"IG ({args.ig_steps} steps)"}[args.method]
    summary = (
        f"{label} estimates ({args.direction}, {len(comps)} components); clean {res.clean_metric:.3f}, "
        f"corrupt {res.corrupt_metric:.3f}. Largest: {format_top(res.effects, 8)}."
    )
    if args.verify_top:
        check = [cid for cid, _ in top_items(res.effects, args.verify_top)]
        exact = core_call(patch_sweep, ctx.target, ctx.data, check, args.direction, positions=positions)
        result.verified = {cid: VerifiedEstimate(estimate=rounded(res.effects[cid]), exact=rounded(exact.effects[cid]))
                           for cid in check}
        summary += " Exact check: " + ", ".join(
            f"{cid} {exact.effects[cid]:+.3f} (est {res.effects[cid]:+.3f})" for cid in check[:4]
        ) + "."
    return result, truncate(summary)


SPEC = ToolSpec(
    name="attribution_patching",
    description="Attribution patching (gradient x activation difference): fast estimates of all components' patching effects; optionally verify the top ones exactly.",
    args_model=AttributionPatchingArgs,
    result_model=AttributionPatchingResult,
    fn=attribution_patching,
)
