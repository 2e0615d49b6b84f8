"""The ``autointerp`` console script: a thin layer over the Python API.

Each command lives in the module of its concern and is registered here;
``main`` turns user-caused errors into one sentence and exit code 2.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.markup import escape

from autointerp.cli import (
    batch_cmd,
    catalog,
    eval_cmd,
    explain_cmd,
    patch_cmd,
    report_cmd,
    store_cmd,
    task_cmd,
)
from autointerp.cli.common import EXIT_USER_ERROR, error_console
from engine.errors import AutointerpError

app = typer.Typer(
    name="autointerp",
    help="Agentic automated interpretability: localise, study, explain and score circuits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("models")(catalog.models)
app.command("tasks")(catalog.tasks)
app.add_typer(task_cmd.app, name="task")
app.command("runs")(store_cmd.runs)
app.command("audit")(store_cmd.audit)
app.command("eval")(eval_cmd.evaluate)
app.command("explain")(explain_cmd.explain)
app.command("resume")(explain_cmd.resume)
app.command("batch")(batch_cmd.batch)
app.command("report")(report_cmd.report)
app.command("serve")(report_cmd.serve)
app.command("patch")(patch_cmd.patch)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is shown as-is (store errors join when the store exists)."""
    errors: list[type[BaseException]] = [AutointerpError]
    try:
        from store import StoreError  # type: ignore[attr-defined]

        errors.append(StoreError)
    except ImportError:
        pass
    return tuple(errors)


def main() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app()
    except _user_errors() as exc:
        error_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(EXIT_USER_ERROR)


if __name__ == "__main__":
    main()
