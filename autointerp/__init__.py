"""autointerp: agentic automated interpretability (see README and DESIGN.md).

The top floor: the Python API (``autointerp.explain``, ``autointerp.resume``),
the ``autointerp`` command line, batch analysis and the report and viewer.
The model engine is ``engine``, the experiment tools ``tools``, the research
agent ``agents`` and the SQL store ``store``.

``explain``, ``resume`` (from ``autointerp.api``) and ``Lab`` (the tools as
plain methods, from ``autointerp.lab``) are attributes of this package, loaded on first use (PEP 562): importing the package itself -- as
the console script does before every command -- stays cheap, so listing
models does not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from autointerp.threads import apply_settings

# before anything below the package can load torch (see autointerp.threads)
apply_settings()

__all__ = ["Lab", "explain", "replicate", "resume"]

#: public name -> module it lives in (imported on first use, see above)
_LAZY = {"explain": "autointerp.api", "resume": "autointerp.api", "replicate": "autointerp.api", "Lab": "autointerp.lab"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'autointerp' has no attribute {name!r}")
