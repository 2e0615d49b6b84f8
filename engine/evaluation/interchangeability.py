"""Interchangeability: does the explanation's role clustering match what heads can swap for?

Why (DESIGN.md §7; Haklay et al., 2026): scoring an explanation by its
agreement with a published circuit rewards memorisation. An intrinsic score
asks the model instead: heads the explanation puts in one role should be
functionally interchangeable on the task. For circuit heads i, j, with
``d(i←j)`` the mean over the task's clean prompts of the Jensen–Shannon
distance (natural log) between the original and the swapped next-token
distribution when j's weights run at i's place (``swap``):

* ``js`` (DESIGN's first version): ``D[i, j] = (d(i←j) + d(j←i)) / 2``.
* ``ablation-normalised`` (the default): every swap into i is divided by
  ``d(i←∅)``, the distance when head i is mean-ablated at its place, then
  symmetrised. Why: the raw distance is dominated by how sensitive each
  head's *place* is -- a per-head additive term explains most of it on the
  bundled model -- so a grouping by effect size or depth scores well without
  saying which heads do the same job. Relative to the head's own ablation,
  ``r(i←j) ≈ 0`` says "j does i's job", ``≈ 1`` says "j is no better than
  removing i"; the place's sensitivity cancels. ``bench/interchangeability_validation.py``
  shows why it is the default: it recovers heads made interchangeable by
  construction as well as ``js`` does, while on random-weight models and
  structureless matrices its p-values stay uniform (figures in the README).

The roles are then scored by their silhouette on D against the nulls of
``nulls`` (relabelling, layer-matched, and selection-aware when the roles
were fitted to swaps) and beside the ceiling of ``ceiling``. Non-head
members (MLPs) have no swap and are left out of D, with a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from engine.components import parse_component
from engine.evaluation.ceiling import silhouette_ceiling
from engine.evaluation.divergence import JS_BASE
from engine.evaluation.fitting import fit_roles_to_distances
from engine.evaluation.nulls import (
    MIN_DRAWS,
    layer_matched_null,
    layer_null_degenerate,
    relabel_null,
    selection_aware_null,
    summarise,
)
from engine.evaluation.silhouette import silhouette
from engine.evaluation.swap import Progress, SwapOutcome, swap_effects
from engine.models import TargetModel
from engine.tasks import TaskData

MIN_NULL_DRAWS = MIN_DRAWS
DISTANCES = ("ablation-normalised", "js")
DEFAULT_DISTANCE = "ablation-normalised"
FITTED = "fitted_to_swaps"
ALPHA = 0.05
#: the smallest ablation distance a swap is divided by (a head whose place barely matters)
MIN_ABLATION_DISTANCE = 1e-4


def cluster_fields(cluster: Mapping[str, Any] | Any) -> tuple[str, list[str]]:
    """``(name, members)`` of a cluster given as a dict or an object with those attributes."""
    if isinstance(cluster, Mapping):
        return str(cluster["name"]), [str(m) for m in cluster["members"]]
    return str(cluster.name), [str(m) for m in cluster.members]


def clustering_labels(
    clusters: Iterable[Mapping[str, Any] | Any], n_layers: int, n_heads: int
) -> tuple[list[str], list[str], list[str]]:
    """Flatten clusters into head ids and their cluster names.

    Returns:
        (heads, labels, notes): range-checked head ids in cluster order, the
        name of each head's cluster, and notes on excluded members (non-heads,
        repeats -- a component listed in two clusters keeps its first).

    Raises:
        ComponentError: a malformed or out-of-range member id.
    """
    heads: list[str] = []
    labels: list[str] = []
    skipped: list[str] = []
    repeated: list[str] = []
    for cluster in clusters:
        name, members = cluster_fields(cluster)
        for member in members:
            comp = parse_component(member, n_layers, n_heads)
            if comp.kind != "head":
                skipped.append(comp.id)
            elif comp.id in heads:
                repeated.append(comp.id)
            else:
                heads.append(comp.id)
                labels.append(name)
    notes = []
    if skipped:
        notes.append(f"non-head components have no weight swap and are excluded: {', '.join(skipped)}")
    if repeated:
        notes.append(f"components listed in more than one cluster keep their first: {', '.join(repeated)}")
    return heads, labels, notes


def all_ordered_pairs(heads: Sequence[str]) -> list[tuple[str, str]]:
    """Every ``(target, source)`` swap among ``heads``: ``m (m - 1)`` pairs, row-major."""
    return [(a, b) for a in heads for b in heads if a != b]


def directed_matrix(heads: Sequence[str], outcomes: Sequence[SwapOutcome]) -> np.ndarray:
    """``d[a, b] = d(heads[a] ← heads[b])`` from swap outcomes; zero diagonal. [m, m] float64."""
    d = np.zeros((len(heads), len(heads)))
    index = {h: i for i, h in enumerate(heads)}
    for outcome in outcomes:
        if outcome.source in index:
            d[index[outcome.target], index[outcome.source]] = outcome.js_distance
    return d


def symmetrise(directed: np.ndarray) -> np.ndarray:
    """``D = (d + d.T) / 2``: [m, m] -> [m, m]."""
    return 0.5 * (directed + directed.T)


def normalise_by_ablation(directed: np.ndarray, ablation: np.ndarray) -> np.ndarray:
    """Row i of the directed swaps (swaps *into* i) divided by head i's own ablation distance. [m, m]."""
    return directed / np.maximum(ablation, MIN_ABLATION_DISTANCE)[:, None]


