"""read_activations: what a component's activation looks like on the task's prompts.

Why: before intervening, it helps to know whether a component is active at all
at a position (its norm), how much it varies across prompts (its spread), and
how its clean and corrupt values differ. Statistics keep the result small;
the raw tensor is written as a content-hashed ``.npy`` artifact only when asked.

Activation shapes follow DESIGN.md §4: heads give ``z`` [pos, d_head] (the
head's slice of the output projection's input); ``ATTN``/``MLP``/``RESID``
give [pos, d_model].
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from engine.patching import input_run
from tools.base import ToolArgs, ToolContext, ToolError, ToolSpec
from tools.common import (
    Positions,
    Prompts,
    bucket_positions,
    components_field,
    expand_components,
    position_list,
    positions_field,
    rounded,
    save_array,
    truncate,
)
from tools.results import ActivationStats, ReadActivationsResult

MAX_COMPONENTS = 12


class ReadActivationsArgs(ToolArgs):
    components: list[str] | str = components_field(description="Component ids to read, e.g. ['L9.H3', 'L4.MLP'] (at most 12).")
    positions: Positions = positions_field(["END"])
    prompts: Prompts = Field("clean", description="Read the clean or the corrupt prompts.")
    output: Literal["stats", "raw"] = Field(
        "stats",
        description="'stats': mean norm, spread and per-position norms; 'raw': also write the "
        "activations as .npy artifacts (shape [n_pairs, n_positions, dim]; per bucket when positions='all').",
    )


def read_activations(ctx: ToolContext, args: ReadActivationsArgs) -> tuple[ReadActivationsResult, str]:
    comps = expand_components(ctx, args.components)
    if len(comps) > MAX_COMPONENTS:
        raise ToolError(f"Read at most {MAX_COMPONENTS} components per call; got {len(comps)}.")
    positions = position_list(args.positions)
    selected: dict[str, list[torch.Tensor]] = {c.id: [] for c in comps}
    by_bucket: dict[str, list[torch.Tensor]] = {c.id: [] for c in comps}
    for bucket in ctx.data.buckets:
        pos = bucket_positions(bucket, positions)
        acts = input_run(ctx.target, bucket, args.prompts, comps).acts
        rows = torch.arange(bucket.n, device=bucket.device)
        for c in comps:
            a = acts[c.id]  # [n, pos, dim]
            by_bucket[c.id].append(a)
            if pos is not None:
                selected[c.id].append(torch.stack([a[rows, p] for p in pos], dim=1))  # [n, k, dim]
    result = ReadActivationsResult(prompts=args.prompts, n_pairs=ctx.data.n_pairs, components={})
    lines = []
    for c in comps:
        if positions is not None:
            x = torch.cat(selected[c.id])  # [N, k, dim]
            per_pos = x.norm(dim=-1).mean(0)  # [k]
            label_list = [str(p) for p in positions]
        else:
            # positions = all: buckets differ in length; average each absolute position over the pairs that have it
            longest = max(a.shape[1] for a in by_bucket[c.id])
            device = by_bucket[c.id][0].device
            total = torch.zeros(longest, device=device)
            count = torch.zeros(longest, device=device)
            for a in by_bucket[c.id]:
                total[: a.shape[1]] += a.norm(dim=-1).sum(0)
                count[: a.shape[1]] += a.shape[0]
            per_pos = total / count
            x = torch.cat([a.reshape(-1, a.shape[-1]) for a in by_bucket[c.id]]).unsqueeze(1)
            label_list = [str(p) for p in range(longest)]
        flat = x.reshape(-1, x.shape[-1])
        norms = flat.norm(dim=-1)
        mean_vec = flat.mean(0)
        stats = ActivationStats(
            dim=int(flat.shape[-1]),
            mean_norm=rounded(norms.mean()),
            std_norm=rounded(norms.std()) if norms.numel() > 1 else 0.0,
            norm_of_mean=rounded(mean_vec.norm()),
            mean_cosine_to_mean=rounded(torch.nn.functional.cosine_similarity(flat, mean_vec[None], dim=-1).mean()),
            elementwise_std=rounded(flat.std(0).mean()) if flat.shape[0] > 1 else 0.0,
            per_position_norm={lab: rounded(v) for lab, v in zip(label_list, per_pos.tolist(), strict=False)},
        )
        if args.output == "raw":
            if positions is not None:
                stats.artifacts = [save_array(ctx, x, f"{c.id} {args.prompts} at {positions}")]
            else:
                stats.artifacts = [
                    save_array(ctx, a, f"{c.id} {args.prompts}, bucket {i} (all positions)")
                    for i, a in enumerate(by_bucket[c.id])
                ]
        result.components[c.id] = stats
        peak = max(stats.per_position_norm.items(), key=lambda kv: kv[1])
        lines.append(
            f"{c.id}: mean norm {stats.mean_norm:.3g} (std {stats.std_norm:.2g}), "
            f"cos-to-mean {stats.mean_cosine_to_mean:.2f}, largest at {peak[0]} ({peak[1]:.3g})"
        )
    where = "all positions" if positions is None else ", ".join(map(str, positions))
    summary = f"Activations on {args.prompts} prompts at {where}: " + "; ".join(lines) + "."
    return result, truncate(summary)


SPEC = ToolSpec(
    name="read_activations",
    description="Read components' activations (norms, spread, per-position norms; raw values as artifacts on request).",
    args_model=ReadActivationsArgs,
    result_model=ReadActivationsResult,
    fn=read_activations,
)
