"""``autointerp explain`` and ``autointerp resume``: thin layers over ``autointerp.api``.

Progress (phase, component, experiments) goes to stderr through a rich bar;
the result goes to stdout as tables, or as one JSON object with ``--json``:
``{"run_id", "circuit", "explanation", "evaluation"}``.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from autointerp import api
from autointerp.cli.common import (
    MODEL_HELP,
    device_option,
    dtype_option,
    print_json,
    progress_bar,
    stderr,
    stdout,
)
from autointerp.cli.scores import evaluation_lines

DB_OPTION = typer.Option(None, "--db", help="Database URL (default: $AUTOINTERP_DB or a SQLite file in the user data dir).")


class _Progress:
    """Turns the agent's progress events into a rich progress display."""

    def __init__(self, progress, quiet: bool):
        self.progress = progress
        self.quiet = quiet
        self.task = progress.add_task("starting", total=None)
        self.experiments = 0
        self.where = ""

    def __call__(self, event: str, payload: dict[str, Any]) -> None:
        if event == "run" and not self.quiet:
            stderr.print(f"run id: [bold]{payload['run_id']}[/]")
        elif event == "phase":
            self.where = str(payload.get("name"))
        elif event == "circuit" and not self.quiet:
            stderr.print(f"circuit: {', '.join(payload['circuit'])}")
        elif event == "component":
            self.where = f"studying {payload['component']} ({payload['index']}/{payload['total']})"
            self.progress.update(self.task, total=payload["total"], completed=payload["index"] - 1)
        elif event == "experiment":
            self.experiments += 1
        self.progress.update(self.task, description=f"{escape(self.where)} · {self.experiments} experiments")


def _headline(component: dict[str, Any]) -> str:
    return component.get("headline") or (component.get("description") or "").split(". ")[0]


def _print_outcome(outcome) -> None:
    exp = outcome.explanation or {}
    stdout.print(f"[bold]run[/] {outcome.run_id} ({outcome.status}"
                 + (f": {escape(outcome.stop_reason)}" if outcome.stop_reason and outcome.status != "finished" else "")
                 + ")")
    stdout.print(f"[bold]circuit[/] ({len(outcome.circuit)}): {', '.join(outcome.circuit)}")
    table = Table(title="components (full descriptions: --json or autointerp audit)", show_lines=True)
    for col in ("component", "role", "finding", "evidence"):
        table.add_column(col)
    for c in exp.get("components") or []:
        table.add_row(c["id"], escape(str(c.get("role") or "")), escape(_headline(c)),
                      ", ".join(f"E{e}" for e in c.get("evidence") or []))
    stdout.print(table)
    if exp.get("summary"):
        stdout.print("[bold]explanation[/]\n" + escape(exp["summary"]))
    ev = outcome.evaluation or {}
    if "skipped" in ev:
        stdout.print(f"[bold]evaluation[/] skipped: {escape(str(ev['skipped']))}")
        return
    for line in evaluation_lines(ev):
        stdout.print(escape(line), highlight=False)


def explain(
    task: str = typer.Option(..., "--task", "-t", help="Built-in task name or path to a JSONL file."),
    model: str = typer.Option("smollm2-135m", "--model", "-m", help=MODEL_HELP),
    agent: str = typer.Option("scripted", "--agent", help="scripted, openai:<model>, anthropic:<model>, "
                              "compatible:<base_url>#<model> or oneshot:<provider spec>."),
    circuit: str = typer.Option(None, "--circuit", help="Comma-separated component ids to study (skips localisation)."),
    max_steps: int = typer.Option(300, "--max-steps", help="Total experiment budget (0 = unlimited)."),
    max_component_steps: int = typer.Option(12, "--max-component-steps", help="Experiments per component."),
    max_tokens: int = typer.Option(0, "--max-tokens", help="LLM token budget (0 = unlimited)."),
    db: str = DB_OPTION,
    seed: int = typer.Option(0, "--seed", help="Seed of the pairs and of every random choice."),
    n: int = typer.Option(None, "--n", help="Number of prompt pairs (default 32 for built-in tasks)."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the evaluation."),
    permute_heads: int = typer.Option(None, "--permute-heads", help="Run on a function-preserving head "
                                      "permutation of the model (this seed): the memorisation control."),
    fit_roles_to_swaps: bool = typer.Option(
        False, "--fit-roles-to-swaps", help="Opt-in: let the agent test and regroup its roles by weight swaps. "
        "The roles are then recorded as fitted_to_swaps and scored against a selection-aware null."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    device: str = device_option(),
    dtype: str = dtype_option(),
) -> None:
    """Localise, study, group and explain the circuit of TASK in MODEL, then score it."""

    with progress_bar() as progress:
        outcome = api.explain(task=task, model=model, agent=agent, circuit=circuit, max_steps=max_steps,
                      max_component_steps=max_component_steps, max_tokens=max_tokens, db=db, seed=seed,
                      n=n, evaluate=not no_eval, permute_heads=permute_heads, fit_roles_to_swaps=fit_roles_to_swaps,
                      device=device, dtype=dtype, progress=_Progress(progress, json_out))
    if json_out:
        print_json(outcome.to_dict())
        return
    _print_outcome(outcome)


def resume(
    run_id: str = typer.Argument(..., help="The run to continue."),
    db: str = DB_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    device: str = device_option("Where the reloaded model runs: auto, cpu, cuda, cuda:N or mps (default: the run's)."),
    dtype: str = dtype_option("float32, bfloat16 or float16 for the reloaded model (default: the run's)."),
) -> None:
    """Continue a killed or interrupted run from its last checkpoint."""

    with progress_bar() as progress:
        outcome = api.resume(run_id, db=db, progress=_Progress(progress, json_out), device=device, dtype=dtype)
    if json_out:
        print_json(outcome.to_dict())
        return
    _print_outcome(outcome)
