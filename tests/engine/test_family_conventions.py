"""Each family convention is live in its tiny model: leaving it out breaks agreement with HF.

The adapter battery (test_adapters.py) shows that the adapters reproduce the
Hugging Face forward. These tests show the battery *could* fail: for each
convention (soft-capping, sliding windows, QK-norm, per-layer-type rotary,
final-logit soft-cap, query pre-attention scalar) the per-head recomputation
with that one step removed no longer matches the model's own head outputs, so
an adapter that forgot it would be caught.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine import runner
from engine.adapters import compute_head
from engine.hooks import AttentionInput, trace
from engine.models import load_model

PROMPT = "When Mary and John went to the store, John gave a drink to"


def _head_mismatch(target) -> float:
    """Largest |recomputed - hooked| over every head of every layer."""
    a = target.adapter
    ids = torch.tensor([target.tokenizer(PROMPT, add_special_tokens=False).input_ids])
    heads = [f"L{layer}.H{h}" for layer in range(a.n_layers) for h in range(a.n_heads)]
    with torch.no_grad(), trace(a, read=[*(AttentionInput(i) for i in range(a.n_layers)), *heads]) as cache:
        target.model(ids)
        ctx = a.block_context(a.embed(ids))
        worst = 0.0
        for layer in range(a.n_layers):
            x = cache[AttentionInput(layer).id]
            for h in range(a.n_heads):
                z, _ = compute_head(a, layer, a.head_params(layer, h), x, ctx)
                worst = max(worst, float((z - cache[f"L{layer}.H{h}"]).abs().max()))
    return worst


@pytest.fixture(scope="module")
def models():
    return {name: load_model(name) for name in ("tiny-mistral", "tiny-qwen2", "tiny-qwen3", "tiny-gemma2", "tiny-gemma3")}


@pytest.mark.parametrize("name", ["tiny-mistral", "tiny-qwen2", "tiny-qwen3", "tiny-gemma2", "tiny-gemma3"])
def test_the_unmodified_adapter_agrees(models, name):
    assert _head_mismatch(models[name]) < 1e-5


@pytest.mark.parametrize("name", ["tiny-mistral", "tiny-qwen2", "tiny-gemma2", "tiny-gemma3"])
def test_sliding_window_matters(models, name, monkeypatch):
    target = models[name]
    windows = [target.adapter.attention_window(layer) for layer in range(target.n_layers)]
    assert any(w is not None for w in windows)
    monkeypatch.setattr(target.adapter, "attention_window", lambda layer: None)
    assert _head_mismatch(target) > 1e-3


def test_gemma2_attention_softcap_matters(models, monkeypatch):
    target = models["tiny-gemma2"]
    assert target.adapter.attention_softcap(0) == 4.0
    monkeypatch.setattr(target.adapter, "attention_softcap", lambda layer: None)
    assert _head_mismatch(target) > 1e-3


def test_gemma3_ignores_the_configs_attention_softcap_like_hf(models, monkeypatch):
    """HF's Gemma 3 attention never soft-caps; applying the config's cap would be wrong."""
    target = models["tiny-gemma3"]
    monkeypatch.setattr(target.adapter, "attention_softcap", lambda layer: 1.0)
    assert _head_mismatch(target) > 1e-3


@pytest.mark.parametrize("name", ["tiny-qwen3", "tiny-gemma3"])
def test_qk_norm_matters(models, name, monkeypatch):
    target = models[name]
    original = target.adapter.head_params
    assert original(0, 0).q_norm is not None and original(0, 0).k_norm is not None
    monkeypatch.setattr(target.adapter, "head_params", lambda layer, head: replace(original(layer, head), q_norm=None))
    assert _head_mismatch(target) > 1e-3


def test_gemma3_local_and_global_layers_use_their_own_rotary(models, monkeypatch):
    target = models["tiny-gemma3"]
    a = target.adapter
    shared = a._body.rotary_emb  # every layer given the sliding layers' rotary base
    monkeypatch.setattr(a, "rotary_for", lambda resid, pos: [shared(resid, pos, "sliding_attention")] * a.n_layers)
    assert _head_mismatch(target) > 1e-3


def test_gemma_query_scale_is_the_pre_attention_scalar(models, monkeypatch):
    target = models["tiny-gemma2"]
    assert target.adapter.attention_scale(0) == pytest.approx(24 ** -0.5)
    monkeypatch.setattr(target.adapter, "attention_scale", lambda layer: target.adapter.d_head ** -0.5)
    assert _head_mismatch(target) > 1e-3


@torch.no_grad()
def test_gemma2_final_logits_are_soft_capped(models):
    target = models["tiny-gemma2"]
    a = target.adapter
    ids = torch.tensor([target.tokenizer(PROMPT, add_special_tokens=False).input_ids])
    logits = target.model(ids).logits
    assert float(logits.abs().max()) <= 8.0  # the cap
    resids = runner.residuals(a, ids)
    uncapped = a.unembed()(a.final_norm()(resids[-1]))
    assert float(uncapped.abs().max()) > 8.0
    assert torch.equal(a.logits(resids[-1]), logits)


def test_gemma2_has_a_single_kv_head_read_by_every_query_head(models):
    a = models["tiny-gemma2"].adapter
    assert a.n_kv_heads == 1 and {a.kv_group(h) for h in range(a.n_heads)} == {0}
    p0, p3 = a.head_params(1, 0), a.head_params(1, 3)
    assert torch.equal(p0.wk, p3.wk) and torch.equal(p0.wv, p3.wv) and not torch.equal(p0.wq, p3.wq)


def test_gemma_final_norm_scale_is_one_plus_weight(models):
    a = models["tiny-gemma2"].adapter
    norm = a.final_norm()
    x = torch.randn(2, 5, a.d_model)
    normalised = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps)
    torch.testing.assert_close(normalised * a.final_norm_scale(), norm(x))


def test_prompt_bos_follows_the_family(models):
    assert models["tiny-gemma2"].prepend_bos and models["tiny-mistral"].prepend_bos
    assert not models["tiny-qwen3"].prepend_bos
