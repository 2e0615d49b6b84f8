"""Loading target models: the bundled default, tiny test models, or any HF causal LM.

``load_model`` returns a ``TargetModel``: the HF model (eval mode, parameters
frozen, on the chosen device in the chosen dtype), its tokenizer, its
architecture adapter and how prompts are tokenised for it. Everything
downstream receives this one handle and reads the device and dtype from it.

What ``name`` may be, in the order it is tried:

1. a built-in name (``engine.catalog``): the bundled SmolLM2 or a tiny random model;
2. a local ``.gguf`` file: de-quantised once and cached as safetensors (``engine.models.bundled``);
3. a local directory written by ``save_pretrained``;
4. a Hugging Face hub id, resolved through the transformers cache (the hub is
   asked only when it answers; offline, the cache alone must hold it).

The model's config is read before its weights, so an architecture without an
adapter ends in one sentence listing the supported ones instead of a long load.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from engine.adapters import ArchitectureAdapter, adapter_for, supported_model_types
from engine.catalog import BUILTIN_MODELS, BUNDLED_MODEL, PLANTED_MODELS, TINY_MODELS
from engine.config import settings
from engine.errors import UnknownModelError
from engine.models import bundled
from engine.models.placement import dtype_name, resolve_device, resolve_dtype
from engine.models.tiny import build_tiny
from engine.planted import load_planted

BUNDLED = BUNDLED_MODEL
TINY = TINY_MODELS


@dataclass
class TargetModel:
    """A loaded target model and everything needed to run experiments on it."""

    name: str
    model: nn.Module
    tokenizer: object
    adapter: ArchitectureAdapter = field(repr=False)
    #: prepend the tokenizer's BOS token to every prompt (architecture/tokenizer convention)
    prepend_bos: bool = False
    #: for a head-permuted copy (memorisation control): original head id -> its id here
    head_permutation: dict[str, str] | None = None

    @property
    def n_layers(self) -> int:
        return self.adapter.n_layers

    @property
    def n_heads(self) -> int:
        return self.adapter.n_heads

    @property
    def device(self) -> torch.device:
        """Where the model's parameters (and so every tensor experiments create) live."""
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def describe(self) -> dict:
        a = self.adapter
        return {
            "name": self.name, "family": a.family, "n_layers": a.n_layers, "n_heads": a.n_heads,
            "n_kv_heads": a.n_kv_heads, "d_model": a.d_model, "d_head": a.d_head,
            "device": str(self.device), "dtype": dtype_name(self.dtype),
        }


def load_model(
    name: str,
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
) -> TargetModel:
    """Load a target model by built-in name, local GGUF file or directory, or Hugging Face hub id.

    Args:
        name: ``smollm2-135m`` (bundled), a tiny random model (``tiny-llama`` ...),
            ``planted-*`` (trained in-process, roles known), a ``.gguf`` file, a
            ``save_pretrained`` directory, or a hub id.
        progress: optional callback receiving short status strings.
        seed: initialisation seed of tiny models.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (None: ``AUTOINTERP_DEVICE``).
        dtype: ``float32``, ``bfloat16`` or ``float16`` (None: ``AUTOINTERP_DTYPE``).

    Raises:
        UnknownModelError: the model cannot be found offline, or has no adapter.
        DeviceError: an unknown or unavailable device or dtype.
    """
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    place, precision = resolve_device(device), resolve_dtype(dtype)
    hf_logging.disable_progress_bar()
    if name == BUNDLED:
        directory, tokenizer = _bundled_tokenizer(progress)
        model = AutoModelForCausalLM.from_pretrained(directory, attn_implementation="sdpa", dtype=precision)
        # SmolLM2's chat tokenizer has no plain-text BOS convention: prompts start as typed
        return _target(name, model, tokenizer, place, precision, prepend_bos=False)
    if name in PLANTED_MODELS:  # trained in-process on first use, then cached (engine.planted)
        planted = load_planted(name, progress)
        return _target(name, planted.model, planted.tokenizer, place, precision, prepend_bos=True)
    if name in TINY:
        _, tokenizer = _bundled_tokenizer(progress)
        return _target(name, build_tiny(name, seed), tokenizer, place, precision)
    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf" or path.is_file():
        return _load_gguf(name, path, place, precision, progress)
    if path.is_dir():
        return _load_pretrained(name, str(path), place, precision, local_only=True)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:  # a path, not an ``org/name`` hub id
        raise UnknownModelError(f"Model path '{name}' does not exist.")
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or not _hub_reachable()
    return _load_pretrained(name, name, place, precision, local_only=offline)


