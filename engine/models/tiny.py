"""Tiny random-initialised models, built from configs in code, for fast tests.

Why these three: they cover the adapter families (GPT-2 Conv1D with learned
positions, GPT-NeoX fused QKV with partial rotary and parallel residual, Llama
with grouped-query attention) at a few hundred kB, so the whole adapter and
tool battery runs in seconds and never downloads anything. They share the
bundled SmolLM2 tokenizer, so tasks tokenise exactly as on the real model.
"""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    PretrainedConfig,
)

TINY_VOCAB = 49152  # the SmolLM2 tokenizer's vocabulary


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
    raise KeyError(name)


def build_tiny(name: str, seed: int = 0) -> torch.nn.Module:
    """A deterministic random model: the same name and seed give the same weights."""
    config = tiny_config(name)
    config._attn_implementation = "sdpa"
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
        # HF's init is small; a larger spread makes attention patterns non-uniform
        # so head-level tests are not trivially symmetric.
        with torch.no_grad():
            for param in model.parameters():
                if param.dim() >= 2:
                    param.normal_(0.0, 0.2)
    return model
