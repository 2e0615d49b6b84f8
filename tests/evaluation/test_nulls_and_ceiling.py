"""The nulls, the ceiling and the fitting procedure on matrices whose structure is known by construction.

Planted structure must be found, depth alone must not pass the layer-matched
null, structureless matrices must give uniform p-values, and roles fitted to
noise must not beat the selection-aware null.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from engine.evaluation.ceiling import silhouette_ceiling
from engine.evaluation.fitting import fit_roles_to_distances
from engine.evaluation.interchangeability import FITTED, score_roles
from engine.evaluation.nulls import (
    layer_matched_null,
    layer_null_degenerate,
    relabel_null,
    shuffle_distances,
    summarise,
)
from tests.evaluation.test_silhouette import loop_silhouette


def planted_matrix(seed: int = 0, groups: int = 3, size: int = 4, noise: float = 0.05) -> tuple[np.ndarray, list[str]]:
    """Small within-group distances (~0.1), large between-group ones (~0.5), symmetric noise."""
    rng = np.random.default_rng(seed)
    labels = [f"g{g}" for g in range(groups) for _ in range(size)]
    same = np.equal.outer(labels, labels)
    d = np.where(same, 0.1, 0.5) + rng.uniform(0, noise, (len(labels),) * 2)
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return d, labels


def noise_matrix(m: int, rng: np.random.Generator) -> np.ndarray:
    d = rng.uniform(0.1, 1.0, (m, m))
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return d


def heads_in_layers(sizes: list[int]) -> list[str]:
    return [f"L{layer}.H{h}" for layer, n in enumerate(sizes) for h in range(n)]


def test_summary_arithmetic():
    out = summarise(0.0, np.array([-1.0, 0.0, 0.5, -0.5]))
    assert out.p_value == pytest.approx((1 + 2) / (1 + 4))  # 0.0 and 0.5 are at least the score
    assert out.mean == pytest.approx(-0.25)
    assert out.z == pytest.approx(0.25 / np.std([-1.0, 0.0, 0.5, -0.5]))
    flat = summarise(1.0, np.ones(5))
    assert flat.z is None and flat.p_value == 1.0
    found_nothing = summarise(2.0, np.array([1.0, -np.inf, 3.0]))
    assert found_nothing.mean == pytest.approx(2.0) and found_nothing.p_value == pytest.approx(2 / 4)


def test_planted_groups_beat_every_null_and_reach_the_ceiling():
    d, labels = planted_matrix()
    heads = [f"L{i % 3}.H{i // 3}" for i in range(12)]  # every group spread over the three layers
    out = score_roles(d, heads, labels, "evidence", null_draws=300)
    assert out["silhouette"] > 0.6 and out["z"] > 3 and out["p_value"] == pytest.approx(1 / 301)
    assert out["layer_matched"]["z"] > 3 and not out["layer_matched"]["degenerate"]
    assert out["ceiling"]["silhouette"] == pytest.approx(out["silhouette"], abs=1e-12)
    assert out["verdict"] == "beats random and layer-matched groupings"
    assert out["n_singletons"] == 0 and out["n_clusters"] == 3


def test_depth_alone_passes_the_relabelling_null_but_not_the_layer_matched_one():
    # distances set by layer only: within a layer small, across layers growing with the layer gap
    rng = np.random.default_rng(0)
    heads = heads_in_layers([4, 4, 4])
    layer = np.array([int(h[1]) for h in heads])
    d = 0.1 + 0.3 * np.abs(np.subtract.outer(layer, layer)) + rng.uniform(0, 0.02, (12, 12))
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0)
    # roles that mix layers 0+1 against layer 2, split within layer 2 too: not purely by layer
    labels = ["a", "a", "a", "a", "a", "a", "a", "a", "b", "b", "c", "c"]
    out = score_roles(d, heads, labels, "evidence", null_draws=300, seed=1)
    assert out["p_value"] < 0.05  # depth makes it look structured against random groupings
    assert out["layer_matched"]["p_value"] > 0.05  # but it is no better than any grouping with its layer make-up
    assert out["verdict"] == "beats random groupings but not layer-matched ones (depth explains it)"
    by_layer = ["x"] * 4 + ["y"] * 4 + ["z"] * 4
    assert layer_null_degenerate(by_layer, layer)
    assert np.ptp(layer_matched_null(d, by_layer, layer, 200)) == 0.0
    assert score_roles(d, heads, by_layer, "evidence")["verdict"].endswith("(depth cannot be ruled out)")


def test_p_values_are_uniform_on_structureless_matrices():
    rng = np.random.default_rng(7)
    ps_relabel, ps_layer = [], []
    for _ in range(200):
        d = noise_matrix(9, rng)
        labels = list(rng.permutation(["a"] * 3 + ["b"] * 3 + ["c"] * 3))
        layers = [0, 0, 0, 1, 1, 1, 2, 2, 2]
        seed = int(rng.integers(1 << 30))
        ps_relabel.append(_p(d, labels, relabel_null(d, labels, 200, seed)))
        ps_layer.append(_p(d, labels, layer_matched_null(d, labels, layers, 200, seed)))
    for ps in (ps_relabel, ps_layer):
        assert stats.kstest(ps, "uniform").pvalue > 0.05
        assert np.mean(np.array(ps) < 0.05) < 0.1


def _p(d: np.ndarray, labels: list[str], null: np.ndarray) -> float:
    score = float(np.mean(loop_silhouette(d.tolist(), labels)))  # independent of the batched code
    return summarise(score, null).p_value


def _all_partitions(items: list[int]):
    """Every set partition of ``items`` (itertools-only reference; independent of the RGS enumerator)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _all_partitions(rest):
        yield [[first], *part]
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1:]]


