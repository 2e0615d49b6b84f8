"""Architecture adapters: where each component id lives in a model's module tree.

Why adapters: every experiment in this project is phrased in component ids
(DESIGN.md §4), but GPT-2, GPT-NeoX and Llama name, fuse and shape their
modules differently (Conv1D vs Linear, fused vs separate QKV, grouped-query
attention, rotary vs learned positions). One adapter per family answers the
same small set of questions -- which module's input holds the per-head
outputs, which module is the MLP, how to run one block, what one head's
Q/K/V/O weights are -- so that hooks, patching, ablation and weight swaps are
written once, against this interface, with no ``if "gpt2" in name`` anywhere.

The forward pieces (``embed``, ``block_context``, ``run_block``, ``logits``)
exist so experiments can start a forward pass at any layer from a cached
residual stream: an exact patching sweep then recomputes only the suffix of the
network. They call the model's own modules in the same order, with the same
mask and position arguments, as the Hugging Face forward, and a test checks
the logits agree bit for bit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class HeadParams:
    """One attention head's weights, in ``x @ w.T + b`` convention.

    Shapes: ``wq, wk, wv``: [d_head, d_model]; ``bq, bk, bv``: [d_head] or None;
    ``wo``: [d_model, d_head] (the head's slice of the output projection, so the
    head's contribution to the residual stream is ``z @ wo.T``).
    """

    wq: torch.Tensor
    wk: torch.Tensor
    wv: torch.Tensor
    wo: torch.Tensor
    bq: torch.Tensor | None = None
    bk: torch.Tensor | None = None
    bv: torch.Tensor | None = None


BlockContext = dict[str, Any]


class ArchitectureAdapter(ABC):
    """Maps component ids of one architecture family onto a loaded HF model."""

    family: str = "base"
    #: ``model_type`` values of HF configs this adapter handles.
    model_types: tuple[str, ...] = ()

    def __init__(self, model: nn.Module):
        # HF modules resolve submodules dynamically; typed as Any so adapters stay readable.
        self.model: Any = model
        self.config: Any = model.config

    # ----- dimensions -------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return int(self.config.num_hidden_layers)

    @property
    def n_heads(self) -> int:
        return int(self.config.num_attention_heads)

    @property
    def n_kv_heads(self) -> int:
        return self.n_heads

    @property
    def d_model(self) -> int:
        return int(self.config.hidden_size)

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def kv_group(self, head: int) -> int:
        """The key/value head a query head reads (GQA); identity without GQA."""
        return head // (self.n_heads // self.n_kv_heads)

    # ----- module tree ------------------------------------------------------
    @abstractmethod
    def blocks(self) -> Any: ...

    @abstractmethod
    def attention(self, layer: int) -> Any:
        """The attention module; its first input is the normalised residual stream."""

    @abstractmethod
    def out_proj(self, layer: int) -> Any:
        """Attention output projection; its input is [batch, pos, n_heads * d_head]."""

    @abstractmethod
    def mlp(self, layer: int) -> Any: ...

    @abstractmethod
    def attention_norm(self, layer: int) -> Any:
        """The norm in front of layer ``layer``'s attention: residual stream -> ``AttentionInput``."""

    @abstractmethod
    def final_norm(self) -> Any: ...

    def unembed(self) -> Any:
        return self.model.get_output_embeddings()

    # ----- forward pieces ---------------------------------------------------
    @abstractmethod
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token (+ learned position) embeddings: [batch, pos] -> [batch, pos, d_model]."""

    @abstractmethod
    def block_context(self, resid: torch.Tensor) -> BlockContext:
        """Mask and position arguments every block needs for this sequence length."""

    @abstractmethod
    def run_block(self, layer: int, resid: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        """Run block ``layer``: [batch, pos, d_model] -> [batch, pos, d_model]."""

    def logits(self, resid: torch.Tensor) -> torch.Tensor:
        """Final norm and unembedding: [batch, pos, d_model] -> [batch, pos, vocab]."""
        return self.unembed()(self.final_norm()(resid))

    # ----- per-head weights -------------------------------------------------
    @abstractmethod
    def head_params(self, layer: int, head: int) -> HeadParams:
        """Views of one head's Q, K, V (its KV group under GQA) and O weights."""

    def rotate(
        self, layer: int, q: torch.Tensor, k: torch.Tensor, ctx: BlockContext
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply position information to one head's q, k ([batch, pos, d_head]).

        Learned absolute positions (GPT-2) need nothing here; rotary families override.
        """
        return q, k

    def attention_scale(self, layer: int) -> float:
        return float(self.d_head) ** -0.5


def causal_context(config: Any, resid: torch.Tensor) -> BlockContext:
    """Position ids and the causal mask, built exactly as the HF forward builds them."""
    from transformers.masking_utils import create_causal_mask

    positions = torch.arange(resid.shape[1], device=resid.device).unsqueeze(0)
    mask = create_causal_mask(
        config=config, inputs_embeds=resid, attention_mask=None, past_key_values=None, position_ids=positions,
    )
    return {"attention_mask": mask, "position_ids": positions}


def causal_head_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal softmax attention of one head.

    Args:
        q, k, v: [batch, pos, d_head].
        scale: multiplier of the q·k scores.

    Returns:
        (z, pattern): z is [batch, pos, d_head]; pattern is [batch, query_pos, key_pos].
    """
    scores = torch.einsum("bqd,bkd->bqk", q, k) * scale
    n = q.shape[1]
    future = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
    scores = scores.masked_fill(future, float("-inf"))
    pattern = scores.softmax(dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.einsum("bqk,bkd->bqd", pattern, v), pattern


def compute_head(
    adapter: ArchitectureAdapter,
    layer: int,
    params: HeadParams,
    x: torch.Tensor,
    ctx: BlockContext,
    xk: torch.Tensor | None = None,
    xv: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One head's output ``z`` and pattern at ``layer``'s place, with any head's weights.

    ``x`` is the attention module's (normalised) input at ``layer``; the rotary
    position and scale are ``layer``'s. With ``params = head_params(layer, h)``
    this reproduces head h's own ``z``; with another head's params it computes
    that head "transplanted" into ``layer`` (DESIGN.md §7 weight swap). ``xk``
    and ``xv`` give keys and values their own input (path patching into one of
    q/k/v); by default all three read ``x``.
    """
    q = x @ params.wq.T
    k = (x if xk is None else xk) @ params.wk.T
    v = (x if xv is None else xv) @ params.wv.T
    if params.bq is not None:
        q = q + params.bq
    if params.bk is not None:
        k = k + params.bk
    if params.bv is not None:
        v = v + params.bv
    q, k = adapter.rotate(layer, q, k, ctx)
    return causal_head_attention(q, k, v, adapter.attention_scale(layer))
