"""Shipped reference explanations, found by name or by path.

Why: ``autointerp replicate RUN --reference REF`` compares a run with a
reference explanation. Users pass a file of their own, or the name of a
shipped one: the IOI circuit of GPT-2 small as published by Wang et al.
(2022) (``ioi-gpt2-small``, this directory) and the planted models' truths
(``planted-*``, shipped by :mod:`engine.planted.reference`). The format is
:class:`engine.planted.reference.Reference`.
"""

from __future__ import annotations

from pathlib import Path

from engine.planted.reference import REFERENCES as PLANTED_REFERENCES
from engine.planted.reference import Reference, ReferenceError, load_reference

HERE = Path(__file__).resolve().parent


def shipped_references() -> dict[str, Path]:
    """Name -> file of every shipped reference."""
    out = {}
    for folder in (HERE, PLANTED_REFERENCES):
        if folder.is_dir():
            out.update({p.stem: p for p in sorted(folder.glob("*.json"))})
    return out


def resolve_reference(text: str) -> tuple[Reference, str]:
    """The reference a ``--reference`` value names (a file, or a shipped name), with where it came from.

    Raises:
        ReferenceError: neither a readable file nor a shipped name, or an invalid file.
    """
    path = Path(text).expanduser()
    if path.is_file():
        return load_reference(path), str(path)
    shipped = shipped_references()
    if text in shipped:
        return load_reference(shipped[text]), f"shipped:{text}"
    names = ", ".join(shipped) or "none"
    raise ReferenceError(f"No reference file '{text}' and no shipped reference of that name (shipped: {names}).")
