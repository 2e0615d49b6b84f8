"""Process settings every entry point applies before torch is imported.

Why: OpenMP worker threads that spin while waiting (the default) make every
forward pass several times slower as soon as another process competes for the
CPU cores -- a notebook user calling ``autointerp.explain`` measured 2.7x the
CLI's wall time with ~140x the context switches. Passive waiting costs
nothing when alone. The OpenMP runtime reads the variable once, when torch
loads it, so the settings live in the package's ``__init__`` (the API, the CLI,
batch workers and Ray workers all import ``autointerp`` before torch).
Existing values are respected (``setdefault``).
"""

from __future__ import annotations

import os
import sys
import warnings

#: variable -> value applied unless the user set it.
SETTINGS: dict[str, str] = {
    "OMP_WAIT_POLICY": "PASSIVE",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def apply_settings() -> None:
    """Set :data:`SETTINGS` in ``os.environ``; warn once if torch was loaded before us without them."""
    late = "torch" in sys.modules and "OMP_WAIT_POLICY" not in os.environ
    for name, value in SETTINGS.items():
        os.environ.setdefault(name, value)
    if late:
        warnings.warn(
            "torch was imported before autointerp without OMP_WAIT_POLICY set, so its OpenMP threads "
            "busy-wait and runs can be several times slower on a shared machine; import autointerp first "
            "or export OMP_WAIT_POLICY=PASSIVE.", RuntimeWarning, stacklevel=3)
