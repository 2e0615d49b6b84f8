"""The gradient pass every attribution variant shares: d(metric)/d(activation) of many components at once.

Why a zero leaf per component: the gradient is taken with respect to the
activation at the component's hook point. An edit function adds a zero
tensor that requires grad, so the graph downstream of the component is
untouched (a detached leaf would cut the paths through later components) and
the leaf's gradient is the activation's. Residual-stream components get their
leaf on the stream itself. One backward pass then gives the gradient of the
summed per-pair logit difference for *every* component (and, because the
metric of pair i depends only on prompt i, each row of a gradient is that
pair's own gradient).

Why heads can be recomputed (``pattern_heads``): AtP*'s QK fix needs
d(metric)/d(attention pattern) of the heads its changes reach. The attention
kernels (SDPA) never materialise a pattern, so the pass recomputes such a
head from its layer's attention input with ``adapters.compute_head`` and routes
the gradient through the recomputation: the head's output becomes
``hf.detach() + (z - z.detach())`` -- the Hugging Face value exactly (``z - z``
is exactly 0 in floating point), with the recomputed graph's gradient, which
runs through the pattern.

Why the graph can be kept (``keep_graph``): GradDrop (Kramár et al., 2024)
needs the gradient with one block's writes to the residual stream cut. With
block ``l`` cut, the gradient at the stream entering block ``l`` is just the
gradient at the stream leaving it (the skip connection), so components below
``l`` get theirs from one vector-Jacobian product of the prefix ``0..l-1``,
components above ``l`` keep theirs, and components inside block ``l`` have no
path left (``grads_with_block_cut``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from engine.adapters.base import BlockContext, compute_head
from engine.components import Component
from engine.hooks import AttentionInput, EditFn, trace
from engine.models import TargetModel
from engine.patching import final_metric
from engine.tasks import Bucket

HeadKey = tuple[int, int]


@dataclass
class GradientRun:
    """One forward and backward pass of a bucket's prompts (or of embeddings between two prompts).

    Shapes: ``acts[id]`` and ``grads[id]`` [n, pos, d_head or d_model]; ``metric``
    [n]; ``resids[l]`` [n, pos, d_model] the stream entering block l (l = n_layers:
    the final stream), ``resid_grads[l]`` its gradient (``keep_graph`` only);
    ``patterns[(l, h)]`` [n, query, key] and ``pattern_grads`` likewise, for the
    recomputed heads.
    """

    acts: dict[str, torch.Tensor]
    grads: dict[str, torch.Tensor]
    metric: torch.Tensor
    resids: list[torch.Tensor]
    ctx: BlockContext
    patterns: dict[HeadKey, torch.Tensor] = field(default_factory=dict)
    pattern_grads: dict[HeadKey, torch.Tensor] = field(default_factory=dict)
    resid_grads: list[torch.Tensor] = field(default_factory=list)
    leaves: dict[str, torch.Tensor] = field(default_factory=dict)

    def grads_with_block_cut(self, layer: int, components: Sequence[Component]) -> dict[str, torch.Tensor]:
        """Gradients when block ``layer``'s writes to the residual stream carry no gradient (GradDrop).

        Needs ``keep_graph``. Components inside block ``layer`` (its heads,
        attention output and MLP) have no path left and are absent from the result.
        """
        cotangent = self.resid_grads[layer + 1]
        out: dict[str, torch.Tensor] = {}
        below: list[Component] = []
        for c in components:
            if c.layer > layer:
                out[c.id] = self.grads[c.id]
            elif c.kind == "resid" and c.layer == layer:
                out[c.id] = cotangent  # its leaf sits on the stream entering the cut block
            elif c.layer < layer:
                below.append(c)
        if below:
            grads = torch.autograd.grad(
                self.resids[layer], [self.leaves[c.id] for c in below], grad_outputs=cotangent,
                retain_graph=True, allow_unused=True,
            )
            for c, g in zip(below, grads, strict=True):
                out[c.id] = torch.zeros_like(self.acts[c.id]) if g is None else g
        return out


def _leaf(leaves: dict[str, torch.Tensor], cid: str, current: torch.Tensor) -> torch.Tensor:
    leaf = torch.zeros_like(current, requires_grad=True)
    leaves[cid] = leaf
    return current + leaf


def gradient_run(
    target: TargetModel,
    bucket: Bucket,
    embeds: torch.Tensor,
    components: Sequence[Component],
    pattern_heads: Iterable[HeadKey] = (),
    keep_graph: bool = False,
) -> GradientRun:
    """Forward from ``embeds`` and backward from the summed metric, with a leaf on every component.

    Args:
        target: the loaded model (parameters frozen).
        bucket: answers and distractors of the prompts (``embeds`` need not be one side's).
        embeds: [n, pos, d_model] what ``adapter.embed`` gives for the prompts (or a mix of two).
        components: the components whose gradients are wanted.
        pattern_heads: heads whose attention pattern and its gradient are wanted too.
        keep_graph: keep the autograd graph and the stream's gradients for GradDrop.

    Returns:
        A ``GradientRun``.
    """
    adapter = target.adapter
    recompute = {f"L{layer}.H{head}": (layer, head) for layer, head in pattern_heads}
    wanted = {c.id for c in components if c.kind != "resid"}
    leaves: dict[str, torch.Tensor] = {}
    patterns: dict[HeadKey, torch.Tensor] = {}
    live: list[dict[str, torch.Tensor]] = []  # trace's cache, filled as the forward runs
    ctx_box: list[BlockContext] = []

    def edit_for(cid: str) -> EditFn:
        where = recompute.get(cid)

        def edit(current: torch.Tensor) -> torch.Tensor:
            out = current
            if where is not None:
                layer, head = where
                x = live[0][AttentionInput(layer).id]
                z, pattern = compute_head(adapter, layer, adapter.head_params(layer, head), x, ctx_box[0])
                patterns[where] = pattern
                out = current.detach() + (z - z.detach())
            return _leaf(leaves, cid, out) if cid in wanted else out

        return edit

    reads: list[str | AttentionInput] = [*sorted(wanted), *(AttentionInput(layer) for layer in {w[0] for w in recompute.values()})]
    resid_ids = {c.layer: c.id for c in components if c.kind == "resid"}
    acts: dict[str, torch.Tensor] = {}
    resids: list[torch.Tensor] = []
    edits = {cid: edit_for(cid) for cid in wanted | set(recompute)}
    with torch.enable_grad(), trace(adapter, read=reads, edit=edits, detach=False) as cache:
        live.append(cache)
        resid = embeds.detach().requires_grad_(True)  # so that every pattern is on the graph, layer 0's too
        ctx_box.append(adapter.block_context(resid))
        for layer in range(adapter.n_layers + 1):
            if layer in resid_ids:
                acts[resid_ids[layer]] = resid.detach().clone()
                resid = _leaf(leaves, resid_ids[layer], resid)
            resids.append(resid)
            if layer < adapter.n_layers:
                resid = adapter.run_block(layer, resid, ctx_box[0])
        metric = final_metric(adapter, resid, bucket)[0]
        heads = sorted(patterns)
        inputs = [leaves[c.id] for c in components] + [patterns[k] for k in heads]
        inputs += resids if keep_graph else []
        grads = torch.autograd.grad(metric.sum(), inputs, allow_unused=True, retain_graph=keep_graph)
    acts.update({cid: cache[cid].detach().clone() for cid in wanted})
    n_comp, n_heads = len(components), len(heads)

    def filled(g: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(like) if g is None else g

    return GradientRun(
        acts=acts,
        grads={c.id: filled(g, acts[c.id]) for c, g in zip(components, grads[:n_comp], strict=True)},
        metric=metric.detach(),
        resids=resids if keep_graph else [r.detach() for r in resids],
        ctx=ctx_box[0],
        patterns={k: patterns[k].detach() for k in heads},
        pattern_grads={k: filled(g, patterns[k]) for k, g in zip(heads, grads[n_comp:n_comp + n_heads], strict=True)},
        resid_grads=[filled(g, r) for g, r in zip(grads[n_comp + n_heads:], resids, strict=True)] if keep_graph else [],
        leaves=leaves if keep_graph else {},
    )


__all__ = ["GradientRun", "HeadKey", "gradient_run"]
