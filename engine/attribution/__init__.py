"""Attribution: cheap estimates of patching effects, and direct logit attribution.

Why estimates at all: exact patching of every head of a 30-layer model costs
over a hundred forward-equivalents even batched; a gradient gives every
component's first-order estimate for about four. The variants (``methods``)
trade cost for fidelity to exact patching:

* ``atp`` -- attribution patching, the gradient at the input run (``atp``);
* ``atp*`` -- AtP* (Kramár et al., 2024): QK fix for saturated attention and
  GradDrop against cancelling paths (``atp_star``);
* ``ig`` -- integrated gradients along the input path, EAP-IG (Hanna et al.,
  2024) (``ig``);

all through ``attribution_sweep`` (``sweep``), on the shared gradient pass
(``gradients``). ``bench/patching.py`` measures each against exact patching on
the bundled model, in both directions, with its cost. Direct logit
attribution (``dla``) is the linear read-out of a component's output through
the frozen final norm, used by the logit-lens and path-patching tools.
"""

from engine.attribution.dla import component_output, direct_effects, frozen_norm, unembed_directions
from engine.attribution.methods import (
    ALIAS,
    DEFAULT_IG_STEPS,
    DEFAULT_METHOD,
    MAX_IG_STEPS,
    METHODS,
    AttributionError,
    AttributionMethod,
    check_steps,
    resolve_method,
)
from engine.attribution.sweep import attribution_sweep

__all__ = [
    "ALIAS", "DEFAULT_IG_STEPS", "DEFAULT_METHOD", "MAX_IG_STEPS", "METHODS", "AttributionError", "AttributionMethod",
    "attribution_sweep", "check_steps", "component_output", "direct_effects", "frozen_norm",
    "resolve_method", "unembed_directions",
]
