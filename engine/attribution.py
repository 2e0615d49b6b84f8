"""Linear attributions: attribution patching (AtP) and direct logit attribution (DLA).

Why attribution patching: exact patching needs a forward per component (or a
batched share of one); AtP (Nanda 2023; Syed, Rager & Conmy 2023) estimates
every component's patching effect at once from a first-order Taylor
expansion around the input run::

    effect(c) ~= sum_{pos, dim} dmetric/da_c  *  (a_c(source) - a_c(input))

One forward and one backward on the input prompts give the gradients of
*all* components; one more forward (no grad) on the source prompts gives the
differences. The estimate is exact in the limit of small differences: patching
``input + eps * (source - input)`` changes the metric by ``eps * AtP + O(eps^2)``
(a test checks ``exact / (eps * AtP) -> 1``). For large differences it can be
wrong -- attention saturation is the classic failure -- so exact patching
should confirm anything AtP ranks highly.

Gradients are taken with respect to the activation at the component's hook
point: an edit function adds a zero leaf tensor that requires grad, so the
graph downstream of the component is untouched (a detached leaf would cut the
paths through later components) and the leaf's gradient is the activation's.
Residual-stream components are handled the same way on the stream itself.

Why DLA with a frozen norm: a component's *direct* effect on the logits is
its output vector read straight through the final norm and the unembedding.
The final norm (LayerNorm or RMSNorm) divides by a scale computed from the
whole residual stream; DLA freezes that scale at its value on the actual final
residual stream of the run, which makes the map linear: the direct effects of
all components (plus the embeddings and biases) then sum to the real logits.
LayerNorm's centring is linear and is kept; its bias is a constant of no
component. The logit lens of a *residual stream* (``logit_lens`` tool) is
different: it applies the real norm to that residual stream (``adapter.logits``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from engine.adapters.base import ArchitectureAdapter
from engine.components import Component
from engine.hooks import trace
from engine.models import TargetModel
from engine.patching import (
    Direction,
    PositionSpec,
    StepFn,
    SweepResult,
    as_components,
    final_metric,
    input_run,
    resolve_positions,
    sides,
    task_metrics,
)
from engine.tasks import Bucket, TaskData


def _gradients(
    target: TargetModel, bucket: Bucket, side: str, comps: Sequence[Component]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Activations and d(sum of per-pair logit diffs)/d(activation) on the ``side`` prompts."""
    adapter = target.adapter
    leaves: dict[str, torch.Tensor] = {}

    def add_leaf(cid: str):
        def edit(current: torch.Tensor) -> torch.Tensor:
            leaf = torch.zeros_like(current, requires_grad=True)
            leaves[cid] = leaf
            return current + leaf

        return edit

    hooked = [c.id for c in comps if c.kind != "resid"]
    resid_ids = {c.layer: c.id for c in comps if c.kind == "resid"}
    acts: dict[str, torch.Tensor] = {}
    with torch.enable_grad(), trace(adapter, read=hooked, edit={c: add_leaf(c) for c in hooked}) as cache:
        resid = adapter.embed(getattr(bucket, side))
        ctx = adapter.block_context(resid)
        for layer in range(adapter.n_layers + 1):
            if layer in resid_ids:
                acts[resid_ids[layer]] = resid.detach().clone()
                resid = add_leaf(resid_ids[layer])(resid)
            if layer < adapter.n_layers:
                resid = adapter.run_block(layer, resid, ctx)
        metric = final_metric(adapter, resid, bucket)[0]
        grads = torch.autograd.grad(metric.sum(), [leaves[c.id] for c in comps], allow_unused=True)
    acts.update(cache)
    return acts, {
        c.id: torch.zeros_like(acts[c.id]) if g is None else g for c, g in zip(comps, grads, strict=True)
    }


