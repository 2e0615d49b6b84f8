"""The ceiling: the best silhouette any grouping of the same heads reaches on the same distances.

Why: a silhouette of 0.15 means little alone. If no partition of these heads
scores above 0.2, the roles are close to the best the matrix allows; if one
reaches 0.8, the matrix has clear structure the roles missed. The ceiling is
what the evaluation could have given; with the nulls (``nulls``) it brackets
the score.

Exact for small circuits: every set partition of ``m`` heads into 2..m-1
groups is enumerated (restricted growth strings; Bell(10) = 115,975
partitions, scored in batches). Above ``EXACT_MAX`` heads it is searched:
hierarchical cuts of the matrix at every number of groups plus random
starts, each improved by moving one head at a time (to another group or a
group of its own) while the silhouette rises; the output says ``search``,
and the value is a lower bound of the true ceiling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from engine.evaluation.silhouette import check_distances, defined, silhouette_batch

EXACT_MAX = 10
BATCH = 20_000
RANDOM_STARTS = 40


@dataclass(frozen=True)
class Ceiling:
    """The best silhouette found, the grouping that reaches it, and how it was found."""

    silhouette: float | None
    labels: list[int]
    method: str  # "exact" or "search"

    def as_dict(self) -> dict:
        return {"silhouette": self.silhouette, "labels": self.labels, "method": self.method}


def set_partitions(m: int) -> Iterator[np.ndarray]:
    """Every partition of m items as restricted growth strings, in batches: [B, m] int64."""
    rows: list[list[int]] = []
    codes = [0] * m
    maxes = [0] * m

    def grow(i: int) -> Iterator[list[int]]:
        if i == m:
            yield list(codes)
            return
        for c in range(maxes[i - 1] + 2 if i else 1):
            codes[i] = c
            maxes[i] = max(maxes[i - 1], c) if i else c
            yield from grow(i + 1)

    for row in grow(0):
        rows.append(row)
        if len(rows) == BATCH:
            yield np.array(rows, dtype=np.int64)
            rows = []
    if rows:
        yield np.array(rows, dtype=np.int64)


def _exact(d: np.ndarray) -> Ceiling:
    best, labels = -np.inf, None
    for batch in set_partitions(len(d)):
        batch = batch[defined(batch)] if len(batch) else batch
        if not len(batch):
            continue
        scores = silhouette_batch(d, batch).mean(axis=1)
        i = int(scores.argmax())
        if scores[i] > best:
            best, labels = float(scores[i]), batch[i]
    return Ceiling(best, [int(x) for x in labels], "exact") if labels is not None else Ceiling(None, [], "exact")


def _improve(d: np.ndarray, codes: np.ndarray) -> tuple[float, np.ndarray]:
    """Move single heads between groups (or into a new one) while the mean silhouette rises."""
    m = len(codes)
    current = float(silhouette_batch(d, codes[None]).mean()) if defined(codes[None])[0] else -np.inf
    improved = True
    while improved:
        improved = False
        moves = []
        for i in range(m):
            for c in range(m):
                if c != codes[i]:
                    cand = codes.copy()
                    cand[i] = c
                    moves.append(cand)
        cands = np.array(moves)
        cands = cands[defined(cands)]
        if not len(cands):
            break
        scores = silhouette_batch(d, cands).mean(axis=1)
        j = int(scores.argmax())
        if scores[j] > current + 1e-12:
            current, codes, improved = float(scores[j]), cands[j], True
    return current, codes


def _search(d: np.ndarray, seed: int) -> Ceiling:
    m = len(d)
    starts = []
    condensed = squareform(d, checks=False)
    for method in ("average", "complete", "single"):
        tree = linkage(condensed, method=method)
        starts += [fcluster(tree, t=k, criterion="maxclust") - 1 for k in range(2, m)]
    rng = np.random.default_rng(seed)
    starts += [rng.integers(0, rng.integers(2, m), size=m) for _ in range(RANDOM_STARTS)]
    best, labels = -np.inf, None
    for start in starts:
        score, codes = _improve(d, np.asarray(start, dtype=np.int64))
        if score > best:
            best, labels = score, codes
    if labels is None or not np.isfinite(best):
        return Ceiling(None, [], "search")
    first: dict[int, int] = {}
    return Ceiling(best, [first.setdefault(int(x), len(first)) for x in labels], "search")


def silhouette_ceiling(distances: np.ndarray, seed: int = 0) -> Ceiling:
    """The highest mean silhouette of any partition of the heads into 2..m-1 groups.

    Args:
        distances: [m, m] swap distances.
        seed: seed of the random starts of the search (large m only).

    Returns:
        ``Ceiling``; ``silhouette`` None when no partition is defined (m < 3).
    """
    d = check_distances(distances)
    if len(d) < 3:
        return Ceiling(None, [], "exact")
    return _exact(d) if len(d) <= EXACT_MAX else _search(d, seed)
