"""Scoring an explanation of a planted model against its established truth.

Why a separate score: on a planted model the true roles are known
(``engine.planted.truth``), so an explanation's roles and circuit can be
graded directly instead of only by the intrinsic interchangeability score.
``eval`` adds the result as ``"planted"``; ``bench/planted.py`` prints it
over seeds.

* ``ari``: adjusted Rand index of the explanation's roles against the true
  roles, over the heads both name (``missing="ignore"``: a missed or extra
  head is what recall and precision measure, so it is not counted twice).
* ``ari_union``: the same over every head either side names, a head only one
  side names counting as a role of its own there (strict: every miss or
  extra head lowers it).
* ``assignment_accuracy``: share of the shared heads in the right role under
  the best one-to-one matching of role names.
* ``circuit_recall`` / ``circuit_precision``: the true circuit's heads the
  explanation names, and the named heads that are in the true circuit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, Field

from engine.evaluation.agreement import adjusted_rand_index, assignment_accuracy, circuit_overlap
from engine.planted.truth import PlantedTruth


class PlantedScore(BaseModel):
    """How an explanation of a planted model compares with the model's truth."""

    model: str
    ari: float | None = Field(description="ARI of roles vs true roles on the heads both name")
    ari_union: float | None = Field(description="ARI on every head either side names (misses count)")
    assignment_accuracy: float | None
    circuit_recall: float | None
    circuit_precision: float | None
    found: list[str] = Field(description="the explanation's circuit")
    missed: list[str] = Field(description="true circuit heads the explanation does not name")
    extra: list[str] = Field(description="named heads outside the true circuit")
    roles: dict[str, list[str]] = Field(description="the explanation's roles that were scored")
    truth: dict[str, list[str]] = Field(description="the established roles (true role -> heads)")
    truth_verified: bool = Field(description="every check of the truth passed (engine.planted.truth)")


def score_planted(truth: PlantedTruth, roles: Mapping[str, Iterable[str]], circuit: Iterable[str] | None = None) -> PlantedScore:
    """Grade roles (role name -> member ids) and a circuit against ``truth``.

    Args:
        truth: the planted model's established truth.
        roles: the explanation's role clusters (component ids as in DESIGN §4).
        circuit: the explanation's circuit; default: every member of ``roles``.

    Returns:
        The agreement figures (see the module docstring).
    """
    labels = {member: name for name, members in roles.items() for member in members}
    found = sorted(set(circuit) if circuit is not None else set(labels))
    true_labels = truth.labels()
    overlap = circuit_overlap(found, truth.circuit)
    return PlantedScore(
        model=truth.name,
        ari=adjusted_rand_index(labels, true_labels),
        ari_union=adjusted_rand_index(labels, true_labels, missing="singleton"),
        assignment_accuracy=assignment_accuracy(labels, true_labels),
        circuit_recall=overlap.recall, circuit_precision=overlap.precision, found=found,
        missed=sorted(set(truth.circuit) - set(found)), extra=sorted(set(found) - set(truth.circuit)),
        roles={name: list(members) for name, members in roles.items()},
        truth={name: list(members) for name, members in truth.roles.items()},
        truth_verified=truth.verified,
    )