def attribution_sweep(
    target: TargetModel,
    data: TaskData,
    components: Sequence[str | Component],
    direction: Direction = "noising",
    positions: PositionSpec = None,
    on_step: StepFn | None = None,
) -> SweepResult:
    """Attribution-patching estimates of every component's patching effect.

    Args:
        target: the loaded model (parameters frozen; only activations get gradients).
        data: the task.
        components: ids or ``Component``s.
        direction: ``noising`` (gradient on clean prompts, corrupt - clean
            difference) or ``denoising`` (gradient on corrupt, clean - corrupt).
        positions: None for all positions, else integers / role names.
        on_step: progress callback, called with the number of pairs done.

    Returns:
        ``SweepResult`` whose effects estimate ``patch_sweep``'s.
    """
    input_side, source_side = sides(direction)
    comps = as_components(target, components)
    sums = {c.id: 0.0 for c in comps}
    per_pair: dict[str, dict[int, float]] = {c.id: {} for c in comps}
    for bucket in data.buckets:
        pos = resolve_positions(bucket, positions)
        acts, grads = _gradients(target, bucket, input_side, comps)
        source = input_run(target, bucket, source_side, comps).acts
        ests = []
        for c in comps:
            contrib = (grads[c.id] * (source[c.id] - acts[c.id])).sum(-1)  # [n, pos]
            if pos is not None:
                rows = torch.arange(bucket.n, device=bucket.device)
                mask = torch.zeros_like(contrib, dtype=torch.bool)
                for p in pos:
                    mask[rows, p] = True
                contrib = contrib * mask
            ests.append(contrib.sum(-1).float())  # [n]
        # one device-to-host copy per bucket, not one per component
        table = torch.stack(ests).cpu().tolist() if ests else []  # [components][n]
        for c, est in zip(comps, table, strict=True):
            sums[c.id] += sum(est)
            per_pair[c.id].update(zip(bucket.pair_index, est, strict=True))
        if on_step:
            on_step(bucket.n)
    clean, corrupt = task_metrics(target, data)
    n = data.n_pairs
    ordered = {k: [v[i] for i in sorted(v)] for k, v in per_pair.items()}
    return SweepResult({k: s / n for k, s in sums.items()}, clean, corrupt, n, direction, ordered)


# ----- direct logit attribution ---------------------------------------------------------

def frozen_norm(adapter: ArchitectureAdapter, vectors: torch.Tensor, final_resid: torch.Tensor) -> torch.Tensor:
    """The final norm linearised at ``final_resid``: its scale frozen, its bias dropped.

    Args:
        vectors: [..., d_model] contributions to the final residual stream.
        final_resid: [..., d_model] the actual final residual stream (broadcastable).

    Returns:
        [..., d_model] what ``vectors`` add to the normalised stream.
    """
    norm = adapter.final_norm()
    weight = getattr(norm, "weight", None)
    eps = float(getattr(norm, "eps", getattr(norm, "variance_epsilon", 1e-5)))
    if isinstance(norm, nn.LayerNorm):
        centred = final_resid - final_resid.mean(-1, keepdim=True)
        scale = (centred.pow(2).mean(-1, keepdim=True) + eps).sqrt()
        out = (vectors - vectors.mean(-1, keepdim=True)) / scale
    else:  # RMSNorm family
        scale = (final_resid.pow(2).mean(-1, keepdim=True) + eps).sqrt()
        out = vectors / scale
    return out if weight is None else out * weight


def unembed_directions(adapter: ArchitectureAdapter, answer: torch.Tensor, distractor: torch.Tensor) -> torch.Tensor:
    """Unembedding direction of ``logit(answer) - logit(distractor)``: [n, d_model]."""
    w = adapter.unembed().weight
    return w[answer] - w[distractor]


def component_output(adapter: ArchitectureAdapter, comp: Component, act: torch.Tensor) -> torch.Tensor:
    """What a component writes into the residual stream: [..., d_model].

    A head's activation is its ``z`` [..., d_head]; its contribution is
    ``z @ wo_h.T`` (the output projection's bias belongs to no head).
    ``ATTN``, ``MLP`` and ``RESID`` activations are already in the residual basis.
    """
    if comp.kind == "head":
        assert comp.head is not None
        return act @ adapter.head_params(comp.layer, comp.head).wo.T
    return act


def direct_effects(
    adapter: ArchitectureAdapter,
    vectors: torch.Tensor,
    final_resid: torch.Tensor,
    answer: torch.Tensor,
    distractor: torch.Tensor,
) -> torch.Tensor:
    """Direct effect of residual-stream vectors on the logit difference (frozen norm).

    Args:
        vectors: [n, d_model] contributions at the metric position (last).
        final_resid: [n, d_model] the run's final residual stream at that position.
        answer, distractor: [n] token ids.

    Returns:
        [n] direct effects on ``logit(answer) - logit(distractor)``.
    """
    normed = frozen_norm(adapter, vectors, final_resid)
    return (normed * unembed_directions(adapter, answer, distractor)).sum(-1)


__all__ = ["attribution_sweep", "component_output", "direct_effects", "frozen_norm", "unembed_directions"]
