"""``autointerp patch``: an activation-patching (or attribution-patching) sweep from the shell."""

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
from engine.attribution import attribution_sweep
from engine.components import all_heads, all_mlps, all_resids
from engine.patching import PatchingError, patch_sweep, sides
from engine.tasks import load_task

METHODS = ("exact", "attribution")
COMPONENT_SETS = ("heads", "mlps", "resid")


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:

    if value not in allowed:
        raise PatchingError(f"Unknown {option} '{value}'; use one of {', '.join(allowed)}.")
    return value


def patch(
    task: str = typer.Option(..., "--task", "-t", help="Built-in task name or path to a JSONL file."),
    model: str = typer.Option("smollm2-135m", "--model", "-m", help=MODEL_HELP),
    method: str = typer.Option("exact", "--method", help="exact (batched activation patching) or attribution (AtP)."),
    direction: str = typer.Option("noising", "--direction", help="noising (clean run, corrupt activation) or denoising."),
    components: str = typer.Option("heads", "--components", help="heads, mlps or resid."),
    n: int = typer.Option(None, "--n", help="Number of pairs (default: the task's)."),
    seed: int = typer.Option(0, "--seed", help="Pair-generation seed."),
    top: int = typer.Option(20, "--top", help="Rows in the table (without --json)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object with every effect."),
    device: str = device_option(),
    dtype: str = dtype_option(),
) -> None:
    """Patch every component of a kind (all positions) and report effects on the logit difference."""

    _choice(method, METHODS, "method")
    _choice(components, COMPONENT_SETS, "component set")
    sides(direction)  # validates
    with progress_bar() as progress:
        target = load_target(model, progress, device, dtype)
        data = load_task(task, target, n=n, seed=seed)
        comps = {
            "heads": lambda: all_heads(target.n_layers, target.n_heads),
            "mlps": lambda: all_mlps(target.n_layers),
            "resid": lambda: all_resids(target.n_layers),
        }[components]()
        if method == "exact":
            step = progress.add_task(f"{data.task.name}: patching {len(comps)} {components}",
                                     total=len(comps) * len(data.buckets))
            result = patch_sweep(target, data, comps, direction,  # type: ignore[arg-type]
                                 on_step=lambda k: progress.advance(step, k))
        else:
            step = progress.add_task(f"{data.task.name}: attribution patching", total=data.n_pairs)
            result = attribution_sweep(target, data, comps, direction,  # type: ignore[arg-type]
                                       on_step=lambda k: progress.advance(step, k))
    if json_out:
        print_json({
            "task": data.task.name, "model": target.name, "method": method, "direction": direction,
            "metric": "logit_diff", "n_pairs": result.n_pairs, "clean_metric": result.clean_metric,
            "corrupt_metric": result.corrupt_metric, "effects": result.effects,
        })
        return
    ranked = sorted(result.effects.items(), key=lambda kv: -abs(kv[1]))[:top]
    gap = result.corrupt_metric - result.clean_metric if direction == "noising" else result.clean_metric - result.corrupt_metric
    table = Table(
        title=f"{method} {direction} of {components} -- {data.task.name} on {target.name} ({result.n_pairs} pairs); "
        f"logit diff clean {result.clean_metric:.3f}, corrupt {result.corrupt_metric:.3f}"
    )
    table.add_column("component")
    table.add_column("effect on logit diff", justify="right")
    table.add_column("fraction of gap", justify="right")
    for cid, value in ranked:
        frac = f"{value / gap:+.1%}" if abs(gap) > 1e-9 else "-"
        table.add_row(cid, f"{value:+.4f}", frac)
    stdout.print(table)
