"""``autointerp eval RUN``: score a stored run's explanation and store the scores."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from agents.evaluate_run import evaluate_stored_run
from autointerp.cli.common import device_option, dtype_option, print_json, progress_bar, stdout
from store import open_store

DB_OPTION = typer.Option(None, "--db", help="Database URL (default: $AUTOINTERP_DB or a SQLite file in the user data dir).")


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def evaluate(
    run_id: str = typer.Argument(..., help="The run whose explanation is scored."),
    null_draws: int = typer.Option(200, "--null-draws", min=200, help="Random relabellings in the null (≥ 200)."),
    original: str = typer.Option(None, "--original", help="For a head-permuted run: the unpermuted run to compare with."),
    db: str = DB_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    device: str = device_option("Where the model runs: auto, cpu, cuda, cuda:N or mps (default: the run's)."),
    dtype: str = dtype_option("float32, bfloat16 or float16 (default: the run's)."),
) -> None:
    """Interchangeability (swap distances, silhouette vs a random null) and faithfulness of a run."""

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
    inter, faith = out["interchangeability"], out["faithfulness"]
    stdout.print(f"[bold]interchangeability[/] silhouette={_fmt(inter.get('silhouette'))} "
                 f"null={_fmt(inter.get('random_mean'))}±{_fmt(inter.get('random_std'))} "
                 f"z={_fmt(inter.get('z'))} p={_fmt(inter.get('p_value'))} "
                 f"({inter.get('n_components')} heads, {inter.get('n_clusters')} roles)")
    stdout.print(f"[bold]faithfulness[/] f={_fmt(faith.get('normalized'))} ({faith.get('circuit_size')} "
                 f"components, {faith.get('ablation')} ablation) CPR={_fmt(faith.get('cpr'))} "
                 f"CMD={_fmt(faith.get('cmd'))}")
    if "permutation" in out:
        perm = out["permutation"]
        stdout.print(f"[bold]memorisation control[/] vs {perm['original_run']}: "
                     f"{_fmt(perm['mapped_matches'])} of the original components found at their permuted ids, "
                     f"literal (unmapped) ids reused: {_fmt(perm['literal_matches'])} -> "
                     + ("passed" if perm["passed"] else "FAILED"))
    stdout.print(escape(out["interpretation"]))
