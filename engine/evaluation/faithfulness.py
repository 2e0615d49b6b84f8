"""Faithfulness of a circuit, MIB-style (Mueller et al., 2025).

Why: interchangeability scores the *roles*; faithfulness scores the *set*:
does the circuit alone carry the behaviour? With m the task metric (mean
logit difference over the clean prompts),

    m(N)  full model;
    m(∅)  every head mean-ablated (heads only by default; ``ablate_mlps=True``
          also ablates every MLP);
    m(C)  every head (and MLP, if ablated) outside C mean-ablated;
    f(C)  = (m(C) - m(∅)) / (m(N) - m(∅)).

Mean ablation replaces an activation by its per-position mean over the task's
corrupt prompts of the same template (``engine.ablation``), MIB's choice of
mean ablation with the IOI paper's grouping by template: it removes the
pair-specific information without leaving the data manifold.

The curve keeps the top-k components ranked by |effect| (a given effect
dict; unranked components come last) for a grid of k up to all ablatable
components; with x = k / N on [0, 1], CPR = area under f and CMD = area
under |1 - f| (trapezoid rule). Higher CPR and lower CMD are better.

Cost: every distinct ablation set is evaluated once (so f(all) = 1 and
f(∅) = 0 hold exactly); several sets share a forward (the bucket is repeated
along the batch and each copy ablates its own set), and a forward resumes
from the cached clean residual stream at the earliest layer its sets touch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch

from engine import runner
from engine.ablation import corrupt_means
from engine.components import Component, all_heads, all_mlps, parse_component
from engine.evaluation.batching import Progress, batch_plan
from engine.hooks import EditFn, trace
from engine.memory import copies_per_batch
from engine.models import TargetModel
from engine.tasks import TaskData, logit_diff

#: MIB's grid of circuit sizes, as fractions of all components.
MIB_FRACTIONS = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def ablatable(target: TargetModel, ablate_mlps: bool = False) -> list[str]:
    """Component ids that faithfulness ablates: every head, plus every MLP if asked."""
    comps: list[Component] = all_heads(target.n_layers, target.n_heads)
    if ablate_mlps:
        comps += all_mlps(target.n_layers)
    return [c.id for c in comps]


def _masked_mean(mean: torch.Tensor, rows: torch.Tensor) -> EditFn:
    """Replace the batch rows in ``rows`` ([copies * n] bool) by their rows of ``mean`` ([n, pos, ...])."""
    copies = rows.shape[0] // mean.shape[0]
    # broadcast over the copies, never materialised per copy: hundreds of components are edited at once
    mask = rows.view(copies, mean.shape[0], *[1] * (mean.dim() - 1))

    def edit(current: torch.Tensor) -> torch.Tensor:
        shaped = current.reshape(copies, *mean.shape)
        return torch.where(mask, mean.to(current.dtype).unsqueeze(0), shaped).reshape(current.shape)

    return edit


def _first_layer(components: frozenset[str], n_layers: int) -> int:
    """Earliest layer an ablation set touches (``n_layers`` for the empty set)."""
    return min((parse_component(c).layer for c in components), default=n_layers)


def ablated_metrics(
    target: TargetModel,
    data: TaskData,
    ablation_sets: Sequence[frozenset[str]],
    sets_per_batch: int | None = None,
    progress: Progress | None = None,
    means: Sequence[Mapping[str, torch.Tensor]] | None = None,
) -> list[float]:
    """Mean logit difference over all clean prompts with each set mean-ablated.

    Args:
        target: loaded model.
        data: tokenised task.
        ablation_sets: component-id sets; each is ablated in its own copy of the batch.
        sets_per_batch: sets sharing one forward (None: as many as the memory budget allows,
            ``engine.memory.copies_per_batch``).
        progress: ``progress(done, total)`` in (distinct set, bucket) evaluations.
        means: per bucket, ``corrupt_means`` of (at least) every component the sets touch; computed here
            when not given (a greedy selection computes them once for all its steps).

    Returns:
        One metric per set, in order (pair-weighted over buckets).
    """
    adapter = target.adapter
    unique = list(dict.fromkeys(ablation_sets))
    per_batch = copies_per_batch(target, data) if sets_per_batch is None else sets_per_batch
    groups = batch_plan([_first_layer(s, adapter.n_layers) for s in unique], adapter.n_layers, per_batch)
    touched = sorted(set().union(*unique)) if unique else []
    # pair-weighted sums stay on the model's device (float64) until the end: no host sync per forward
    totals = torch.zeros(len(unique), dtype=torch.float64, device=target.device)
    n_total = done = 0
    with torch.no_grad():
        for b, bucket in enumerate(data.buckets):
            bucket_means = means[b] if means is not None else corrupt_means(target, bucket, touched)
            resids, _ = runner.residual_stream(adapter, bucket.clean)
            for group in groups:
                chunk = [unique[i] for i in group]
                rows = {
                    c: torch.tensor([c in s for s in chunk], device=bucket.device).repeat_interleave(bucket.n)
                    for c in touched
                }
                edits = {c: _masked_mean(bucket_means[c], r) for c, r in rows.items() if any(c in s for s in chunk)}
                layer = min(_first_layer(s, adapter.n_layers) for s in chunk)
                resid = resids[layer].repeat(len(chunk), 1, 1)
                with trace(adapter, edit=edits):
                    final = runner.run_layers(adapter, resid, layer)
                last = adapter.logits(final[:, -1:, :])[:, 0, :]
                k = len(chunk)
                diffs = logit_diff(last, bucket.answer.repeat(k), bucket.distractor.repeat(k))
                totals[torch.tensor(group, device=target.device)] += diffs.view(k, bucket.n).sum(dim=1).double()
                done += k
                if progress is not None:
                    progress(done, len(unique) * len(data.buckets))
            n_total += bucket.n
    by_set = dict(zip(unique, (totals / n_total).cpu().tolist(), strict=True))
    return [by_set[s] for s in ablation_sets]


def _normalise(m: float, m_empty: float, m_full: float) -> float | None:
    span = m_full - m_empty
    return None if span == 0 else (m - m_empty) / span


def curve_sizes(n_total: int, circuit_size: int, max_points: int = 32) -> list[int]:
    """Circuit sizes k of the curve: every k if few components, else MIB's fractions plus |C|."""
    if n_total + 1 <= max_points:
        return list(range(n_total + 1))
    sizes = {int(round(f * n_total)) for f in MIB_FRACTIONS} | {circuit_size}
    return sorted(sizes)


