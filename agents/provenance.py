"""Provenance: which code produced a run (git commit or package version) and how an evaluation is labelled.

Why: a stored run is only reproducible if it says what ran; "(not recorded)"
in a git checkout left readers guessing. The commit is read with ``git``
(a ``+dirty`` suffix when tracked files differ from it); an installed wheel
has no repository, so its distribution version is used instead.
"""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


@cache
def code_version() -> str:
    """``git:<commit>[+dirty]`` in a checkout, ``autointerp <version>`` when installed, else ``unknown``."""
    if (ROOT / ".git").exists():
        commit = _git("rev-parse", "HEAD")
        if commit:
            dirty = _git("status", "--porcelain", "--untracked-files=no")
            return f"git:{commit}{'+dirty' if dirty else ''}"
    try:
        return f"autointerp {metadata.version('autointerp')}"
    except metadata.PackageNotFoundError:
        return "unknown"


def evaluation_label(version: int, source: str, prompts: dict[str, Any], null_draws: int) -> str:
    """One line naming a stored evaluation: which, made by what, on which prompts, with which settings."""
    which = prompts.get("prompts") or "the run's prompts"
    n = prompts.get("n_pairs")
    return (f"evaluation {version} ({source}): {which} prompts" + (f", {n} pairs" if n else "")
            + f", {null_draws} null draws")
