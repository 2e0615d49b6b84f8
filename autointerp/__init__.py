"""autointerp: agentic automated interpretability (see README and DESIGN.md).

``autointerp.explain`` and ``autointerp.resume`` are the notebook API
(``autointerp.api``); they are loaded on first use so that importing the core
package does not import the agents, LangGraph or the store.
"""

from __future__ import annotations

from typing import Any

__all__ = ["explain", "resume"]


def __getattr__(name: str) -> Any:
    if name in ("explain", "resume"):
        from autointerp import api

        return getattr(api, name)
    raise AttributeError(f"module 'autointerp' has no attribute {name!r}")
