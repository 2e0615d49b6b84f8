"""``autointerp patch``: an exact activation-patching sweep, or an attribution estimate of one, from the shell.

``--method exact`` runs the batched engine (``engine.patching``); ``atp``,
``atp*`` and ``ig`` estimate the same effects (``engine.attribution``), and
``attribution`` names the default estimate. ``--json`` keeps DESIGN §6's
fields -- ``method`` is ``exact`` or ``attribution`` there -- and adds
``variant`` (which of exact, atp, atp*, ig ran) and, for ``ig``, ``ig_steps``.
"""

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
from engine.attribution import (
    ALIAS,
    DEFAULT_IG_STEPS,
    METHODS,
    AttributionError,
    attribution_sweep,
    check_steps,
    resolve_method,
)
from engine.components import all_heads, all_mlps, all_resids
from engine.patching import PatchingError, patch_sweep, sides
from engine.tasks import load_task

CHOICES = ("exact", *METHODS, ALIAS)
COMPONENT_SETS = ("heads", "mlps", "resid")


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise PatchingError(f"Unknown {option} '{value}'; use one of {', '.join(allowed)}.")
    return value


def _variant(method: str, ig_steps: int | None) -> str:
    """The variant that will run; ``--ig-steps`` only with ``ig`` (checked before the model loads)."""
    variant = "exact" if _choice(method, CHOICES, "method") == "exact" else resolve_method(method)
    if ig_steps is not None:
        if variant != "ig":
            raise AttributionError(f"--ig-steps applies to --method ig only, not to {method}.")
        check_steps(ig_steps)
    return variant


def patch(
    task: str = typer.Option(..., "--task", "-t", help="Built-in task name or path to a JSONL file."),
    model: str = typer.Option("smollm2-135m", "--model", "-m", help=MODEL_HELP),
    method: str = typer.Option(
        "exact", "--method",
        help="exact (batched activation patching), atp (attribution patching), atp* (AtP*: QK fix + GradDrop), "
        f"ig (integrated gradients, EAP-IG) or {ALIAS} (the default estimate).",
    ),
    ig_steps: int = typer.Option(None, "--ig-steps", help=f"Integration steps of --method ig (default {DEFAULT_IG_STEPS})."),
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

    variant = _variant(method, ig_steps)
    steps = DEFAULT_IG_STEPS if ig_steps is None else ig_steps
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
        if variant == "exact":
            step = progress.add_task(f"{data.task.name}: patching {len(comps)} {components}",
                                     total=len(comps) * len(data.buckets))
            result = patch_sweep(target, data, comps, direction,  # type: ignore[arg-type]
                                 on_step=lambda k: progress.advance(step, k))
        else:
            step = progress.add_task(f"{data.task.name}: {variant} attribution", total=data.n_pairs)
            result = attribution_sweep(target, data, comps, direction,  # type: ignore[arg-type]
                                       on_step=lambda k: progress.advance(step, k), method=variant, ig_steps=steps)
    if json_out:
        out = {
            "task": data.task.name, "model": target.name, "method": "exact" if variant == "exact" else ALIAS,
            "direction": direction, "metric": "logit_diff", "n_pairs": result.n_pairs,
            "clean_metric": result.clean_metric, "corrupt_metric": result.corrupt_metric, "effects": result.effects,
            "variant": variant,
        }
        if variant == "ig":
            out["ig_steps"] = steps
        print_json(out)
        return
    ranked = sorted(result.effects.items(), key=lambda kv: -abs(kv[1]))[:top]
    gap = result.corrupt_metric - result.clean_metric if direction == "noising" else result.clean_metric - result.corrupt_metric
    label = variant if variant != "ig" else f"ig ({steps} steps)"
    table = Table(
        title=f"{label} {direction} of {components} -- {data.task.name} on {target.name} ({result.n_pairs} pairs); "
        f"logit diff clean {result.clean_metric:.3f}, corrupt {result.corrupt_metric:.3f}"
    )
    table.add_column("component")
    table.add_column("effect on logit diff" if variant == "exact" else "estimated effect", justify="right")
    table.add_column("fraction of gap", justify="right")
    for cid, value in ranked:
        frac = f"{value / gap:+.1%}" if abs(gap) > 1e-9 else "-"
        table.add_row(cid, f"{value:+.4f}", frac)
    stdout.print(table)
