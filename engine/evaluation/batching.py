"""Batching plans shared by the swap and ablation sweeps.

Why: both sweeps run many small variations of one forward pass. Each
variation (a swap, an ablation set) changes nothing before some layer, so it
can resume from the cached clean residual stream there, and several
variations can share one forward as copies of the prompts along the batch
dimension. Which variations share a forward decides how much depth is
recomputed needlessly; ``batch_plan`` chooses the groups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

#: ``progress(done, total)``: units of work finished so far, out of ``total``.
Progress = Callable[[int, int], None]


def batch_plan(layers: Sequence[int], n_layers: int, max_size: int) -> list[list[int]]:
    """Group jobs (swaps, ablation sets) into forwards so that little depth is wasted.

    Args:
        layers: per job, the first layer it changes (the forward resumes there).
        n_layers: the model's depth.
        max_size: most jobs per forward.

    A forward resumes at the earliest layer of its jobs, so mixing a layer-0
    job with layer-20 jobs makes those recompute 20 needless layers. Jobs are
    sorted by layer and cut into contiguous groups of at most
    ``max_size`` by dynamic programming, minimising
    ``sum over groups of (size + 1) * (n_layers - first layer)`` -- the layers
    computed, plus one job's worth of per-forward overhead.

    Returns:
        Groups of indices into ``layers``.
    """
    if max_size < 1:
        raise ValueError("At least one job per forward is needed (batch size >= 1).")
    order = sorted(range(len(layers)), key=lambda p: layers[p])
    depth = [n_layers - layers[p] for p in order]
    best = [0.0] + [float("inf")] * len(order)
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(max(0, end - max_size), end):
            cost = best[start] + (end - start + 1) * depth[start]
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], len(order)
    while end > 0:
        groups.append(order[cut[end]:end])
        end = cut[end]
    return groups[::-1]
