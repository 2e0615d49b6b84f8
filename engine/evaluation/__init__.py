"""Intrinsic evaluation of an explanation: interchangeability of its roles, faithfulness of its circuit.

Why two scores: an explanation makes two claims. Its role clustering claims
that heads in one role are functionally alike -- scored by swapping weights
between heads and taking the silhouette of the clustering on the swap
distances, against a random-relabelling null (``interchangeability``,
DESIGN.md §7). Its component list claims to carry the behaviour -- scored by
MIB's normalised faithfulness with mean ablation (``faithfulness``). Neither
compares against a published circuit, so neither rewards memorisation;
``permutation`` gives the control that detects it.

``evaluate_explanation`` is what the agent and ``autointerp eval RUN`` call;
``interpretation_line`` turns its result into one sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from engine.evaluation.divergence import JS_DISTANCE_MAX, js_distance
from engine.evaluation.faithfulness import faithfulness, single_ablation_effects
from engine.evaluation.interchangeability import (
    cluster_fields,
    interchangeability,
    interchangeability_from_distances,
)
from engine.evaluation.permutation import permutation_consistency, permute_heads
from engine.evaluation.silhouette import silhouette, silhouette_samples
from engine.evaluation.swap import naive_swap_effects, swap_effects
from engine.models import TargetModel
from engine.tasks import TaskData


def evaluate_explanation(
    target: TargetModel,
    data: TaskData,
    clusters: Iterable[Mapping[str, Any] | Any],
    effects: Mapping[str, float] | None = None,
    null_draws: int = 200,
    seed: int = 0,
    ablate_mlps: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Score an explanation's role clustering and circuit.

    Args:
        target: loaded model.
        data: tokenised task.
        clusters: ``[{"name": str, "members": [component ids]}, ...]`` (dicts or
            objects with ``name``/``members``); the circuit is the union of members.
        effects: component id -> effect, ranking the faithfulness curve (optional).
        null_draws: random relabellings of the interchangeability null (≥ 200).
        seed: relabelling seed.
        ablate_mlps: faithfulness also mean-ablates MLPs (default: heads only).
        progress: ``progress(stage, done, total)``, stage ``interchangeability`` then
            ``faithfulness``.

    Returns:
        ``{"interchangeability": {...}, "faithfulness": {...}}`` -- see
        ``interchangeability.interchangeability_from_distances`` and
        ``faithfulness.faithfulness`` for the fields.
    """
    clusters = list(clusters)
    circuit = list(dict.fromkeys(m for c in clusters for m in cluster_fields(c)[1]))

    def stage(name: str):
        return None if progress is None else (lambda done, total: progress(name, done, total))

    return {
        "interchangeability": interchangeability(
            target, data, clusters, null_draws=null_draws, seed=seed, progress=stage("interchangeability")
        ),
        "faithfulness": faithfulness(
            target, data, circuit, effects, ablate_mlps=ablate_mlps, progress=stage("faithfulness")
        ),
    }


def interpretation_line(result: Mapping[str, Any]) -> str:
    """One sentence summarising ``evaluate_explanation``'s result.

    E.g. ``"roles are 4.2 σ more interchangeable than random (p=0.005); circuit
    faithfulness f=0.87 (12 components, mean ablation)"``.
    """
    parts = []
    inter = result.get("interchangeability")
    if inter is not None:
        z, p = inter.get("z"), inter.get("p_value")
        if z is not None:
            direction = "more" if z >= 0 else "less"
            parts.append(f"roles are {abs(z):.1f} σ {direction} interchangeable than random (p={p:.3g})")
        elif inter.get("silhouette") is not None:
            parts.append(f"role silhouette {inter['silhouette']:.2f}, but the random null has no spread")
        else:
            parts.append(f"interchangeability undefined ({inter.get('note') or 'no clustering'})")
    faith = result.get("faithfulness")
    if faith is not None:
        f = faith.get("normalized")
        if f is None:
            parts.append("faithfulness undefined")
        else:
            parts.append(
                f"circuit faithfulness f={f:.2f} ({faith['circuit_size']} components, {faith['ablation']} ablation)"
            )
    return "; ".join(parts) if parts else "no evaluation"


__all__ = [
    "JS_DISTANCE_MAX", "evaluate_explanation", "faithfulness", "interchangeability",
    "interchangeability_from_distances", "interpretation_line", "js_distance", "naive_swap_effects",
    "permutation_consistency", "permute_heads", "silhouette", "silhouette_samples",
    "single_ablation_effects", "swap_effects",
]
