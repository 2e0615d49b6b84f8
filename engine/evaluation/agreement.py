"""Agreement between two explanations of one circuit: role clusterings and component sets.

Why these three numbers: when the true explanation is known (a planted model,
or a reference transcribed from a paper), an explanation can be compared with
it directly. The comparison has two parts that must not be confused:

* **Which components** -- circuit precision (the share of the found
  components that are in the reference) and recall (the share of the
  reference found).
* **How they are grouped** -- role names are arbitrary strings, so roles are
  compared as partitions. The adjusted Rand index (Hubert & Arabie, 1985)
  counts the pairs of components that both labellings put together or both
  put apart, corrected for chance: 1 for identical partitions (whatever the
  names), about 0 for a random one, negative for worse than chance.
  Assignment accuracy matches the roles one to one (Hungarian algorithm,
  ``scipy.optimize.linear_sum_assignment``) so as to maximise the components
  that land in their matched role, and reports that share: it reads as
  "fraction of components in the right role".

Components in one labelling but not the other: with ``missing="ignore"``
(the default) both role scores are computed on the components the two
labellings share -- the component-set difference is what precision and
recall measure, so it is not counted twice. With ``missing="singleton"``
the scores run on the union, and a component absent from one side counts
there as a role of its own (so an extra or missing component can only lower
the agreement). Fewer than two components to compare leave the ARI
undefined (``None``); assignment accuracy is then ``None`` for zero.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from math import comb
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

Missing = Literal["ignore", "singleton"]


@dataclass(frozen=True)
class CircuitOverlap:
    """Found components against reference components."""

    precision: float | None
    recall: float | None
    found: int
    reference: int
    common: int


def _aligned(a: Mapping[str, str], b: Mapping[str, str], missing: Missing) -> tuple[list[str], list[str]]:
    """The two labellings as parallel label lists over the compared components."""
    if missing == "ignore":
        keys = sorted(set(a) & set(b))
    elif missing == "singleton":
        keys = sorted(set(a) | set(b))
    else:
        raise ValueError(f"missing must be 'ignore' or 'singleton', not {missing!r}")

    def label(side: Mapping[str, str], key: str, tag: str) -> str:
        # a component the side does not label is alone in a role no real label can collide with
        return f"r:{side[key]}" if key in side else f"{tag}:{key}"

    return [label(a, k, "missing-a") for k in keys], [label(b, k, "missing-b") for k in keys]


def _contingency(x: list[str], y: list[str]) -> np.ndarray:
    rows = {v: i for i, v in enumerate(dict.fromkeys(x))}
    cols = {v: i for i, v in enumerate(dict.fromkeys(y))}
    table = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for u, v in zip(x, y, strict=True):
        table[rows[u], cols[v]] += 1
    return table


def adjusted_rand_index(a: Mapping[str, str], b: Mapping[str, str], missing: Missing = "ignore") -> float | None:
    """Adjusted Rand index between two labellings (component id -> role name).

    ``ARI = (index - expected) / (max - expected)`` with ``index`` the number
    of component pairs together in both, ``expected = rows * cols / C(n, 2)``
    (``rows``/``cols``: pairs together in each labelling) and ``max`` their
    mean. When ``max == expected`` -- both labellings all singletons, or both
    one role -- the partitions are identical and the index is 1.

    Returns:
        The ARI, or None when fewer than two components are compared.
    """
    x, y = _aligned(a, b, missing)
    n = len(x)
    if n < 2:
        return None
    table = _contingency(x, y)
    index = sum(comb(int(v), 2) for v in table.ravel())
    rows = sum(comb(int(v), 2) for v in table.sum(axis=1))
    cols = sum(comb(int(v), 2) for v in table.sum(axis=0))
    expected = rows * cols / comb(n, 2)
    top = (rows + cols) / 2
    if top == expected:
        return 1.0
    return float((index - expected) / (top - expected))


def assignment_accuracy(a: Mapping[str, str], b: Mapping[str, str], missing: Missing = "ignore") -> float | None:
    """Share of components in matching roles under the best one-to-one matching of ``a``'s roles to ``b``'s.

    Roles left unmatched (one side has more roles) count as wrong for their
    components. None when no component is compared.
    """
    x, y = _aligned(a, b, missing)
    if not x:
        return None
    table = _contingency(x, y)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(x))


def circuit_overlap(found: Collection[str], reference: Collection[str]) -> CircuitOverlap:
    """Precision and recall of ``found`` components against ``reference`` ones (None when undefined)."""
    f, r = set(found), set(reference)
    common = len(f & r)
    return CircuitOverlap(
        precision=common / len(f) if f else None, recall=common / len(r) if r else None,
        found=len(f), reference=len(r), common=common,
    )
