"""What a role clustering's silhouette is compared with: nulls that know how the roles were chosen.

Why several nulls: a silhouette is only evidence next to what the same
procedure gives without the claimed structure.

* **Relabelling null** (size-preserving): the roles' labels randomly permuted
  over the same heads. It keeps every role's size and asks how a random
  grouping of that shape scores on the same matrix.
* **Layer-matched null**: labels permuted only among heads of the same layer,
  so every role keeps its layer make-up. Swap distances grow with depth (a
  swap into a late layer changes less downstream), so a grouping by layer
  beats the relabelling null without saying anything about function; it does
  not beat this one. When every layer's heads share one role the null cannot
  move at all: it is degenerate, and the output says so.
* **Selection-aware null**, for roles *fitted* to the swap distances (an
  opt-in agent mode): the fitting procedure itself rerun on structureless
  matrices -- the same distances shuffled among the pairs of heads -- and its
  score recorded. A procedure that picks the best of many groupings finds
  "significant" structure in noise; this null asks whether the roles beat
  what the procedure finds there.

Every null reports ``mean, std, z, p`` with the empirical p-value
``(1 + #{null >= score}) / (1 + draws)``; ``z`` is None when the null has no
spread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from engine.evaluation.silhouette import check_distances, defined, label_codes, silhouette_batch

MIN_DRAWS = 200
#: a relabelling that reproduces the same partition scores ``score`` up to float rounding
TIE = 1e-12


@dataclass(frozen=True)
class NullSummary:
    """A score's place in a null distribution."""

    mean: float
    std: float
    z: float | None
    p_value: float
    draws: int

    def as_dict(self) -> dict:
        return asdict(self)


def summarise(score: float, null: np.ndarray) -> NullSummary:
    """Mean, population std, z (None without spread) and empirical p of ``score`` against ``null``.

    Draws where a procedure found nothing (``-inf``) count towards p (as below the
    score) but not towards the mean and spread.
    """
    finite = null[np.isfinite(null)]
    mean, std = (float(finite.mean()), float(finite.std())) if len(finite) else (float("nan"), 0.0)
    at_least = int(np.sum(null >= score - TIE))
    return NullSummary(mean, std, (score - mean) / std if std > 0 else None,
                       (1 + at_least) / (1 + len(null)), len(null))


def _check_draws(draws: int) -> None:
    if draws < MIN_DRAWS:
        raise ValueError(f"A null needs at least {MIN_DRAWS} draws, got {draws}.")


def relabel_null(distances: np.ndarray, labels: Sequence, draws: int = MIN_DRAWS, seed: int = 0) -> np.ndarray:
    """Mean silhouettes of ``draws`` random size-preserving relabellings (label permutations).

    Returns:
        [draws] float64. Requires a defined silhouette.
    """
    _check_draws(draws)
    d, codes = check_distances(distances), label_codes(labels)
    if not defined(codes[None])[0]:
        raise ValueError("The silhouette is undefined for this clustering; no null to draw.")
    rng = np.random.default_rng(seed)
    drawn = np.stack([rng.permutation(codes) for _ in range(draws)])
    return silhouette_batch(d, drawn).mean(axis=1)


def layer_matched_null(
    distances: np.ndarray, labels: Sequence, layers: Sequence[int], draws: int = MIN_DRAWS, seed: int = 0,
) -> np.ndarray:
    """Mean silhouettes of relabellings that permute labels only among heads of the same layer.

    Args:
        distances: [m, m] swap distances.
        labels: m role labels.
        layers: m layer indices of the heads.

    Returns:
        [draws] float64 (all equal to the score when no layer holds two roles).
    """
    _check_draws(draws)
    d, codes = check_distances(distances), label_codes(labels)
    layer_arr = np.asarray(layers)
    if len(layer_arr) != len(codes):
        raise ValueError(f"{len(layer_arr)} layers for {len(codes)} heads.")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(layer_arr == layer) for layer in np.unique(layer_arr)]
    drawn = np.empty((draws, len(codes)), dtype=np.int64)
    for row in range(draws):
        permuted = codes.copy()
        for idx in groups:
            permuted[idx] = codes[rng.permutation(idx)]
        drawn[row] = permuted
    return silhouette_batch(d, drawn).mean(axis=1)


def layer_null_degenerate(labels: Sequence, layers: Sequence[int]) -> bool:
    """True when no layer holds heads of two roles: the layer-matched null cannot move any label."""
    codes, layer_arr = label_codes(labels), np.asarray(layers)
    return all(len(np.unique(codes[layer_arr == layer])) == 1 for layer in np.unique(layer_arr))


def shuffle_distances(distances: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A structureless matrix: the same pair distances, shuffled among the pairs (symmetric)."""
    d = check_distances(distances)
    upper = np.triu_indices(len(d), k=1)
    values = rng.permutation(d[upper])
    out = np.zeros_like(d)
    out[upper] = values
    return out + out.T


#: a fitting procedure: distances -> (labels, the statistic it maximised, e.g. z)
FitFn = Callable[[np.ndarray], tuple[Sequence, float | None]]


def selection_aware_null(distances: np.ndarray, fit: FitFn, draws: int = MIN_DRAWS, seed: int = 0) -> np.ndarray:
    """The statistic a fitting procedure reaches on ``draws`` structureless (shuffled) matrices.

    Args:
        distances: [m, m] the real swap distances (their values are shuffled).
        fit: the procedure that chose the roles, rerun on each shuffled matrix.

    Returns:
        [draws] float64: the procedure's statistic per draw (-inf where it found no grouping).
    """
    _check_draws(draws)
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    for i in range(draws):
        _, stat = fit(shuffle_distances(distances, rng))
        out[i] = -np.inf if stat is None else stat
    return out
