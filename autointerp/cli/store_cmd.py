"""``autointerp runs`` and ``autointerp audit RUN``: reading the research trace.

The store is the only source: these commands open it read-side, print a table
or a timeline for people, or exactly one JSON object for machines (the audit
shape of DESIGN.md §6). An unknown run id or an unreachable database is a
``StoreError`` the app prints as one sentence with exit code 2.
"""

from __future__ import annotations

import datetime as dt

import typer

from autointerp.cli.common import print_json, stdout
from store import list_runs, load_run_for_audit, open_store, run_activity, run_to_dict
from store.render import audit_timeline, runs_table
from store.tables import RUN_STATUSES

DB_OPTION = typer.Option(None, "--db", help="Database URL (default: $AUTOINTERP_DB or a SQLite file in the user data dir).")


MAX_RUN_LIST = 10_000
"""Most runs one ``autointerp runs`` lists."""


def runs(
    task: str = typer.Option(None, "--task", help="Only runs of this task."),
    model: str = typer.Option(None, "--model", help="Only runs of this model."),
    agent: str = typer.Option(None, "--agent", help="Only runs with this agent spec."),
    status: str = typer.Option(None, "--status", help="running, finished, failed, stopped or interrupted "
                               "(interrupted includes runs left 'running' by a process that is gone)."),
    since: dt.datetime = typer.Option(None, "--since", help="Only runs created at or after this time (ISO)."),
    limit: int = typer.Option(50, "--limit", min=1, max=MAX_RUN_LIST,
                              help=f"At most this many runs, newest first (1..{MAX_RUN_LIST})."),
    db: str = DB_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List runs in the store, newest first; runs whose process is gone show as interrupted."""

    if status is not None and status not in RUN_STATUSES:
        raise typer.BadParameter(f"'{status}' is not a run status; use one of {', '.join(RUN_STATUSES)}",
                                 param_hint="'--status'")
    # a run recorded "running" may be interrupted: read both, decide by its lease
    stored = ("running", "interrupted") if status in ("running", "interrupted") else (status,)
    with open_store(db, create=False) as st:
        rows = [r for s in stored for r in list_runs(st, task=task, model=model, agent=agent, status=s,
                                                      since=since, limit=None if s == "running" else limit)]
        activity = run_activity(st, rows)
    shown = []
    for run in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True):
        now = activity[run.id]
        if status is None or now.status == status:
            shown.append({**run_to_dict(run), "status": now.status, "recorded_status": run.status,
                          "last_event_at": now.last_event_at.isoformat() if now.last_event_at else None,
                          "resumable": now.stale or run.status in ("interrupted", "failed")})
    shown = shown[:limit]
    if json_out:
        print_json({"runs": shown})
        return
    if not shown:
        stdout.print(no_runs_sentence({"--task": task, "--model": model, "--agent": agent, "--status": status,
                                        "--since": since}, st.masked_url), highlight=False)
        return
    stdout.print(runs_table(shown))


def no_runs_sentence(filters: dict[str, object], where: str) -> str:
    """What an empty ``runs`` listing says instead of an empty table."""
    given = [f"{flag} {value}" for flag, value in filters.items() if value is not None]
    if given:
        return f"no runs match {' '.join(given)} in {where}"
    return f"no runs in {where}"


def audit(
    run_id: str = typer.Argument(..., help="The run id (see `autointerp runs`)."),
    db: str = DB_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print the whole run as one JSON object."),
) -> None:
    """Show everything a run did: hypotheses, experiments, messages, explanation, scores."""

    with open_store(db, create=False) as st:
        record = load_run_for_audit(st, run_id)
    if json_out:
        print_json(record)
        return
    stdout.print(audit_timeline(record))
