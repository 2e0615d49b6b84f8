"""Custom tasks from JSONL: one ``{"clean","corrupt","answer","distractor"}`` object per line.

Optional per line: ``"roles": {"NAME": char_offset_in_clean}`` and
``"template": "a label"`` (pairs with the same label share a prompt frame;
mean ablation averages within a template). Blank lines
are skipped. Every problem is reported with its line number, and the first
problem stops the load: a task is used whole or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.errors import TaskFormatError, UnknownTaskError
from engine.tasks.base import Pair, Task

FIELDS = ("clean", "corrupt", "answer", "distractor")


def _pair(obj: object, where: str) -> Pair:
    if not isinstance(obj, dict):
        raise TaskFormatError(f"{where}: expected a JSON object with keys {', '.join(FIELDS)}.")
    missing = [f for f in FIELDS if f not in obj]
    if missing:
        raise TaskFormatError(f"{where}: missing key(s) {', '.join(missing)}.")
    bad = [f for f in FIELDS if not isinstance(obj[f], str) or not obj[f]]
    if bad:
        raise TaskFormatError(f"{where}: {', '.join(bad)} must be non-empty strings.")
    roles = obj.get("roles", {})
    # bool is a subclass of int in Python: ``true`` must not be read as offset 1
    if not isinstance(roles, dict) or not all(type(v) is int and v >= 0 for v in roles.values()):
        raise TaskFormatError(f"{where}: roles must map role names to character offsets (integers >= 0).")
    template = obj.get("template", "")
    if not isinstance(template, str):
        raise TaskFormatError(f"{where}: template must be a string (a label shared by pairs of one prompt frame).")
    return Pair(obj["clean"], obj["corrupt"], obj["answer"], obj["distractor"], dict(roles), origin=where,
                template=template)


def load_jsonl(path: str | Path) -> Task:
    """Read a custom task file; raises ``TaskFormatError`` naming the first bad line."""
    path = Path(path)
    try:
        # JSON Lines are separated by "\n" only: str.splitlines() would also split at
        # U+2028, U+2029, U+0085 ..., which are valid unescaped inside a JSON string
        lines = [line.removesuffix("\r") for line in path.read_text(encoding="utf-8").split("\n")]
    except (OSError, UnicodeDecodeError) as exc:
        raise UnknownTaskError(f"Cannot read task file {path}: {exc.__class__.__name__}.") from None
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {number} of {path.name}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskFormatError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno}).") from None
        pairs.append(_pair(obj, where))
    if not pairs:
        raise TaskFormatError(f"{path.name} contains no pairs.")
    roles = tuple(sorted(set.intersection(*(set(p.roles) for p in pairs))))
    return Task(path.stem, f"custom task from {path.name}", pairs, roles)
