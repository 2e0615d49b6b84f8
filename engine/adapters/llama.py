"""Llama-family adapter (Llama, SmolLM2, Mistral): separate q/k/v projections,
grouped-query attention (several query heads share one key/value head), RMSNorm, rotary.

Mistral is a Llama with a sliding window on every layer (``config.sliding_window``);
the Qwen and Gemma adapters (``engine.adapters.qwen``, ``engine.adapters.gemma``)
build on the same module layout.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.adapters.base import HeadParams
from engine.adapters.rotary import RotaryAdapter


class LlamaAdapter(RotaryAdapter):
    family = "llama"
    model_types: tuple[str, ...] = ("llama",)
    prepend_bos = True

    @property
    def _body(self) -> Any:
        return self.model.model

    @property
    def n_kv_heads(self) -> int:
        return int(getattr(self.config, "num_key_value_heads", None) or self.n_heads)

    @property
    def d_head(self) -> int:
        return int(getattr(self.config, "head_dim", None) or self.d_model // self.n_heads)

    def blocks(self) -> Any:
        return self._body.layers

    def attention(self, layer: int) -> Any:
        return self.blocks()[layer].self_attn

    def out_proj(self, layer: int) -> Any:
        return self.blocks()[layer].self_attn.o_proj

    def mlp(self, layer: int) -> Any:
        return self.blocks()[layer].mlp

    def attention_norm(self, layer: int) -> Any:
        return self.blocks()[layer].input_layernorm

    def final_norm(self) -> Any:
        return self._body.norm

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self._body.embed_tokens(input_ids)

    def qk_norms(self, layer: int) -> tuple[Any, Any]:
        """Per-head q and k norms of ``layer`` (QK-norm families override); (None, None) here."""
        return None, None

    def head_params(self, layer: int, head: int) -> HeadParams:
        attn = self.attention(layer)
        dh = self.d_head
        q_rows = slice(head * dh, (head + 1) * dh)
        g = self.kv_group(head)
        kv_rows = slice(g * dh, (g + 1) * dh)

        def bias(proj: Any, rows: slice) -> torch.Tensor | None:
            return None if proj.bias is None else proj.bias[rows]

        q_norm, k_norm = self.qk_norms(layer)
        return HeadParams(
            wq=attn.q_proj.weight[q_rows], wk=attn.k_proj.weight[kv_rows],
            wv=attn.v_proj.weight[kv_rows], wo=attn.o_proj.weight[:, q_rows],
            bq=bias(attn.q_proj, q_rows), bk=bias(attn.k_proj, kv_rows), bv=bias(attn.v_proj, kv_rows),
            q_norm=q_norm, k_norm=k_norm,
        )

    def attention_scale(self, layer: int) -> float:
        return float(self.attention(layer).scaling)


class MistralAdapter(LlamaAdapter):
    """Mistral: the Llama layout with one sliding window on every layer (None = full attention)."""

    family = "mistral"
    model_types = ("mistral",)

    def attention_window(self, layer: int) -> int | None:
        window = getattr(self.config, "sliding_window", None)
        return None if window is None else int(window)
