"""Assemble the view of one run: sections, charts, timeline, metadata.

Why a view model: the static report, the viewer's run page and the compare
page show the same things, so they are computed once here from the audit
dict (pure data in, plain dicts and safe SVG markup out) and the templates
only lay them out. All text stays plain strings; Jinja escapes it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from autointerp.report import data, svg
from autointerp.report.process_view import MEMORY_CAVEAT, process_view, replication_view
from store import current_evaluations, evaluation_version


def _components(audit: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per component: role, description, hypotheses (with history) and experiments."""
    expl = audit.get("explanation") or {}
    described = {str(c.get("id")): c for c in expl.get("components") or [] if c.get("id")}
    clusters = {str(m): str(c.get("name") or "") for c in expl.get("clusters") or []
                for m in c.get("members") or []}
    hyps_by: dict[str | None, list[Mapping[str, Any]]] = defaultdict(list)
    for hyp in audit.get("hypotheses") or []:
        hyps_by[str(hyp["component"]) if hyp.get("component") else None].append(hyp)
    exps_by: dict[str, list[int]] = defaultdict(list)
    for exp in audit.get("experiments") or []:
        if exp.get("component"):
            exps_by[str(exp["component"])].append(exp["id"])
    circuit = [n["id"] for n in data.circuit_nodes(audit)]
    ids = circuit + [k for k in hyps_by if k] + list(exps_by)
    out = []
    for cid in dict.fromkeys(ids):
        comp = described.get(cid, {})
        evidence = [int(e) for e in comp.get("evidence") or [] if isinstance(e, int)]
        linked = [e for h in hyps_by.get(cid, []) for e in h.get("evidence") or []]
        experiments = list(dict.fromkeys(evidence + exps_by.get(cid, []) + linked))
        out.append({"id": cid, "role": comp.get("role") or clusters.get(cid), "cluster": clusters.get(cid),
                    "description": comp.get("description") or "", "evidence": evidence,
                    "hypotheses": hyps_by.get(cid, []), "experiments": sorted(experiments),
                    "in_circuit": cid in circuit})
    return out


