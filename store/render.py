"""Rich renderables for the CLI: the runs table and a run's audit timeline.

Why: people audit agents by reading, so ``autointerp runs`` and ``autointerp
audit RUN`` must show, at a glance, what each run is and how a run's
research unfolded: each hypothesis, the experiments that tested it and their
results, how its status changed and why; then the conversation, the
explanation and its scores. These are pure functions of the data the read
functions return (rows or the audit dict), so they are easy to test and the
CLI only prints them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

_STATUS_STYLE = {
    "running": "yellow",
    "finished": "green",
    "failed": "red",
    "stopped": "magenta",
    "interrupted": "red",
    "proposed": "cyan",
    "supported": "green",
    "refuted": "red",
    "inconclusive": "yellow",
}


def _get(row: Any, name: str, default: Any = None) -> Any:
    if isinstance(row, Mapping):
        return row.get(name, default)
    return getattr(row, name, default)


def _when(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("T", " ")[:19]


def _short(text: Any, width: int = 100) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _status(status: str | None) -> Text:
    return Text(status or "", style=_STATUS_STYLE.get(status or "", ""))


def runs_table(runs: Sequence[Any]) -> Table:
    """A table of runs (``autointerp runs``).

    Args:
        runs: :class:`~store.tables.Run` rows or dicts with the same keys.

    Returns:
        A rich Table: id, created, task, model, agent, status, time of the
        last event (``last_event_at``, else the run's last update), tokens, cost.
    """
    table = Table(title="Runs", show_lines=False)
    for name, kwargs in (
        ("Run", {"style": "bold", "no_wrap": True}),
        ("Created (UTC)", {"no_wrap": True}),
        ("Task", {}),
        ("Model", {}),
        ("Agent", {}),
        ("Status", {}),
        ("Last event (UTC)", {"no_wrap": True}),
        ("Tokens", {"justify": "right"}),
        ("Cost $", {"justify": "right"}),
    ):
        table.add_column(name, **kwargs)
    for run in runs:
        tokens = (_get(run, "prompt_tokens") or 0) + (_get(run, "completion_tokens") or 0)
        table.add_row(
            Text(str(_get(run, "id"))),
            Text(_when(_get(run, "created_at"))),
            Text(str(_get(run, "task") or "")),
            Text(str(_get(run, "model") or "")),
            Text(str(_get(run, "agent") or "")),
            _status(_get(run, "status")),
            Text(_when(_get(run, "last_event_at") or _get(run, "updated_at"))),
            Text(f"{tokens:,}"),
            Text(f"{float(_get(run, 'cost_usd') or 0.0):.4f}"),
        )
    return table


def _experiment_label(exp: Mapping[str, Any]) -> Text:
    # E<seq>: the run-local number the explanation's text and evidence lists cite
    label = Text(f"E{exp.get('seq', exp['id'])} ", style="bold")
    label.append(f"{exp.get('tool', '')}", style="blue")
    if exp.get("component"):
        label.append(f" [{exp['component']}]")
    label.append(f" ({float(exp.get('wall_time_s') or 0.0):.2f}s)", style="dim")
    if exp.get("error"):
        label.append(f"  error: {_short(exp['error'])}", style="red")
    elif exp.get("summary"):
        label.append(f"  → {_short(exp['summary'])}")
    return label


def _hypothesis_node(
    parent: Tree, hyp: Mapping[str, Any], experiments: Mapping[int, Mapping[str, Any]]
) -> Tree:
    label = Text(f"H{hyp['id']} ", style="bold")
    label.append_text(_status(hyp.get("status")))
    if hyp.get("confidence") is not None:
        label.append(f" ({float(hyp['confidence']):.2f})", style="dim")
    if hyp.get("component"):
        label.append(f" [{hyp['component']}]")
    label.append(f"  {_short(hyp.get('text'), 120)}")
    node = parent.add(label)
    relations = {link["experiment_id"]: link["relation"] for link in hyp.get("evidence_links", [])}
    for exp_id in hyp.get("evidence", []):
        exp = experiments.get(exp_id)
        exp_label = Text(f"{relations.get(exp_id, 'tests')}: ", style="dim")
        exp_label.append_text(_experiment_label(exp) if exp else Text(f"#{exp_id}"))
        node.add(exp_label)
    for change in hyp.get("status_history", []):
        text = Text(f"{_when(change.get('at'))}  ", style="dim")
        text.append_text(_status(change.get("old")))
        text.append(" → ")
        text.append_text(_status(change.get("new")))
        if change.get("experiment_id") is not None:
            decided = experiments.get(change["experiment_id"]) or {}
            text.append(f" (E{decided.get('seq', change['experiment_id'])})")
        if change.get("reason"):
            text.append(f": {_short(change['reason'])}")
        node.add(text)
    return node


def _research_tree(audit: Mapping[str, Any]) -> Tree:
    experiments = {e["id"]: e for e in audit.get("experiments", [])}
    tree = Tree(Text("Hypotheses → experiments → status changes", style="bold"))
    hyps = audit.get("hypotheses", [])
    nodes: dict[int, Tree] = {}
    known = {h["id"] for h in hyps}
    for hyp in hyps:  # creation order: parents come before children
        parent_id = hyp.get("parent_id")
        parent = nodes.get(parent_id, tree) if parent_id in known else tree
        nodes[hyp["id"]] = _hypothesis_node(parent, hyp, experiments)
    unlinked = [e for e in audit.get("experiments", []) if not e.get("hypotheses")]
    if unlinked:
        branch = tree.add(Text("Experiments not linked to a hypothesis", style="bold"))
        for exp in unlinked:
            branch.add(_experiment_label(exp))
    if not hyps and not unlinked:
        tree.add(Text("(no hypotheses or experiments)", style="dim"))
    return tree


def _messages_table(messages: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Messages", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("Role")
    table.add_column("Content")
    for msg in messages:
        content = _short(msg.get("content"), 160)
        calls = msg.get("tool_calls") or []
        if calls:
            names = ", ".join(str(_get(c, "name", "?")) for c in calls)
            content = f"{content} [tool calls: {names}]".strip()
        table.add_row(Text(str(msg.get("seq"))), Text(str(msg.get("role"))), Text(content))
    return table


def _explanation_view(expl: Mapping[str, Any] | None) -> RenderableType:
    if expl is None:
        return Text("Explanation: (none)", style="dim")
    table = Table(title="Explanation", caption=Text(_short(expl.get("summary"), 300)))
    table.add_column("Component", no_wrap=True)
    table.add_column("Role")
    table.add_column("Description")
    table.add_column("Evidence")
    for comp in expl.get("components", []):
        evidence = ", ".join(f"E{e}" for e in comp.get("evidence", []))
        table.add_row(
            str(comp.get("id")),
            str(comp.get("role") or ""),
            _short(comp.get("description")),
            evidence,
        )
    clusters = Tree(Text("Clusters", style="bold"))
    for cluster in expl.get("clusters", []):
        members = ", ".join(str(m) for m in cluster.get("members", []))
        clusters.add(
            Text(f"{cluster.get('name')}: {members} — {_short(cluster.get('description'))}")
        )
    circuit = Text(f"Circuit: {', '.join(str(c) for c in expl.get('circuit', []))}")
    return Group(table, clusters, circuit)


def _scalar_text(value: Any) -> str:
    return format(value, ".4g") if isinstance(value, float) else str(value)


def _evaluations_table(evaluations: Sequence[Mapping[str, Any]]) -> Table:
    """Each evaluation's label (version, source, prompts, settings), time and scalar scores, in full.

    Matrices, draws and nested tables stay in ``audit --json``: raw JSON cut to
    a column width hid the very numbers (z, p, f) a reader looks for.
    """
    table = Table(title="Evaluations")
    table.add_column("#", justify="right")
    table.add_column("Kind")
    table.add_column("Evaluation")
    table.add_column("Scores")
    for ev in evaluations:
        params = ev.get("params") or {}
        label = Text(str(params.get("label") or ""))
        label.append(f"\n{_when(ev.get('created_at'))}", style="dim")
        scores = ev.get("scores") or {}
        scalars = " · ".join(f"{k} {_scalar_text(v)}" for k, v in scores.items()
                             if v is None or isinstance(v, str | int | float | bool))
        table.add_row(Text(str(ev.get("id"))), Text(str(ev.get("kind"))), label, Text(scalars))
    return table


def audit_timeline(audit: Mapping[str, Any]) -> RenderableType:
    """A readable view of one run's audit (``autointerp audit RUN``).

    Args:
        audit: The dict returned by :func:`store.load_run_for_audit`.

    Returns:
        A rich renderable: run header; hypotheses with their experiments,
        results and status changes; unlinked experiments; messages;
        explanation (components, evidence, clusters, circuit); evaluations.
    """
    run = audit["run"]
    header = Text(f"Run {run['id']}", style="bold")
    header.append(f"  {run.get('task')} · {run.get('model')} · {run.get('agent')}  ")
    header.append_text(_status(run.get("status")))
    if run.get("stop_reason"):
        header.append(f" ({_short(run['stop_reason'])})")
    tokens = (run.get("prompt_tokens") or 0) + (run.get("completion_tokens") or 0)
    header.append(
        f"\ncreated {_when(run.get('created_at'))} · finished {_when(run.get('finished_at')) or '-'}"
        f" · {tokens:,} tokens · ${float(run.get('cost_usd') or 0.0):.4f}",
        style="dim",
    )
    gaps = audit.get("unanswered_tool_calls") or []
    if gaps:
        header.append(f"\nincomplete trace: {len(gaps)} LLM message(s) with tool calls that have no recorded "
                      "reply", style="bold red")
    parts: list[RenderableType] = [header, _research_tree(audit)]
    if audit.get("messages"):
        parts.append(_messages_table(audit["messages"]))
    parts.append(_explanation_view(audit.get("explanation")))
    if audit.get("evaluations"):
        parts.append(_evaluations_table(audit["evaluations"]))
    return Group(*parts)
