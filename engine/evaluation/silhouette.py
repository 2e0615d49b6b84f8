"""Silhouette coefficient of a clustering on a precomputed distance matrix.

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

``silhouette_batch`` scores many labellings of the same matrix at once; the
nulls (``nulls``) and the ceiling (``ceiling``) draw or enumerate thousands
of labellings and use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_distances(distances: np.ndarray) -> np.ndarray:
    """A float64 copy of a square, finite, non-negative distance matrix with a zero diagonal."""
    d = np.array(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"Distance matrix must be square, got shape {d.shape}.")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("Distances must be finite and non-negative.")
    np.fill_diagonal(d, 0.0)
    return d


def label_codes(labels: Sequence) -> np.ndarray:
    """Labels (any hashable values, compared as strings) as integer codes 0..k-1: [m] int64."""
    _, codes = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    return codes.astype(np.int64)


def _check(distances: np.ndarray, labels: Sequence) -> tuple[np.ndarray, np.ndarray]:
    d = check_distances(distances)
    if len(labels) != d.shape[0]:
        raise ValueError(f"{len(labels)} labels for a {d.shape[0]}×{d.shape[0]} distance matrix.")
    return d, label_codes(labels)


def silhouette_batch(d: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per-component silhouettes of many labellings of one matrix.

    Args:
        d: [m, m] checked distances (``check_distances``).
        codes: [B, m] integer cluster codes, each row one labelling (codes need
            not be contiguous; at most ``m`` distinct values, in 0..m-1).

    Returns:
        [B, m] silhouette values; members of singleton clusters score 0.
    """
    codes = np.atleast_2d(codes)
    b, m = codes.shape
    onehot = np.zeros((b, m, m))
    onehot[np.arange(b)[:, None], np.arange(m)[None, :], codes] = 1.0
    sums = np.einsum("ij,bjk->bik", d, onehot)  # [B, m, K]: total distance from i to each cluster
    counts = onehot.sum(axis=1)  # [B, K]
    own = np.take_along_axis(counts, codes, axis=1)  # [B, m]
    own_sum = np.take_along_axis(sums, codes[..., None], axis=2)[..., 0]
    a = own_sum / np.maximum(own - 1, 1)
    means = sums / np.maximum(counts, 1)[:, None, :]
    means[np.broadcast_to(counts[:, None, :] == 0, means.shape)] = np.inf
    np.put_along_axis(means, codes[..., None], np.inf, axis=2)
    nearest = means.min(axis=2)
    denom = np.maximum(a, nearest)
    s = np.where(denom > 0, (nearest - a) / np.where(denom > 0, denom, 1.0), 0.0)
    return np.where(own > 1, s, 0.0)


def defined(codes: np.ndarray) -> np.ndarray:
    """Per labelling (row of ``codes`` [B, m]): is the silhouette defined (2 <= clusters < m)?"""
    codes = np.atleast_2d(codes)
    k = np.array([len(np.unique(row)) for row in codes])
    return (k >= 2) & (k < codes.shape[1])


def silhouette_samples(distances: np.ndarray, labels: Sequence) -> np.ndarray:
    """Per-component silhouette values.

    Args:
        distances: [m, m] non-negative distances (the diagonal is ignored).
        labels: m cluster labels (any hashable values; compared as strings).

    Returns:
        [m] values in [-1, 1]; 0 for members of singleton clusters.
    """
    d, codes = _check(distances, labels)
    return silhouette_batch(d, codes[None])[0]


def silhouette(distances: np.ndarray, labels: Sequence) -> float | None:
    """Mean silhouette coefficient, or None when undefined (1 cluster, or all singletons)."""
    d, codes = _check(distances, labels)
    if not defined(codes[None])[0]:
        return None
    return float(silhouette_batch(d, codes[None])[0].mean())
