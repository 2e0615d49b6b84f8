"""Silhouette against hand arithmetic and a plain loop, and its undefined cases."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.nulls import relabel_null
from engine.evaluation.silhouette import (
    check_distances,
    silhouette,
    silhouette_batch,
    silhouette_samples,
)

# points 0,1 in A; 2,3 in B; 4 alone in C
HAND_D = np.array([
    [0, 1, 4, 5, 6],
    [1, 0, 3, 4, 5],
    [4, 3, 0, 2, 3],
    [5, 4, 2, 0, 1],
    [6, 5, 3, 1, 0],
], dtype=float)
HAND_LABELS = ["A", "A", "B", "B", "C"]


def test_silhouette_matches_hand_computation():
    # s0: a = 1, b = min(mean(4, 5), 6) = 4.5      -> (4.5 - 1) / 4.5 = 7/9
    # s1: a = 1, b = min(mean(3, 4), 5) = 3.5      -> (3.5 - 1) / 3.5 = 5/7
    # s2: a = 2, b = min(mean(4, 3), 3) = 3        -> (3 - 2) / 3     = 1/3
    # s3: a = 2, b = min(mean(5, 4), 1) = 1        -> (1 - 2) / 2     = -1/2
    # s4: singleton                                 -> 0
    # mean = (7/9 + 5/7 + 1/3 - 1/2 + 0) / 5 = (98 + 90 + 42 - 63) / 126 / 5 = 167/630
    expected = [7 / 9, 5 / 7, 1 / 3, -1 / 2, 0.0]
    np.testing.assert_allclose(silhouette_samples(HAND_D, HAND_LABELS), expected, atol=1e-12)
    assert silhouette(HAND_D, HAND_LABELS) == pytest.approx(167 / 630, abs=1e-12)


def test_label_values_do_not_matter():
    relabelled = ["z", "z", "y", "y", "x"]
    assert silhouette(HAND_D, relabelled) == pytest.approx(silhouette(HAND_D, HAND_LABELS))


def test_singletons_score_zero_and_degenerate_clusterings_are_undefined():
    s = silhouette_samples(HAND_D, ["A", "B", "B", "C", "C"])
    assert s[0] == 0.0 and s[1] != 0.0
    assert silhouette(HAND_D, ["A"] * 5) is None  # one cluster
    assert silhouette(HAND_D, list("ABCDE")) is None  # all singletons
    with pytest.raises(ValueError, match="undefined"):
        relabel_null(HAND_D, ["A"] * 5)


def test_zero_distance_points_score_zero():
    d = np.zeros((4, 4))
    np.testing.assert_array_equal(silhouette_samples(d, ["a", "a", "b", "b"]), np.zeros(4))


def test_bad_inputs_are_errors():
    with pytest.raises(ValueError, match="square"):
        silhouette(np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="labels"):
        silhouette(HAND_D, ["a", "b"])
    with pytest.raises(ValueError, match="non-negative"):
        silhouette(-HAND_D, HAND_LABELS)


def loop_silhouette(d: np.ndarray, labels: list) -> list[float]:
    """The textbook definition, one component at a time (the reference for the vectorised version)."""
    out = []
    for i, own in enumerate(labels):
        mates = [j for j, lab in enumerate(labels) if lab == own and j != i]
        if not mates:
            out.append(0.0)
            continue
        a = sum(d[i][j] for j in mates) / len(mates)
        b = min(sum(d[i][j] for j, lab in enumerate(labels) if lab == other) / labels.count(other)
                for other in set(labels) if other != own)
        out.append(0.0 if max(a, b) == 0 else (b - a) / max(a, b))
    return out


def test_batched_silhouette_matches_the_plain_loop_on_random_labellings():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 4))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    codes = rng.integers(0, 4, size=(50, 9))
    batch = silhouette_batch(check_distances(d), codes)
    for row, got in zip(codes, batch, strict=True):
        np.testing.assert_allclose(got, loop_silhouette(d.tolist(), row.tolist()), atol=1e-12)
