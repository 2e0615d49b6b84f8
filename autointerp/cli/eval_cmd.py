"""``autointerp eval RUN``: score a stored run's explanation and store the scores."""

from __future__ import annotations

import typer
from rich.markup import escape

from agents.evaluate_run import evaluate_stored_run
from autointerp.cli.common import device_option, dtype_option, print_json, stages, stdout
from autointerp.cli.scores import evaluation_lines
from engine.bounds import MAX_NULL_DRAWS, MIN_NULL_DRAWS
from store import open_store

DB_OPTION = typer.Option(None, "--db", help="Database URL (default: $AUTOINTERP_DB or a SQLite file in the user data dir).")


def evaluate(
    run_id: str = typer.Argument(..., help="The run whose explanation is scored."),
    null_draws: int = typer.Option(200, "--null-draws", min=MIN_NULL_DRAWS, max=MAX_NULL_DRAWS,
                                   help=f"Random relabellings in the null ({MIN_NULL_DRAWS}..{MAX_NULL_DRAWS})."),
    original: str = typer.Option(None, "--original", help="For a head-permuted run: the unpermuted run to compare with."),
    db: str = DB_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    device: str = device_option("Where the model runs: auto, cpu, cuda, cuda:N or mps (default: the run's)."),
    dtype: str = dtype_option("float32, bfloat16 or float16 (default: the run's)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr (errors still print)."),
) -> None:
    """Score a run's frozen roles (interchangeability with its nulls and ceiling) and its circuit (faithfulness)."""
    with stages(quiet) as shown, open_store(db, create=False) as st:
        out = evaluate_stored_run(
            st, run_id, null_draws=null_draws, original=original,
            progress=lambda _e, p: shown.update(str(p.get("name", ""))),
            device=device, dtype=dtype,
        )
    if json_out:
        print_json(out)
        return
    version = out.get("version", 1)
    stdout.print(f"evaluation {version} of {run_id}" + (f" (evaluations 1..{version - 1} stay in the store as history; "
                 "audit and report show the newest)" if version > 1 else ""), highlight=False)
    for line in evaluation_lines(out):
        stdout.print(escape(line), highlight=False)
