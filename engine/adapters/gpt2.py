"""GPT-2 family adapter: Conv1D weights ([in, out]), fused c_attn, learned positions."""

from __future__ import annotations

from typing import Any

import torch

from engine.adapters.base import ArchitectureAdapter, BlockContext, HeadParams, causal_context


class GPT2Adapter(ArchitectureAdapter):
    family = "gpt2"
    model_types = ("gpt2",)

    @property
    def _body(self) -> Any:
        return self.model.transformer

    def blocks(self) -> Any:
        return self._body.h

    def attention(self, layer: int) -> Any:
        return self.blocks()[layer].attn

    def out_proj(self, layer: int) -> Any:
        return self.blocks()[layer].attn.c_proj

    def mlp(self, layer: int) -> Any:
        return self.blocks()[layer].mlp

    def attention_norm(self, layer: int) -> Any:
        return self.blocks()[layer].ln_1

    def final_norm(self) -> Any:
        return self._body.ln_f

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        return self._body.drop(self._body.wte(input_ids) + self._body.wpe(positions))

    def block_context(self, resid: torch.Tensor) -> BlockContext:
        return causal_context(self, resid)

    def run_block(self, layer: int, resid: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        return self.blocks()[layer](
            resid, None, ctx["attention_masks"][layer], position_ids=ctx["position_ids"]
        )

    def head_params(self, layer: int, head: int) -> HeadParams:
        attn = self.attention(layer)
        d, dh = self.d_model, self.d_head
        w = attn.c_attn.weight  # [d_model, 3 * d_model], Conv1D: x @ w + b
        b = attn.c_attn.bias
        cols = slice(head * dh, (head + 1) * dh)

        def part(i: int) -> tuple[torch.Tensor, torch.Tensor]:
            sl = slice(i * d + cols.start, i * d + cols.stop)
            return w[:, sl].T, b[sl]

        (wq, bq), (wk, bk), (wv, bv) = part(0), part(1), part(2)
        wo = attn.c_proj.weight[cols, :].T  # Conv1D [d_head*n, d_model] -> [d_model, d_head]
        return HeadParams(wq=wq, wk=wk, wv=wv, wo=wo, bq=bq, bk=bk, bv=bv)

    def attention_scale(self, layer: int) -> float:
        scale = float(self.d_head) ** -0.5 if self.config.scale_attn_weights else 1.0
        if self.config.scale_attn_by_inverse_layer_idx:
            scale /= float(layer + 1)
        return scale
