"""Jensen–Shannon distance between next-token distributions.

Why JS distance: the interchangeability score (DESIGN.md §7) compares the
model's next-token distribution before and after a weight swap. The
Jensen–Shannon divergence is symmetric, finite even where one distribution
puts (numerically) zero mass, and its square root is a metric, so averaged
distances behave well under the silhouette coefficient.

Conventions, stated once: natural logarithm (nats), so the divergence lies in
[0, ln 2] and the distance in [0, sqrt(ln 2) ≈ 0.8326]. The arithmetic is done
in float64 and in probability space (``m = (p + q) / 2``), so identical inputs
give exactly 0 -- the square root would otherwise magnify float32 rounding of
a ~1e-8 divergence into a ~1e-4 distance.
"""

from __future__ import annotations

import math

import torch

#: Upper bound of the JS distance with natural logarithms: sqrt(ln 2).
JS_DISTANCE_MAX = math.sqrt(math.log(2.0))
JS_BASE = "natural log (nats); distance = sqrt(JS divergence), bounded by sqrt(ln 2) ≈ 0.8326"


def _kl_to_mixture(p: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    ratio = torch.where(p > 0, p / m, torch.ones_like(p))
    return torch.special.xlogy(p, ratio).sum(dim=-1)


def js_distance(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon distance between two batches of distributions.

    Args:
        logp: [..., vocab] log-probabilities (e.g. ``log_softmax`` of logits).
        logq: [..., vocab] log-probabilities, same shape.

    Returns:
        [...] float64 distances ``sqrt(JS(p, q))`` in nats^(1/2), in [0, sqrt(ln 2)].
    """
    if logp.shape != logq.shape:
        raise ValueError(f"Shapes differ: {tuple(logp.shape)} vs {tuple(logq.shape)}.")
    p = logp.double().exp()
    q = logq.double().exp()
    m = 0.5 * (p + q)
    divergence = 0.5 * (_kl_to_mixture(p, m) + _kl_to_mixture(q, m))
    return divergence.clamp(0.0, math.log(2.0)).sqrt()


def last_token_logprobs(logits: torch.Tensor) -> torch.Tensor:
    """Float64 log-probabilities at the last position: [n, pos, vocab] or [n, vocab] -> [n, vocab]."""
    last = logits[:, -1, :] if logits.dim() == 3 else logits
    return torch.log_softmax(last.double(), dim=-1)
