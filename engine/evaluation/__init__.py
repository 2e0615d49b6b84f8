"""Intrinsic evaluation of an explanation: interchangeability of its roles, faithfulness of its circuit.

Why two scores: an explanation makes two claims. Its role clustering claims
that heads in one role are functionally alike -- scored by swapping weights
between heads and taking the silhouette of the clustering on the swap
distances, against nulls that know how the roles were chosen and beside the
best silhouette any grouping reaches (``interchangeability``, ``nulls``,
``ceiling``; DESIGN.md §7). The roles must be frozen before this runs: the
evaluator's measurement is never the agent's input. Its component list claims to carry the behaviour -- scored by
MIB's normalised faithfulness with mean ablation (``faithfulness``). Neither
compares against a published circuit, so neither rewards memorisation;
``permutation`` gives the control that detects it.

``evaluate_explanation`` is what the agent and ``autointerp eval RUN`` call;
``interpretation_line`` turns its result into one sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from engine.evaluation.circuit_choice import circuit_parts
from engine.evaluation.divergence import JS_DISTANCE_MAX, js_distance
from engine.evaluation.faithfulness import faithfulness, single_ablation_effects
from engine.evaluation.interchangeability import (
    FITTED,
    cluster_fields,
    interchangeability,
    score_roles,
)
from engine.evaluation.permutation import permutation_consistency, permute_heads
from engine.evaluation.position_faithfulness import position_faithfulness
from engine.evaluation.silhouette import silhouette, silhouette_samples
from engine.evaluation.swap import swap_effects
from engine.models import TargetModel
from engine.tasks import TaskData


def evaluate_explanation(
    target: TargetModel,
    data: TaskData,
    clusters: Iterable[Mapping[str, Any] | Any],
    roles_source: str,
    effects: Mapping[str, float] | None = None,
    null_draws: int = 200,
    seed: int = 0,
    ablate_mlps: bool = False,
    opposing: Sequence[str] = (),
    positions: Mapping[str, Sequence[str] | None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Score an explanation's role clustering and circuit.

    Args:
        target: loaded model.
        data: tokenised task.
        clusters: ``[{"name": str, "members": [component ids]}, ...]`` (dicts or
            objects with ``name``/``members``); the circuit is the union of members.
        roles_source: how the roles were chosen (``interchangeability.FITTED``
            when fitted to swap distances: adds the selection-aware null).
        effects: component id -> effect, ranking the faithfulness curve (optional).
        null_draws: random relabellings of the interchangeability null (≥ 200).
        seed: relabelling seed.
        ablate_mlps: the curve and headline f also mean-ablate MLPs (default: heads only).
        opposing: the circuit's answer-opposing part; faithfulness adds ``parts``: f with
            and without it, with heads only and with heads and MLPs ablated
            (``circuit_choice.circuit_parts``).
        positions: member id -> the task roles at whose positions the explanation says it acts
            (None: all); when any member is restricted, faithfulness adds ``positions``: f of the
            core kept only there, heads and MLPs ablated (``position_faithfulness``).
        progress: ``progress(stage, done, total)``, stage ``interchangeability`` then
            ``faithfulness``.

    Returns:
        ``{"interchangeability": {...}, "faithfulness": {...}}`` -- see
        ``interchangeability.interchangeability`` and
        ``faithfulness.faithfulness`` for the fields.
    """
    clusters = list(clusters)
    circuit = list(dict.fromkeys(m for c in clusters for m in cluster_fields(c)[1]))

    def stage(name: str):
        return None if progress is None else (lambda done, total: progress(name, done, total))

    faith = faithfulness(target, data, circuit, effects, ablate_mlps=ablate_mlps, progress=stage("faithfulness"))
    opposing = [c for c in opposing if c in circuit]
    core = [c for c in circuit if c not in opposing]
    faith["parts"] = {"core": core, "opposing": opposing,
                      **circuit_parts(target, data, core, opposing, progress=stage("faithfulness parts"))}
    said = positions or {}
    stated = {c: None if said.get(c) is None else list(said[c] or []) for c in core}
    if any(r is not None for r in stated.values()):
        try:
            faith["positions"] = position_faithfulness(target, data, stated)
        except ValueError as exc:  # a stated role the evaluation prompts lack: said, not measured
            faith["positions"] = {"note": str(exc), "kept": stated}
    return {
        "interchangeability": interchangeability(
            target, data, clusters, roles_source, null_draws=null_draws, seed=seed,
            progress=stage("interchangeability"),
        ),
        "faithfulness": faith,
    }


