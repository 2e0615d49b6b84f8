"""User-facing errors.

Why a single base class: the CLI turns any ``AutointerpError`` into one clear
sentence and a non-zero exit instead of a traceback, so every error a user can
cause (unknown task or model, malformed JSONL, a head index out of range) is
raised as one of these with a message that names the bad value and the valid
alternatives.
"""

from __future__ import annotations


class AutointerpError(Exception):
    """An error caused by user input; its message is one self-contained sentence."""


class UnknownModelError(AutointerpError):
    """The model name is neither built in, a local path, nor in the local hub cache."""


class UnknownTaskError(AutointerpError):
    """The task is neither a built-in name nor a readable JSONL file."""


class TaskFormatError(AutointerpError):
    """A task file or pair is malformed (bad JSON, multi-token answer, length mismatch)."""


class ComponentError(AutointerpError):
    """A component id is malformed or out of range for the model."""


class DeviceError(AutointerpError):
    """An unknown or unavailable device, dtype or memory budget."""
