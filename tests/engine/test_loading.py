"""Loading real checkpoints: a local directory, a local GGUF file, a hub id from the cache.

Every file is written by the test itself (``save_pretrained``, the ``gguf``
package), and each loaded model is compared with the model it was written
from: weights, tokenizer output and logits.
"""

from __future__ import annotations

import json

import gguf
import huggingface_hub.constants
import numpy as np
import pytest
import torch

from engine import runner
from engine.errors import UnknownModelError
from engine.models import bundled, load_model
from engine.models.tiny import build_tiny
from tests.engine.gguf_files import SPACE_M, byte_vocab_llama, write_llama_gguf

PROMPT = "When Mary and John went to the store, John gave a drink to"


@pytest.fixture
def private_cache(tmp_path, monkeypatch, load):
    """A fresh autointerp cache dir (the tiny models' tokenizer is loaded from the real one first)."""
    load("tiny-llama")
    monkeypatch.setenv("AUTOINTERP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _save(name: str, directory, load) -> torch.nn.Module:
    source = load(name)
    source.model.save_pretrained(directory)
    source.tokenizer.save_pretrained(directory)
    return source


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gemma3", "tiny-qwen3"])
@torch.no_grad()
def test_local_directory_loads_with_its_family_adapter(name, tmp_path, load):
    source = _save(name, tmp_path / name, load)
    loaded = load_model(str(tmp_path / name))
    assert loaded.adapter.family == source.adapter.family
    assert loaded.prepend_bos == source.prepend_bos
    ids = torch.tensor([loaded.tokenizer(PROMPT, add_special_tokens=False).input_ids])
    assert ids.tolist() == [source.tokenizer(PROMPT, add_special_tokens=False).input_ids]
    torch.testing.assert_close(runner.forward(loaded.adapter, ids), source.model(ids).logits, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_local_gguf_file_loads_exactly_and_is_dequantised_once(tmp_path, private_cache, monkeypatch):
    source = byte_vocab_llama()
    path = write_llama_gguf(source, tmp_path / "tiny.gguf", quantise=False)
    loaded = load_model(str(path))
    assert loaded.adapter.family == "llama" and loaded.n_heads == 6 and loaded.adapter.n_kv_heads == 2
    # the tokenizer came from the file: byte tokens, and its one merge " M"
    ids = loaded.tokenizer("When Mary", add_special_tokens=False).input_ids
    assert ids == [*b"When", SPACE_M, *b"ary"]
    expected = source.state_dict()
    got = loaded.model.state_dict()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    batch = torch.tensor([list(b"When Mary and John went")])
    assert torch.equal(runner.forward(loaded.adapter, batch), source(batch).logits)
    cached = list((private_cache / "models").iterdir())
    assert len(cached) == 1 and (cached[0] / "model.safetensors").is_file()

    def refuse(*_a, **_k):
        raise AssertionError("the GGUF file was de-quantised again")

    monkeypatch.setattr(bundled, "dequantise", refuse)
    again = load_model(str(path))
    assert torch.equal(again.adapter.head_params(2, 5).wq, loaded.adapter.head_params(2, 5).wq)


@torch.no_grad()
def test_quantised_gguf_weights_are_the_dequantised_blocks(tmp_path, private_cache):
    source = byte_vocab_llama(seed=1)
    path = write_llama_gguf(source, tmp_path / "tiny-q8.gguf", quantise=True)
    loaded = load_model(str(path))
    w = source.model.layers[1].mlp.down_proj.weight.numpy()
    blocks = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q8_0)
    expected = gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType.Q8_0)
    got = loaded.model.model.layers[1].mlp.down_proj.weight.numpy()
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(got, w)  # really quantised
    norm = loaded.model.model.layers[1].input_layernorm.weight
    assert torch.equal(norm, source.model.layers[1].input_layernorm.weight)  # F32 tensors stay exact


def _hub_layout(root, repo: str, source_dir) -> None:
    """The transformers cache layout of one downloaded repo: models--org--name/{refs,snapshots}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    base = root / ("models--" + repo.replace("/", "--"))
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    snapshot = base / "snapshots" / commit
    snapshot.parent.mkdir(parents=True)
    source_dir.rename(snapshot)


@torch.no_grad()
def test_hub_id_resolves_from_the_transformers_cache_offline(tmp_path, load, monkeypatch):
    hub = tmp_path / "hub"
    source = _save("tiny-gemma2", tmp_path / "download", load)
    _hub_layout(hub, "some-org/tiny-gemma2", tmp_path / "download")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = load_model("some-org/tiny-gemma2")
    assert loaded.adapter.family == "gemma2"
    ids = torch.tensor([[1, 1569, 5099, 284, 2322]])
    assert torch.equal(runner.forward(loaded.adapter, ids), source.model(ids).logits)
    with pytest.raises(UnknownModelError) as err:
        load_model("some-org/not-downloaded")
    message = str(err.value)
    assert "'some-org/not-downloaded'" in message and str(hub) in message
    assert message.count(".") >= 1 and "\n" not in message


def test_unsupported_family_is_named_before_any_weights_load(tmp_path):
    (tmp_path / "opt").mkdir()
    (tmp_path / "opt" / "config.json").write_text(json.dumps({"model_type": "opt", "architectures": ["OPTForCausalLM"]}))
    with pytest.raises(UnknownModelError, match=r"is a 'opt' model, which has no architecture adapter; "
                       r"supported model types: .*gemma2.*gemma3_text.*qwen3"):
        load_model(str(tmp_path / "opt"))


def test_missing_paths_and_empty_directories_are_one_sentence(tmp_path):
    with pytest.raises(UnknownModelError, match=r"^Model path '\./nope/model' does not exist\.$"):
        load_model("./nope/model")
    with pytest.raises(UnknownModelError, match=r"^GGUF file '.*missing\.gguf' does not exist\.$"):
        load_model(str(tmp_path / "missing.gguf"))
    with pytest.raises(UnknownModelError, match="holds no Hugging Face model config"):
        load_model(str(tmp_path))


def test_a_file_that_is_not_gguf_is_one_sentence(tmp_path):
    bad = tmp_path / "weights.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(UnknownModelError, match="is not a GGUF model transformers can read"):
        load_model(str(bad))


def test_tiny_builders_are_deterministic_for_the_new_families():
    a, b = build_tiny("tiny-gemma3", seed=3), build_tiny("tiny-gemma3", seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
