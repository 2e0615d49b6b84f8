"""path_patching: a sender's effect along specific paths only (Wang et al., 2022).

Why: activation patching of a head measures its *total* effect, through every
later component. Path patching asks a narrower question -- does head A matter
*because of what it sends to* head B (or straight to the logits)? -- which is
how circuits are traced edge by edge (name movers <- S-inhibition <- duplicate
token heads in IOI).

Method, per bucket (input = clean for noising, corrupt for denoising):

1. Run the input and the source once; the sender's change
   ``delta = out(sender on source) - out(sender on input)`` is what the sender
   writes differently into the residual stream (a head's ``z`` difference
   times its ``wo``; only at the chosen positions).
2. With every other component frozen at its input-run value, the residual
   stream entering any later layer is the input run's plus exactly ``delta``.
   So a receiver head's patched input is its attention input (after its norm)
   recomputed on ``resid + delta``, used for the chosen of its q/k/v only; its
   new output is ``z_input + (z(patched inputs) - z(input))`` (recomputed with
   ``adapters.compute_head``, so a zero delta changes nothing exactly).
3. Run the input with the receivers' outputs replaced (everything downstream of
   them recomputed normally) and read the metric. ``effect = metric - metric of
   the unpatched input run``.

Receiver ``logits`` adds ``delta`` to the final residual stream (the direct
path). With ``freeze_norm`` the final norm's scale is held at the input run's,
which makes the effect exactly the sender's direct logit attribution (of the
source-minus-input difference), as reported by ``logit_lens``; without it the
norm is recomputed, the true causal effect of the direct path.

Under grouped-query attention a receiver's k/v input is patched for that query
head only; the other query heads sharing its key/value head are untouched.

``separately`` asks the edge-by-edge question a circuit diagram needs: the
path into *one* receiver's *one* input (its query, key or value), the other
inputs reading the unchanged stream and the later receivers held at their
input-run output (the joint run, too, fixes every receiver's output, so no
path runs receiver to receiver), for each receiver and input in turn.
Step 3 runs once per edge (batched: the edges into one input of the receivers
of one layer share forwards). For a
query or key edge it also reads where the receiver looks from the final
position with and without the sender's change: the receiver-side question
"what makes this head attend where it does". That needs no extra forward:
step 2 already recomputes the receiver's pattern.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from engine import runner
from engine.adapters.base import compute_head
from engine.attribution import component_output, direct_effects
from engine.components import Component
from engine.hooks import trace
from engine.models import TargetModel
from engine.patching import InputRun, final_metric, input_run, run_jobs, sides
from engine.tasks import Bucket, TaskData
from tools.base import ToolArgs, ToolContext, ToolError, ToolSpec
from tools.common import (
    Direction,
    Position,
    Positions,
    RoleAttention,
    bucket_positions,
    position_list,
    positions_field,
    post_norm_refusal,
    rounded,
    truncate,
)
from tools.results import PathEdge, PathPatchingResult

QKV = Literal["q", "k", "v"]


class PathPatchingArgs(ToolArgs):
    sender: str = Field(..., description="The sender component: a head 'L5.H1', 'L5.ATTN' or 'L5.MLP'.")
    receivers: list[str] = Field(
        ["logits"], min_length=1,
        description="Where the sender's change may flow: later heads (e.g. ['L9.H6', 'L9.H9']) and/or 'logits' (the direct path).",
    )
    receiver_input: list[QKV] = Field(
        ["q", "k", "v"], min_length=1, description="Which inputs of the receiver heads get the sender's change: any of 'q', 'k', 'v'."
    )
    direction: Direction = Field("noising", description="'noising': clean prompts, sender's corrupt value; 'denoising': the reverse.")
    positions: Positions = positions_field("all", "Sender positions whose change is sent: 'all' or integers / role names.")
    freeze_norm: bool = Field(
        False, description="Receivers ['logits'] only: hold the final norm's scale at the unpatched run's (the effect then equals direct logit attribution)."
    )
    separately: bool = Field(
        False, description="Also patch each receiver head's each input in receiver_input on its own (edges), with the receiver's attention from the final position under each query or key edge.",
    )


class _EdgeTotals:
    """Sums over buckets of each edge's effect and of its receiver's attention by role (before / after)."""

    def __init__(self) -> None:
        self.effect: dict[tuple[str, str], float] = {}
        self.before: dict[str, RoleAttention] = {}
        self.after: dict[tuple[str, str], RoleAttention] = {}

    def edges(self, n_pairs: int) -> list[PathEdge]:
        return [PathEdge(receiver=rid, input=x, effect=rounded(total / n_pairs),
                         attention_before=self.before[rid].means() if x != "v" else None,
                         attention=self.after[(rid, x)].means() if (rid, x) in self.after else None)
                for (rid, x), total in self.effect.items()]


def _edge_effects(
    target: TargetModel, bucket: Bucket, run: InputRun, patched_z: dict[str, dict[str, torch.Tensor]],
    heads: list[Component], totals: _EdgeTotals,
) -> None:
    """Run step 3 once per (receiver, input): only that receiver's z takes its one-input value; the later
    receivers keep their input-run z, as the joint run holds them, so an edge is that one path only."""
    later = [[o for o in heads if o.layer > h.layer] for h in heads]
    for x, new_z in patched_z.items():
        effects = run_jobs(target, bucket, run, new_z, [[h] for h in heads], hold=later)
        for h in heads:
            totals.effect[(h.id, x)] = totals.effect.get((h.id, x), 0.0) + float(effects[h.id].double().sum())


def path_patch(
    target: TargetModel,
    data: TaskData,
    sender: Component,
    receivers: list[Component | str],
    receiver_input: tuple[str, ...] = ("q", "k", "v"),
    direction: str = "noising",
    positions: list[Position] | None = None,
    freeze_norm: bool = False,
    separately: bool = False,
) -> tuple[float, float, float, list[PathEdge]]:
    """Effect of ``sender`` along its paths into ``receivers`` only.

    Args:
        receivers: head ``Component``s (later than the sender) and/or ``"logits"``.
        receiver_input: which of q, k, v of the receiver heads read the changed stream.
        separately: also measure each receiver head's each input in ``receiver_input`` on its own.

    Returns:
        (mean effect on logit diff, clean metric, corrupt metric, edges: empty unless ``separately``).
    """
    adapter = target.adapter
    input_side, source_side = sides(direction)
    heads = [r for r in receivers if isinstance(r, Component)]
    to_logits = "logits" in receivers
    total = 0.0
    metrics = {input_side: 0.0, source_side: 0.0}  # the unpatched runs' metrics: no forward of their own
    totals = _EdgeTotals()
    with torch.no_grad():
        for bucket in data.buckets:
            pos = bucket_positions(bucket, positions)
            run = input_run(target, bucket, input_side, [sender, *heads])
            source = input_run(target, bucket, source_side, [sender])
            metrics[input_side] += float(run.metric.sum())
            metrics[source_side] += float(source.metric.sum())
            diff = source.acts[sender.id] - run.acts[sender.id]
            if pos is not None:
                keep = torch.zeros(diff.shape[:2], dtype=torch.bool, device=diff.device)
                for p in pos:
                    keep[torch.arange(bucket.n, device=diff.device), p] = True
                diff = diff * keep[..., None]
            delta = component_output(adapter, sender, diff)  # [n, pos, d_model]
            if not heads:
                final = run.resids[-1]
                if freeze_norm:
                    total += float(direct_effects(adapter, delta[:, -1], final[:, -1], bucket.answer, bucket.distractor).sum())
                    continue
                total += float((final_metric(adapter, final + delta, bucket)[0] - run.metric).sum())
                continue
            ctx = adapter.block_context(run.resids[0])
            new_z: dict[str, torch.Tensor] = {}
            one_input: dict[str, dict[str, torch.Tensor]] = {x: {} for x in receiver_input} if separately else {}
            for layer in sorted({h.layer for h in heads}):
                x_in, _ = runner.attention_input(adapter, layer, run.resids[layer], ctx)
                x_mod, _ = runner.attention_input(adapter, layer, run.resids[layer] + delta, ctx)
                for h in (h for h in heads if h.layer == layer):
                    assert h.head is not None
                    params = adapter.head_params(layer, h.head)
                    xs = {k: (x_mod if k in receiver_input else x_in) for k in "qkv"}
                    base, base_pattern = compute_head(adapter, layer, params, x_in, ctx)
                    patched = compute_head(adapter, layer, params, xs["q"], ctx, xk=xs["k"], xv=xs["v"])[0]
                    new_z[h.id] = run.acts[h.id] + (patched - base)
                    if not separately:
                        continue
                    totals.before.setdefault(h.id, RoleAttention()).add(bucket, base_pattern)
                    for x in receiver_input:
                        only = {k: (x_mod if k == x else x_in) for k in "qkv"}
                        z, pattern = compute_head(adapter, layer, params, only["q"], ctx, xk=only["k"], xv=only["v"])
                        one_input[x][h.id] = run.acts[h.id] + (z - base)
                        if x != "v":
                            totals.after.setdefault((h.id, x), RoleAttention()).add(bucket, pattern)
            start = min(h.layer for h in heads)
            edits = {cid: (lambda _cur, z=z: z.clone()) for cid, z in new_z.items()}
            with trace(adapter, edit=edits):
                final = runner.run_layers(adapter, run.resids[start].clone(), start)
            if to_logits:
                final = final + delta
            total += float((final_metric(adapter, final, bucket)[0] - run.metric).sum())
            if separately:
                _edge_effects(target, bucket, run, one_input, heads, totals)
    n = data.n_pairs
    return total / n, metrics["clean"] / n, metrics["corrupt"] / n, totals.edges(n)


def path_patching(ctx: ToolContext, args: PathPatchingArgs) -> tuple[PathPatchingResult, str]:
    sender = ctx.component(args.sender)
    if ctx.target.adapter.post_norms:
        raise ToolError(post_norm_refusal(ctx.target.adapter.family, "Path patching"))
    if sender.kind == "resid":
        raise ToolError(f"The sender {sender.id} must be a head, ATTN or MLP component, not a residual stream.")
    receivers: list[Component | str] = []
    for text in dict.fromkeys(args.receivers):
        if text == "logits":
            receivers.append("logits")
            continue
        comp = ctx.component(text)
        if comp.kind != "head":
            raise ToolError(f"Receiver {comp.id} must be a head id (e.g. L9.H6) or 'logits'.")
        if comp.layer <= sender.layer:
            later = (
                f"layers {sender.layer + 1}..{ctx.target.n_layers - 1}" if sender.layer + 1 < ctx.target.n_layers
                else "none: the sender is in the last layer, so use 'logits'"
            )
            raise ToolError(f"Receiver {comp.id} must be in a later layer than the sender {sender.id} ({later}).")
        receivers.append(comp)
    if args.freeze_norm and receivers != ["logits"]:
        raise ToolError("freeze_norm applies only when the receivers are exactly ['logits'].")
    if args.separately and not any(isinstance(r, Component) for r in receivers):
        raise ToolError("separately needs at least one receiver head: it patches each head's inputs on their own.")
    effect, clean, corrupt, edges = path_patch(
        ctx.target, ctx.data, sender, receivers, tuple(dict.fromkeys(args.receiver_input)), args.direction,
        position_list(args.positions), args.freeze_norm, args.separately,
    )
    names = [r if isinstance(r, str) else r.id for r in receivers]
    result = PathPatchingResult(
        sender=sender.id, receivers=names, receiver_input=list(args.receiver_input), direction=args.direction,
        positions=args.positions, freeze_norm=args.freeze_norm, n_pairs=ctx.data.n_pairs,
        clean_metric=rounded(clean), corrupt_metric=rounded(corrupt), effect=rounded(effect), edges=edges,
    )
    via = "".join(args.receiver_input) if any(isinstance(r, Component) for r in receivers) else ""
    summary = (
        f"Path patching ({args.direction}) {sender.id} -> {', '.join(names)}" + (f" (via {via})" if via else "")
        + f": effect {effect:+.3f} on logit diff (clean {clean:.3f}, corrupt {corrupt:.3f})."
    )
    if edges:
        strongest = sorted(edges, key=lambda e: -abs(e.effect))[:6]
        summary += " Strongest single edges: " + ", ".join(
            f"{e.receiver}.{e.input} {e.effect:+.3f}" for e in strongest) + "."
    return result, truncate(summary)


SPEC = ToolSpec(
    name="path_patching",
    description="Path patching: a sender's effect only along its path into chosen receiver heads' q/k/v or the logits, everything else frozen.",
    args_model=PathPatchingArgs,
    result_model=PathPatchingResult,
    fn=path_patching,
)