def _timeline(audit: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Hypothesis -> experiment -> result -> status change -> message, in time order."""
    events = []
    for hyp in audit.get("hypotheses") or []:
        events.append({"at": hyp.get("created_at"), "order": 0, "kind": "hypothesis", "item": hyp})
        for change in hyp.get("status_history") or []:
            events.append({"at": change.get("at"), "order": 2, "kind": "status", "item": change,
                           "hypothesis": hyp})
    for exp in audit.get("experiments") or []:
        events.append({"at": exp.get("created_at"), "order": 1, "kind": "experiment", "item": exp})
    for msg in audit.get("messages") or []:
        events.append({"at": msg.get("created_at"), "order": 3, "kind": "message", "item": msg})
    events.sort(key=lambda e: (str(e["at"] or ""), e["order"]))
    return events


#: the score fields shown on the report's first screen (everything else is in the folded evaluation details)
FIRST_SCREEN_SCORES = ("silhouette", "z", "p_value", "ceiling", "n_components", "verdict",
                       "normalized", "circuit_size", "cpr", "cmd")


def _evaluations(audit: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every stored evaluation, newest version first, each labelled (which, by what, on which prompts)."""
    stored = list(audit.get("evaluations") or [])
    newest = {id(e) for e in current_evaluations(stored)}
    out = []
    for ev in sorted(stored, key=lambda e: -evaluation_version(e)):
        scores = data.mapping(ev.get("scores"))
        params = data.mapping(ev.get("params"))
        charts = []
        observed = data.num(scores.get("silhouette", scores.get("score")))
        draws = data.null_draws(scores)
        mean, std = data.num(scores.get("random_mean")), data.num(scores.get("random_std"))
        if draws or (mean is not None and std is not None):
            chart = svg.null_histogram(observed, draws, mean, std, label=f"{ev.get('kind')} null distribution")
            if chart is not None:
                charts.append({"title": "silhouette of the roles against random relabellings of the same heads",
                               "svg": chart})
        if isinstance(scores.get("curve"), list):
            chart = svg.line_chart(scores["curve"], label="faithfulness curve",
                                   x_label="circuit size k (top-k components by |effect|)",
                                   y_label="faithfulness f")
            if chart is not None:
                charts.append({"title": "faithfulness against circuit size", "svg": chart})
        matrix, comps = scores.get("distance_matrix"), scores.get("components")
        if isinstance(matrix, list) and isinstance(comps, list) and len(comps) == len(matrix) <= 40:
            values = [[data.num(v) for v in row] if isinstance(row, list) else [] for row in matrix]
            labels = [str(c) for c in comps]
            charts.append({"title": "swap distances D between circuit heads",
                           "svg": svg.grid_heatmap(labels, labels, values, label="swap distance matrix",
                                                   diverge=False, cell=18)})
        version = evaluation_version(ev)
        headline_keys = [k for k in FIRST_SCREEN_SCORES if k in scores and data.scalar_scores({k: scores[k]})]
        out.append({"id": ev.get("id"), "kind": ev.get("kind"), "version": version, "current": id(ev) in newest,
                    "headline": [(data.score_label(k), scores[k]) for k in headline_keys],
                    "label": str(params.get("label") or f"evaluation {version}"),
                    "scalars": [(data.score_label(k), v) for k, v in data.scalar_scores(scores)],
                    "params": data.pretty(params, 2000), "charts": charts,
                    "created_at": ev.get("created_at")})
    return out


def _roles(audit: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per role: its members, what it does, and the experiments its members' descriptions cite."""
    expl = audit.get("explanation") or {}
    evidence = {str(c.get("id")): c.get("evidence") or [] for c in expl.get("components") or []}
    rows = []
    for cluster in expl.get("clusters") or []:
        members = [str(m) for m in cluster.get("members") or []]
        cited = sorted({int(e) for m in members for e in evidence.get(m, [])})
        rows.append({"name": str(cluster.get("name") or ""), "members": members,
                     "description": str(cluster.get("description") or ""), "evidence": cited})
    return rows


def _meta(run: Mapping[str, Any]) -> dict[str, Any]:
    meta = data.mapping(run.get("meta"))
    imported = data.mapping(meta.get("imported"))
    tokens = int(run.get("prompt_tokens") or 0) + int(run.get("completion_tokens") or 0)
    rows = [
        ("run id", run.get("id")), ("status", run.get("status")), ("stop reason", run.get("stop_reason")),
        ("task", run.get("task")), ("model", run.get("model")), ("agent", run.get("agent")),
        ("seed", run.get("seed")), ("config hash", run.get("config_hash")),
        ("code version", run.get("code_version") or "(not recorded)"),
        ("tokens", f"{tokens:,} ({run.get('prompt_tokens') or 0:,} prompt + "
                   f"{run.get('completion_tokens') or 0:,} completion)"),
        ("cost (USD)", f"{float(run.get('cost_usd') or 0.0):.4f}"),
        ("created", imported.get("created_at") or run.get("created_at")),
        ("finished", imported.get("finished_at") or run.get("finished_at")),
        ("parent run", run.get("parent_run_id")),
    ]  # fmt: skip
    if imported:
        rows.append(("imported", f"from run {imported.get('source_run_id')} at {run.get('created_at')}"))
    batch = data.mapping(meta.get("batch"))
    if batch:
        rows.append(("batch job", f"{batch.get('name') or ''} {str(batch.get('job') or '')[:16]}".strip()))
    return {"rows": [(k, v) for k, v in rows if v not in (None, "")],
            "config": data.pretty(run.get("config") or {}, 4000), "meta": data.pretty(meta, 4000)}


def build_view(audit: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the report templates need about one run.

    Args:
        audit: The dict of ``store.load_run_for_audit`` (plain JSON data).

    Returns:
        A dict of sections: ``run``, ``explanation``, ``circuit_svg``,
        ``heatmaps``, ``attention``, ``components``, ``other_hypotheses``,
        ``experiments``, ``messages``, ``evaluations``, ``timeline``, ``meta``,
        ``process`` (research-process table and chart, or None) and
        ``replication`` (agreement with a reference, with ``memory_caveat``).
    """
    process, replication = process_view(audit), replication_view(audit)
    audit = data.normalise(audit)
    run = audit["run"]
    experiments = audit["experiments"]
    nodes = data.circuit_nodes(audit)
    edges = data.path_edges(experiments)
    heat = data.heatmaps(experiments)
    for h in heat:
        h["svg"] = svg.grid_heatmap(h["rows"], h["cols"], h["values"], names=h["names"],
                                    label=f"{h['title']} heat-map")
        if h["mlp"]:
            h["mlp_svg"] = svg.grid_heatmap([f"L{layer}" for layer, _ in h["mlp"]], ["MLP"],
                                            [[v] for _, v in h["mlp"]], label="MLP effects")
    n_layers = len(heat[0]["rows"]) if heat else None
    circuit_heads = {n["id"] for n in nodes}
    attention = []
    for view in data.attention_views(experiments):
        view["in_circuit"] = view["component"] in circuit_heads
        for ex in view["examples"]:
            tokens = ex["tokens"] or [str(i) for i in range(len(ex["matrix"][0]))]
            rows = tokens[-len(ex["matrix"]):] if len(tokens) >= len(ex["matrix"]) else \
                [str(i) for i in range(len(ex["matrix"]))]
            ex["svg"] = svg.grid_heatmap(rows, tokens, ex["matrix"], diverge=False, cell=20, top=1.0,
                                         label=f"attention of {view['component']}")
        view["bars"] = svg.bars(view["by_role"], label="attention by token role", scale=1.0) \
            if view["by_role"] else None
        attention.append(view)
    attention.sort(key=lambda v: (not v["in_circuit"], str(v["component"])))
    messages = [{**m, "calls_text": data.pretty(m["tool_calls"], 3000) if m.get("tool_calls") else ""}
                for m in audit.get("messages") or []]
    for exp in experiments:
        exp["result_text"] = data.pretty(exp.get("result"))
        exp["args_text"] = data.pretty(exp.get("args"), 1500)
    evaluations = _evaluations(audit)
    first = [e for e in evaluations if e["current"]]
    llm = any(m.get("provider") or m.get("model") for m in messages)
    return {
        "run": run, "explanation": audit.get("explanation"),
        "task_description": str(data.mapping(run.get("meta")).get("task_description") or ""),
        "example_pairs": data.example_pairs(run), "roles": _roles(audit),
        "first_scores": first, "colour_legend": svg.COLOUR_LEGEND,
        "messages_title": "LLM conversation" if llm else "Agent notes",
        "circuit_svg": svg.circuit_diagram(nodes, edges, n_layers) if nodes else None,
        "circuit_edges": edges, "heatmaps": heat, "attention": attention,
        "components": _components(audit),
        "other_hypotheses": [h for h in audit.get("hypotheses") or [] if not h.get("component")],
        "experiments": experiments, "messages": messages,
        "evaluations": evaluations, "timeline": _timeline(audit), "meta": _meta(run),
        "headline": headline(audit), "process": process, "replication": replication,
        "memory_caveat": MEMORY_CAVEAT,
    }  # fmt: skip


def headline(audit: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers that compare runs: circuit, roles, scores, cost."""
    audit = data.normalise(audit)
    expl = audit.get("explanation") or {}
    scores = {str(e.get("kind")): e.get("scores") or {} for e in current_evaluations(audit.get("evaluations") or [])}
    inter, faith = scores.get("interchangeability", {}), scores.get("faithfulness", {})
    run = audit.get("run") or {}
    return {
        "circuit": [n["id"] for n in data.circuit_nodes(audit)],
        "clusters": [(str(c.get("name")), [str(m) for m in c.get("members") or []])
                     for c in expl.get("clusters") or []],
        "silhouette": data.num(inter.get("silhouette")), "z": data.num(inter.get("z")),
        "p_value": data.num(inter.get("p_value")), "faithfulness": data.num(faith.get("normalized")),
        "experiments": len(audit.get("experiments") or []),
        "hypotheses": len(audit.get("hypotheses") or []),
        "tokens": int(run.get("prompt_tokens") or 0) + int(run.get("completion_tokens") or 0),
    }  # fmt: skip
