"""Silhouette against hand arithmetic, its undefined cases, and the relabelling null on planted groups."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.interchangeability import interchangeability_from_distances
from engine.evaluation.silhouette import (
    null_summary,
    relabel_null,
    silhouette,
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


def planted_matrix(seed: int = 0, groups: int = 3, size: int = 4) -> tuple[np.ndarray, list[str]]:
    """Small within-group distances (~0.1), large between-group ones (~0.5), symmetric noise."""
    rng = np.random.default_rng(seed)
    labels = [f"g{g}" for g in range(groups) for _ in range(size)]
    same = np.equal.outer(labels, labels)
    d = np.where(same, 0.1, 0.5) + rng.uniform(0, 0.05, (len(labels),) * 2)
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return d, labels


def test_planted_groups_score_far_above_the_null():
    d, labels = planted_matrix()
    out = interchangeability_from_distances(d, [f"L0.H{i}" for i in range(12)], labels, null_draws=300)
    assert out["silhouette"] > 0.6
    assert out["z"] > 3
    assert out["p_value"] == pytest.approx(1 / 301)  # no relabelling does as well
    assert out["n_components"] == 12 and out["n_clusters"] == 3 and out["null_draws"] == 300
    assert out["note"] is None


def test_random_clustering_is_near_the_null():
    d, labels = planted_matrix()
    rng = np.random.default_rng(1)
    zs = []
    for _ in range(20):
        shuffled = list(rng.permutation(labels))
        zs.append(interchangeability_from_distances(d, [str(i) for i in range(12)], shuffled, seed=2)["z"])
    assert abs(zs[0]) < 2
    assert abs(float(np.mean(zs))) < 0.7


def test_null_is_seeded_and_p_value_formula():
    d, labels = planted_matrix()
    a = relabel_null(d, labels, draws=200, seed=5)
    b = relabel_null(d, labels, draws=200, seed=5)
    np.testing.assert_array_equal(a, b)
    summary = null_summary(0.0, np.array([-1.0, 0.0, 0.5, -0.5]))
    assert summary["p_value"] == pytest.approx((1 + 2) / (1 + 4))
    assert summary["random_mean"] == pytest.approx(-0.25)
    assert summary["z"] == pytest.approx(0.25 / np.std([-1.0, 0.0, 0.5, -0.5]))


def test_undefined_silhouette_is_reported_with_a_note():
    out = interchangeability_from_distances(HAND_D, list("abcde"), ["A"] * 5)
    assert out["silhouette"] is None and out["z"] is None and out["p_value"] is None
    assert "undefined" in out["note"]
    with pytest.raises(ValueError, match="at least 200"):
        interchangeability_from_distances(HAND_D, list("abcde"), HAND_LABELS, null_draws=50)
