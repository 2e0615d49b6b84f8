"""``autointerp task check``: does the model perform the task at all?"""

from __future__ import annotations

import typer
from rich.table import Table

from autointerp.cli.common import (
    MODEL_HELP,
    device_option,
    dtype_option,
    print_json,
    progress_bar,
    stdout,
)
from autointerp.cli.target import load_target
from engine.task_check import check_task
from engine.tasks import load_task

app = typer.Typer(help="Inspect tasks.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Inspect tasks."""  # a callback keeps ``task`` a group: typer collapses a one-command app into the command


@app.command("check")
def check(
    task: str = typer.Argument(..., help="Built-in task name or path to a JSONL file."),
    model: str = typer.Option("smollm2-135m", "--model", "-m", help=MODEL_HELP),
    n: int = typer.Option(None, "--n", help="Number of pairs (default: the task's)."),
    seed: int = typer.Option(0, "--seed", help="Pair-generation seed."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    device: str = device_option(),
    dtype: str = dtype_option(),
) -> None:
    """Report clean and corrupt logit difference and accuracy of MODEL on TASK."""

    with progress_bar() as progress:
        target = load_target(model, progress, device, dtype)
        data = load_task(task, target, n=n, seed=seed)
        step = progress.add_task(f"{data.task.name}: forward passes", total=data.n_pairs)
        result = check_task(target, data, on_step=lambda k: progress.advance(step, k))
    if json_out:
        print_json(result.to_dict())
        return
    table = Table(title=f"{result.task} on {result.model} ({result.n_pairs} pairs)")
    table.add_column("metric")
    table.add_column("clean", justify="right")
    table.add_column("corrupt", justify="right")
    table.add_row("logit diff (answer - distractor)", f"{result.clean_metric:.3f}", f"{result.corrupt_metric:.3f}")
    table.add_row("accuracy (answer beats distractor)", f"{result.accuracy:.1%}", f"{result.corrupt_accuracy:.1%}")
    stdout.print(table)
