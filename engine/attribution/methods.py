"""The names of the attribution variants, their settings, and how a requested name is resolved.

Why a module of names: the CLI, the experiment tool, the agent and the bench
all name variants the same way, and an unknown name or a bad step count must
end in one clear sentence before any model work starts.

    atp    attribution patching: gradient at the input run (``atp``)
    atp*   AtP* (Kramár et al., 2024): AtP + QK fix + GradDrop (``atp_star``)
    ig     integrated gradients along the input path, EAP-IG (``ig``)

``attribution`` (the method name of DESIGN §6 and of older scripts) is an
alias of ``DEFAULT_METHOD``: the variant ``bench/patching.py`` shows tracking
exact patching best per forward spent on the bundled model (see the README's
figures).
"""

from __future__ import annotations

from typing import Literal

from engine.errors import AutointerpError

AttributionMethod = Literal["atp", "atp*", "ig"]
METHODS: tuple[AttributionMethod, ...] = ("atp", "atp*", "ig")
ALIAS = "attribution"
DEFAULT_METHOD: AttributionMethod = "atp"
DEFAULT_IG_STEPS = 5
MAX_IG_STEPS = 1024


class AttributionError(AutointerpError):
    """An attribution request that cannot run: an unknown variant or a bad step count."""


def resolve_method(name: str) -> AttributionMethod:
    """The variant a requested name stands for (``attribution`` -> the default)."""
    if name == ALIAS:
        return DEFAULT_METHOD
    for method in METHODS:
        if name == method:
            return method
    raise AttributionError(f"Unknown attribution method '{name}'; use one of {', '.join(METHODS)} (or {ALIAS}).")


def check_steps(steps: int) -> int:
    """``steps`` if it is a usable number of integration steps, else AttributionError."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_IG_STEPS:
        raise AttributionError(f"IG steps must be an integer from 1 to {MAX_IG_STEPS}; got {steps!r}.")
    return steps


__all__ = [
    "ALIAS", "DEFAULT_IG_STEPS", "DEFAULT_METHOD", "MAX_IG_STEPS", "METHODS", "AttributionError",
    "AttributionMethod", "check_steps", "resolve_method",
]
