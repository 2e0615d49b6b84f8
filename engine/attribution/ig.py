"""Integrated gradients along the input path (EAP-IG; Hanna, Pezzelle & Belinkov, 2024).

Why: AtP takes the gradient at one end of the patch, so it is only as good as
the model is linear between the two runs. Integrated gradients (Sundararajan
et al., 2017) average the gradient along a path between them instead. EAP-IG
-- the strongest method on the MIB circuit-localisation track -- uses the
straight path between the two prompts' input embeddings::

    e(alpha) = e(input) + alpha * (e(source) - e(input)),  alpha in [0, 1]
    effect(c) ~= mean_k dmetric/da_c(e(alpha_k))  *  (a_c(source) - a_c(input))

with every component's gradient from one backward per step. The integral is
taken with the midpoint rule, ``alpha_k = (k + 1/2) / steps`` (error
O(1/steps^2) for a smooth path; EAP-IG's right Riemann sum is O(1/steps)).

What it converges to: for the whole input stream (``L0.RESID``, all
positions) the path *is* the straight line between the two activations, so by
the gradient theorem IG converges to the exact effect of patching it, ``metric
(source) - metric(input)`` (completeness; a test checks the convergence). For
any other component the path moves every activation, not just that
component's, so IG estimates the component's share of the whole change rather
than its single patch; it differs from AtP where the gradient changes along
the way.

Cost: two forwards without gradients (input and source activations) and one
forward + backward per step: ``2 + 3 * steps`` forward-equivalents.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine.attribution.atp import BucketEstimate, differences, first_order, position_mask
from engine.attribution.gradients import gradient_run
from engine.attribution.methods import DEFAULT_IG_STEPS, check_steps
from engine.components import Component
from engine.models import TargetModel
from engine.patching import InputRun, Side, input_run
from engine.tasks import Bucket


def midpoints(steps: int) -> list[float]:
    """The midpoint rule's alphas on [0, 1]."""
    return [(k + 0.5) / steps for k in range(check_steps(steps))]


def ig_bucket(
    target: TargetModel,
    bucket: Bucket,
    input_side: Side,
    source: InputRun,
    components: Sequence[Component],
    positions: list[torch.Tensor] | None,
    steps: int = DEFAULT_IG_STEPS,
) -> BucketEstimate:
    """IG estimates of one bucket: the mean gradient along the embedding path times (source - input)."""
    adapter = target.adapter
    current = input_run(target, bucket, input_side, components)
    diffs = differences(source.acts, current.acts, components, position_mask(bucket, positions))
    source_side = "corrupt" if input_side == "clean" else "clean"
    with torch.no_grad():
        start = adapter.embed(getattr(bucket, input_side))
        span = adapter.embed(getattr(bucket, source_side)) - start
    totals = {c.id: torch.zeros(bucket.n, device=bucket.device) for c in components}
    alphas = midpoints(steps)
    for alpha in alphas:
        run = gradient_run(target, bucket, start + alpha * span, components)
        for c in components:
            totals[c.id] += first_order(run.grads[c.id], diffs[c.id])
    return {cid: total / len(alphas) for cid, total in totals.items()}, current.metric


__all__ = ["ig_bucket", "midpoints"]
