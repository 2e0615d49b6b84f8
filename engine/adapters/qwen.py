"""Qwen2 / Qwen3 adapters: the Llama layout with q/k/v biases (Qwen2), QK-norm (Qwen3)
and, when the config enables it, sliding-window attention on the upper layers.

Conventions taken from ``transformers.models.qwen2/qwen3.modeling_*``:

* Qwen2 adds biases to q_proj/k_proj/v_proj (``config.attention_bias`` in Qwen3);
* Qwen3 normalises each head's q and k with an RMSNorm over ``head_dim``
  (``self_attn.q_norm``/``k_norm``) *before* rotary -- ``HeadParams.q_norm``;
* layers listed as ``sliding_attention`` in ``config.layer_types`` attend to
  the last ``config.sliding_window`` keys; the attention module carries its own
  ``sliding_window`` (None on full-attention layers);
* Qwen tokenizers have no BOS token, so prompts start without one.
"""

from __future__ import annotations

from typing import Any

from engine.adapters.llama import LlamaAdapter


class Qwen2Adapter(LlamaAdapter):
    family = "qwen2"
    model_types = ("qwen2",)
    prepend_bos = False

    def attention_window(self, layer: int) -> int | None:
        window = getattr(self.attention(layer), "sliding_window", None)
        return None if window is None else int(window)


class Qwen3Adapter(Qwen2Adapter):
    family = "qwen3"
    model_types = ("qwen3",)

    def qk_norms(self, layer: int) -> tuple[Any, Any]:
        attn = self.attention(layer)
        return attn.q_norm, attn.k_norm