def measure_distances(
    target: TargetModel, data: TaskData, heads: Sequence[str], swaps_per_batch: int | None = None,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Swap and ablation distances of ``heads``: ``m (m - 1)`` swaps plus ``m`` mean ablations.

    Returns:
        ``{"directed": [m, m] d(i←j), "ablation": [m] d(i←∅), "js": [m, m],
        "ablation-normalised": [m, m]}`` (float64; the last two symmetric).
    """
    m = len(heads)
    if m < 2:
        zeros = np.zeros((m, m))
        return {"directed": zeros, "ablation": np.zeros(m), "js": zeros, "ablation-normalised": zeros}
    pairs: list[tuple[str, str | None]] = [*all_ordered_pairs(heads), *((h, None) for h in heads)]
    outcomes = swap_effects(target, data, pairs, swaps_per_batch=swaps_per_batch, progress=progress)
    swaps, ablations = outcomes[: m * (m - 1)], outcomes[m * (m - 1):]
    directed = directed_matrix(heads, swaps)
    ablation = np.array([o.js_distance for o in ablations])
    return {"directed": directed, "ablation": ablation, "js": symmetrise(directed),
            "ablation-normalised": symmetrise(normalise_by_ablation(directed, ablation))}


def _null_fields(summary: Any) -> dict[str, Any]:
    return {"mean": summary.mean, "std": summary.std, "z": summary.z, "p_value": summary.p_value,
            "draws": summary.draws}


def _verdict(score: dict[str, Any], fitted: bool) -> str:
    """One phrase: what the score supports, given every null that applies."""
    if score["silhouette"] is None:
        return "undefined"
    if fitted:
        sel = score["selection_aware"]
        return ("beats the fitting procedure on structureless matrices" if sel["p_value"] < ALPHA
                else "no better than the fitting procedure finds in noise")
    if score["p_value"] >= ALPHA:
        return "not more interchangeable than random groupings"
    layer = score["layer_matched"]
    if layer["degenerate"]:
        return "beats random groupings, but the roles coincide with layers (depth cannot be ruled out)"
    if layer["p_value"] >= ALPHA:
        return "beats random groupings but not layer-matched ones (depth explains it)"
    return "beats random and layer-matched groupings"


def score_roles(
    distances: np.ndarray,
    heads: Sequence[str],
    labels: Sequence[str],
    roles_source: str,
    null_draws: int = MIN_NULL_DRAWS,
    seed: int = 0,
) -> dict[str, Any]:
    """Silhouette of frozen roles on one distance matrix, with every null that applies and the ceiling.

    Args:
        distances: [m, m] symmetric distances (rows/columns in ``heads`` order).
        heads: m head ids (their layers make the layer-matched null).
        labels: m role names.
        roles_source: how the roles were chosen (``FITTED`` adds the selection-aware null).
        null_draws: draws per null (at least 200).
        seed: seed of every null.

    Returns:
        ``{"silhouette", "random_mean", "random_std", "z", "p_value", "null_scores" (the
        relabelling draws), "layer_matched": {mean, std, z, p_value, draws, degenerate,
        scores}, "selection_aware": {..., scores} | None,
        "ceiling": {silhouette, labels, method}, "n_components", "n_clusters",
        "n_singletons", "verdict", "note"}``; undefined scores are None with a note.
    """
    if null_draws < MIN_NULL_DRAWS:
        raise ValueError(f"null_draws must be at least {MIN_NULL_DRAWS}, got {null_draws}.")
    counts = {name: list(labels).count(name) for name in dict.fromkeys(labels)}
    out: dict[str, Any] = {
        "silhouette": None, "random_mean": None, "random_std": None, "z": None, "p_value": None,
        "layer_matched": None, "selection_aware": None, "ceiling": None,
        "n_components": len(heads), "n_clusters": len(counts),
        "n_singletons": sum(1 for c in counts.values() if c == 1), "note": None,
    }
    score = silhouette(distances, labels) if len(heads) else None
    if len(heads) >= 3:
        out["ceiling"] = silhouette_ceiling(distances, seed).as_dict()
    if score is None:
        out["note"] = (f"undefined: {len(counts)} role(s) over {len(heads)} head(s); the silhouette needs at "
                       "least two roles and one role with two or more heads")
        out["verdict"] = "undefined"
        return out
    relabel_scores = relabel_null(distances, labels, null_draws, seed)
    relabel = summarise(score, relabel_scores)
    layers = [parse_component(h).layer for h in heads]
    layer_scores = layer_matched_null(distances, labels, layers, null_draws, seed)
    layer = summarise(score, layer_scores)
    out.update({"silhouette": score, "random_mean": relabel.mean, "random_std": relabel.std,
                "z": relabel.z, "p_value": relabel.p_value, "null_scores": relabel_scores.tolist(),
                "layer_matched": {**_null_fields(layer), "degenerate": layer_null_degenerate(labels, layers),
                                  "scores": layer_scores.tolist()}})
    if roles_source == FITTED:
        _, z_fit = fit_roles_to_distances(distances, seed)
        null = selection_aware_null(distances, lambda d: fit_roles_to_distances(d, seed), null_draws, seed)
        sel = summarise(z_fit if z_fit is not None else -np.inf, null)
        out["selection_aware"] = {**_null_fields(sel), "statistic": "relabelling z of the fitted roles",
                                  "observed": z_fit, "scores": [x if np.isfinite(x) else None for x in null.tolist()]}
    out["verdict"] = _verdict(out, roles_source == FITTED)
    return out


def _without_draws(scored: dict[str, Any]) -> dict[str, Any]:
    """A score's summary fields only (no matrix, no null draws): what ``by_distance`` keeps."""
    out = {k: v for k, v in scored.items() if k not in ("distance_matrix", "null_scores")}
    for key in ("layer_matched", "selection_aware"):
        if isinstance(out.get(key), dict):
            out[key] = {k: v for k, v in out[key].items() if k != "scores"}
    return out


def interchangeability(
    target: TargetModel,
    data: TaskData,
    clusters: Iterable[Mapping[str, Any] | Any],
    roles_source: str,
    null_draws: int = MIN_NULL_DRAWS,
    seed: int = 0,
    swaps_per_batch: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score frozen roles by weight-swap interchangeability, on both distances.

    Args:
        target: loaded model.
        data: tokenised task (clean prompts of every bucket are used).
        clusters: ``[{"name": str, "members": [component ids]}, ...]``.
        roles_source: how the roles were chosen (stored with the score).
        null_draws: draws of every null (≥ 200).
        seed: seed of the nulls.
        swaps_per_batch: swaps per forward pass (None: sized from the memory budget, ``engine.memory``).
        progress: ``progress(done, total)`` in (swap, bucket) evaluations.

    Returns:
        The default distance's ``score_roles`` fields at the top level, plus
        ``roles_source``, ``distance`` (its name), ``log_base``, ``components``,
        ``labels``, ``distance_matrix``, ``ablation_distances``, and
        ``by_distance``: every distance's own score and matrix.
    """
    heads, labels, notes = clustering_labels(clusters, target.n_layers, target.n_heads)
    measured = measure_distances(target, data, heads, swaps_per_batch, progress)
    by_distance = {}
    for name in DISTANCES:
        scored = score_roles(measured[name], heads, labels, roles_source, null_draws, seed)
        by_distance[name] = {**scored, "distance_matrix": measured[name].tolist()}
    result = {key: value for key, value in by_distance[DEFAULT_DISTANCE].items()}
    extra = "; ".join(n for n in [result.get("note"), *notes] if n) or None
    result.update({
        "roles_source": roles_source, "distance": DEFAULT_DISTANCE, "log_base": JS_BASE,
        "components": heads, "labels": labels, "null_draws": null_draws,
        "directed_js": measured["directed"].tolist(), "ablation_distances": measured["ablation"].tolist(),
        "by_distance": {name: _without_draws(s) for name, s in by_distance.items()},
        "js_matrix": measured["js"].tolist(), "note": extra,
    })
    return result
