"""``attribution_sweep``: every component's estimated patching effect, by the chosen variant.

Why one entry point: the CLI (``autointerp patch --method``), the
``attribution_patching`` tool, the agent's localisation and the bench all ask
the same question -- "estimate ``patch_sweep``'s effects cheaply" -- and differ
only in the variant (``methods``). Every variant runs bucket by bucket, shares
the source run and the position handling, and returns the same
``SweepResult`` as exact patching, so callers can swap one for the other.
The clean and corrupt metrics come from runs the variant makes anyway (no
extra forwards).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch

from engine.attribution.atp import atp_bucket
from engine.attribution.atp_star import atp_star_bucket
from engine.attribution.ig import ig_bucket
from engine.attribution.methods import DEFAULT_IG_STEPS, DEFAULT_METHOD, check_steps, resolve_method
from engine.components import Component
from engine.models import TargetModel
from engine.patching import (
    Direction,
    PositionSpec,
    StepFn,
    SweepResult,
    as_components,
    input_run,
    resolve_positions,
    sides,
)
from engine.tasks import TaskData


def attribution_sweep(
    target: TargetModel,
    data: TaskData,
    components: Sequence[str | Component],
    direction: Direction = "noising",
    positions: PositionSpec = None,
    on_step: StepFn | None = None,
    method: str = DEFAULT_METHOD,
    ig_steps: int = DEFAULT_IG_STEPS,
    grad_drop: bool = True,
) -> SweepResult:
    """Estimates of every component's patching effect (heads, ``ATTN``, ``MLP``, ``RESID``).

    Args:
        target: the loaded model (parameters frozen; only activations get gradients).
        data: the task.
        components: ids or ``Component``s.
        direction: ``noising`` (input = clean prompts, source = corrupt) or ``denoising``.
        positions: None for all positions, else integers / role names.
        on_step: progress callback, called with the number of pairs done.
        method: ``atp``, ``atp*`` or ``ig`` (``attribution`` = the default variant).
        ig_steps: integration steps of ``ig``.
        grad_drop: whether ``atp*`` applies GradDrop (its QK fix always applies).

    Returns:
        ``SweepResult`` whose effects estimate ``patch_sweep``'s (per-pair values included).

    Raises:
        AttributionError: unknown method or bad step count; PatchingError: bad
            direction, component or position.
    """
    variant = resolve_method(method)
    input_side, source_side = sides(direction)
    comps = as_components(target, components)
    estimate = {
        "atp": atp_bucket,
        "atp*": partial(atp_star_bucket, grad_drop=grad_drop),
        "ig": partial(ig_bucket, steps=check_steps(ig_steps)),
    }[variant]
    sums = {c.id: 0.0 for c in comps}
    per_pair: dict[str, dict[int, float]] = {c.id: {} for c in comps}
    metric_sums = {input_side: 0.0, source_side: 0.0}
    for bucket in data.buckets:
        pos = resolve_positions(bucket, positions)
        source = input_run(target, bucket, source_side, comps)
        estimates, input_metric = estimate(target, bucket, input_side, source, comps, pos)
        _accumulate(estimates, bucket.pair_index, sums, per_pair)
        metric_sums[input_side] += float(input_metric.sum())
        metric_sums[source_side] += float(source.metric.sum())
        if on_step:
            on_step(bucket.n)
    n = data.n_pairs
    ordered = {k: [v[i] for i in sorted(v)] for k, v in per_pair.items()}
    return SweepResult(
        {k: s / n for k, s in sums.items()}, metric_sums["clean"] / n, metric_sums["corrupt"] / n, n, direction, ordered
    )


def _accumulate(
    estimates: dict[str, torch.Tensor], pair_index: list[int], sums: dict[str, float], per_pair: dict[str, dict[int, float]]
) -> None:
    if not estimates:
        return
    # one device-to-host copy per bucket, not one per component
    table = torch.stack([v.float() for v in estimates.values()]).cpu().tolist()  # [components][n]
    for cid, values in zip(estimates, table, strict=True):
        sums[cid] += sum(values)
        per_pair[cid].update(zip(pair_index, values, strict=True))


__all__ = ["attribution_sweep"]
