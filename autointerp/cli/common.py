"""Shared CLI plumbing: one-sentence errors, JSON output, progress bars.

Why here: every command must turn a user-caused error into one clear sentence
and a non-zero exit (never a traceback), print exactly one JSON object with
``--json``, and show progress on stderr so stdout stays machine-readable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

stdout = Console()
stderr = Console(stderr=True)
# errors are one sentence on one line, whatever the terminal width
error_console = Console(stderr=True, width=10_000, soft_wrap=True)

EXIT_USER_ERROR = 2

MODEL_HELP = "Target model: a built-in name (autointerp models), a Hugging Face hub id, a local directory or a .gguf file."
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps (default: $AUTOINTERP_DEVICE, else auto: a GPU when there is one)."
DTYPE_HELP = "float32, bfloat16 or float16 (default: $AUTOINTERP_DTYPE, else float32); metrics stay float32."


def device_option(text: str = DEVICE_HELP):
    """The ``--device`` option of every command that loads a model."""
    return typer.Option(None, "--device", help=text)


def dtype_option(text: str = DTYPE_HELP):
    """The ``--dtype`` option of every command that loads a model."""
    return typer.Option(None, "--dtype", help=text)


def print_json(obj: object) -> None:
    """Print one JSON object on stdout (no rich markup, no wrapping)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """A rich progress bar on stderr; disabled (but still usable) when not a terminal or not wanted."""
    progress = Progress(
        SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr, transient=True, disable=not enabled,
    )
    with progress:
        yield progress
