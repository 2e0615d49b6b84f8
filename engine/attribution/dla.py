"""Direct logit attribution (DLA): a component's output read straight through to the logits.

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

import torch
from torch import nn

from engine.adapters.base import ArchitectureAdapter
from engine.components import Component


def frozen_norm(adapter: ArchitectureAdapter, vectors: torch.Tensor, final_resid: torch.Tensor) -> torch.Tensor:
    """The final norm linearised at ``final_resid``: its scale frozen, its bias dropped.

    Args:
        vectors: [..., d_model] contributions to the final residual stream.
        final_resid: [..., d_model] the actual final residual stream (broadcastable).

    Returns:
        [..., d_model] what ``vectors`` add to the normalised stream.
    """
    norm = adapter.final_norm()
    weight = adapter.final_norm_scale()  # Gemma's norm multiplies by 1 + weight
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


__all__ = ["component_output", "direct_effects", "frozen_norm", "unembed_directions"]
