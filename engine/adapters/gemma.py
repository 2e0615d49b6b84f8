"""Gemma 2 / Gemma 3 adapters: the Llama module layout with Gemma's conventions.

Conventions taken from ``transformers.models.gemma2/gemma3.modeling_*`` (the
adapter contract tests check each against the HF forward):

* embeddings are scaled by ``sqrt(hidden_size)`` -- inside ``embed_tokens``'s
  own forward, so ``embed`` just calls it;
* RMSNorms multiply by ``1 + weight`` and every block has four of them
  (pre/post attention, pre/post MLP). The blocks run as HF's modules, so the
  post-norms need nothing here, but ``L{l}.ATTN`` (the output projection's
  output, the sum of the heads) enters the residual stream through
  ``post_attention_layernorm``;
* queries are scaled by ``query_pre_attn_scalar ** -0.5`` (the module's ``scaling``),
  not ``head_dim ** -0.5``;
* Gemma 2 soft-caps attention logits, ``cap * tanh(scores / cap)``
  (``attn_logit_softcapping``), and both soft-cap the final logits
  (``final_logit_softcapping``, None in Gemma 3 checkpoints);
* layers alternate between sliding-window (``sliding_window`` keys) and full attention
  (``config.layer_types``); Gemma 3's sliding layers also use another rotary base
  (``rope_parameters["sliding_attention"]``), so rotary is per layer type;
* Gemma 3 normalises each head's q and k (``q_norm``/``k_norm``) before rotary,
  and HF's Gemma 3 attention does *not* apply ``attn_logit_softcapping``;
* a single KV head is common (Gemma 2B): every query head reads KV group 0;
* prompts start with BOS (Gemma degrades badly without it).
"""

from __future__ import annotations

from typing import Any

import torch

from engine.adapters.llama import LlamaAdapter
from engine.errors import UnknownModelError


def soft_cap(x: torch.Tensor, cap: float | None) -> torch.Tensor:
    """``cap * tanh(x / cap)`` in Gemma's operation order (identity when cap is None)."""
    if cap is None:
        return x
    return torch.tanh(x / cap) * cap


class Gemma2Adapter(LlamaAdapter):
    family = "gemma2"
    model_types: tuple[str, ...] = ("gemma2",)
    prepend_bos = True
    post_norms = True

    def __init__(self, model: Any):
        super().__init__(model)
        if getattr(self.config, "use_bidirectional_attention", False):
            raise UnknownModelError(
                f"This {self.family} checkpoint uses bidirectional attention (an embedding model), "
                "not a causal language model."
            )

    def logits(self, resid: torch.Tensor) -> torch.Tensor:
        logits = self.unembed()(self.final_norm()(resid))
        return soft_cap(logits, getattr(self.config, "final_logit_softcapping", None))

    def final_norm_scale(self) -> torch.Tensor | None:
        return 1.0 + self.final_norm().weight

    def attention_window(self, layer: int) -> int | None:
        window = getattr(self.attention(layer), "sliding_window", None)
        return None if window is None else int(window)

    def attention_softcap(self, layer: int) -> float | None:
        cap = getattr(self.attention(layer), "attn_logit_softcapping", None)
        return None if cap is None else float(cap)


class Gemma3Adapter(Gemma2Adapter):
    family = "gemma3"
    model_types = ("gemma3_text",)

    def qk_norms(self, layer: int) -> tuple[Any, Any]:
        attn = self.attention(layer)
        return attn.q_norm, attn.k_norm

    def attention_softcap(self, layer: int) -> float | None:
        return None  # HF's Gemma3Attention never passes a soft-cap to the attention kernel

    def rotary_for(self, resid: torch.Tensor, positions: torch.Tensor) -> list[Any]:
        types = list(self.config.layer_types)
        by_type = {t: self._body.rotary_emb(resid, positions, t) for t in dict.fromkeys(types)}
        return [by_type[t] for t in types]
