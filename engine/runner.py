"""Forward passes that can start at any layer from a cached residual stream.

Why: an exact activation-patching sweep over every head of a 30-layer model
would otherwise pay a full forward per patched head. Everything before the
patched layer is identical to the unpatched run, so we cache the residual
stream entering each layer once and recompute only the suffix. These
functions call the model's own blocks through the adapter (so hooks fire as in
the HF forward) and agree with ``model(input_ids).logits`` bit for bit.
"""

from __future__ import annotations

import torch

from engine.adapters.base import ArchitectureAdapter, BlockContext
from engine.hooks import AttentionInput, trace


def run_layers(
    adapter: ArchitectureAdapter,
    resid: torch.Tensor,
    start: int,
    stop: int | None = None,
    ctx: BlockContext | None = None,
) -> torch.Tensor:
    """Run blocks ``start..stop-1`` on ``resid`` [batch, pos, d_model]; returns the residual after."""
    ctx = ctx if ctx is not None else adapter.block_context(resid)
    stop = adapter.n_layers if stop is None else stop
    for layer in range(start, stop):
        resid = adapter.run_block(layer, resid, ctx)
    return resid


def logits_from(
    adapter: ArchitectureAdapter, resid: torch.Tensor, start: int, ctx: BlockContext | None = None
) -> torch.Tensor:
    """Logits [batch, pos, vocab] of a forward pass resumed at block ``start``."""
    return adapter.logits(run_layers(adapter, resid, start, ctx=ctx))


def forward(adapter: ArchitectureAdapter, input_ids: torch.Tensor) -> torch.Tensor:
    """Full forward pass: [batch, pos] token ids -> [batch, pos, vocab] logits."""
    return logits_from(adapter, adapter.embed(input_ids), 0)


def residuals(adapter: ArchitectureAdapter, input_ids: torch.Tensor) -> list[torch.Tensor]:
    """Residual stream entering every layer, without the (vocabulary-sized) logits.

    Returns:
        ``n_layers + 1`` tensors [batch, pos, d_model]: ``[l]`` enters layer l,
        ``[n_layers]`` is the final residual stream.
    """
    resid = adapter.embed(input_ids)
    ctx = adapter.block_context(resid)
    out = [resid]
    for layer in range(adapter.n_layers):
        resid = adapter.run_block(layer, resid, ctx)
        out.append(resid)
    return out


def residual_stream(
    adapter: ArchitectureAdapter, input_ids: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Residual stream entering every layer, and the logits, in one pass.

    Returns:
        (resids, logits): ``resids[l]`` is [batch, pos, d_model] entering layer l,
        ``resids[n_layers]`` is the final residual stream; logits [batch, pos, vocab].
    """
    resids = residuals(adapter, input_ids)
    return resids, adapter.logits(resids[-1])


def attention_input(
    adapter: ArchitectureAdapter, layer: int, resid: torch.Tensor, ctx: BlockContext
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run block ``layer`` on ``resid``; its attention module's (normalised) input and the block's output.

    Shapes: resid [batch, pos, d_model] -> two [batch, pos, d_model].
    """
    point = AttentionInput(layer)
    with trace(adapter, read=[point], detach=False) as cache:
        after = adapter.run_block(layer, resid, ctx)
    return cache[point.id], after
