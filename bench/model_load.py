"""How long the bundled model takes to load: first (de-quantise GGUF) vs cached.

Prints figures; asserts nothing. The first-load figure is measured by pointing
the cache at a fresh temporary directory, so the user's cache is untouched.
Run: ``python bench/model_load.py``.
"""

from __future__ import annotations

import os
import tempfile
import time


def timed_load() -> float:
    from engine.models import load_model

    start = time.perf_counter()
    load_model("smollm2-135m")
    return time.perf_counter() - start


def main() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import transformers  # noqa: F401  (import cost is not part of the load figure)

    with tempfile.TemporaryDirectory() as cache:
        os.environ["AUTOINTERP_CACHE_DIR"] = cache
        first = timed_load()
        second = timed_load()
        third = timed_load()
    print(f"bundled smollm2-135m, first load (de-quantise GGUF + write cache): {first:6.2f} s")
    print(f"bundled smollm2-135m, cached load (safetensors), 2nd call:          {second:6.2f} s")
    print(f"bundled smollm2-135m, cached load (safetensors), 3rd call:          {third:6.2f} s")
    print(f"speed-up of the cache: {first / second:.1f}x")


if __name__ == "__main__":
    main()
