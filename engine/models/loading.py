"""Loading target models: the bundled default, tiny test models, or any HF causal LM.

``load_model`` returns a ``TargetModel``: the HF model (eval mode, float32,
parameters frozen), its tokenizer, its architecture adapter and how prompts are
tokenised for it. Everything downstream receives this one handle.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from engine.adapters import ArchitectureAdapter, adapter_for
from engine.catalog import BUILTIN_MODELS, BUNDLED_MODEL, PLANTED_MODELS, TINY_MODELS
from engine.config import settings
from engine.errors import UnknownModelError
from engine.models import bundled
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

    def describe(self) -> dict:
        a = self.adapter
        return {
            "name": self.name, "family": a.family, "n_layers": a.n_layers, "n_heads": a.n_heads,
            "n_kv_heads": a.n_kv_heads, "d_model": a.d_model, "d_head": a.d_head,
        }


def _prepare(model: nn.Module) -> nn.Module:
    model.eval()
    model.requires_grad_(False)
    return model.to(torch.float32)


def _bundled_tokenizer(progress: Callable[[str], None] | None):
    from transformers import AutoTokenizer

    root = settings().cache_dir
    directory = bundled.cached_weights(root) or bundled.build_cache(root, progress)
    return directory, AutoTokenizer.from_pretrained(directory)


def load_model(name: str, progress: Callable[[str], None] | None = None, seed: int = 0) -> TargetModel:
    """Load a target model by built-in name, local path, or Hugging Face hub id.

    Args:
        name: ``smollm2-135m`` (bundled), ``tiny-gpt2``/``tiny-llama``/``tiny-neox``
            (random, for tests), ``planted-*`` (trained in-process, roles known), a
            local directory, or a hub id already in the cache.
        progress: optional callback receiving short status strings.
        seed: initialisation seed of tiny models.

    Raises:
        UnknownModelError: the model cannot be found offline, or has no adapter.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if name == BUNDLED:
        directory, tokenizer = _bundled_tokenizer(progress)
        model = AutoModelForCausalLM.from_pretrained(directory, attn_implementation="sdpa")
        return _target(name, model, tokenizer, prepend_bos=False)
    if name in PLANTED_MODELS:  # trained in-process on first use, then cached (engine.planted)
        planted = load_planted(name, progress)
        return _target(name, planted.model, planted.tokenizer, prepend_bos=True)
    if name in TINY:
        _, tokenizer = _bundled_tokenizer(progress)
        # tiny-llama follows the Llama convention of a BOS token; the others do not.
        return _target(name, build_tiny(name, seed), tokenizer, prepend_bos=name == "tiny-llama")
    local_only = Path(name).exists() or os.environ.get("HF_HUB_OFFLINE") == "1" or not _hub_reachable()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(name, local_files_only=local_only)
    except (OSError, ValueError) as exc:
        builtin = ", ".join(m.name for m in BUILTIN_MODELS)
        raise UnknownModelError(
            f"Model '{name}' is not a built-in model ({builtin}), a local directory, or a "
            f"Hugging Face model available offline ({type(exc).__name__})."
        ) from None
    bos = getattr(model.config, "model_type", "") in ("llama", "mistral")
    return _target(name, model, tokenizer, prepend_bos=bos and tokenizer.bos_token_id is not None)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub answers at all; offline machines fail fast instead of retrying for a minute."""
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _target(name: str, model: nn.Module, tokenizer, prepend_bos: bool) -> TargetModel:
    model = _prepare(model)
    return TargetModel(name, model, tokenizer, adapter_for(model), prepend_bos=prepend_bos)
