"""activation_patching: which components carry the behaviour, by causal intervention.

Why: see ``engine.patching`` for the method and the batched engine. In
short, *noising* runs the clean prompts with one component's activation taken
from the corrupt run (a large drop = the component is necessary), *denoising*
runs the corrupt prompts with the clean activation (a large rise = it is
sufficient to restore the behaviour). ``effect = metric(patched) -
metric(unpatched run of the same input)``; ``fraction_of_gap`` divides it by
the metric's full swing (corrupt - clean for noising, clean - corrupt for
denoising), so 1.0 means "this one patch moves the metric all the way".

Components are patched one at a time (a sweep) or all together as one set;
positions can be restricted (``IO``, ``S2``, ``END``, integers), e.g. to find
where in the sequence the residual stream carries the information.
"""

from __future__ import annotations

import statistics

from pydantic import Field

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
from tools.results import ActivationPatchingResult


class ActivationPatchingArgs(ToolArgs):
    components: list[str] | str = components_field("heads")
    direction: Direction = Field(
        "noising",
        description="'noising': clean prompts, corrupt activation patched in (is it necessary?); "
        "'denoising': corrupt prompts, clean activation patched in (is it sufficient?).",
    )
    positions: Positions = positions_field("all")
    together: bool = Field(False, description="Patch all listed components together in one run instead of one at a time.")
    top_k: int = Field(10, ge=1, le=100, description="How many components of largest |effect| to rank in the result.")


def gap(direction: str, clean: float, corrupt: float) -> float:
    """The metric's full swing in this direction: where patching everything would take it."""
    return corrupt - clean if direction == "noising" else clean - corrupt


def fraction(effect: float, swing: float) -> float | None:
    return None if abs(swing) < 1e-9 else rounded(effect / swing)


def activation_patching(ctx: ToolContext, args: ActivationPatchingArgs) -> tuple[ActivationPatchingResult, str]:
    comps = expand_components(ctx, args.components)
    positions = position_list(args.positions)
    res = core_call(
        patch_sweep, ctx.target, ctx.data, comps, args.direction, positions=positions, together=args.together
    )
    swing = gap(args.direction, res.clean_metric, res.corrupt_metric)
    spread = None
    if args.together or len(res.per_pair) <= 5:
        spread = {k: rounded(statistics.pstdev(v)) for k, v in res.per_pair.items()}
    result = ActivationPatchingResult(
        direction=args.direction, positions=args.positions, together=args.together, n_pairs=res.n_pairs,
        clean_metric=rounded(res.clean_metric), corrupt_metric=rounded(res.corrupt_metric),
        components=[c.id for c in comps],
        effects={k: rounded(v) for k, v in res.effects.items()},
        fraction_of_gap={k: fraction(v, swing) for k, v in res.effects.items()},
        top=[(k, rounded(v)) for k, v in top_items(res.effects, args.top_k)],
        effect_std_over_pairs=spread,
    )
    where = "all positions" if positions is None else "positions " + ", ".join(map(str, positions))
    head = f"{args.direction.capitalize()} on logit diff (clean {res.clean_metric:.3f}, corrupt {res.corrupt_metric:.3f}, {where})"
    if args.together:
        ((key, effect),) = res.effects.items()
        summary = (f"{head}: {len(comps)} components patched together, effect {effect:+.3f} "
                   f"(fraction of gap {result.fraction_of_gap[key]}).")
        return result, truncate(summary)
    summary = f"{head}, {len(comps)} components one at a time; largest effects: {format_top(res.effects, 8)}."
    return result, truncate(summary)


SPEC = ToolSpec(
    name="activation_patching",
    description="Exact activation patching (noising or denoising) of components one at a time or together; effect on mean logit diff.",
    args_model=ActivationPatchingArgs,
    result_model=ActivationPatchingResult,
    fn=activation_patching,
)
