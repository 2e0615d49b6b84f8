"""``autointerp eval RUN``: score a stored run's explanation and store the scores."""

from __future__ import annotations

import typer
from rich.markup import escape

from agents.evaluate_run import evaluate_stored_run
from autointerp.cli.common import device_option, dtype_option, print_json, progress_bar, stdout
from autointerp.cli.scores import evaluation_lines
from store import open_store

DB_OPTION = typer.Option(None, "--db", help="Database URL (default: $AUTOINTERP_DB or a SQLite file in the user data dir).")


def evaluate(
    run_id: str = typer.Argument(..., help="The run whose explanation is scored."),
    null_draws: int = typer.Option(200, "--null-draws", min=200, help="Random relabellings in the null (≥ 200)."),
    original: str = typer.Option(None, "--original", help="For a head-permuted run: the unpermuted run to compare with."),
    db: str = DB_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    device: str = device_option("Where the model runs: auto, cpu, cuda, cuda:N or mps (default: the run's)."),
    dtype: str = dtype_option("float32, bfloat16 or float16 (default: the run's)."),
) -> None:
    """Score a run's frozen roles (interchangeability with its nulls and ceiling) and its circuit (faithfulness)."""
    with progress_bar() as progress, open_store(db) as st:
        step = progress.add_task(f"evaluating {run_id}", total=None)
        out = evaluate_stored_run(
            st, run_id, null_draws=null_draws, original=original,
            progress=lambda _e, p: progress.update(step, description=str(p.get("name", ""))),
            device=device, dtype=dtype,
        )
    if json_out:
        print_json(out)
        return
    for line in evaluation_lines(out):
        stdout.print(escape(line), highlight=False)
