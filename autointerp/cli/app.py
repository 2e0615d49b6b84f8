"""The ``autointerp`` console script: a thin layer over the Python API.

Each command lives in the module of its concern; ``COMMANDS`` names them.
Why a table instead of importing every command module here: a command module
imports what it needs at its top (the model engine, torch, LangGraph), and
listing models or printing ``--help`` must not pay for torch. So the command
group imports a command's module only when that command runs (click's lazy
sub-command pattern); the short help shown by ``autointerp --help`` is kept
in the table. ``tests/test_layering.py`` checks the table's module names
against the floors like any other import.

``main`` turns user-caused errors -- bad option values included -- into one
sentence and exit code 2, and scrubs secrets from everything printed.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import NoReturn

import click
import typer
from rich.markup import escape
from typer.core import TyperGroup

from autointerp.cli.common import EXIT_USER_ERROR, error_console, redact_console
from engine.errors import AutointerpError
from store import StoreError


@dataclass(frozen=True)
class Entry:
    """Where a command lives: ``module.attribute`` is its function (or a Typer group)."""

    module: str
    attribute: str
    help: str


COMMANDS: dict[str, Entry] = {
    "models": Entry("autointerp.cli.catalog", "models", "List built-in target models."),
    "tasks": Entry("autointerp.cli.catalog", "tasks", "List built-in tasks."),
    "task": Entry("autointerp.cli.task_cmd", "app", "Inspect tasks (task check)."),
    "patch": Entry("autointerp.cli.patch_cmd", "patch", "Activation or attribution patching sweep."),
    "explain": Entry("autointerp.cli.explain_cmd", "explain", "Localise, study, explain and score a circuit."),
    "resume": Entry("autointerp.cli.explain_cmd", "resume", "Continue a killed or interrupted run."),
    "runs": Entry("autointerp.cli.store_cmd", "runs", "List recorded runs."),
    "audit": Entry("autointerp.cli.store_cmd", "audit", "Show everything a run recorded."),
    "eval": Entry("autointerp.cli.eval_cmd", "evaluate", "Score a stored run's explanation."),
    "report": Entry("autointerp.cli.report_cmd", "report", "Write a run's self-contained HTML report."),
    "serve": Entry("autointerp.cli.report_cmd", "serve", "Serve a read-only viewer of the store."),
    "replicate": Entry("autointerp.cli.replicate_cmd", "replicate",
                       "Score a run against a reference explanation (and baselines)."),
    "batch": Entry("autointerp.cli.batch_cmd", "batch", "Run many (task, model, agent, seed) jobs."),
}


def load_command(name: str) -> click.Command:
    """The click command ``name``, importing its module now."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        group = typer.main.get_command(target)
        group.name = name
        return group
    single = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    single.command(name)(target)
    return typer.main.get_command(single)


class LazyCommands(TyperGroup):
    """A command group whose sub-commands are imported when invoked (see the module docstring)."""

    listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if self.listing:  # the group's own --help shows names and short help only
            return click.Command(cmd_name, help=COMMANDS[cmd_name].help)
        return load_command(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


app = typer.Typer(
    name="autointerp",
    cls=LazyCommands,
    help="Agentic automated interpretability: localise, study, explain and score circuits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Agentic automated interpretability: localise, study, explain and score circuits."""


def _fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    """Print one sentence on stderr and exit."""
    text = " ".join(message.split())
    error_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False)
    sys.exit(code)


def main() -> None:
    redact_console()
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        _fail("Aborted.", 1)
    except typer.TyperException as exc:  # click's usage errors: a bad option value, a missing argument
        ctx = getattr(exc, "ctx", None)
        code = int(getattr(exc, "exit_code", EXIT_USER_ERROR))
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            sys.stdout.write(ctx.get_help() + "\n")
            sys.exit(code)
        formatter = getattr(exc, "format_message", None)
        message = str(formatter() if callable(formatter) else exc).rstrip(".")
        _fail(f"{message} (see {ctx.command_path if ctx is not None else 'autointerp'} --help).", code)
    except (AutointerpError, StoreError) as exc:
        _fail(str(exc))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
