"""``autointerp explain`` and ``autointerp resume``: thin layers over ``autointerp.api``.

Progress (phase, component, experiments) goes to stderr: a rich bar in a terminal, one timestamped
line per stage in a log or pipe (``--quiet`` silences it); the result goes to stdout as tables, or as one JSON object with ``--json``:
``{"run_id", "circuit", "explanation", "evaluation"}``.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from agents.limits import MAX_STEPS
from autointerp import api
from autointerp.cli.common import (
    MODEL_HELP,
    Stages,
    device_option,
    dtype_option,
    print_json,
    stages,
    stdout,
)
from autointerp.cli.scores import evaluation_lines
from engine.bounds import MAX_PAIRS, MAX_SEED

DB_OPTION = typer.Option(None, "--db", help="Database URL (default: $AUTOINTERP_DB or a SQLite file in the user data dir).")
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="No progress on stderr (errors still print).")


class _Progress:
    """Turns the agent's progress events into stage updates (a bar in a terminal, lines in a log)."""

    def __init__(self, stages: Stages):
        self.stages = stages
        self.experiments = 0
        self.where = "starting"
        self.counts: tuple[int | None, int | None] = (None, None)

    def __call__(self, event: str, payload: dict[str, Any]) -> None:
        if event in ("run", "circuit"):  # facts for the log, not a new stage
            self.stages.note(f"run id: {payload['run_id']}" if event == "run"
                             else f"circuit: {', '.join(payload['circuit'])}")
            return
        if event == "phase":
            self.where = str(payload.get("name"))
        elif event == "component":
            self.where = f"studying {payload['component']} ({payload['index']}/{payload['total']})"
            self.counts = (payload["index"] - 1, payload["total"])
        elif event == "experiment":
            self.experiments += 1
        self.stages.update(self.where, f"{self.experiments} experiments", *self.counts)


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
    max_steps: int = typer.Option(300, "--max-steps", min=0, max=MAX_STEPS,
                                  help="Total step budget: one step per experiment and per other LLM tool call "
                                       "(0 = unlimited)."),
    max_component_steps: int = typer.Option(12, "--max-component-steps", min=0, max=MAX_STEPS,
                                            help="Steps per component (0 = unlimited)."),
    max_tokens: int = typer.Option(0, "--max-tokens", min=0, help="LLM token budget (0 = unlimited); estimated "
                                   "from the requests when the provider reports no usage."),
    max_llm_requests: int = typer.Option(None, "--max-llm-requests", min=0,
                                         help="Hard cap on the run's LLM requests (0 = unlimited; default "
                                              "$AUTOINTERP_MAX_LLM_REQUESTS or 500)."),
    max_wall: float = typer.Option(None, "--max-wall", min=0,
                                   help="Seconds this command may drive the run before it stops with what it "
                                        "has (0 = unlimited; default $AUTOINTERP_MAX_WALL_S or 86400)."),
    api_key_env: str = typer.Option(None, "--api-key-env",
                                    help="Environment variable holding the agent's API key (its name ends in "
                                         "_API_KEY, _KEY, _TOKEN or _SECRET). Default: OPENAI_API_KEY, "
                                         "ANTHROPIC_API_KEY, or AUTOINTERP_COMPATIBLE_API_KEY for compatible: "
                                         "servers, which are never sent OPENAI_API_KEY."),
    db: str = DB_OPTION,
    seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED,
                             help=f"Seed of the pairs and of every random choice (0..{MAX_SEED})."),
    n: int = typer.Option(None, "--n", min=1, max=MAX_PAIRS,
                          help=f"Number of prompt pairs, 1..{MAX_PAIRS} (default 32 for built-in tasks)."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the evaluation."),
    permute_heads: int = typer.Option(None, "--permute-heads", min=0, max=MAX_SEED,
                                      help="Run on a function-preserving head permutation of the model (this "
                                           "seed): the memorisation control."),
    disguise: int = typer.Option(None, "--disguise", min=0, max=MAX_SEED,
                                 help="Run on the task disguised with this seed (entity words renamed; its name, "
                                      "description and role names hidden): the disguised-task check of the "
                                      "memorisation control; `autointerp eval` compares it with the plain run."),
    fit_roles_to_swaps: bool = typer.Option(
        False, "--fit-roles-to-swaps", help="Opt-in: let the agent test and regroup its roles by weight swaps. "
        "The roles are then recorded as fitted_to_swaps and scored against a selection-aware null."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    device: str = device_option(),
    dtype: str = dtype_option(),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Localise, study, group and explain the circuit of TASK in MODEL, then score it."""

    with stages(quiet, hold=True) as shown:
        outcome = api.explain(task=task, model=model, agent=agent, circuit=circuit, max_steps=max_steps,
                              max_component_steps=max_component_steps, max_tokens=max_tokens, db=db, seed=seed,
                              n=n, evaluate=not no_eval, permute_heads=permute_heads, disguise=disguise,
                              fit_roles_to_swaps=fit_roles_to_swaps,
                              max_llm_requests=max_llm_requests, max_wall_s=max_wall, api_key_env=api_key_env,
                              device=device, dtype=dtype, progress=_Progress(shown))
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
    quiet: bool = QUIET_OPTION,
) -> None:
    """Continue a killed or interrupted run from its last checkpoint."""

    with stages(quiet, hold=True) as shown:
        outcome = api.resume(run_id, db=db, progress=_Progress(shown), device=device, dtype=dtype)
    if json_out:
        print_json(outcome.to_dict())
        return
    _print_outcome(outcome)
