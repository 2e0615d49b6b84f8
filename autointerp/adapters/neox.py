"""GPT-NeoX / Pythia adapter: fused per-head-interleaved QKV, partial rotary, parallel residual."""

from __future__ import annotations

from typing import Any

import torch
from transformers.masking_utils import create_causal_mask

from autointerp.adapters.base import ArchitectureAdapter, BlockContext, HeadParams


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding on the first ``cos.shape[-1]`` dims of x ([batch, pos, d_head]).

    cos/sin are [batch or 1, pos, rotary_dims]; the remaining dims pass through
    (partial rotary, as in Pythia; full rotary when rotary_dims == d_head).
    """
    r = cos.shape[-1]
    rot, rest = x[..., :r], x[..., r:]
    return torch.cat((rot * cos + _rotate_half(rot) * sin, rest), dim=-1)


class NeoXAdapter(ArchitectureAdapter):
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

    def final_norm(self) -> Any:
        return self._body.final_layer_norm

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self._body.emb_dropout(self._body.embed_in(input_ids))

    def block_context(self, resid: torch.Tensor) -> BlockContext:
        positions = torch.arange(resid.shape[1], device=resid.device).unsqueeze(0)
        mask = create_causal_mask(
            config=self.config, inputs_embeds=resid, attention_mask=None,
            past_key_values=None, position_ids=positions,
        )
        rotary = self._body.rotary_emb(resid, position_ids=positions)
        return {"attention_mask": mask, "position_ids": positions, "position_embeddings": rotary}

    def run_block(self, layer: int, resid: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        return self.blocks()[layer](
            resid,
            attention_mask=ctx["attention_mask"],
            position_ids=ctx["position_ids"],
            position_embeddings=ctx["position_embeddings"],
        )

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

    def rotate(self, layer, q, k, ctx):
        cos, sin = ctx["position_embeddings"]
        return apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
