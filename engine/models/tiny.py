"""Tiny random-initialised models, built from configs in code, for fast tests.

Why these: they cover the adapter families at a few MB each, so the whole
adapter and tool battery runs in seconds and never downloads anything:
GPT-2 (Conv1D, learned positions), GPT-NeoX (fused QKV, partial rotary,
parallel residual), Llama (grouped-query attention), Mistral (sliding window
on every layer), Qwen2 (q/k/v biases, sliding upper layers), Qwen3 (QK-norm),
Gemma 2 (a single KV head, soft-capped attention and final logits, query
pre-attention scalar, alternating sliding-window layers) and Gemma 3 (QK-norm,
per-layer-type rotary bases). Windows are shorter than the test prompts, so
sliding-window masks change the result. They share the bundled SmolLM2
tokenizer, so tasks tokenise exactly as on the real model.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    Gemma2Config,
    Gemma3TextConfig,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    MistralConfig,
    PretrainedConfig,
    Qwen2Config,
    Qwen3Config,
)

TINY_VOCAB = 49152  # the SmolLM2 tokenizer's vocabulary
TINY_WINDOW = 4  # sliding window of the tiny sliding-window families: shorter than any test prompt
_COMMON: dict[str, Any] = {"vocab_size": TINY_VOCAB, "bos_token_id": 1, "eos_token_id": 2}
_GQA: dict[str, Any] = {  # 3 layers, 4 query heads of 16 dims reading 2 KV heads
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 256, "tie_word_embeddings": True,
}
_ALTERNATING = ["sliding_attention", "full_attention", "sliding_attention"]

#: families whose norms and biases are also randomised (the original three keep their weights)
_RANDOM_VECTORS = ("tiny-mistral", "tiny-qwen2", "tiny-qwen3", "tiny-gemma2", "tiny-gemma3")


def tiny_config(name: str) -> PretrainedConfig:
    if name == "tiny-gpt2":
        return GPT2Config(
            vocab_size=TINY_VOCAB, n_positions=256, n_embd=64, n_layer=3, n_head=4,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
            bos_token_id=1, eos_token_id=2,
        )
    if name == "tiny-llama":
        return LlamaConfig(
            vocab_size=TINY_VOCAB, hidden_size=96, intermediate_size=128, num_hidden_layers=3,
            num_attention_heads=6, num_key_value_heads=2, head_dim=16,
            max_position_embeddings=256, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
        )
    if name == "tiny-neox":
        return GPTNeoXConfig(
            vocab_size=TINY_VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
            num_attention_heads=4, max_position_embeddings=256, rotary_pct=0.5,  # type: ignore[call-arg]  # v5 maps it to partial_rotary_factor
            use_parallel_residual=True, tie_word_embeddings=False, attention_bias=True,
            bos_token_id=1, eos_token_id=2,
        )
    if name == "tiny-mistral":
        return MistralConfig(**_COMMON, **_GQA, sliding_window=TINY_WINDOW)
    if name == "tiny-qwen2":
        return Qwen2Config(**_COMMON, **_GQA, use_sliding_window=True, sliding_window=TINY_WINDOW, max_window_layers=1)
    if name == "tiny-qwen3":
        return Qwen3Config(**_COMMON, **_GQA, use_sliding_window=True, sliding_window=TINY_WINDOW, max_window_layers=1)
    if name == "tiny-gemma2":
        return Gemma2Config(
            **_COMMON, **{**_GQA, "num_key_value_heads": 1}, pad_token_id=0, query_pre_attn_scalar=24,
            attn_logit_softcapping=4.0, final_logit_softcapping=8.0, sliding_window=TINY_WINDOW,
            layer_types=_ALTERNATING,
        )
    if name == "tiny-gemma3":
        return Gemma3TextConfig(
            **_COMMON, **_GQA, pad_token_id=0, query_pre_attn_scalar=24, sliding_window=TINY_WINDOW,
            layer_types=_ALTERNATING, rope_parameters={
                "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
                "full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0},
            },
        )
    raise KeyError(name)


def build_tiny(name: str, seed: int = 0) -> torch.nn.Module:
    """A deterministic random model: the same name and seed give the same weights."""
    config = tiny_config(name)
    # Gemma 2's soft-capping has no SDPA kernel in transformers; the rest use SDPA as real checkpoints do
    attn = "eager" if config.model_type == "gemma2" else "sdpa"
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, attn_implementation=attn)
        # HF's init is small; a larger spread makes attention patterns non-uniform
        # so head-level tests are not trivially symmetric.
        with torch.no_grad():
            for param in model.parameters():
                if param.dim() >= 2:
                    param.normal_(0.0, 0.2)
                elif name in _RANDOM_VECTORS:
                    # norms (incl. QK-norms) and biases off their init, so a swapped or skipped one shows
                    param.add_(torch.randn_like(param) * 0.2)
    return model
