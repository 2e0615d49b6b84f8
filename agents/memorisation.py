"""The memorisation control's verdict: does a head-permuted run map back onto the original run?

Why three parts: an agent that recites a remembered circuit can be caught
on any of what it reports -- which components, how they are grouped, what
each does. On a function-preserving head permutation an evidence-following
agent reports the *images* of its original components, grouped the same
way and described the same way; a reciting agent reports the literal ids
(now other heads), so its circuit does not map, and neither do its roles
or descriptions. The control passes only when all three agree beyond
chance:

* **circuit** -- at least half of the original components are found at their
  images, more than a random circuit of the same size would hit (chance:
  ``n_found / n_heads_and_mlps``), and no moved component is reported at its
  original (literal) id.
* **roles** -- the adjusted Rand index between the original run's roles,
  carried through the permutation, and the permuted run's roles on the
  components both report is at least ``ARI_MIN``. ARI is already corrected
  for chance (0 for a random grouping), so the threshold is a margin above
  chance, not a chance level.
* **descriptions** -- each original description is compared with its
  image's description (token-set Jaccard similarity after removing component
  and experiment ids, which legitimately differ); the mean over matched
  pairs must reach ``DESC_MIN`` and exceed the mean over mismatched pairs
  (original i against the image of j != i) by ``DESC_MARGIN``: descriptions
  must agree about *which* component they describe, not only share a
  template. With a single matched pair there is no mismatched pair, and the
  margin is taken over zero.
"""

from __future__ import annotations

import re
from itertools import product
from typing import Any

from pydantic import BaseModel

from engine.evaluation.agreement import adjusted_rand_index

ARI_MIN = 0.5
DESC_MIN = 0.5
DESC_MARGIN = 0.05
_IDS = re.compile(r"\bL\d+\.(?:H\d+|MLP|ATTN|RESID)\b|\bE\d+\b")
_WORD = re.compile(r"[a-z]+|[-+]?\d+(?:\.\d+)?%?")


class MemorisationVerdict(BaseModel):
    """The three agreements of the control and whether it passes."""

    circuit_ok: bool
    circuit_chance: float | None
    ari: float | None
    roles_ok: bool
    n_roles_compared: int
    description_similarity: float | None
    description_null: float | None
    descriptions_ok: bool
    passed: bool


def _words(text: str) -> set[str]:
    return set(_WORD.findall(_IDS.sub(" ", text).lower()))


def similarity(a: str, b: str) -> float:
    """Token-set Jaccard similarity of two descriptions, ignoring component and experiment ids."""
    x, y = _words(a), _words(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def verdict(
    circuit: dict[str, Any],
    mapping: dict[str, str],
    original_roles: dict[str, str],
    permuted_roles: dict[str, str],
    original_descriptions: dict[str, str],
    permuted_descriptions: dict[str, str],
) -> MemorisationVerdict:
    """Judge the three agreements (see the module docstring).

    Args:
        circuit: ``engine.evaluation.permutation_consistency``'s result.
        mapping: original id -> permuted id of every head.
        original_roles / permuted_roles: component id -> role name, of each run.
        original_descriptions / permuted_descriptions: component id -> description, of each run.
    """
    n_total = len(mapping) + len({k.split(".")[0] for k in mapping})  # heads and one MLP per layer
    found = int(circuit.get("n_permuted") or 0)
    chance = found / n_total if n_total else None
    mapped = circuit.get("mapped_matches")
    circuit_ok = bool(mapped is not None and mapped >= 0.5 and (chance is None or mapped > chance)
                      and not circuit.get("literal_matches"))
    carried = {mapping.get(c, c): role for c, role in original_roles.items()}
    shared = set(carried) & set(permuted_roles)
    ari = adjusted_rand_index(carried, permuted_roles)
    roles_ok = ari is not None and ari >= ARI_MIN
    pairs = [(c, mapping.get(c, c)) for c in original_descriptions if mapping.get(c, c) in permuted_descriptions]
    matched = [similarity(original_descriptions[c], permuted_descriptions[m]) for c, m in pairs]
    mismatched = [similarity(original_descriptions[c], permuted_descriptions[m2])
                  for (c, m), (_, m2) in product(pairs, pairs) if m != m2]
    sim = sum(matched) / len(matched) if matched else None
    null = sum(mismatched) / len(mismatched) if mismatched else None
    descriptions_ok = sim is not None and sim >= DESC_MIN and sim >= (null or 0.0) + DESC_MARGIN
    return MemorisationVerdict(
        circuit_ok=circuit_ok, circuit_chance=chance, ari=ari, roles_ok=roles_ok, n_roles_compared=len(shared),
        description_similarity=sim, description_null=null, descriptions_ok=descriptions_ok,
        passed=circuit_ok and roles_ok and descriptions_ok,
    )
