"""From an audit dict to what the report shows: pure, defensive extraction.

Why defensive: the report reads whatever a run recorded -- runs of older or
newer tool versions, failed runs, runs without an explanation, LLM output of
any shape -- and must never crash on a missing key or an unexpected type. So
each extractor looks for the known result shapes of the experiment tools
(``effects`` maps for patching sweeps; ``per_receiver`` maps for path
patching; ``pattern``/``tokens`` matrices or ``by_role`` tables for attention)
and quietly skips what it does not recognise. Everything here works on the
plain dict from ``store.load_run_for_audit`` and imports nothing of the store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from engine.components import parse_component
from engine.errors import AutointerpError

PATCHING_TOOLS = ("activation_patching", "attribution_patching", "patching", "patch",
                  "exact_patching", "atp")  # fmt: skip
ATTENTION_TOOLS = ("attention_pattern", "attention_patterns", "attention")
PATH_TOOLS = ("path_patching",)
RESULT_PREVIEW_CHARS = 6000


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def num(value: Any) -> float | None:
    """A finite float, or None (bools and strings are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def component(cid: Any) -> Any:
    """The parsed component id, or None when it is not one."""
    try:
        return parse_component(str(cid))
    except (AutointerpError, TypeError, ValueError):
        return None


def effects_of(result: Any) -> dict[str, float]:
    """``{component id: effect}`` of a sweep-like result (dict or list-of-rows shapes)."""
    if not isinstance(result, Mapping):
        return {}
    for key in ("effects", "scores", "attributions"):
        value = result.get(key)
        if isinstance(value, Mapping):
            out = {str(k): num(v) for k, v in value.items()}
            return {k: v for k, v in out.items() if v is not None}
        if isinstance(value, list):
            rows = {}
            for row in value:
                if isinstance(row, Mapping):
                    cid = row.get("component") or row.get("id")
                    val = num(row.get("effect", row.get("score")))
                    if cid is not None and val is not None:
                        rows[str(cid)] = val
            if rows:
                return rows
    return {}


def contribution_sign(exp: Mapping[str, Any]) -> float:
    """The factor turning an experiment's raw effect into a contribution (the report's one sign).

    Noising (clean run, corrupt activation patched in): contribution = -effect.
    Denoising (corrupt run, clean activation patched in): contribution = effect.
    """
    result, args = mapping(exp.get("result")), mapping(exp.get("args"))
    return 1.0 if (result.get("direction") or args.get("direction")) == "denoising" else -1.0


def heatmaps(experiments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Layer x head grids of the patching/attribution sweeps (one per tool, the widest sweep).

    Returns:
        ``[{"title", "experiment", "rows", "cols", "values", "names", "mlp"}]``
        where ``mlp`` is ``[(layer, effect)]`` for MLP components.
    """
    best: dict[str, tuple[Mapping[str, Any], dict[str, float]]] = {}
    for exp in experiments:
        if exp.get("error") or str(exp.get("tool")) not in PATCHING_TOOLS:
            continue
        effects = effects_of(exp.get("result"))
        heads = sum(1 for k in effects if (c := component(k)) is not None and c.kind == "head")
        if heads and (exp["tool"] not in best or heads >= len(best[exp["tool"]][1])):
            best[str(exp["tool"])] = (exp, effects)
    out = []
    for tool, (exp, effects) in sorted(best.items()):
        parsed = {k: component(k) for k in effects}
        head_ids = {k: c for k, c in parsed.items() if c is not None and c.kind == "head"}
        n_layers = max(c.layer for c in head_ids.values()) + 1
        n_heads = max(int(c.head or 0) for c in head_ids.values()) + 1
        sign = contribution_sign(exp)
        effects = {k: sign * v for k, v in effects.items()}
        grid: list[list[float | None]] = [[None] * n_heads for _ in range(n_layers)]
        for k, c in head_ids.items():
            grid[c.layer][int(c.head or 0)] = effects[k]
        result = exp.get("result") or {}
        args = exp.get("args") or {}
        detail = ", ".join(str(v) for v in (result.get("method") or args.get("method"),
                                            result.get("direction") or args.get("direction")) if v)
        out.append({
            "title": tool.replace("_", " ") + (f" ({detail})" if detail else "") + ": contributions",
            "experiment": exp.get("id"),
            "rows": [f"L{i}" for i in range(n_layers)], "cols": [f"H{j}" for j in range(n_heads)],
            "values": grid,
            "names": [[f"L{i}.H{j}" for j in range(n_heads)] for i in range(n_layers)],
            "mlp": sorted((c.layer, effects[k]) for k, c in parsed.items() if c is not None and c.kind == "mlp"),
        })  # fmt: skip
    return out


def _matrix(value: Any) -> list[list[float | None]] | None:
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        return None
    if not any(num(v) is not None for r in value for v in r):
        return None
    return [[num(v) for v in r] for r in value[:64]]


def _tokens(value: Any) -> list[str] | None:
    return [str(t) for t in value][:64] if isinstance(value, list) and value else None


def attention_views(experiments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Attention patterns of attention experiments: matrices with tokens, and by-role tables.

    Returns:
        ``[{"component", "experiment", "summary", "examples": [{"prompt",
        "tokens", "matrix"}], "by_role": [(role, weight)]}]``.
    """
    out = []
    for exp in experiments:
        if exp.get("error") or str(exp.get("tool")) not in ATTENTION_TOOLS:
            continue
        result = mapping(exp.get("result"))
        if isinstance(result.get("heads"), Mapping):
            out.extend(_per_head_views(exp, result["heads"]))
            continue
        raw_examples = result.get("examples") or result.get("prompts")
        candidates = raw_examples if isinstance(raw_examples, list) else [result]
        examples = []
        for ex in candidates[:4]:
            if not isinstance(ex, Mapping):
                continue
            matrix = _matrix(ex.get("pattern") or ex.get("patterns") or ex.get("attention"))
            if matrix is None:
                continue
            tokens = _tokens(ex.get("tokens") or ex.get("str_tokens"))
            examples.append({"prompt": str(ex.get("prompt") or ex.get("text") or ""),
                             "tokens": tokens, "matrix": matrix})
        table = result.get("by_role") or result.get("roles") or result.get("attention_by_role") or {}
        if isinstance(table, Mapping) and isinstance(table.get("END"), Mapping):
            table = table["END"]
        weights = {str(k): num(w) for k, w in table.items()} if isinstance(table, Mapping) else {}
        by_role = [(k, w) for k, w in weights.items() if w is not None]
        if examples or by_role:
            out.append({"component": exp.get("component") or (exp.get("args") or {}).get("component"),
                        "experiment": exp.get("id"), "summary": exp.get("summary") or "",
                        "examples": examples, "by_role": by_role,
                        "prompts": str(mapping(exp.get("args")).get("prompts") or "clean")})
    return out


def _per_head_views(exp: Mapping[str, Any], heads: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``attention_pattern`` tool's shape: ``heads[id] = {"to_role", "example": {"tokens", "attention"}}``.

    The example is the query position's attention row, drawn as a one-row matrix.
    """
    views = []
    # one experiment over many heads has one summary: shown once by the caller, not under every head
    summary = exp.get("summary") or "" if len(heads) == 1 else ""
    prompts = str(mapping(exp.get("args")).get("prompts") or "clean")
    for head, entry in heads.items():
        entry = mapping(entry)
        table = mapping(entry.get("to_role"))
        by_role = [(str(k), w) for k, w in ((k, num(v)) for k, v in table.items()) if w is not None]
        examples = []
        example = mapping(entry.get("example"))
        row = example.get("attention")
        matrix = _matrix([row]) if isinstance(row, list) else None
        if matrix is not None:
            tokens = _tokens(example.get("tokens"))
            examples.append({"prompt": "".join(tokens or []), "tokens": tokens, "matrix": matrix})
        if by_role or examples:
            views.append({"component": str(head), "experiment": exp.get("id"), "summary": summary,
                          "examples": examples, "by_role": by_role, "prompts": prompts})
    return views


def path_edges(experiments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Edges ``sender -> receiver`` (or ``-> logits``) weighted by path-patching contributions.

    A path patched into several receivers at once has one joint value: it is
    drawn to each receiver with ``joint`` naming them all (a dashed edge),
    never split into per-receiver numbers that were not measured. Where the
    experiment also measured each receiver's inputs on their own (``edges``),
    each receiver gets its strongest input's own value (``input`` names it),
    and a later joint experiment does not overwrite it.
    """
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for exp in experiments:
        if exp.get("error") or str(exp.get("tool")) not in PATH_TOOLS:
            continue
        args = exp.get("args") or {}
        result = mapping(exp.get("result"))
        sender = result.get("sender") or args.get("sender") or exp.get("component")
        if not sender:
            continue
        sign = contribution_sign(exp)
        per = result.get("per_receiver")
        found = effects_of({"effects": per}) if isinstance(per, Mapping | list) else {}
        receivers = result.get("receivers") if isinstance(result.get("receivers"), list) else args.get("receivers")
        single = [(str(e.get("receiver")), str(e.get("input")), value) for e in result.get("edges") or []
                  if isinstance(e, Mapping) and (value := num(e.get("effect"))) is not None]
        if single:
            strongest: dict[str, tuple[str, float]] = {}
            for receiver, which, value in single:
                if receiver not in strongest or abs(value) > abs(strongest[receiver][1]):
                    strongest[receiver] = (which, value)
            for receiver, (which, value) in strongest.items():
                edges[(str(sender), receiver)] = {"source": str(sender), "target": receiver, "weight": sign * value,
                                                  "experiment": exp.get("id"), "input": which}
        elif found:
            for receiver, weight in found.items():
                edges[(str(sender), receiver)] = {"source": str(sender), "target": receiver,
                                                  "weight": sign * weight, "experiment": exp.get("id")}
        elif (total := num(result.get("effect", result.get("total_effect")))) is not None:
            targets = ["logits"] if receivers in (None, "logits") else \
                [str(r) for r in receivers] if isinstance(receivers, list) else []
            joint = ", ".join(targets) if len(targets) > 1 else None
            for target in targets:
                if joint and "input" in edges.get((str(sender), target), {}):
                    continue  # this receiver's own edge was measured: a joint value says less
                edges[(str(sender), target)] = {"source": str(sender), "target": target, "weight": sign * total,
                                                "experiment": exp.get("id"), "joint": joint}
    return list(edges.values())


def circuit_nodes(audit: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Nodes of the circuit diagram: the explanation's circuit and components, with roles."""
    expl = audit.get("explanation") or {}
    roles: dict[str, str] = {}
    for cluster in expl.get("clusters") or []:
        for member in cluster.get("members") or []:
            roles[str(member)] = str(cluster.get("name") or "")
    for comp in expl.get("components") or []:
        if comp.get("role"):
            roles.setdefault(str(comp.get("id")), str(comp["role"]))
    ids = [str(c) for c in expl.get("circuit") or [] if isinstance(c, str | int)]
    ids += [str(c.get("id")) for c in expl.get("components") or [] if c.get("id")]
    nodes = []
    for cid in dict.fromkeys(ids):
        parsed = component(cid)
        nodes.append({"id": cid, "layer": parsed.layer if parsed else None,
                      "kind": parsed.kind if parsed else "other", "role": roles.get(cid)})
    return nodes


def pretty(value: Any, limit: int = RESULT_PREVIEW_CHARS) -> str:
    """Indented JSON of ``value``, cut at ``limit`` characters."""
    try:
        text = json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters)"


def scalar_scores(scores: Any) -> list[tuple[str, Any]]:
    """The scalar entries of an evaluation's scores (matrices and lists left out)."""
    if not isinstance(scores, Mapping):
        return []
    return [(str(k), v) for k, v in scores.items() if isinstance(v, str | int | float | bool) or v is None]


#: readable names of stored score keys (the report never shows a raw key such as ``random_mean``)
SCORE_LABELS = {
    "silhouette": "silhouette of the roles", "random_mean": "null mean (random relabelling)",
    "random_std": "null std", "z": "z vs random relabelling", "p_value": "p (empirical, one-sided)",
    "ceiling": "ceiling (best partition)", "ceiling_method": "ceiling found by", "n_components": "heads scored",
    "n_clusters": "roles", "n_singletons": "single-head roles", "roles_source": "roles chosen from",
    "distance": "swap distance", "null_draws": "null draws", "verdict": "verdict", "note": "note",
    "normalized": "faithfulness f(C)", "circuit_size": "circuit size", "ablation": "ablation",
    "ablated": "components ablated", "cpr": "CPR (area under f)", "cmd": "CMD (area to f = 1)",
    "m_full": "metric, full model", "m_empty": "metric, all ablated", "m_circuit": "metric, circuit only",
    "log_base": "log base",
}


def score_label(key: str) -> str:
    """The readable name of a stored score key."""
    return SCORE_LABELS.get(key, key.replace("_", " "))


def example_pairs(run: Mapping[str, Any]) -> list[dict[str, str]]:
    """The two example prompt pairs a run recorded in its meta (empty for runs from before they were)."""
    pairs = mapping(run.get("meta")).get("example_pairs")
    keys = ("clean", "corrupt", "answer", "distractor")
    return [{k: str(p.get(k) or "") for k in keys} for p in pairs[:2] if isinstance(p, Mapping)] \
        if isinstance(pairs, list) else []


def null_draws(scores: Mapping[str, Any]) -> list[float] | None:
    """Stored null draws of an interchangeability evaluation, if any were kept."""
    for key in ("null", "null_scores", "null_samples", "random_scores", "null_distribution"):
        value = scores.get(key)
        if isinstance(value, list) and value and all(num(v) is not None for v in value):
            return [float(v) for v in value]
    return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [dict(v) for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _strs(value: Any) -> list[str]:
    return [str(v) for v in value if isinstance(v, str | int)] if isinstance(value, list) else []


def _ints(value: Any) -> list[int]:
    return [int(v) for v in value if isinstance(v, int) and not isinstance(v, bool)] \
        if isinstance(value, list) else []


def normalise(audit: Mapping[str, Any]) -> dict[str, Any]:
    """The audit dict with every list a list of dicts and every id list clean.

    The templates and extractors can then rely on shapes (a cluster's
    ``members`` is a list of strings, a hypothesis's ``status_history`` is a
    list of dicts ...) whatever was stored.

    Experiments are numbered as the run cites them: ``id`` becomes the
    run-local number ``seq`` (E1..En, what the explanation's text and evidence
    lists use) and every reference to the database row id is mapped to it.
    """
    run = dict(mapping(audit.get("run")))
    local: dict[int, int] = {}
    experiments = []
    for exp in _dicts(audit.get("experiments")):
        exp["hypotheses"] = _ints(exp.get("hypotheses"))
        if isinstance(exp.get("seq"), int) and isinstance(exp.get("id"), int):
            local[exp["id"]] = exp["seq"]
            exp["row_id"], exp["id"] = exp["id"], exp["seq"]
        experiments.append(exp)
    hypotheses = []
    for hyp in _dicts(audit.get("hypotheses")):
        hyp["status_history"] = _dicts(hyp.get("status_history"))
        for change in hyp["status_history"]:
            if isinstance(change.get("experiment_id"), int):
                change["experiment_id"] = local.get(change["experiment_id"], change["experiment_id"])
        hyp["evidence"] = [local.get(e, e) for e in _ints(hyp.get("evidence"))]
        hyp["evidence_links"] = [{**link, "experiment_id": local.get(link["experiment_id"], link["experiment_id"])}
                                 for link in _dicts(hyp.get("evidence_links"))
                                 if isinstance(link.get("experiment_id"), int)]
        hypotheses.append(hyp)
    messages = []
    for msg in _dicts(audit.get("messages")):
        msg["content"] = "" if msg.get("content") is None else str(msg["content"])
        msg["tool_calls"] = msg.get("tool_calls") if isinstance(msg.get("tool_calls"), list) else []
        messages.append(msg)
    explanation = None
    if isinstance(audit.get("explanation"), Mapping):
        expl = dict(audit["explanation"])
        components = []
        for comp in _dicts(expl.get("components")):
            comp["evidence"] = _ints(comp.get("evidence"))
            components.append(comp)
        clusters = []
        for cluster in _dicts(expl.get("clusters")):
            cluster["members"] = _strs(cluster.get("members"))
            clusters.append(cluster)
        explanation = {**expl, "summary": str(expl.get("summary") or ""), "components": components,
                       "clusters": clusters, "circuit": _strs(expl.get("circuit"))}
    evaluations = []
    for ev in _dicts(audit.get("evaluations")):
        ev["scores"] = dict(ev["scores"]) if isinstance(ev.get("scores"), Mapping) else {}
        evaluations.append(ev)
    return {"run": run, "hypotheses": hypotheses, "experiments": experiments, "messages": messages,
            "explanation": explanation, "evaluations": evaluations,
            "artifacts": _dicts(audit.get("artifacts"))}
