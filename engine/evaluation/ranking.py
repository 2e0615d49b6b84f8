"""A cheap ranking of heads for the faithfulness curve: first-order mean-ablation effects.

Why: the faithfulness curve (``faithfulness``) needs components ordered by
importance. The exact effect of mean-ablating each head alone costs one
(suffix) forward per head -- minutes for the 270 heads of the bundled model
on a laptop CPU -- while its first-order Taylor estimate,

    effect(h) ≈ Σ_{pos, d} (mean_corrupt(z_h) - z_h) · ∂m/∂z_h,

costs one forward and one backward per bucket (attribution patching, Nanda
2023; Syed et al., 2023). It is a ranking aid, not a measurement: report
exact effects (``faithfulness.single_ablation_effects`` or activation
patching) where a number is claimed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine import runner
from engine.ablation import corrupt_means
from engine.components import all_heads
from engine.hooks import trace
from engine.models import TargetModel
from engine.tasks import TaskData, logit_diff


def _add(delta: torch.Tensor):
    def edit(current: torch.Tensor) -> torch.Tensor:
        return current + delta

    return edit


def ablation_attribution(
    target: TargetModel, data: TaskData, components: Sequence[str] | None = None
) -> dict[str, float]:
    """First-order estimate of m(mean-ablate c) - m(N) for each component (default: every head).

    Args:
        target: loaded model (its weights stay frozen; gradients flow to activations only).
        data: tokenised task; m is the mean clean logit difference over all pairs.
        components: head or MLP ids.

    Returns:
        id -> estimated effect, averaged over pairs.
    """
    ids = list(components) if components is not None else [
        c.id for c in all_heads(target.n_layers, target.n_heads)
    ]
    totals = dict.fromkeys(ids, 0.0)
    adapter = target.adapter
    for bucket in data.buckets:
        means = corrupt_means(target, bucket, ids)
        with torch.no_grad(), trace(adapter, read=ids) as clean:
            runner.forward(adapter, bucket.clean)
        deltas = {c: torch.zeros_like(clean[c], requires_grad=True) for c in ids}
        with torch.enable_grad(), trace(adapter, edit={c: _add(d) for c, d in deltas.items()}):
            metric = logit_diff(runner.forward(adapter, bucket.clean), bucket.answer, bucket.distractor).sum()
            grads = torch.autograd.grad(metric, [deltas[c] for c in ids])
        for c, grad in zip(ids, grads, strict=True):
            totals[c] += float(((means[c] - clean[c]) * grad).sum())
    return {c: t / data.n_pairs for c, t in totals.items()}
