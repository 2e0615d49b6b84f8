"""Roles fitted to swap distances: the procedure, owned by the evaluator.

Why here and not in the agent: fitting roles to the very distances the
interchangeability score is made of grades the procedure, not an
explanation. It is an opt-in agent mode (``explain --fit-roles-to-swaps``),
recorded as ``roles_source: "fitted_to_swaps"``, and its score is compared
with a selection-aware null -- this same procedure rerun on structureless
matrices (``nulls.selection_aware_null``). Keeping the one procedure in the
evaluation maths means the null always reruns exactly what the agent ran.

The procedure: average-linkage clustering of the heads on the symmetric swap
distances, cut at every number of roles from 2 to ``MAX_ROLES``; the cut
whose silhouette stands highest above random size-preserving relabellings
(largest z) wins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from engine.evaluation.nulls import MIN_DRAWS, relabel_null, summarise
from engine.evaluation.silhouette import check_distances, silhouette

MAX_ROLES = 6


def grouping_z(distances: np.ndarray, labels: Sequence, draws: int = MIN_DRAWS, seed: int = 0) -> float | None:
    """z of a grouping's silhouette against size-preserving random relabellings (None if undefined)."""
    score = silhouette(distances, labels)
    if score is None:
        return None
    return summarise(score, relabel_null(distances, labels, draws, seed)).z


def fit_roles_to_distances(distances: np.ndarray, seed: int = 0, draws: int = MIN_DRAWS) -> tuple[list[int], float | None]:
    """Group heads by measured interchangeability: average linkage, the number of roles with the largest z.

    Args:
        distances: [m, m] symmetric swap distances.
        seed: seed of the relabelling nulls.
        draws: relabellings per candidate number of roles.

    Returns:
        (labels 0..k-1 in order of first appearance, their z); one group and
        None when there are fewer than three heads or no cut is defined.
    """
    d = check_distances(distances)
    m = len(d)
    if m < 3:
        return [0] * m, None
    tree = linkage(squareform(d, checks=False), method="average")
    best: tuple[list[int], float | None] = ([0] * m, None)
    for k in range(2, min(MAX_ROLES, m - 1) + 1):
        raw = fcluster(tree, t=k, criterion="maxclust")
        first: dict[int, int] = {}
        labels = [first.setdefault(int(x), len(first)) for x in raw]
        z = grouping_z(d, labels, draws, seed)
        if z is not None and (best[1] is None or z > best[1] + 1e-9):
            best = (labels, z)
    return best
