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

The disguised-task check (``explain --disguise``, ``engine.tasks.disguise``)
is the dual: the ids stay and the task's name, role names and entity words
change, so a narrative cannot be recognised. The disguised run is compared
with the plain run component for component by the same three rules (the
circuit by overlap both ways, beyond chance; descriptions after the disguise
is undone), and the check applies only when the renamed task keeps at least
``BEHAVIOUR_MIN`` of the plain task's logit-difference gap.
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
#: the disguised task must keep this share of the plain task's clean - corrupt gap for its check to apply
BEHAVIOUR_MIN = 0.5
_IDS = re.compile(r"\bL\d+\.(?:H\d+|MLP|ATTN|RESID)\b|\bE\d+\b")
_WORD = re.compile(r"[a-z]+|[-+]?\d+(?:\.\d+)?%?")


class Agreement(BaseModel):
    """The three agreements every memorisation check judges."""

    circuit_ok: bool
    circuit_chance: float | None
    ari: float | None
    roles_ok: bool
    n_roles_compared: int
    description_similarity: float | None
    description_null: float | None
    descriptions_ok: bool


class MemorisationVerdict(Agreement):
    """The head-permutation check: all three agreements hold."""

    passed: bool


def _words(text: str) -> set[str]:
    return set(_WORD.findall(_IDS.sub(" ", text).lower()))


def similarity(a: str, b: str) -> float:
    """Token-set Jaccard similarity of two descriptions, ignoring component and experiment ids."""
    x, y = _words(a), _words(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def _roles(original_roles: dict[str, str], other_roles: dict[str, str]) -> tuple[float | None, bool, int]:
    """ARI of two role assignments (ids already in one space), whether it passes, components compared."""
    ari = adjusted_rand_index(original_roles, other_roles)
    return ari, ari is not None and ari >= ARI_MIN, len(set(original_roles) & set(other_roles))


def _descriptions(pairs: list[tuple[str, str]]) -> tuple[float | None, float | None, bool]:
    """Mean similarity of matched description pairs, of mismatched ones, and whether the rule passes."""
    matched = [similarity(a, b) for a, b in pairs]
    mismatched = [similarity(pairs[i][0], pairs[j][1]) for i, j in product(range(len(pairs)), repeat=2) if i != j]
    sim = sum(matched) / len(matched) if matched else None
    null = sum(mismatched) / len(mismatched) if mismatched else None
    return sim, null, sim is not None and sim >= DESC_MIN and sim >= (null or 0.0) + DESC_MARGIN


def verdict(
    circuit: dict[str, Any],
    mapping: dict[str, str],
    original_roles: dict[str, str],
    permuted_roles: dict[str, str],
    original_descriptions: dict[str, str],
    permuted_descriptions: dict[str, str],
) -> MemorisationVerdict:
    """Judge the three agreements of a head-permuted run (see the module docstring).

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
    ari, roles_ok, shared = _roles({mapping.get(c, c): role for c, role in original_roles.items()}, permuted_roles)
    pairs = [(text, permuted_descriptions[mapping.get(c, c)]) for c, text in original_descriptions.items()
             if mapping.get(c, c) in permuted_descriptions]
    sim, null, descriptions_ok = _descriptions(pairs)
    return MemorisationVerdict(
        circuit_ok=circuit_ok, circuit_chance=chance, ari=ari, roles_ok=roles_ok, n_roles_compared=shared,
        description_similarity=sim, description_null=null, descriptions_ok=descriptions_ok,
        passed=circuit_ok and roles_ok and descriptions_ok,
    )


class DisguiseVerdict(Agreement):
    """The disguised-task check: the plain and the disguised run agree, on a behaviour the disguise kept."""

    circuit_recall: float | None
    circuit_precision: float | None
    behaviour_kept: float | None
    applicable: bool
    #: None when the check does not apply (the renaming did not keep the behaviour): neither passed nor failed
    passed: bool | None


def disguise_verdict(
    original_circuit: list[str],
    disguised_circuit: list[str],
    n_components: int,
    original_roles: dict[str, str],
    disguised_roles: dict[str, str],
    original_descriptions: dict[str, str],
    revealed_descriptions: dict[str, str],
    behaviour_kept: float | None,
) -> DisguiseVerdict:
    """Judge a disguised run against the plain run of the same model (ids are the same in both).

    The circuit agrees when at least half of each run's components are in the
    other's and the overlap beats a random circuit of the disguised run's size
    (chance: its size over ``n_components``); roles and descriptions by the
    rules of the permutation check, descriptions compared after the disguise
    is undone (``revealed_descriptions``). The check applies only when the
    disguised task keeps at least ``BEHAVIOUR_MIN`` of the plain task's
    clean - corrupt logit difference.
    """
    plain, disguised = set(original_circuit), set(disguised_circuit)
    recall = len(plain & disguised) / len(plain) if plain else None
    precision = len(plain & disguised) / len(disguised) if disguised else None
    chance = len(disguised) / n_components if n_components else None
    circuit_ok = bool(recall is not None and precision is not None and min(recall, precision) >= 0.5
                      and (chance is None or recall > chance))
    ari, roles_ok, shared = _roles(original_roles, disguised_roles)
    sim, null, descriptions_ok = _descriptions([(text, revealed_descriptions[c])
                                                for c, text in original_descriptions.items()
                                                if c in revealed_descriptions])
    applicable = behaviour_kept is not None and behaviour_kept >= BEHAVIOUR_MIN
    return DisguiseVerdict(
        circuit_recall=recall, circuit_precision=precision, circuit_chance=chance, circuit_ok=circuit_ok,
        ari=ari, roles_ok=roles_ok, n_roles_compared=shared, description_similarity=sim, description_null=null,
        descriptions_ok=descriptions_ok, behaviour_kept=behaviour_kept, applicable=applicable,
        passed=(circuit_ok and roles_ok and descriptions_ok) if applicable else None,
    )
