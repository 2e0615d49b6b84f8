"""Turn caller values into plain, secret-free JSON before they are stored.

Why: JSON columns must hold plain dicts and lists (DESIGN §8), never pydantic
objects, numpy scalars or tensors, because rows are read back by other
processes, other versions of the code and PostgreSQL's own JSON parser (which
rejects ``NaN`` and NUL characters). Converting and scrubbing in one place,
at the door of every write, keeps the schema honest and the secrets out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from store.redact import redact, redact_text, secret_values


def utcnow() -> dt.datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


def to_plain(value: Any) -> Any:
    """Convert a value into plain JSON-compatible Python data.

    Handles pydantic models (``model_dump(mode="json")``), dataclasses, enums,
    datetimes, paths, numpy/torch scalars and arrays (``tolist()``), tuples
    and sets. Non-finite floats become None because strict JSON (and
    PostgreSQL) has no NaN or infinity; NUL characters become U+FFFD because
    PostgreSQL text cannot hold them.

    Args:
        value: Anything a caller may hand to the store.

    Returns:
        Nested dicts (string keys), lists, strings, ints, floats, bools, None.

    Raises:
        TypeError: If the value has no sensible JSON form (e.g. bytes).
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if isinstance(value, Mapping):
        return {str(to_plain(k)): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [to_plain(v) for v in items]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "model_dump"):
        return to_plain(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_plain(dataclasses.asdict(value))
    if hasattr(value, "detach"):  # torch tensors, without importing torch
        value = value.detach().cpu()
    if hasattr(value, "tolist"):  # numpy arrays and scalars, tensors
        return to_plain(value.tolist())
    raise TypeError(f"Cannot store a value of type {type(value).__name__} as JSON.")


def clean(value: Any, secrets: list[str] | None = None) -> Any:
    """Convert to plain JSON data and redact secrets (see :mod:`store.redact`).

    Args:
        value: Anything a caller may hand to the store.
        secrets: Secret values to remove; read from the environment when None.

    Returns:
        Plain, secret-free JSON-compatible data.
    """
    return redact(to_plain(value), secret_values() if secrets is None else secrets)


def clean_text(text: str | None, secrets: list[str] | None = None) -> str | None:
    """Redact secrets and NUL characters from an optional string."""
    if text is None:
        return None
    return redact_text(str(text).replace("\x00", "\ufffd"), secrets)


def canonical_json(value: Any) -> str:
    """Serialise plain data deterministically (sorted keys, no whitespace)."""
    return json.dumps(
        to_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def config_hash(config: Any) -> str:
    """Return the sha256 hex digest of a config's canonical JSON.

    Two runs with equal configs (whatever their key order) share a hash, so
    batch runs can be grouped and repeated configurations detected.
    """
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def dumps(value: Any) -> str:
    """Strict JSON serialiser used by the engines for JSON columns."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)
