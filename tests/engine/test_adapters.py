"""The adapter battery: every family resolves every component id to the right place.

Each test compares against an independent computation (the HF forward, the
weights themselves), so a wrong slice, a missing rotary or a wrong KV group
fails here on all four models, the real one included.
"""

from __future__ import annotations

import pytest
import torch

from engine import runner
from engine.adapters import compute_head
from engine.components import all_heads
from engine.hooks import AttentionInput, count_hooks, trace

PROMPT = "When Mary and John went to the store, John gave a drink to"


def ids_for(target, batch: int = 2) -> torch.Tensor:
    row = target.tokenizer(PROMPT, add_special_tokens=False).input_ids
    return torch.tensor([row] * batch, device=target.device)


def every_id(target) -> list[str]:
    n = target.n_layers
    ids = [c.id for c in all_heads(n, target.n_heads)]
    ids += [f"L{layer}.{k}" for layer in range(n) for k in ("ATTN", "MLP", "RESID")]
    return ids + [f"L{n}.RESID"]


@torch.no_grad()
def test_runner_matches_hf_forward_bit_for_bit(any_model):
    ids = ids_for(any_model)
    assert torch.equal(runner.forward(any_model.adapter, ids), any_model.model(ids).logits)


@torch.no_grad()
def test_resume_from_cached_residual_matches(any_model):
    ids = ids_for(any_model)
    resids, logits = runner.residual_stream(any_model.adapter, ids)
    assert len(resids) == any_model.n_layers + 1
    for start in (1, any_model.n_layers - 1):
        assert torch.equal(runner.logits_from(any_model.adapter, resids[start], start), logits)


@torch.no_grad()
def test_read_and_write_back_unchanged_is_bit_identical(any_model):
    ids = ids_for(any_model)
    reference = any_model.model(ids).logits
    comps = every_id(any_model)
    with trace(any_model.adapter, read=comps, edit={c: (lambda x: x.clone()) for c in comps}) as cache:
        logits = any_model.model(ids).logits
    assert torch.equal(logits, reference)
    a = any_model.adapter
    assert cache["L0.H0"].shape == (2, ids.shape[1], a.d_head)
    assert cache["L0.MLP"].shape == (2, ids.shape[1], a.d_model)
    assert count_hooks(any_model.model) == 0


@torch.no_grad()
def test_component_values_match_independent_computation(any_model):
    """RESID is the block input; ATTN is the sum of per-head contributions; final RESID feeds the norm."""
    a, ids = any_model.adapter, ids_for(any_model)
    layer = a.n_layers - 1
    heads = [f"L{layer}.H{h}" for h in range(a.n_heads)]
    with trace(a, read=[f"L{layer}.RESID", f"L{layer}.ATTN", f"L{a.n_layers}.RESID", *heads]) as cache:
        resids, logits = runner.residual_stream(a, ids)
    assert torch.equal(cache[f"L{layer}.RESID"], resids[layer])
    assert torch.equal(cache[f"L{a.n_layers}.RESID"], resids[-1])
    bias = getattr(a.out_proj(layer), "bias", None)
    summed = sum(cache[h] @ a.head_params(layer, i).wo.T for i, h in enumerate(heads))
    if bias is not None:
        summed = summed + bias
    torch.testing.assert_close(summed, cache[f"L{layer}.ATTN"], atol=2e-5, rtol=1e-4)


@torch.no_grad()
def test_head_recomputed_from_weights_equals_hooked_head(any_model):
    """head_params (incl. GQA group, rotary, QK-norm, soft-cap, sliding window) reproduce every head's output.

    Every layer is checked, so alternating sliding-window / full layers and
    per-layer-type rotary bases are all exercised.
    """
    a, ids = any_model.adapter, ids_for(any_model)
    inputs = [AttentionInput(layer) for layer in range(a.n_layers)]
    heads = [f"L{layer}.H{h}" for layer in range(a.n_layers) for h in range(a.n_heads)]
    with trace(a, read=[*inputs, *heads]) as cache:
        any_model.model(ids)
    ctx = a.block_context(a.embed(ids))
    for layer in range(a.n_layers):
        x = cache[AttentionInput(layer).id]
        for head in range(a.n_heads):
            z, pattern = compute_head(a, layer, a.head_params(layer, head), x, ctx)
            torch.testing.assert_close(z, cache[f"L{layer}.H{head}"], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(pattern.sum(-1), torch.ones_like(pattern.sum(-1)))
            assert torch.all(pattern.triu(1) == 0)


def test_attention_input_point_is_the_attention_modules_input(any_model):
    """The AttentionInput hook point (used above) reads what a plain forward pre-hook sees."""
    a, ids = any_model.adapter, ids_for(any_model)
    layer = a.n_layers - 1
    captured = {}
    handle = a.attention(layer).register_forward_pre_hook(
        lambda _m, args, kwargs: captured.__setitem__("x", args[0] if args else kwargs["hidden_states"]),
        with_kwargs=True,
    )
    try:
        with torch.no_grad(), trace(a, read=[AttentionInput(layer)]) as cache:
            any_model.model(ids)
    finally:
        handle.remove()
    assert torch.equal(cache[AttentionInput(layer).id], captured["x"])


@torch.no_grad()
def test_zero_ablating_head_equals_zeroing_its_output_weights(any_model):
    a, ids = any_model.adapter, ids_for(any_model)
    layer, head = a.n_layers - 1, a.n_heads - 1
    with trace(a, edit={f"L{layer}.H{head}": torch.zeros_like}):
        hooked = any_model.model(ids).logits
    wo = a.head_params(layer, head).wo  # a view into the real weight
    saved = wo.clone()
    try:
        wo.zero_()
        zeroed = any_model.model(ids).logits
    finally:
        wo.copy_(saved)
    torch.testing.assert_close(hooked, zeroed, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(hooked, any_model.model(ids).logits)


def test_hooks_are_removed_after_an_exception(any_model):
    ids = ids_for(any_model)
    hooked = trace(any_model.adapter, read=every_id(any_model)[:5], edit={"L0.H0": torch.zeros_like})
    with pytest.raises(RuntimeError, match="boom"), hooked:
        any_model.model(ids)
        raise RuntimeError("boom")
    assert count_hooks(any_model.model) == 0


def test_gqa_heads_share_kv_weights(load):
    a = load("smollm2-135m").adapter
    assert (a.n_heads, a.n_kv_heads, a.d_head, a.n_layers) == (9, 3, 64, 30)
    assert [a.kv_group(h) for h in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    p0, p2, p3 = (a.head_params(0, h) for h in (0, 2, 3))
    assert torch.equal(p0.wk, p2.wk) and not torch.equal(p0.wk, p3.wk)
    assert not torch.equal(p0.wq, p2.wq)


def test_neox_uses_partial_rotary(load):
    target = load("tiny-neox")
    attn = target.adapter.attention(0)
    assert attn.rotary_ndims < target.adapter.d_head
