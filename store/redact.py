"""Remove secrets from text before it is written anywhere that outlives the process.

Why: API keys must never reach the store, checkpoints, logs or the console
(DESIGN §8). Agents echo their configuration, providers echo request headers
in error messages and LLMs repeat what they saw, so callers cannot be trusted
to scrub their own data: every write in :mod:`store`, the LangGraph
checkpoint serializer and the CLI's output pass their text through
:func:`redact`, which replaces

* the exact value of every environment variable whose *name* marks it as a
  secret (ends with ``_KEY``, ``_TOKEN``, ``_SECRET``, or contains
  ``PASSWORD`` or ``SECRET``) and whose value is at least 9 characters, and
* whole tokens shaped like well-known API keys (OpenAI/Anthropic ``sk-…``,
  Hugging Face ``hf_…``, GitHub ``ghp_…``/``github_pat_…``, AWS ``AKIA…``,
  Google ``AIza…``, Slack ``xox…-``),

with ``[REDACTED]``.

Why word boundaries and a shape test: stored text is data. A pattern that
fires inside ordinary words corrupts it -- ``task-specific-prompts`` contains
``sk-specific-prompts`` -- and a corrupted task path makes a run impossible to
resume. A key pattern therefore matches only a whole token (no letter, digit,
``-`` or ``_`` on either side) whose random part mixes at least two of lower
case, upper case and digits, as generated keys do and words do not. Keys of
unusual shape are still caught when they are set in the environment, by value.
The environment is read at call time, so keys set after import (or by a
test's ``monkeypatch``) are covered too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
"""The text that replaces a secret."""

_SECRET_NAME = re.compile(r"(_KEY|_TOKEN|_SECRET)$|PASSWORD|SECRET", re.IGNORECASE)
_MIN_SECRET_LEN = 9
_EDGE = r"A-Za-z0-9_\-"  # characters that may not touch a key on either side
_KEY_PATTERNS = re.compile(
    rf"(?<![{_EDGE}])(?:"
    r"sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}"  # Anthropic, OpenAI and compatible
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub
    r"|github_pat_[A-Za-z0-9_]{40,}"  # GitHub fine-grained
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|AIza[0-9A-Za-z_\-]{35}"  # Google API key
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"  # Slack
    rf")(?![{_EDGE}])"
)
_PREFIX = re.compile(r"^(?:sk-(?:ant-|proj-|svcacct-|admin-)?|hf_|gh[pousr]_|github_pat_|AKIA|AIza|xox[abprs]-)")


def _looks_generated(token: str) -> bool:
    """Whether the part after a key prefix mixes character classes, as random keys do."""
    body = _PREFIX.sub("", token)
    classes = sum(
        (any(c.islower() for c in body), any(c.isupper() for c in body), any(c.isdigit() for c in body))
    )
    return classes >= 2


def _replace_key(match: re.Match[str]) -> str:
    token = match.group(0)
    return REDACTED if _looks_generated(token) else token


def is_secret_name(name: str) -> bool:
    """Whether an environment variable called ``name`` is treated as holding a secret."""
    return bool(_SECRET_NAME.search(name))


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return the secret-looking environment values, longest first.

    Args:
        environ: The environment to read; ``os.environ`` when None.

    Returns:
        Values of variables whose name marks them as secrets and that are
        at least 9 characters long, sorted longest first so that a secret
        that contains another is replaced whole.
    """
    env = os.environ if environ is None else environ
    values = {
        value
        for name, value in env.items()
        if is_secret_name(name) and len(value) >= _MIN_SECRET_LEN
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
    return _KEY_PATTERNS.sub(_replace_key, text)


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
