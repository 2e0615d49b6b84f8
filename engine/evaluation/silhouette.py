"""Silhouette coefficient of a clustering on a precomputed distance matrix, and its null.

Why silhouette: an explanation's role clustering claims that heads in one
role are more alike than heads in different roles. On the swap-distance
matrix D (DESIGN.md §7) the silhouette measures exactly that, per component:
``s(i) = (b - a) / max(a, b)`` with ``a`` the mean distance to the other
members of i's cluster and ``b`` the smallest mean distance to another
cluster. It is implemented here (numpy, no sklearn) with sklearn's
conventions: a singleton cluster's member scores 0, a component with
``max(a, b) = 0`` scores 0, and the coefficient is the mean over components.
It is undefined -- ``None`` here -- when there is one cluster or every
component is its own cluster.

Why a relabelling null: the silhouette's scale depends on D and on the
cluster sizes, so the raw number is not comparable across circuits. Permuting
the labels keeps every cluster's size and asks how a random grouping of the
same shape scores on the same matrix; z and an empirical p-value then say how
far the explanation is from chance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check(distances: np.ndarray, labels: Sequence) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"Distance matrix must be square, got shape {d.shape}.")
    if len(labels) != d.shape[0]:
        raise ValueError(f"{len(labels)} labels for a {d.shape[0]}×{d.shape[0]} distance matrix.")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("Distances must be finite and non-negative.")
    _, codes = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    d = d.copy()
    np.fill_diagonal(d, 0.0)
    return d, codes.astype(np.int64)


def silhouette_samples(distances: np.ndarray, labels: Sequence) -> np.ndarray:
    """Per-component silhouette values.

    Args:
        distances: [m, m] non-negative distances (the diagonal is ignored).
        labels: m cluster labels (any hashable values; compared as strings).

    Returns:
        [m] values in [-1, 1]; 0 for members of singleton clusters.
    """
    d, codes = _check(distances, labels)
    return _samples(d, codes)


def _samples(d: np.ndarray, codes: np.ndarray) -> np.ndarray:
    m = d.shape[0]
    k = int(codes.max()) + 1
    onehot = np.zeros((m, k))
    onehot[np.arange(m), codes] = 1.0
    sums = d @ onehot  # [m, k]: total distance from i to each cluster
    counts = onehot.sum(axis=0)  # [k]
    own = counts[codes]
    a = sums[np.arange(m), codes] / np.maximum(own - 1, 1)
    means = sums / np.maximum(counts, 1)
    means[np.arange(m), codes] = np.inf
    means[:, counts == 0] = np.inf
    b = means.min(axis=1)
    denom = np.maximum(a, b)
    s = np.where(denom > 0, (b - a) / np.where(denom > 0, denom, 1.0), 0.0)
    return np.where(own > 1, s, 0.0)


def silhouette(distances: np.ndarray, labels: Sequence) -> float | None:
    """Mean silhouette coefficient, or None when undefined (1 cluster, or all singletons)."""
    d, codes = _check(distances, labels)
    n_clusters = len(set(codes.tolist()))
    if n_clusters < 2 or n_clusters >= d.shape[0]:
        return None
    return float(_samples(d, codes).mean())


def relabel_null(distances: np.ndarray, labels: Sequence, draws: int = 200, seed: int = 0) -> np.ndarray:
    """Silhouettes of ``draws`` random size-preserving relabellings (label permutations).

    Returns:
        [draws] silhouette values (float64). Requires a defined silhouette.
    """
    d, codes = _check(distances, labels)
    n_clusters = len(set(codes.tolist()))
    if n_clusters < 2 or n_clusters >= d.shape[0]:
        raise ValueError("The silhouette is undefined for this clustering; no null to draw.")
    rng = np.random.default_rng(seed)
    return np.array([_samples(d, rng.permutation(codes)).mean() for _ in range(draws)])


def null_summary(score: float, null: np.ndarray) -> dict:
    """Mean, population std, z and empirical p-value ``(1 + #{null >= score}) / (1 + draws)``.

    ``z`` is None when the null has zero spread (every relabelling scores the same).
    """
    mean, std = float(null.mean()), float(null.std())
    # a relabelling that reproduces the same partition scores `score` up to rounding
    at_least = int(np.sum(null >= score - 1e-12))
    return {
        "random_mean": mean,
        "random_std": std,
        "z": (score - mean) / std if std > 0 else None,
        "p_value": (1 + at_least) / (1 + len(null)),
    }
