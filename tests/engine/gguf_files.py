"""Write a GGUF file of a (tiny) Llama model with the ``gguf`` package, as llama.cpp's converter does.

Why in the tests: the loader must read a user's ``.gguf`` file, and the test
must not download one. So the test writes its own: the weights of a tiny
random Llama under llama.cpp's tensor names (``blk.N.attn_q.weight`` ...),
q/k rows permuted into llama.cpp's rotary layout, the matrices quantised to
Q8_0 (so the loader really de-quantises), norms kept as F32, and a GPT-2-style
byte-level BPE tokenizer of 256 byte tokens, one merge (``" M"``) and
``<|endoftext|>``. The
vocabulary is that small on purpose: transformers parses every GGUF metadata
array in Python, so a 49k-token vocabulary costs ~10 s per read.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import torch
from transformers import AutoModelForCausalLM

from engine.models.tiny import tiny_config

SPACE_M = 256  # the one merge: " M" -> "ĠM"
END_OF_TEXT = 257
BYTE_VOCAB = 258  # 256 byte tokens, "ĠM", <|endoftext|>


def byte_tokens() -> list[str]:
    """GPT-2's byte-to-unicode alphabet in byte order: token i is byte i."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def byte_vocab_llama(seed: int = 0) -> torch.nn.Module:
    """``tiny-llama``'s shape with the 258-token byte vocabulary, random weights."""
    config = tiny_config("tiny-llama")
    config.vocab_size, config.bos_token_id, config.eos_token_id = BYTE_VOCAB, END_OF_TEXT, END_OF_TEXT
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
        with torch.no_grad():
            for param in model.parameters():
                param.add_(torch.randn_like(param) * 0.2)
    return model.eval()


def llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order (interleaved rotary halves); transformers' loader undoes it."""
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(
        weights.shape
    )


def write_llama_gguf(model: torch.nn.Module, path: Path, quantise: bool = True) -> Path:
    """Write ``model`` (``byte_vocab_llama``: tied embeddings, 258 tokens) to ``path`` as GGUF.

    Matrices whose rows are a multiple of 32 wide are stored as Q8_0 when ``quantise``; the rest as F32.
    """
    config = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny llama written by the autointerp tests")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_key_length(config.head_dim)
    writer.add_value_length(config.head_dim)
    writer.add_rope_dimension_count(config.head_dim)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if quantise else gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    tokens = byte_tokens()
    space = tokens[ord(" ")]
    writer.add_token_list([*tokens, space + "M", "<|endoftext|>"])
    writer.add_token_types([gguf.TokenType.NORMAL] * 257 + [gguf.TokenType.CONTROL])
    writer.add_token_merges([f"{space} M"])
    writer.add_bos_token_id(END_OF_TEXT)
    writer.add_eos_token_id(END_OF_TEXT)
    writer.add_add_bos_token(False)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight":
            continue  # tied to the embeddings: GGUF files leave output.weight out
        base, suffix = hf_name.rsplit(".", 1)
        name = names.get_name(base)
        assert name is not None, hf_name
        data = tensor.detach().float().numpy()
        if name.endswith("attn_q"):
            data = llama_cpp_permute(data, config.num_attention_heads)
        elif name.endswith("attn_k"):
            data = llama_cpp_permute(data, config.num_key_value_heads)
        if quantise and data.ndim == 2 and data.shape[1] % 32 == 0:
            q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(f"{name}.{suffix}", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(f"{name}.{suffix}", np.ascontiguousarray(data, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