def _bundled_tokenizer(progress: Callable[[str], None] | None):
    from transformers import AutoTokenizer

    root = settings().cache_dir
    directory = bundled.cached_weights(root) or bundled.build_cache(root, progress)
    return directory, AutoTokenizer.from_pretrained(directory)


def _check_family(name: str, config: Any) -> None:
    model_type = getattr(config, "model_type", None)
    if model_type not in supported_model_types():
        raise UnknownModelError(
            f"Model '{name}' is a '{model_type}' model, which has no architecture adapter; "
            f"supported model types: {', '.join(supported_model_types())}."
        )


def _hub_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _load_pretrained(
    name: str, where: str, device: torch.device, dtype: torch.dtype, local_only: bool
) -> TargetModel:
    """A ``save_pretrained`` directory or a hub id (from the transformers cache when ``local_only``)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(where, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        builtin = ", ".join(m.name for m in BUILTIN_MODELS)
        if Path(where).is_dir():
            raise UnknownModelError(
                f"The directory '{name}' holds no Hugging Face model config (config.json) "
                f"({type(exc).__name__}); save a model there with save_pretrained."
            ) from None
        reach = "the hub cannot be reached (or HF_HUB_OFFLINE=1)" if local_only else "the hub does not have it"
        raise UnknownModelError(
            f"Model '{name}' is not a built-in model ({builtin}), a local path, or in the Hugging Face "
            f"cache at {_hub_cache()}, and {reach}; download it once where the hub is reachable "
            f"(hf download {name}) or pass a local directory."
        ) from None
    _check_family(name, config)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(where, local_files_only=local_only, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise UnknownModelError(
            f"Model '{name}' has a config but its tokenizer or weights could not be loaded "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})."
        ) from None
    return _target(name, model, tokenizer, device, dtype)


def _load_gguf(
    name: str, path: Path, device: torch.device, dtype: torch.dtype, progress: Callable[[str], None] | None
) -> TargetModel:
    """A local GGUF file, de-quantised once into the cache (checked for an adapter first)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if not path.is_file():
        raise UnknownModelError(f"GGUF file '{name}' does not exist.")
    root, cache_name = settings().cache_dir, bundled.local_cache_name(path)
    directory = bundled.cached_gguf(root, cache_name, path)
    if directory is None:
        try:
            config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
        except (OSError, ValueError, KeyError, NotImplementedError) as exc:
            raise UnknownModelError(
                f"'{name}' is not a GGUF model transformers can read ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else 'no detail'})."
            ) from None
        _check_family(name, config)
        directory = bundled.dequantise(path, root, cache_name, progress)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype)
    return _target(name, model, tokenizer, device, dtype)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub answers at all; offline machines fail fast instead of retrying for a minute."""
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _target(
    name: str,
    model: nn.Module,
    tokenizer: Any,
    device: torch.device,
    dtype: torch.dtype,
    prepend_bos: bool | None = None,
) -> TargetModel:
    """Freeze the model, move it to ``device`` in ``dtype``, and pair it with its adapter."""
    model.eval()
    model.requires_grad_(False)
    model = model.to(device=device, dtype=dtype)
    adapter = adapter_for(model)
    if prepend_bos is None:
        prepend_bos = adapter.prepend_bos and getattr(tokenizer, "bos_token_id", None) is not None
    return TargetModel(name, model, tokenizer, adapter, prepend_bos=prepend_bos)
