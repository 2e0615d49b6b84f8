"""Target models: loading (bundled, tiny, any HF causal LM)."""

from engine.models.loading import BUILTIN_MODELS, TargetModel, load_model

__all__ = ["BUILTIN_MODELS", "TargetModel", "load_model"]
