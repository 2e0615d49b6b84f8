"""Remove secrets from everything before it is written.

Why: API keys must never reach the store, traces or logs (DESIGN §8). Agents
echo their configuration, providers echo request headers in error messages and
LLMs sometimes repeat what they saw, so callers cannot be trusted to scrub
their own data. Every write in :mod:`store` passes its text and JSON through
:func:`redact`, which replaces

* the value of every environment variable whose *name* looks like a secret
  (ends with ``_API_KEY``, ``_TOKEN``, ``_SECRET``, or contains ``PASSWORD``
  or ``SECRET``) and whose value is longer than 8 characters, and
* strings shaped like well-known API keys (``sk-…``, ``sk-ant-…``, ``hf_…``,
  ``ghp_…``),

with ``[REDACTED]``. The environment is read at call time, so keys set after
import (or by a test's ``monkeypatch``) are covered too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
"""The text that replaces a secret."""

_SECRET_NAME = re.compile(r"(_API_KEY|_TOKEN|_SECRET)$|PASSWORD|SECRET", re.IGNORECASE)
_MIN_SECRET_LEN = 9
_KEY_PATTERNS = re.compile(
    r"sk-ant-[A-Za-z0-9_\-]{16,}"  # Anthropic
    r"|sk-[A-Za-z0-9_\-]{16,}"  # OpenAI and compatible
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub
)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return the secret-looking environment values, longest first.

    Args:
        environ: The environment to read; ``os.environ`` when None.

    Returns:
        Values of variables whose name marks them as secrets and that are
        longer than 8 characters, sorted longest first so that a secret that
        contains another is replaced whole.
    """
    env = os.environ if environ is None else environ
    values = {
        value
        for name, value in env.items()
        if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET_LEN
    }
    return sorted(values, key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """Replace secrets in one string.

    Args:
        text: The string to scrub.
        secrets: Secret values to remove; read from the environment when None.

    Returns:
        ``text`` with every secret replaced by ``[REDACTED]``.
    """
    for secret in secret_values() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _KEY_PATTERNS.sub(REDACTED, text)


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """Replace secrets anywhere inside a plain JSON-like value.

    Strings are scrubbed; dicts (keys and values), lists and tuples are walked
    recursively; numbers, booleans and None are returned unchanged.

    Args:
        value: A string or a plain JSON-like structure.
        secrets: Secret values to remove; read from the environment when None.

    Returns:
        A copy of ``value`` with every secret replaced by ``[REDACTED]``.
    """
    if secrets is None:
        secrets = secret_values()
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, Mapping):
        return {
            (redact_text(k, secrets) if isinstance(k, str) else k): redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    return value
