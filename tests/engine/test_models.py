"""Model loading: the bundled cache, tiny models, clear errors offline."""

from __future__ import annotations

import pytest
import torch

from engine.config import settings
from engine.errors import UnknownModelError
from engine.models import bundled, load_model


def test_tiny_models_are_deterministic_per_seed():
    a, b, c = load_model("tiny-llama", seed=1), load_model("tiny-llama", seed=1), load_model("tiny-llama", seed=2)
    wa, wb, wc = (m.adapter.head_params(0, 0).wq for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_bundled_model_is_cached_as_safetensors_and_not_dequantised_again(smollm, monkeypatch):
    directory = bundled.cached_weights(settings().cache_dir)
    assert directory is not None and (directory / "model.safetensors").is_file()

    def refuse(*_a, **_k):
        raise AssertionError("the GGUF file was de-quantised again")

    monkeypatch.setattr(bundled, "build_cache", refuse)
    again = load_model("smollm2-135m")
    assert torch.equal(again.adapter.head_params(5, 2).wq, smollm.adapter.head_params(5, 2).wq)
    assert again.describe()["n_kv_heads"] == 3


def test_unknown_model_is_one_clear_error(tmp_path):
    with pytest.raises(UnknownModelError, match="is not a built-in model .* in the Hugging Face cache at .* cannot be reached"):
        load_model("no-such-org/no-such-model")
    with pytest.raises(UnknownModelError, match="holds no Hugging Face model config"):
        load_model(str(tmp_path))
