"""ablation: remove components and see how much of the behaviour is left.

Why three kinds (see ``engine.ablation``): zero-ablation takes the
activation off the data manifold and can overstate importance; mean-ablation
(per position, over the task's corrupt prompts) removes only the pair-specific
information; resample-ablation substitutes another corrupt prompt's
activation, keeping the variance. Results always say which one ran.

Ablation runs on the clean prompts. Components are ablated one at a time (a
sweep on the batched engine of ``engine.patching``) or all together as a
set, e.g. everything outside a hypothesised circuit.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from engine.ablation import AblationKind, ablation_edits
from engine.patching import replacement_sweep, task_metrics
from engine.tasks import Bucket
from tools.base import ToolArgs, ToolContext, ToolSpec
from tools.common import (
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
from tools.results import AblationResult


class AblationArgs(ToolArgs):
    components: list[str] | str = components_field()
    kind: Literal["zero", "mean", "resample"] = Field(
        "mean", description="'zero', 'mean' (per-position mean over the corrupt prompts of the pair's template) or 'resample' (another corrupt prompt's activation)."
    )
    together: bool = Field(False, description="Ablate all listed components together in one run instead of one at a time.")
    positions: Positions = positions_field("all")
    top_k: int = Field(10, ge=1, le=100, description="How many components of largest |effect| to rank in the result.")


def ablation(ctx: ToolContext, args: AblationArgs) -> tuple[AblationResult, str]:
    comps = expand_components(ctx, args.components)
    ids = [c.id for c in comps]
    kind: AblationKind = args.kind
    seed = ctx.seed

    def replace(bucket: Bucket, acts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        edits = ablation_edits(ctx.target, bucket, ids, kind=kind, seed=seed)
        return {cid: edits[cid](acts[cid]) for cid in ids}

    jobs = [comps] if args.together else [[c] for c in comps]
    effects, _, clean = core_call(
        replacement_sweep, ctx.target, ctx.data, jobs, replace, "clean", position_list(args.positions)
    )
    _, corrupt = task_metrics(ctx.target, ctx.data)
    result = AblationResult(
        kind=args.kind, together=args.together, positions=args.positions, n_pairs=ctx.data.n_pairs,
        clean_metric=rounded(clean), corrupt_metric=rounded(corrupt), components=ids,
        effects={k: rounded(v) for k, v in effects.items()},
        ablated_metric={k: rounded(clean + v) for k, v in effects.items()},
        top=[(k, rounded(v)) for k, v in top_items(effects, args.top_k)],
    )
    head = f"{args.kind.capitalize()}-ablation on clean prompts (clean logit diff {clean:.3f})"
    if args.together:
        (effect,) = effects.values()
        summary = f"{head}: {len(ids)} components ablated together, effect {effect:+.3f} (ablated logit diff {clean + effect:.3f})."
        return result, truncate(summary)
    summary = f"{head}, {len(ids)} components one at a time; largest effects: {format_top(effects, 8)}."
    return result, truncate(summary)


SPEC = ToolSpec(
    name="ablation",
    description="Zero-, mean- or resample-ablate components (one at a time or together) and measure the change in mean logit diff.",
    args_model=AblationArgs,
    result_model=AblationResult,
    fn=ablation,
)
