"""Architecture adapters: where each component id lives in a model's module tree.

Why adapters: every experiment in this project is phrased in component ids
(DESIGN.md §4), but GPT-2, GPT-NeoX, Llama, Qwen and Gemma name, fuse and shape
their modules differently (Conv1D vs Linear, fused vs separate QKV, grouped-query
attention, rotary vs learned positions, QK-norm, soft-capping, sliding windows).
One adapter per family answers the same small set of questions -- which
module's input holds the per-head outputs, which module is the MLP, how to run
one block, what one head's Q/K/V/O weights are, how its attention scores are
formed -- so that hooks, patching, ablation and weight swaps are written once,
against this interface, with no ``if "gpt2" in name`` anywhere.

One head's attention, as ``compute_head`` recomputes it, is the same pipeline
for every family; each step is a hook the adapter fills in:

1. ``q, k, v = x @ w.T + b`` from ``head_params`` (the head's KV group under GQA);
2. QK-norm (Qwen3, Gemma 3): ``HeadParams.q_norm``/``k_norm`` normalise each
   head's q and k over ``d_head`` before positions are applied;
3. ``rotate``: rotary positions (nothing for learned absolute positions);
4. scores ``q·k * attention_scale(layer)``, then ``attention_softcap(layer)``
   (Gemma 2: ``cap * tanh(scores / cap)``);
5. the causal mask, narrowed to the last ``attention_window(layer)`` keys on
   sliding-window layers (Mistral, Gemma, some Qwen layers); softmax in float32.

The forward pieces (``embed``, ``block_context``, ``run_block``, ``logits``)
exist so experiments can start a forward pass at any layer from a cached
residual stream: an exact patching sweep then recomputes only the suffix of the
network. They call the model's own modules in the same order, with the same
mask and position arguments, as the Hugging Face forward, and a test checks
the logits agree bit for bit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
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
    #: QK-norm (Qwen3, Gemma 3): [..., d_head] -> [..., d_head], applied to q (k) before rotary.
    #: The norm's weights belong to the head's layer; they act on this head's own
    #: projections, so they travel with its parameters in a weight swap.
    q_norm: Callable[[torch.Tensor], torch.Tensor] | None = None
    k_norm: Callable[[torch.Tensor], torch.Tensor] | None = None


BlockContext = dict[str, Any]
"""Per-sequence arguments of every block: ``position_ids``, one attention mask per layer
(``attention_masks[layer]``: sliding-window layers get their own), and for rotary
families one ``(cos, sin)`` per layer (``position_embeddings[layer]``)."""


class ArchitectureAdapter(ABC):
    """Maps component ids of one architecture family onto a loaded HF model."""

    family: str = "base"
    #: ``model_type`` values of HF configs this adapter handles.
    model_types: tuple[str, ...] = ()
    #: the family's prompts start with the tokenizer's BOS token (Llama, Mistral, Gemma)
    prepend_bos: bool = False
    #: each attention and MLP output is normalised before it enters the residual stream (Gemma), so a
    #: component's write there is not linear in its output (path patching cannot add output differences)
    post_norms: bool = False

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

    def final_norm_scale(self) -> torch.Tensor | None:
        """The elementwise multiplier [d_model] the final norm applies after normalising (None: none).

        Direct logit attribution freezes the norm's scale; families whose norm
        stores its weight offset (Gemma: ``1 + weight``) override this.
        """
        return getattr(self.final_norm(), "weight", None)

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

    def attention_window(self, layer: int) -> int | None:
        """Sliding window of layer ``layer``: a query sees the last ``window`` keys (itself
        included); None for full causal attention."""
        return None

    def attention_softcap(self, layer: int) -> float | None:
        """Attention-logit soft-cap: scores become ``cap * tanh(scores / cap)``; None for none."""
        return None


def causal_context(adapter: ArchitectureAdapter, resid: torch.Tensor) -> BlockContext:
    """Position ids and each layer's causal mask, built exactly as the HF forward builds them.

    Layers with a sliding window get the sliding-window mask (one per distinct
    window, shared by the layers that have it), as the HF forward does.
    """
    from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

    positions = torch.arange(resid.shape[1], device=resid.device).unsqueeze(0)
    masks: dict[int | None, Any] = {}
    per_layer = []
    for layer in range(adapter.n_layers):
        window = adapter.attention_window(layer)
        if window not in masks:
            make = create_causal_mask if window is None else create_sliding_window_causal_mask
            masks[window] = make(
                config=adapter.config, inputs_embeds=resid, attention_mask=None, cache=None, position_ids=positions,
            )
        per_layer.append(masks[window])
    return {"attention_masks": per_layer, "position_ids": positions}


def causal_pattern(
    q: torch.Tensor,
    k: torch.Tensor,
    scale: float,
    window: int | None = None,
    softcap: float | None = None,
) -> torch.Tensor:
    """Causal softmax attention pattern of one head (or of heads folded into the batch).

    Args:
        q, k: [batch, pos, d_head].
        scale: multiplier of the q·k scores.
        window: sliding window; query i sees keys ``i - window + 1 .. i`` (None = all earlier keys).
        softcap: scores become ``softcap * tanh(scores / softcap)`` before masking (None = no cap).

    Returns:
        [batch, query_pos, key_pos] pattern, in q's dtype (softmax in float32).
    """
    scores = torch.einsum("bqd,bkd->bqk", q, k) * scale
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    n = q.shape[1]
    query = torch.arange(n, device=q.device)[:, None]
    key = torch.arange(n, device=q.device)[None, :]
    hidden = key > query
    if window is not None:
        hidden = hidden | (query - key >= window)
    scores = scores.masked_fill(hidden, float("-inf"))
    return scores.softmax(dim=-1, dtype=torch.float32).to(q.dtype)


def causal_head_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    scale: float,
    window: int | None = None,
    softcap: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal softmax attention of one head (``causal_pattern`` applied to ``v``).

    Args:
        q, k, v: [batch, pos, d_head].
        scale, window, softcap: as in ``causal_pattern``.

    Returns:
        (z, pattern): z is [batch, pos, d_head]; pattern is [batch, query_pos, key_pos].
    """
    pattern = causal_pattern(q, k, scale, window=window, softcap=softcap)
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
    if params.q_norm is not None:
        q = params.q_norm(q)
    if params.k_norm is not None:
        k = params.k_norm(k)
    q, k = adapter.rotate(layer, q, k, ctx)
    return causal_head_attention(
        q, k, v, adapter.attention_scale(layer),
        window=adapter.attention_window(layer), softcap=adapter.attention_softcap(layer),
    )
