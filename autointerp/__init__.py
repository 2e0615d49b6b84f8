"""autointerp: agentic automated interpretability (see README and DESIGN.md).

The top floor: the Python API (``autointerp.explain``, ``autointerp.resume``),
the ``autointerp`` command line, batch analysis and the report and viewer.
The model engine is ``engine``, the experiment tools ``tools``, the research
agent ``agents`` and the SQL store ``store``.

``explain`` and ``resume`` are attributes of this package, loaded from
``autointerp.api`` on first use (PEP 562): importing the package itself -- as
the console script does before every command -- stays cheap, so listing
models does not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["explain", "replicate", "resume"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("autointerp.api"), name)
    raise AttributeError(f"module 'autointerp' has no attribute {name!r}")
