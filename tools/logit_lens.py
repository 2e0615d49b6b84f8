"""logit_lens: what a component's output says about the next token, read directly.

Why: a component can only affect the logits directly through what it writes
into the residual stream, read through the final norm and the unembedding.
Projecting its output there (direct logit attribution) shows which tokens it
promotes or suppresses and how much it *directly* moves the task metric
``logit(answer) - logit(distractor)``. Indirect effects (through later
components) are invisible here; activation or path patching measures those.

Conventions (see ``engine.attribution``):

* Heads, ``ATTN`` and ``MLP``: the output vector (for a head, ``z_h @ wo_h.T``,
  its own contribution without the projection bias) goes through the final norm
  **with its scale frozen** at the value computed from the run's actual final
  residual stream, then the unembedding. This is linear, so the direct effects
  of all components add up to the real logit difference.
* ``RESID``: the classic logit lens -- the real final norm applied to that
  residual stream, then the unembedding (``lens_logit_diff``); its frozen-norm
  direct effect is reported as well. For ``L{n_layers}.RESID`` the lens value is
  the model's real logit difference, and so is its direct effect plus
  ``norm_bias_effect`` (what a LayerNorm's bias adds; 0 for RMSNorm).
"""

from __future__ import annotations

import torch
from pydantic import Field

from engine.attribution import component_output, direct_effects, frozen_norm, unembed_directions
from engine.components import Component
from engine.patching import input_run
from engine.tasks import logit_diff
from tools.base import ToolArgs, ToolContext, ToolSpec
from tools.common import (
    Position,
    Prompts,
    components_field,
    expand_components,
    rounded,
    single_position,
    top_items,
    truncate,
)
from tools.results import LensEntry, LogitLensResult

MAX_TOKEN_TABLES = 6


class LogitLensArgs(ToolArgs):
    components: list[str] | str = components_field(
        description="Components to project: ids like ['L9.H3', 'L10.MLP', 'L12.RESID'] or a shortcut "
        "'heads', 'mlps', 'attn', 'resid', 'all' (direct effects of every one)."
    )
    position: Position = Field("END", description="Token position (integer, negative from the end) or role name; the metric is read at 'END'.")
    prompts: Prompts = Field("clean", description="Run the clean or the corrupt prompts.")
    top_k: int = Field(10, ge=0, le=50, description="How many promoted and suppressed tokens to list per component (for at most 6 components, those of largest direct effect).")


def _decode(tokenizer, ids: list[int]) -> list[str]:
    return [tokenizer.decode([i]) for i in ids]


def logit_lens(ctx: ToolContext, args: LogitLensArgs) -> tuple[LogitLensResult, str]:
    target = ctx.target
    adapter = target.adapter
    comps = expand_components(ctx, args.components)
    w_u = adapter.unembed().weight  # [vocab, d_model]
    effects: dict[str, list[torch.Tensor]] = {c.id: [] for c in comps}
    lens_ld: dict[str, list[torch.Tensor]] = {c.id: [] for c in comps if c.kind == "resid"}
    mean_vec: dict[str, torch.Tensor] = {}
    actual: list[torch.Tensor] = []
    bias_effect: list[torch.Tensor] = []
    norm_bias = getattr(adapter.final_norm(), "bias", None)
    with torch.no_grad():
        for bucket in ctx.data.buckets:
            pos = single_position(bucket, args.position)
            rows = torch.arange(bucket.n, device=bucket.device)
            run = input_run(target, bucket, args.prompts, comps)
            final = run.resids[-1][rows, pos]  # [n, d_model]
            actual.append(logit_diff(adapter.logits(final), bucket.answer, bucket.distractor))
            if norm_bias is not None:
                bias_effect.append(unembed_directions(adapter, bucket.answer, bucket.distractor) @ norm_bias)
            for c in comps:
                out = component_output(adapter, c, run.acts[c.id][rows, pos])  # [n, d_model]
                effects[c.id].append(direct_effects(adapter, out, final, bucket.answer, bucket.distractor))
                if c.kind == "resid":
                    lens_ld[c.id].append(logit_diff(adapter.logits(out), bucket.answer, bucket.distractor))
                    contrib = adapter.final_norm()(out)
                else:
                    contrib = frozen_norm(adapter, out, final)
                mean_vec[c.id] = mean_vec.get(c.id, 0) + contrib.sum(0)
    n = ctx.data.n_pairs
    means = {cid: float(torch.cat(v).mean()) for cid, v in effects.items()}
    with_tokens = {cid for cid, _ in top_items(means, MAX_TOKEN_TABLES)} if args.top_k else set()
    entries: dict[str, LensEntry] = {}
    for c in comps:
        ds = torch.cat(effects[c.id])
        entry = LensEntry(direct_effect=rounded(ds.mean()),
                          direct_effect_std=rounded(ds.std()) if ds.numel() > 1 else 0.0)
        if c.kind == "resid":
            entry.lens_logit_diff = rounded(torch.cat(lens_ld[c.id]).mean())
        if c.id in with_tokens:
            with torch.no_grad():
                logits = (mean_vec[c.id] / n) @ w_u.T  # [vocab]
            up = torch.topk(logits, args.top_k)
            down = torch.topk(-logits, args.top_k)
            entry.promoted = [(t, rounded(v, 3)) for t, v in zip(_decode(target.tokenizer, up.indices.tolist()), up.values.tolist(), strict=True)]
            entry.suppressed = [(t, rounded(-v, 3)) for t, v in zip(_decode(target.tokenizer, down.indices.tolist()), down.values.tolist(), strict=True)]
        entries[c.id] = entry
    result = LogitLensResult(
        prompts=args.prompts, position=args.position, actual_logit_diff=rounded(torch.cat(actual).mean()),
        norm_bias_effect=rounded(torch.cat(bias_effect).mean()) if bias_effect else 0.0,
        direct_effects={cid: rounded(v) for cid, v in means.items()}, components=entries,
    )
    return result, _summary(result, comps)


def _summary(result: LogitLensResult, comps: list[Component]) -> str:
    parts = []
    for cid, value in top_items(result.direct_effects, 6):
        entry = result.components[cid]
        text = f"{cid} {value:+.3f}"
        if entry.lens_logit_diff is not None:
            text += f" (lens {entry.lens_logit_diff:+.3f})"
        if entry.promoted:
            text += " promotes " + ",".join(repr(t) for t, _ in entry.promoted[:3])
        parts.append(text)
    head = (
        f"Direct effect on logit diff at {result.position} ({result.prompts}, frozen final norm; "
        f"actual logit diff {result.actual_logit_diff:+.3f}), {len(comps)} components, largest: "
    )
    return truncate(head + "; ".join(parts) + ".")


SPEC = ToolSpec(
    name="logit_lens",
    description="Direct logit attribution / logit lens: each component's direct effect on logit(answer)-logit(distractor) and the tokens it promotes/suppresses.",
    args_model=LogitLensArgs,
    result_model=LogitLensResult,
    fn=logit_lens,
)
