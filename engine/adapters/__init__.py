"""One adapter module per architecture family; ``adapter_for`` picks by ``config.model_type``."""

from __future__ import annotations

from torch import nn

from engine.adapters.base import ArchitectureAdapter, HeadParams, compute_head
from engine.adapters.gemma import Gemma2Adapter, Gemma3Adapter
from engine.adapters.gpt2 import GPT2Adapter
from engine.adapters.llama import LlamaAdapter, MistralAdapter
from engine.adapters.neox import NeoXAdapter
from engine.adapters.qwen import Qwen2Adapter, Qwen3Adapter
from engine.errors import UnknownModelError

ADAPTERS: tuple[type[ArchitectureAdapter], ...] = (
    GPT2Adapter, NeoXAdapter, LlamaAdapter, MistralAdapter, Qwen2Adapter, Qwen3Adapter,
    Gemma2Adapter, Gemma3Adapter,
)


def supported_model_types() -> list[str]:
    """Every HF ``model_type`` some adapter handles, sorted."""
    return sorted(t for cls in ADAPTERS for t in cls.model_types)


def adapter_for(model: nn.Module) -> ArchitectureAdapter:
    """The adapter for a loaded HF causal LM, chosen by its config's ``model_type``."""
    model_type = getattr(model.config, "model_type", None)
    for cls in ADAPTERS:
        if model_type in cls.model_types:
            return cls(model)
    raise UnknownModelError(
        f"Architecture '{model_type}' has no adapter; supported model types: {', '.join(supported_model_types())}."
    )


__all__ = ["ADAPTERS", "ArchitectureAdapter", "HeadParams", "adapter_for", "compute_head", "supported_model_types"]
