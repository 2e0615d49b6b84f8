"""GPT-NeoX / Pythia adapter: fused per-head-interleaved QKV, partial rotary, parallel residual."""

from __future__ import annotations

from typing import Any

import torch

from engine.adapters.base import HeadParams
from engine.adapters.rotary import RotaryAdapter


class NeoXAdapter(RotaryAdapter):
    family = "gpt-neox"
    model_types = ("gpt_neox",)

    @property
    def _body(self) -> Any:
        return self.model.gpt_neox

    def blocks(self) -> Any:
        return self._body.layers

    def attention(self, layer: int) -> Any:
        return self.blocks()[layer].attention

    def out_proj(self, layer: int) -> Any:
        return self.blocks()[layer].attention.dense

    def mlp(self, layer: int) -> Any:
        return self.blocks()[layer].mlp

    def attention_norm(self, layer: int) -> Any:
        return self.blocks()[layer].input_layernorm

    def final_norm(self) -> Any:
        return self._body.final_layer_norm

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self._body.emb_dropout(self._body.embed_in(input_ids))

    def head_params(self, layer: int, head: int) -> HeadParams:
        attn = self.attention(layer)
        dh = self.d_head
        # query_key_value output is viewed as [..., n_heads, 3 * d_head]: per head q|k|v.
        base = head * 3 * dh
        w, b = attn.query_key_value.weight, attn.query_key_value.bias

        def rows(i: int) -> slice:
            return slice(base + i * dh, base + (i + 1) * dh)

        def bias(i: int) -> torch.Tensor | None:
            return None if b is None else b[rows(i)]

        wo = attn.dense.weight[:, head * dh:(head + 1) * dh]
        return HeadParams(
            wq=w[rows(0)], wk=w[rows(1)], wv=w[rows(2)], wo=wo, bq=bias(0), bk=bias(1), bv=bias(2)
        )

