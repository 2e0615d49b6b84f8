"""``autointerp batch SPEC.yaml``: many explain jobs, resumable, locally or on Ray.

The spec is validated whole before anything starts (exit 2 naming the YAML
path of each bad field). While jobs run, stderr shows an overall progress bar
and a per-job status table; at the end a summary table (or, with ``--json``,
one JSON object) lists each job's status, run, circuit size,
interchangeability z, faithfulness and wall time. Exit status: 0 when every
job finished (or was already finished), 1 when a job failed, 130 when
interrupted (re-run the same command to resume).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from autointerp.batch import LocalExecutor, RayExecutor, load_spec, run_batch
from autointerp.batch.summary import counts, jobs_table
from autointerp.batch.worker import explain_job
from autointerp.cli.common import print_json, stderr, stdout
from engine.config import settings
from engine.errors import AutointerpError
from store import open_store


def _job_fn(spec: str | None) -> Any:
    """The job function: ``module:function`` when given, else the real explain job."""

    if not spec:
        return explain_job
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise AutointerpError(f"Cannot import the job function '{spec}' ({exc}).") from None


def _executor(kind: str, workers: int, spec: Any) -> Any:

    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers, spec.ray)
    raise AutointerpError(f"Unknown executor '{kind}'; use local or ray.")


def batch(
    spec_path: Path = typer.Argument(..., metavar="SPEC.yaml", help="Batch spec (YAML)."),
    executor: str = typer.Option("local", "--executor", "-e", help="local or ray."),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1,
                                       help="Concurrent jobs (default: the spec's, else 1)."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default $AUTOINTERP_DB or user data)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON summary object."),
    workdir: Path | None = typer.Option(None, "--workdir",
                                        help="Jobs' work directories (default: user cache/batch)."),
    job_fn: str | None = typer.Option(None, "--job-fn", hidden=True,
                                      help="module:function to run each job (advanced, tests)."),
) -> None:
    """Run every (task x model x agent x seed) job of a spec; finished jobs are skipped."""

    spec, jobs = load_spec(spec_path)
    fn = _job_fn(job_fn)
    runner = _executor(executor, workers or spec.workers or 1, spec)
    interactive = not json_out and stderr.is_terminal
    states: list[Any] = []
    interrupted = False
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=stderr)
    bar = progress.add_task(f"batch ({executor})", total=len(jobs))
    with open_store(db) as store:

        def view() -> Group:
            return Group(progress, jobs_table(states))

        live = Live(view(), console=stderr, transient=True, auto_refresh=interactive,
                    refresh_per_second=4) if interactive else None

        def on_change(event: str, state: Any) -> None:
            if event == "planned":
                states.append(state)
            if event == "done" or (event == "planned" and state.status == "skipped"):
                progress.advance(bar)
            if not interactive:
                if event == "done":
                    stderr.print(f"{state.job.label}: {state.status} ({state.run_id})", highlight=False)
            elif live is not None:
                live.update(view())

        try:
            if live is not None:
                live.start()
            run_batch(store, jobs, runner, fn, batch_name=spec.name or spec_path.stem,
                      on_change=on_change, workdir=workdir or settings().cache_dir / "batch")
        except KeyboardInterrupt:
            interrupted = True
            for state in states:
                if state.status in ("running", "pending"):
                    state.status = "interrupted" if state.status == "running" else "pending"
        finally:
            if live is not None:
                live.stop()
    tally = counts(states)
    if json_out:
        print_json({"spec": str(spec_path), "name": spec.name, "executor": executor,
                    "workers": runner.workers, "counts": tally, "interrupted": interrupted,
                    "jobs": [s.as_json() for s in states]})
    else:
        stdout.print(jobs_table(states, title="Batch summary", final=True))
        stdout.print(", ".join(f"{n} {k}" for k, n in sorted(tally.items())), highlight=False)
    if interrupted:
        stderr.print("Interrupted; run the same command again to resume.")
        sys.exit(130)
    if tally.get("failed") or tally.get("interrupted"):
        sys.exit(1)
