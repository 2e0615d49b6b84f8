"""Replication scoring: agreement of a run's explanation with a reference explanation.

Why: Haklay et al. (2026) score an agent first by *replication* -- does it
recover a published expert explanation? -- and warn that this score cannot
tell discovery from memory: an LLM that has read the paper can agree with it
without any experiment. So the score here is always reported with that
caveat, beside the intrinsic scores and beside baselines that had no
experiments at all (``agents.baselines``).

Without an LLM the comparison is mechanical (``engine.evaluation.agreement``):
circuit precision and recall against the reference's components, and the
role clustering compared as partitions -- adjusted Rand index and assignment
accuracy under the best one-to-one role matching -- on the components both
name. With a judge, an LLM rates each reference component's description
against the explanation's (``agents.judge``); the judge's prompt and raw reply
are stored with the scores.

A head-permuted run (the memorisation control) names heads of the permuted
model; its ids are mapped back to the original model's before comparing, so
a reference written for the original model applies.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from engine.evaluation.agreement import adjusted_rand_index, assignment_accuracy, circuit_overlap
from engine.planted.reference import Reference

MEMORY_CAVEAT = ("agreement with a reference can come from memory (an LLM may have read the paper) rather than "
                 "from experiments: compare with the blind and one-shot baselines, the intrinsic scores and "
                 "the memorisation control")


class ComponentVerdict(BaseModel):
    """The judge's rating of one reference component's description in the explanation."""

    component: str
    score: int = Field(ge=0, le=2, description="0 wrong or missing, 1 partly right, 2 same function")
    reason: str = ""
    described: bool = True


class JudgeRecord(BaseModel):
    """What the judge was asked and answered, stored with the scores."""

    judge: str
    prompt: str
    raw: str
    verdicts: list[ComponentVerdict]
    mean: float | None


class ReplicationScores(BaseModel):
    """One explanation scored against one reference."""

    explainer: str
    reference_source: str
    reference_task: str
    reference_model: str
    model_matches: bool
    mapped_back: bool
    precision: float | None
    recall: float | None
    found: int
    reference: int
    common: int
    ari: float | None
    assignment_accuracy: float | None
    ari_union: float | None
    n_compared: int
    judge: str | None = None
    judge_mean: float | None = None
    verdicts: list[ComponentVerdict] = Field(default_factory=list)
    caveat: str = MEMORY_CAVEAT


def explanation_roles(explanation: dict[str, Any] | None) -> dict[str, str]:
    """Component id -> role name of an explanation (its clusters, else each component's role)."""
    explanation = explanation or {}
    labels = {str(m): str(c.get("name")) for c in explanation.get("clusters") or [] for m in c.get("members") or []}
    for comp in explanation.get("components") or []:
        labels.setdefault(str(comp.get("id")), str(comp.get("role") or ""))
    return labels


def explanation_descriptions(explanation: dict[str, Any] | None) -> dict[str, str]:
    """Component id -> description of an explanation."""
    return {str(c.get("id")): str(c.get("description") or "") for c in (explanation or {}).get("components") or []}


def map_back(explanation: dict[str, Any], permutation: dict[str, str] | None) -> dict[str, Any]:
    """The explanation with permuted-model ids replaced by the original model's (identity when None)."""
    if not permutation:
        return explanation
    inverse = {new: old for old, new in permutation.items()}
    back = lambda cid: inverse.get(str(cid), str(cid))  # noqa: E731 - a one-line renaming
    return {
        **explanation,
        "components": [{**c, "id": back(c.get("id"))} for c in explanation.get("components") or []],
        "clusters": [{**c, "members": [back(m) for m in c.get("members") or []]}
                     for c in explanation.get("clusters") or []],
        "circuit": [back(c) for c in explanation.get("circuit") or []],
    }


def score_against(
    explanation: dict[str, Any],
    reference: Reference,
    source: str,
    explainer: str,
    model: str,
    permutation: dict[str, str] | None = None,
    judged: JudgeRecord | None = None,
) -> ReplicationScores:
    """Circuit precision/recall, ARI and assignment accuracy (and the judge's verdicts) of one explanation.

    Args:
        explanation: ``{"components": [{"id", "role", "description"}], "clusters": [...]}``.
        reference: the reference explanation.
        source: where the reference came from (file path or ``shipped:<name>``).
        explainer: ``run``, ``blind`` or ``oneshot`` (which explanation this is).
        model: the model the explanation is of (compared with the reference's).
        permutation: original id -> permuted id, for a head-permuted run.
        judged: the judge's record, when one was asked.
    """
    explanation = map_back(explanation, permutation)
    found_roles = explanation_roles(explanation)
    ref_roles = reference.labels()
    overlap = circuit_overlap(found_roles, ref_roles)
    return ReplicationScores(
        explainer=explainer, reference_source=source, reference_task=reference.task,
        reference_model=reference.model, model_matches=model.split("+headperm")[0] == reference.model,
        mapped_back=bool(permutation), precision=overlap.precision, recall=overlap.recall,
        found=overlap.found, reference=overlap.reference, common=overlap.common,
        ari=adjusted_rand_index(found_roles, ref_roles), assignment_accuracy=assignment_accuracy(found_roles, ref_roles),
        ari_union=adjusted_rand_index(found_roles, ref_roles, missing="singleton"),
        n_compared=overlap.common, judge=judged.judge if judged else None,
        judge_mean=judged.mean if judged else None, verdicts=judged.verdicts if judged else [],
    )