def _fmt_null(name: str, null: Mapping[str, Any] | None) -> str:
    if not null:
        return ""
    if null.get("degenerate"):
        return f"{name}: no layer holds two roles, so this null cannot move"
    z = null.get("z")
    ztxt = "no spread" if z is None else f"z={z:+.1f}"
    return f"{name} {ztxt}, p={null['p_value']:.3g}"


def interchangeability_line(inter: Mapping[str, Any]) -> str:
    """One sentence on the interchangeability score, with its nulls, ceiling and where the roles came from."""
    source = inter.get("roles_source") or "unknown"
    if inter.get("silhouette") is None:
        return f"interchangeability undefined ({inter.get('note') or 'no roles'}; roles from {source})"
    ceiling = (inter.get("ceiling") or {}).get("silhouette")
    cap = "" if ceiling is None else f" of a best possible {ceiling:.2f}"
    relabel = _fmt_null("vs random relabelling", {"z": inter["z"], "p_value": inter["p_value"]})
    parts = [relabel, _fmt_null("vs layer-matched", inter.get("layer_matched"))]
    if inter.get("selection_aware"):
        parts.append(_fmt_null("vs the same fitting on shuffled matrices", inter["selection_aware"]))
    head = ("roles FITTED TO SWAPS (not evidence about an explanation)" if source == FITTED
            else f"roles ({source})")
    return (f"{head}: silhouette {inter['silhouette']:.2f}{cap} on {inter.get('distance')} distances; "
            + "; ".join(p for p in parts if p) + f" -> {inter.get('verdict')}")


def _parts_text(parts: Mapping[str, Any] | None) -> str:
    """``; with heads and MLPs ablated f=0.52 (0.61 without the 3 opposing)`` -- or empty."""
    if not parts or not isinstance(parts.get("heads_and_mlps"), Mapping):
        return ""
    both = parts["heads_and_mlps"]
    text = f"; with heads and MLPs ablated f={_num(both.get('with_opposing'))}"
    if parts.get("opposing"):
        text += (f" ({_num(both.get('without_opposing'))} without the {len(parts['opposing'])} answer-opposing; "
                 f"heads only {_num(parts['heads'].get('without_opposing'))})")
    return text


def _positions_text(pos: Mapping[str, Any] | None) -> str:
    """``; the core kept only at its stated positions f=0.91 (at as many other roles 0.10)`` -- or empty."""
    if not pos or "normalized" not in pos:
        return ""
    return (f"; the core kept only at its stated positions f={_num(pos.get('normalized'))} "
            f"(at as many other roles {_num(pos.get('elsewhere'))})")


def _num(x: Any) -> str:
    return "undefined" if x is None else f"{float(x):.2f}"


def interpretation_line(result: Mapping[str, Any]) -> str:
    """One sentence summarising ``evaluate_explanation``'s result.

    E.g. ``"roles (evidence): silhouette 0.21 of a best possible 0.43 on
    ablation-normalised distances; vs random relabelling z=+2.3, p=0.02; vs
    layer-matched z=+1.1, p=0.14 -> beats random groupings but not
    layer-matched ones (depth explains it); circuit faithfulness f=0.87 (12
    components, mean ablation)"``.
    """
    parts = []
    inter = result.get("interchangeability")
    if inter is not None:
        parts.append(interchangeability_line(inter))
    faith = result.get("faithfulness")
    if faith is not None:
        f = faith.get("normalized")
        if f is None:
            parts.append("faithfulness undefined")
        else:
            parts.append(
                f"circuit faithfulness f={f:.2f} ({faith['circuit_size']} components, {faith['ablation']} ablation)"
                + _parts_text(faith.get("parts")) + _positions_text(faith.get("positions"))
            )
    return "; ".join(parts) if parts else "no evaluation"


__all__ = [
    "FITTED", "JS_DISTANCE_MAX", "evaluate_explanation", "faithfulness", "interchangeability",
    "interchangeability_line", "interpretation_line", "js_distance", "permutation_consistency",
    "permute_heads", "score_roles", "silhouette", "silhouette_samples", "single_ablation_effects",
    "swap_effects",
]
