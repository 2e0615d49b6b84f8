"""Interchangeability: does the explanation's role clustering match what heads can swap for?

Why (DESIGN.md §7; Haklay et al., 2026): scoring an explanation by its
agreement with a published circuit rewards memorisation. An intrinsic score
asks the model instead: heads the explanation puts in one role should be
functionally interchangeable on the task. For circuit heads i, j,

    d(i←j) = mean over the task's clean prompts (all buckets) of the
             Jensen–Shannon distance (natural log; ≤ sqrt(ln 2)) between the
             original and the swapped next-token distribution at the last
             position, swapping j's weights into i's place (``swap``);
    D[i, j] = (d(i←j) + d(j←i)) / 2.

The clustering is scored by its silhouette on D and compared with random
size-preserving relabellings (``silhouette``). Non-head members (MLPs) have
no swap and are left out of D, with a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from engine.components import parse_component
from engine.evaluation.divergence import JS_BASE
from engine.evaluation.silhouette import null_summary, relabel_null, silhouette
from engine.evaluation.swap import Progress, swap_effects
from engine.models import TargetModel
from engine.tasks import TaskData

MIN_NULL_DRAWS = 200


def cluster_fields(cluster: Mapping[str, Any] | Any) -> tuple[str, list[str]]:
    """``(name, members)`` of a cluster given as a dict or an object with those attributes."""
    if isinstance(cluster, Mapping):
        return str(cluster["name"]), [str(m) for m in cluster["members"]]
    return str(cluster.name), [str(m) for m in cluster.members]


def clustering_labels(
    clusters: Iterable[Mapping[str, Any] | Any], n_layers: int, n_heads: int
) -> tuple[list[str], list[str], list[str]]:
    """Flatten clusters into head ids and their cluster names.

    Returns:
        (heads, labels, notes): range-checked head ids in cluster order, the
        name of each head's cluster, and notes on excluded members (non-heads,
        repeats -- a component listed in two clusters keeps its first).

    Raises:
        ComponentError: a malformed or out-of-range member id.
    """
    heads: list[str] = []
    labels: list[str] = []
    skipped: list[str] = []
    repeated: list[str] = []
    for cluster in clusters:
        name, members = cluster_fields(cluster)
        for member in members:
            comp = parse_component(member, n_layers, n_heads)
            if comp.kind != "head":
                skipped.append(comp.id)
            elif comp.id in heads:
                repeated.append(comp.id)
            else:
                heads.append(comp.id)
                labels.append(name)
    notes = []
    if skipped:
        notes.append(f"non-head components have no weight swap and are excluded: {', '.join(skipped)}")
    if repeated:
        notes.append(f"components listed in more than one cluster keep their first: {', '.join(repeated)}")
    return heads, labels, notes


def directed_distances(
    target: TargetModel,
    data: TaskData,
    heads: Sequence[str],
    swaps_per_batch: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Directed swap distances: ``d[a, b] = d(heads[a] ← heads[b])``; zero diagonal.

    Runs ``m (m - 1)`` swaps (a head swapped with itself is the identity).

    Returns:
        [m, m] float64 array.
    """
    m = len(heads)
    if m < 2:
        return np.zeros((m, m))
    pairs = [(heads[a], heads[b]) for a in range(m) for b in range(m) if a != b]
    outcomes = swap_effects(target, data, pairs, swaps_per_batch=swaps_per_batch, progress=progress)
    d = np.zeros((m, m))
    index = {h: i for i, h in enumerate(heads)}
    for outcome in outcomes:
        d[index[outcome.target], index[outcome.source]] = outcome.js_distance
    return d


def symmetrise(directed: np.ndarray) -> np.ndarray:
    """``D = (d + d.T) / 2``: [m, m] -> [m, m]."""
    return 0.5 * (directed + directed.T)


def interchangeability_from_distances(
    distances: np.ndarray,
    components: Sequence[str],
    labels: Sequence[str],
    null_draws: int = MIN_NULL_DRAWS,
    seed: int = 0,
    notes: Sequence[str] = (),
) -> dict:
    """Silhouette of ``labels`` on ``distances`` and its size-preserving relabelling null.

    Args:
        distances: [m, m] symmetric swap distances D.
        components: m component ids (rows of D).
        labels: m cluster names.
        null_draws: random relabellings (at least 200).
        seed: seed of the relabellings.
        notes: notes carried into the output.

    Returns:
        ``{"silhouette", "random_mean", "random_std", "z", "p_value",
        "n_components", "n_clusters", "null_draws", "distance_matrix",
        "components", "labels", "distance", "note"}``; the score fields are None
        (and ``note`` says why) when the silhouette is undefined.
    """
    if null_draws < MIN_NULL_DRAWS:
        raise ValueError(f"null_draws must be at least {MIN_NULL_DRAWS}, got {null_draws}.")
    notes = list(notes)
    n_clusters = len(set(labels))
    result: dict[str, Any] = {
        "silhouette": None, "random_mean": None, "random_std": None, "z": None, "p_value": None,
        "n_components": len(components), "n_clusters": n_clusters, "null_draws": null_draws,
        "distance_matrix": np.asarray(distances, dtype=float).tolist(),
        "components": list(components), "labels": list(labels), "distance": JS_BASE,
    }
    score = silhouette(distances, labels) if len(components) else None
    if score is None:
        notes.append(
            f"silhouette undefined for {n_clusters} cluster(s) over {len(components)} head(s): "
            "it needs at least two clusters and at least one cluster with two or more heads"
        )
    else:
        null = relabel_null(distances, labels, draws=null_draws, seed=seed)
        result.update({"silhouette": score, **null_summary(score, null)})
        if result["z"] is None:
            notes.append("every random relabelling scores the same; z is undefined")
    result["note"] = "; ".join(notes) if notes else None
    return result


def interchangeability(
    target: TargetModel,
    data: TaskData,
    clusters: Iterable[Mapping[str, Any] | Any],
    null_draws: int = MIN_NULL_DRAWS,
    seed: int = 0,
    swaps_per_batch: int | None = None,
    progress: Progress | None = None,
) -> dict:
    """Score a role clustering of circuit heads by weight-swap interchangeability.

    Args:
        target: loaded model.
        data: tokenised task (clean prompts of every bucket are used).
        clusters: ``[{"name": str, "members": [component ids]}, ...]``.
        null_draws: size-preserving random relabellings (≥ 200).
        seed: relabelling seed.
        swaps_per_batch: swaps per forward pass (None: sized from the memory budget, ``engine.memory``).
        progress: ``progress(done, total)`` in (swap, bucket) evaluations.

    Returns:
        The dict of ``interchangeability_from_distances``.
    """
    heads, labels, notes = clustering_labels(clusters, target.n_layers, target.n_heads)
    directed = directed_distances(target, data, heads, swaps_per_batch, progress)
    return interchangeability_from_distances(symmetrise(directed), heads, labels, null_draws, seed, notes)