def rank_components(universe: Sequence[str], effects: Mapping[str, float]) -> list[str]:
    """``universe`` sorted by |effect| descending; missing effects count as 0, ties keep order."""
    return sorted(universe, key=lambda c: -abs(float(effects.get(c, 0.0))))


def _area(x: Sequence[float], y: Sequence[float]) -> float:
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0))


def faithfulness(
    target: TargetModel,
    data: TaskData,
    circuit: Iterable[str],
    effects: Mapping[str, float] | None = None,
    ablate_mlps: bool = False,
    sets_per_batch: int | None = None,
    max_curve_points: int = 32,
    progress: Progress | None = None,
) -> dict:
    """Normalised faithfulness f(C) of ``circuit``, and the top-k curve when ``effects`` is given.

    Args:
        target: loaded model.
        data: tokenised task.
        circuit: component ids (heads; MLPs count only with ``ablate_mlps``).
        effects: component id -> effect (e.g. patching effects), to rank the curve.
        ablate_mlps: also mean-ablate MLPs outside the circuit (and all MLPs in m(∅)).
        sets_per_batch: ablation sets sharing one forward (None: sized from the memory budget).
        max_curve_points: below this many components the curve uses every k.
        progress: ``progress(done, total)``, see ``ablated_metrics``.

    Returns:
        ``{"normalized", "circuit_size", "ablation", "ablated", "m_full", "m_empty",
        "m_circuit", "curve": [[k, f], ...] | None, "cpr", "cmd", "note"}``.
    """
    universe = ablatable(target, ablate_mlps)
    members = list(dict.fromkeys(parse_component(c, target.n_layers, target.n_heads).id for c in circuit))
    kept = set(members) & set(universe)
    notes = []
    if ignored := [c for c in members if c not in kept]:
        notes.append(f"never ablated, so not part of the comparison: {', '.join(ignored)}")
    full, empty = frozenset(), frozenset(universe)
    sets = [full, empty, frozenset(c for c in universe if c not in kept)]
    sizes: list[int] = []
    if effects is not None:
        ranked = rank_components(universe, effects)
        sizes = curve_sizes(len(universe), len(kept), max_curve_points)
        sets += [frozenset(ranked[k:]) for k in sizes]
    m_full, m_empty, m_circuit, *curve_metrics = ablated_metrics(target, data, sets, sets_per_batch, progress)
    normalized = _normalise(m_circuit, m_empty, m_full)
    if normalized is None:
        notes.append("m(N) equals m(∅): the heads carry no metric difference; f is undefined")
    curve = cpr = cmd = None
    if effects is not None and normalized is not None:
        fs = [_normalise(m, m_empty, m_full) for m in curve_metrics]
        curve = [[k, f] for k, f in zip(sizes, fs, strict=True)]
        x = [k / len(universe) for k in sizes]
        cpr = _area(x, fs)
        cmd = _area(x, [abs(1.0 - f) for f in fs])
    elif effects is None:
        notes.append("no effects given: no top-k curve, CPR or CMD")
    return {
        "normalized": normalized, "circuit_size": len(kept), "ablation": "mean",
        "ablated": "heads and MLPs" if ablate_mlps else "heads (MLPs kept)",
        "m_full": m_full, "m_empty": m_empty, "m_circuit": m_circuit,
        "curve": curve, "cpr": cpr, "cmd": cmd, "note": "; ".join(notes) if notes else None,
    }


def single_ablation_effects(
    target: TargetModel,
    data: TaskData,
    components: Sequence[str] | None = None,
    sets_per_batch: int | None = None,
    progress: Progress | None = None,
) -> dict[str, float]:
    """Effect of mean-ablating each component alone: m(ablated) - m(N), per id.

    A quick ranking for the faithfulness curve when no patching results are at
    hand (default: every head).
    """
    comps = list(components) if components is not None else ablatable(target)
    sets = [frozenset()] + [frozenset([c]) for c in comps]
    base, *metrics = ablated_metrics(target, data, sets, sets_per_batch, progress)
    return {c: m - base for c, m in zip(comps, metrics, strict=True)}
