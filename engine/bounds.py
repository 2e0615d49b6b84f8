"""The valid ranges of numeric inputs, stated once for the engine, the API and the CLI.

Why one module: a bound that only the CLI knows is bypassed by the Python
API, and a bound that ``--help`` does not state surprises the user. Every
check of these inputs and every option's help text reads the numbers here.
Each bound keeps a request from exhausting memory or overflowing a seed
rather than expressing a scientific preference.
"""

from __future__ import annotations

MAX_SEED = 2**32 - 1
"""Largest seed (numpy's generators take 32-bit seeds)."""

MAX_PAIRS = 4096
"""Most prompt pairs a run, a sweep or a check may use (activations grow with pairs)."""

MIN_NULL_DRAWS = 200
"""Fewest relabellings of the interchangeability null that make it usable (DESIGN §7)."""

MAX_NULL_DRAWS = 100_000
"""Most relabellings of the interchangeability null."""

MAX_PROBE_CLASSES = 64
"""Most classes of a probe's custom labels (labels are class indices 0..63)."""
