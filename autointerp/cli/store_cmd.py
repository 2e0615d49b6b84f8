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
from store import list_runs, load_run_for_audit, open_store, run_to_dict
from store.render import audit_timeline, runs_table

DB_OPTION = typer.Option(None, "--db", help="Database URL (default: $AUTOINTERP_DB or a SQLite file in the user data dir).")


def runs(
    task: str = typer.Option(None, "--task", help="Only runs of this task."),
    model: str = typer.Option(None, "--model", help="Only runs of this model."),
    agent: str = typer.Option(None, "--agent", help="Only runs with this agent spec."),
    status: str = typer.Option(None, "--status", help="running, finished, failed, stopped or interrupted."),
    since: dt.datetime = typer.Option(None, "--since", help="Only runs created at or after this time (ISO)."),
    limit: int = typer.Option(50, "--limit", help="At most this many runs (newest first)."),
    db: str = DB_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List runs in the store, newest first."""

    with open_store(db) as st:
        rows = list_runs(st, task=task, model=model, agent=agent, status=status, since=since, limit=limit)
    if json_out:
        print_json({"runs": [run_to_dict(r) for r in rows]})
        return
    if not rows:
        stdout.print(no_runs_sentence({"--task": task, "--model": model, "--agent": agent, "--status": status,
                                        "--since": since}, st.masked_url), highlight=False)
        return
    stdout.print(runs_table(rows))


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

    with open_store(db) as st:
        record = load_run_for_audit(st, run_id)
    if json_out:
        print_json(record)
        return
    stdout.print(audit_timeline(record))
