"""Shared by the rotary-position families (GPT-NeoX, Llama, Qwen, Gemma): rotary embedding and block calls.

These families compute ``(cos, sin)`` once per sequence with the model's own
``rotary_emb`` module and pass it, with the layer's causal mask, to every
block; a head's q and k are rotated on their first ``rotary_dims`` dimensions
(all of them for Llama, a fraction for Pythia's partial rotary). Families
whose layers use different rotary bases (Gemma 3: local and global layers)
override ``rotary_for``.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.adapters.base import ArchitectureAdapter, BlockContext, causal_context


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


class RotaryAdapter(ArchitectureAdapter):
    """Block context and per-head rotation for models with a ``rotary_emb`` module in their body."""

    @property
    def _body(self) -> Any:
        raise NotImplementedError

    def rotary_for(self, resid: torch.Tensor, positions: torch.Tensor) -> list[Any]:
        """``(cos, sin)`` of every layer, computed as the HF forward computes it (once, shared)."""
        shared = self._body.rotary_emb(resid, position_ids=positions)
        return [shared] * self.n_layers

    def block_context(self, resid: torch.Tensor) -> BlockContext:
        ctx = causal_context(self, resid)
        ctx["position_embeddings"] = self.rotary_for(resid, ctx["position_ids"])
        return ctx

    def run_block(self, layer: int, resid: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        return self.blocks()[layer](
            resid,
            attention_mask=ctx["attention_masks"][layer],
            position_ids=ctx["position_ids"],
            position_embeddings=ctx["position_embeddings"][layer],
        )

    def rotate(self, layer, q, k, ctx):
        cos, sin = ctx["position_embeddings"][layer]
        return apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
