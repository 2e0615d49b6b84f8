"""``autointerp models`` and ``autointerp tasks``: what is available offline."""

from __future__ import annotations

import typer
from rich.table import Table

from autointerp.cli.common import print_json, stdout
from engine.catalog import BUILTIN_MODELS, BUILTIN_TASKS


def models(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List built-in target models (any HF causal LM path or cached hub id works too)."""

    rows = [{"name": m.name, "description": m.description} for m in BUILTIN_MODELS]
    if json_out:
        print_json({"models": rows})
        return
    table = Table("model", "description", title="Built-in models (or pass a local path / cached hub id)")
    for row in rows:
        table.add_row(row["name"], row["description"])
    stdout.print(table)


def tasks(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List built-in tasks (or pass a path to a JSONL task file)."""

    rows = [{"name": t.name, "description": t.description, "default_n": t.default_n} for t in BUILTIN_TASKS.values()]
    if json_out:
        print_json({"tasks": rows})
        return
    table = Table("task", "pairs", "description", title="Built-in tasks (or pass a .jsonl file)")
    for row in rows:
        table.add_row(row["name"], str(row["default_n"]), row["description"])
    stdout.print(table)
