"""Shared CLI plumbing: one-sentence errors, JSON output, progress, redacted output.

Why here: every command must turn a user-caused error into one clear sentence
and a non-zero exit (never a traceback), print exactly one JSON object with
``--json``, and show progress on stderr so stdout stays machine-readable.

The console is a boundary where secrets must not pass (DESIGN §8): an LLM can
echo a key into an explanation, a provider into an error. ``main`` therefore
wraps ``sys.stdout`` and ``sys.stderr`` in :class:`RedactingStream`, so every
byte any command, library or log handler prints is scrubbed
(:mod:`store.redact`); values are also redacted before they are laid out
(:func:`print_json`, ``RunOutcome``), because a table may wrap a long key
across two lines.

Why two progress forms: a rich bar redraws one line, which is right in a
terminal and useless in a log file or a pipe (it was silent there for whole
runs). When stderr is not a terminal each new stage is one timestamped line
instead. Tables printed to a pipe are sized to their content, not cut to the
80 columns rich assumes without a terminal.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from store import redact
from store.redact import redact_text


class RedactingStream:
    """A text stream that scrubs secrets from everything written to it; other attributes pass through."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact_text(text) if isinstance(text, str) else text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def redact_console() -> None:
    """Scrub secrets from all further output on stdout and stderr (idempotent)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))




#: width of output that is not a terminal: wide enough that tables take the width of their content
PIPED_WIDTH = 10_000


def _console(stream: TextIO, *, stderr: bool = False) -> Console:
    return Console(stderr=stderr, width=None if stream.isatty() else PIPED_WIDTH)


stdout = _console(sys.stdout)
stderr = _console(sys.stderr, stderr=True)
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
    sys.stdout.write(json.dumps(redact(json.loads(json.dumps(obj, default=str))), indent=2) + "\n")
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


#: a stage line that only repeats a counter ("nulls 10/200") is printed at most this often when not a terminal
LINE_INTERVAL_S = 10.0


class Stages:
    """Progress of a long command: a rich bar in a terminal, timestamped lines otherwise, nothing when quiet.

    ``update`` names the current stage (``"studying L9.H6 (3/10)"``) with an
    optional ``detail`` shown beside it in the bar only; ``note`` prints a
    fact worth keeping in a log (the run id, the circuit).

    With ``hold``, lines are kept back until the first ``note`` (the run id)
    and then printed with their own times: an input error found while the
    model loads still ends the output in one sentence, alone.
    """

    def __init__(self, progress: Progress | None, out: TextIO, quiet: bool, hold: bool = False):
        self.progress = progress
        self.out = out
        self.quiet = quiet
        self.task = progress.add_task("starting", total=None) if progress is not None else None
        self._last_key = ""
        self._last_time = 0.0
        self._held: list[str] | None = [] if hold else None

    def update(self, stage: str, detail: str = "", completed: int | None = None, total: int | None = None) -> None:
        if self.quiet:
            return
        if self.progress is not None and self.task is not None:
            text = escape(stage + (f" · {detail}" if detail else ""))
            self.progress.update(self.task, description=text, completed=completed, total=total)
            return
        key = re.sub(r"\d+/\d+", "#/#", stage)
        now = time.monotonic()
        if key != self._last_key or now - self._last_time >= LINE_INTERVAL_S:
            self._line(stage)
            self._last_key, self._last_time = key, now

    def note(self, text: str) -> None:
        if self.quiet:
            return
        if self.progress is not None:
            self.progress.console.print(escape(text), highlight=False)
            return
        held, self._held = self._held or [], None
        for line in held:
            self.out.write(line)
        self._line(text)

    def _line(self, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
        if self._held is not None:
            self._held.append(f"{stamp} {text}\n")
            return
        self.out.write(f"{stamp} {text}\n")
        self.out.flush()


@contextmanager
def stages(quiet: bool = False, hold: bool = False) -> Iterator[Stages]:
    """A :class:`Stages` on stderr: a rich bar when stderr is a terminal, one line per stage otherwise."""
    if quiet or not sys.stderr.isatty():
        yield Stages(None, sys.stderr, quiet, hold)
        return
    with progress_bar() as progress:
        yield Stages(progress, sys.stderr, quiet)