def test_exact_ceiling_equals_brute_force_over_every_partition():
    rng = np.random.default_rng(2)
    d = noise_matrix(7, rng)
    best = -2.0
    count = 0
    for part in _all_partitions(list(range(7))):
        count += 1
        if not 2 <= len(part) < 7:
            continue
        labels = [next(g for g, block in enumerate(part) if i in block) for i in range(7)]
        best = max(best, float(np.mean(loop_silhouette(d.tolist(), labels))))
    assert count == 877  # Bell(7)
    ceiling = silhouette_ceiling(d)
    assert ceiling.method == "exact" and ceiling.silhouette == pytest.approx(best, abs=1e-12)
    labels = ceiling.labels
    assert float(np.mean(loop_silhouette(d.tolist(), labels))) == pytest.approx(best, abs=1e-12)


def test_search_finds_the_planted_optimum_of_a_large_circuit():
    d, labels = planted_matrix(groups=4, size=4)  # 16 heads: searched, not enumerated
    ceiling = silhouette_ceiling(d)
    assert ceiling.method == "search"
    groups = {tuple(i for i, c in enumerate(ceiling.labels) if c == k) for k in set(ceiling.labels)}
    truth = {tuple(i for i, lab in enumerate(labels) if lab == g) for g in set(labels)}
    assert groups == truth


def test_fitting_recovers_planted_roles_and_fitted_noise_does_not_beat_the_selection_aware_null():
    d, truth = planted_matrix(noise=0.02)
    labels, z = fit_roles_to_distances(d)
    assert len(set(labels)) == 3 and z is not None and z > 3
    groups = {tuple(i for i, c in enumerate(labels) if c == k) for k in set(labels)}
    assert groups == {tuple(i for i, lab in enumerate(truth) if lab == g) for g in set(truth)}
    planted = score_roles(d, [f"L0.H{i}" for i in range(12)], [str(x) for x in labels], FITTED, 200)
    assert planted["selection_aware"]["p_value"] < 0.05
    rng = np.random.default_rng(11)
    naive, aware = [], []
    for _ in range(12):
        noise = noise_matrix(10, rng)
        fitted, _ = fit_roles_to_distances(noise)
        out = score_roles(noise, [f"L0.H{i}" for i in range(10)], [str(x) for x in fitted], FITTED, 200,
                          seed=int(rng.integers(1000)))
        naive.append(out["p_value"])
        aware.append(out["selection_aware"]["p_value"])
    assert np.mean(np.array(naive) < 0.05) > 0.5  # the fitted roles look significant against plain relabelling
    assert np.mean(np.array(aware) < 0.05) <= 2 / 12  # but not against the procedure run on noise


def test_shuffled_matrices_keep_their_values_and_lose_their_structure():
    d, _ = planted_matrix()
    s = shuffle_distances(d, np.random.default_rng(0))
    upper = np.triu_indices(12, 1)
    assert sorted(s[upper]) == pytest.approx(sorted(d[upper]))
    assert np.allclose(s, s.T) and np.all(np.diag(s) == 0)
    assert fit_roles_to_distances(s)[1] is None or fit_roles_to_distances(s)[1] < fit_roles_to_distances(d)[1]


def test_undefined_roles_say_so():
    d, _ = planted_matrix()
    heads = [f"L0.H{i}" for i in range(12)]
    for labels in (["a"] * 12, [str(i) for i in range(12)]):
        out = score_roles(d, heads, labels, "evidence")
        assert out["silhouette"] is None and out["z"] is None and out["verdict"] == "undefined"
        assert "undefined" in out["note"]
    with pytest.raises(ValueError, match="at least 200"):
        score_roles(d, heads, ["a"] * 6 + ["b"] * 6, "evidence", null_draws=50)
    with pytest.raises(ValueError, match="undefined"):
        relabel_null(d, ["a"] * 12)
