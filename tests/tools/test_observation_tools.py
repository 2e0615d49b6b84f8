"""read_activations, logit_lens and attention_pattern against direct computations."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.components import all_heads, all_mlps
from engine.hooks import trace
from engine.tasks import logit_diff
from tools.base import ToolContext, run_tool
from tools.registry import get_tool

TINY = ("tiny-gpt2", "tiny-llama", "tiny-neox")


def test_read_activations_stats_and_raw_artifacts(make_ctx):
    ctx = make_ctx("tiny-llama")
    out = run_tool(get_tool("read_activations"), ctx, {"components": ["L1.H2", "L2.MLP"], "positions": ["END", "IO"], "output": "raw"})
    assert out.ok, out.error
    target = ctx.target
    acts = []
    for bucket in ctx.data.buckets:
        with torch.no_grad(), trace(target.adapter, read=["L1.H2"]) as cache:
            target.model(bucket.clean)
        rows = torch.arange(bucket.n)
        acts.append(torch.stack([cache["L1.H2"][rows, bucket.roles["END"]], cache["L1.H2"][rows, bucket.roles["IO"]]], 1))
    x = torch.cat(acts)  # [n_pairs, 2, d_head]
    stats = out.result.components["L1.H2"]
    assert stats.dim == target.adapter.d_head
    assert stats.mean_norm == pytest.approx(float(x.norm(dim=-1).mean()), rel=1e-4)
    assert stats.per_position_norm["IO"] == pytest.approx(float(x[:, 1].norm(dim=-1).mean()), rel=1e-4)
    (art,) = stats.artifacts
    payload = Path(art.path).read_bytes()
    assert hashlib.sha256(payload).hexdigest() == art.sha256 and Path(art.path).name == art.sha256 + ".npy"
    assert np.allclose(np.load(art.path), x.numpy())
    assert art.shape == [ctx.data.n_pairs, 2, target.adapter.d_head]
    all_pos = run_tool(get_tool("read_activations"), ctx, {"components": "L1.RESID", "positions": "all"})
    assert all_pos.ok and len(all_pos.result.components["L1.RESID"].per_position_norm) == max(b.seq_len for b in ctx.data.buckets)
    no_dir = run_tool(get_tool("read_activations"), type(ctx)(ctx.target, ctx.data), {"components": ["L0.H0"], "output": "raw"})
    assert "artifact directory" in no_dir.error


@pytest.mark.parametrize("name", ["tiny-gemma3", "tiny-qwen3"])
def test_direct_effect_of_the_final_stream_is_the_logit_diff_on_the_new_families(perturbed, data, name):
    """The frozen final norm carries the family's gain (Gemma: 1 + weight), so the final stream's direct
    effect is the model's own logit difference. (Per-block sums on Gemma also need its post-norms: not yet.)"""
    ctx = ToolContext(perturbed(name), data(name, "ioi", 7))
    final = f"L{ctx.target.n_layers}.RESID"
    out = run_tool(get_tool("logit_lens"), ctx, {"components": [final], "top_k": 3})
    assert out.ok, out.error
    d = out.result.direct_effects
    assert d[final] + out.result.norm_bias_effect == pytest.approx(out.result.actual_logit_diff, abs=1e-4)


@pytest.mark.parametrize("name", TINY)
def test_direct_effects_add_up_to_the_logit_diff(perturbed, data, name):
    """Frozen-norm DLA is linear: embeddings + every block output = the final stream; + norm bias = the logit diff."""
    # 7 pairs: IOI's counterbalanced couples would cancel the norm bias's effect exactly at an even count
    ctx = ToolContext(perturbed(name), data(name, "ioi", 7))
    target = ctx.target
    n_layers = target.n_layers
    heads = [c.id for c in all_heads(n_layers, target.n_heads)]
    attn = [f"L{layer}.ATTN" for layer in range(n_layers)]
    mlps = [c.id for c in all_mlps(n_layers)]
    final = f"L{n_layers}.RESID"
    out = run_tool(get_tool("logit_lens"), ctx, {"components": heads + attn + mlps + ["L0.RESID", final], "top_k": 3})
    assert out.ok, out.error
    d = out.result.direct_effects
    actual = out.result.actual_logit_diff
    assert d[final] + out.result.norm_bias_effect == pytest.approx(actual, abs=1e-4)
    assert (out.result.norm_bias_effect != 0.0) == (name != "tiny-llama")  # LayerNorm biases are random here
    assert out.result.components[final].lens_logit_diff == pytest.approx(actual, abs=1e-4)
    assert sum(d[c] for c in attn + mlps) + d["L0.RESID"] == pytest.approx(d[final], abs=1e-3)
    if name == "tiny-llama":  # no output-projection bias: heads add up to their ATTN block
        for layer in range(n_layers):
            block = sum(d[f"L{layer}.H{h}"] for h in range(target.n_heads))
            assert block == pytest.approx(d[f"L{layer}.ATTN"], abs=1e-4)
    clean = 0.0
    for bucket in ctx.data.buckets:
        with torch.no_grad():
            clean += float(logit_diff(target.model(bucket.clean).logits, bucket.answer, bucket.distractor).sum())
    assert actual == pytest.approx(clean / ctx.data.n_pairs, abs=1e-4)
    tokens = [entry for entry in out.result.components.values() if entry.promoted is not None]
    assert 1 <= len(tokens) <= 6 and all(len(e.promoted) == 3 and isinstance(e.promoted[0][0], str) for e in tokens)


def _eager_patterns(name: str, ids: torch.Tensor):
    """Attention probabilities from the Hugging Face eager implementation (a fresh copy of the model)."""
    from engine.models import load_model

    target = load_model(name)
    target.model.config._attn_implementation = "eager"
    for module in target.model.modules():
        if hasattr(module, "config") and module is not target.model:
            module.config._attn_implementation = "eager"
    with torch.no_grad():
        return target.model(ids, output_attentions=True).attentions


@pytest.mark.parametrize("name", TINY)
def test_attention_pattern_matches_eager_attention(make_ctx, name):
    ctx = make_ctx(name)
    heads = ["L1.H0", "L2.H3"]
    out = run_tool(get_tool("attention_pattern"), ctx, {"heads": heads, "query": "END", "example_pair": 0})
    assert out.ok, out.error
    expected: dict[str, dict[str, list[torch.Tensor]]] = {h: {} for h in heads}
    for bucket in ctx.data.buckets:
        attentions = _eager_patterns(name, bucket.clean)
        rows = torch.arange(bucket.n)
        for h in heads:
            layer, head = (int(x) for x in h[1:].split(".H"))
            row = attentions[layer][rows, head, bucket.roles["END"]]  # [n, key]
            for role, pos in bucket.roles.items():
                expected[h].setdefault(role, []).append(row[rows, pos])
    for h in heads:
        got = out.result.heads[h].to_role
        for role, values in expected[h].items():
            assert got[role] == pytest.approx(float(torch.cat(values).mean()), abs=1e-5), (h, role)
    example = out.result.heads["L1.H0"].example
    assert len(example.tokens) == len(example.attention)
    assert sum(example.attention) == pytest.approx(1.0, abs=1e-2)


def test_attention_from_an_earlier_query_ignores_later_keys(make_ctx):
    ctx = make_ctx("tiny-llama")
    out = run_tool(get_tool("attention_pattern"), ctx, {"heads": "L2.H1", "query": "IO"})
    assert out.ok
    roles = out.result.heads["L2.H1"].to_role
    assert roles["S2"] == 0.0 and roles["END"] == 0.0 and roles["IO"] > 0.0
