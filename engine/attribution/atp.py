"""Attribution patching (AtP): every component's patching effect from one gradient.

Why: exact patching needs a forward per component (or a batched share of
one); AtP (Nanda 2023; Syed, Rager & Conmy 2023) estimates every component's
effect at once from a first-order Taylor expansion around the input run::

    effect(c) ~= sum_{pos, dim} dmetric/da_c(input)  *  (a_c(source) - a_c(input))

One forward and one backward on the input prompts give the gradients of
*all* components; one more forward (no grad) on the source prompts gives the
differences: about four forward-equivalents, whatever the number of
components (a backward costs about two forwards). The estimate is exact in the
limit of small differences: patching ``input + eps * (source - input)``
changes the metric by ``eps * AtP + O(eps^2)`` (a test checks ``exact / (eps *
AtP) -> 1``). For large differences it can be wrong -- saturated attention,
cancelling paths, and early components whose change is amplified by later
non-linearities -- which ``atp_star`` and ``ig`` address and exact patching
should confirm.

The pieces every variant shares live here: the position mask, the masked
activation differences, and gradient x difference summed per pair.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine.attribution.gradients import gradient_run
from engine.components import Component
from engine.models import TargetModel
from engine.patching import InputRun, Side
from engine.tasks import Bucket

#: per-pair estimates [n] by component id, and the input run's per-pair metric [n]
BucketEstimate = tuple[dict[str, torch.Tensor], torch.Tensor]


def position_mask(bucket: Bucket, positions: list[torch.Tensor] | None) -> torch.Tensor | None:
    """[n, pos, 1] float mask of the patched positions per pair (None = every position)."""
    if positions is None:
        return None
    mask = torch.zeros(bucket.n, bucket.seq_len, 1, device=bucket.device)
    rows = torch.arange(bucket.n, device=bucket.device)
    for p in positions:
        mask[rows, p] = 1.0
    return mask


def differences(
    source: dict[str, torch.Tensor], current: dict[str, torch.Tensor], components: Sequence[Component],
    mask: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    """``source - current`` per component ([n, pos, d]), zero outside the patched positions."""
    out = {}
    for c in components:
        diff = source[c.id] - current[c.id]
        out[c.id] = diff if mask is None else diff * mask
    return out


def first_order(grad: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
    """Gradient x difference summed over positions and channels: [n, pos, d] x2 -> [n]."""
    return (grad * diff).sum(dim=(1, 2))


def atp_bucket(
    target: TargetModel,
    bucket: Bucket,
    input_side: Side,
    source: InputRun,
    components: Sequence[Component],
    positions: list[torch.Tensor] | None,
) -> BucketEstimate:
    """AtP estimates of one bucket: gradient at the input run times (source - input)."""
    run = gradient_run(target, bucket, target.adapter.embed(getattr(bucket, input_side)), components)
    diffs = differences(source.acts, run.acts, components, position_mask(bucket, positions))
    return {c.id: first_order(run.grads[c.id], diffs[c.id]) for c in components}, run.metric


__all__ = ["BucketEstimate", "atp_bucket", "differences", "first_order", "position_mask"]
