"""AtP* (Kramár, Lieberum, Shah & Nanda, 2024): attribution patching with its two known failures fixed.

Why: AtP's false negatives come from two places, and AtP* fixes each at a
small multiple of AtP's cost.

**QK fix (attention saturation).** The attention softmax is flat where it
is saturated, so a gradient taken there says a change of the keys or queries
does nothing even when it moves the pattern completely. The paper's fix: the
attention scores are linear in a query or key, so compute the changed pattern
*exactly* (a new softmax), and use the gradient only from the pattern on.
The paper's nodes are queries and keys; ours are head outputs, MLP outputs
and residual positions, whose change reaches later heads' queries and keys
through the residual stream. So the fix is applied where a component's change
*enters* a later head ("receiver") along the direct path: the receiver's
input becomes ``norm(resid + delta)``, with ``delta`` what the component writes
into the stream (a head's ``z`` difference times its ``W_O``; an MLP's or a
residual position's difference itself), its pattern is recomputed exactly
from the new queries and keys, and the first-order term of that same path is
taken out::

    atp*(c) = atp(c) + sum_receivers  <dm/dA, A(norm(r + delta_c)) - A>  -  <u, delta_c>

where ``u`` is the gradient of ``<dm/dA, A(norm(r))>`` with respect to the
stream ``r`` (one local backward per receiver layer): the part of ``atp(c)``
that went through the receivers' patterns. A component reaches the heads of
later layers (a residual position also its own layer's). Paths through other
components (an MLP between the two, say) stay first-order. Values, being
linear in the pattern, need no fix. A test checks the recomputed pattern
against the pattern the model itself computes on a patched forward (eager
attention), and that the correction vanishes to second order for small
patches.

**GradDrop (cancellation).** A component can matter through two paths whose
gradients cancel (a direct effect undone by a later layer), so that AtP
reports nothing. GradDrop recomputes the estimate ``L`` times, each time
with the gradient through one block's writes to the residual stream cut, and
averages the *magnitudes* over the cuts that leave the component a path (the
paper's ``1/(L-1) * sum_l |AtP_l|``, per prompt): a cancellation cannot
survive every cut. The paper's score is unsigned (it ranks candidates for
verification); this module keeps each pair's estimate signed by giving the
GradDrop magnitude the sign of that pair's QK-fixed estimate, so that effects
stay comparable with exact patching. The QK correction, computed once with
the full gradient, is added to every cut's first-order term, less the part
through receivers inside the cut block (which then have no gradient).

Cost: the AtP pass with the heads recomputed (``gradients``), a source
forward, the QK fix (for every receiver layer, a norm and the receivers'
query/key projections of every earlier component's change: a few
forward-equivalents over all heads), and with GradDrop one vector-Jacobian
product per block through the blocks below it (about ``n_layers``
forward-equivalents; ``grad_drop=False`` skips it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from engine.adapters.base import ArchitectureAdapter, BlockContext, causal_pattern
from engine.attribution.atp import BucketEstimate, differences, first_order, position_mask
from engine.attribution.gradients import GradientRun, HeadKey, gradient_run
from engine.components import Component
from engine.models import TargetModel
from engine.patching import InputRun, Side
from engine.tasks import Bucket

#: component changes whose receivers' patterns are recomputed in one batch (memory bound)
SENDERS_PER_BATCH = 32


@dataclass(frozen=True)
class QueryKeyWeights:
    """Some heads' query and key projections stacked: ``wq``, ``wk`` [heads * d_head, d_model], biases or None."""

    layer: int
    n_heads: int
    wq: torch.Tensor
    wk: torch.Tensor
    bq: torch.Tensor | None
    bk: torch.Tensor | None
    #: the layer's per-head q/k norms (Qwen3, Gemma 3), shared by its heads; None elsewhere
    q_norm: Callable[[torch.Tensor], torch.Tensor] | None = None
    k_norm: Callable[[torch.Tensor], torch.Tensor] | None = None

    @classmethod
    def of(cls, adapter: ArchitectureAdapter, layer: int, heads: Sequence[int]) -> QueryKeyWeights:
        params = [adapter.head_params(layer, h) for h in heads]

        def stack(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
            return None if parts[0] is None else torch.cat([p for p in parts if p is not None])

        wq, wk = stack([p.wq for p in params]), stack([p.wk for p in params])
        assert wq is not None and wk is not None
        return cls(layer, len(params), wq, wk, stack([p.bq for p in params]), stack([p.bk for p in params]),
                   params[0].q_norm, params[0].k_norm)


def layer_patterns(
    adapter: ArchitectureAdapter, weights: QueryKeyWeights, x: torch.Tensor, ctx: BlockContext
) -> torch.Tensor:
    """Causal attention patterns of some heads of a layer from its attention input.

    The same computation as ``adapters.compute_head`` without the values (which
    the QK fix does not need), with all heads' projections in one matmul: QK-norm,
    rotary, scale, soft-cap and sliding window are the layer's.

    Args:
        weights: the heads' stacked query/key weights.
        x: [batch, pos, d_model] the layer's attention input.

    Returns:
        [batch, heads, query, key] patterns.
    """
    batch, n, _ = x.shape
    heads = weights.n_heads

    def project(w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        out = x @ w.T if b is None else torch.addmm(b, x.reshape(batch * n, -1), w.T).view(batch, n, -1)
        # [batch, pos, heads * dh] -> [batch * heads, pos, dh], the layout ``rotate`` takes per head
        return out.view(batch, n, heads, -1).transpose(1, 2).reshape(batch * heads, n, -1)

    q, k = project(weights.wq, weights.bq), project(weights.wk, weights.bk)
    if weights.q_norm is not None:
        q = weights.q_norm(q)
    if weights.k_norm is not None:
        k = weights.k_norm(k)
    q, k = adapter.rotate(weights.layer, q, k, ctx)
    layer = weights.layer
    pattern = causal_pattern(q, k, adapter.attention_scale(layer), window=adapter.attention_window(layer),
                             softcap=adapter.attention_softcap(layer))
    return pattern.view(batch, heads, n, n)


def direct_write(adapter: ArchitectureAdapter, comp: Component, diff: torch.Tensor) -> torch.Tensor:
    """What a change of the component adds to the residual stream: [n, pos, d_model]."""
    if comp.kind == "head":
        assert comp.head is not None
        return diff @ adapter.head_params(comp.layer, comp.head).wo.T
    return diff  # ATTN, MLP and RESID activations are in the stream's basis already


def first_receiving_layer(comp: Component) -> int:
    """The first layer whose attention reads the component's change directly."""
    return comp.layer if comp.kind == "resid" else comp.layer + 1


def qk_corrections(
    target: TargetModel,
    run: GradientRun,
    writes: dict[str, torch.Tensor],
    first_layer: dict[str, int],
) -> dict[str, torch.Tensor]:
    """The QK fix of every component, per receiver layer: id -> [n_layers, n].

    Args:
        target: the loaded model.
        run: a gradient run with every head's pattern (``pattern_heads``).
        writes: id -> [n, pos, d_model] the component's change of the residual stream.
        first_layer: id -> first layer whose heads receive it.

    Returns:
        Row ``l``: the exact-softmax term minus the first-order term of the
        path into layer ``l``'s patterns (zero for layers the component does not reach).
    """
    adapter = target.adapter
    n = run.metric.shape[0]
    out = {cid: torch.zeros(adapter.n_layers, n, device=run.metric.device) for cid in writes}
    moving = [cid for cid, write in writes.items() if bool(write.any())]
    for layer in range(adapter.n_layers):
        senders = [cid for cid in moving if first_layer[cid] <= layer]
        if not senders:
            continue
        heads: list[HeadKey] = [(layer, h) for h in range(adapter.n_heads)]
        weights = QueryKeyWeights.of(adapter, layer, range(adapter.n_heads))
        patterns = torch.stack([run.patterns[key] for key in heads], dim=1)  # [n, heads, q, k]
        pattern_grads = torch.stack([run.pattern_grads[key] for key in heads], dim=1)
        norm = adapter.attention_norm(layer)
        resid = run.resids[layer].detach()
        with torch.enable_grad():
            stream = resid.clone().requires_grad_(True)
            through = (pattern_grads * layer_patterns(adapter, weights, norm(stream), run.ctx)).sum()
            (u,) = torch.autograd.grad(through, [stream])
        with torch.no_grad():
            for first in range(0, len(senders), SENDERS_PER_BATCH):
                chunk = senders[first:first + SENDERS_PER_BATCH]
                delta = torch.stack([writes[cid] for cid in chunk])  # [k, n, pos, d_model]
                moved = layer_patterns(adapter, weights, norm((resid + delta).flatten(0, 1)), run.ctx)
                change = moved.view(len(chunk), *patterns.shape) - patterns
                exact = (change * pattern_grads).sum(dim=(-1, -2, -3))
                linear = (delta * u).sum(dim=(-1, -2))
                for i, cid in enumerate(chunk):
                    out[cid][layer] = exact[i] - linear[i]
    return out


def _in_block(comp: Component, layer: int) -> bool:
    """Whether the component is one of block ``layer``'s writes (so cutting the block cuts it)."""
    return comp.kind != "resid" and comp.layer == layer


def atp_star_bucket(
    target: TargetModel,
    bucket: Bucket,
    input_side: Side,
    source: InputRun,
    components: Sequence[Component],
    positions: list[torch.Tensor] | None,
    grad_drop: bool = True,
) -> BucketEstimate:
    """AtP* estimates of one bucket (QK fix, and GradDrop unless ``grad_drop`` is False)."""
    adapter = target.adapter
    heads = [(layer, h) for layer in range(adapter.n_layers) for h in range(adapter.n_heads)]
    run = gradient_run(
        target, bucket, adapter.embed(getattr(bucket, input_side)), components,
        pattern_heads=heads, keep_graph=grad_drop,
    )
    diffs = differences(source.acts, run.acts, components, position_mask(bucket, positions))
    writes = {c.id: direct_write(adapter, c, diffs[c.id]) for c in components}
    corrections = qk_corrections(target, run, writes, {c.id: first_receiving_layer(c) for c in components})
    fixed = {c.id: first_order(run.grads[c.id], diffs[c.id]) + corrections[c.id].sum(0) for c in components}
    if not grad_drop:
        return fixed, run.metric
    magnitude = {c.id: torch.zeros(bucket.n, device=bucket.device) for c in components}
    cuts = {c.id: 0 for c in components}
    for layer in range(adapter.n_layers):
        grads = run.grads_with_block_cut(layer, components)
        for c in components:
            if _in_block(c, layer):
                continue
            estimate = first_order(grads[c.id], diffs[c.id]) + corrections[c.id].sum(0) - corrections[c.id][layer]
            magnitude[c.id] += estimate.abs()
            cuts[c.id] += 1
    return {cid: torch.sign(fixed[cid]) * magnitude[cid] / cuts[cid] for cid in fixed}, run.metric


__all__ = ["atp_star_bucket", "direct_write", "first_receiving_layer", "layer_patterns", "qk_corrections"]
