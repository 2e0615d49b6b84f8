"""Head permutation: same function, heads really moved, GQA groups kept together."""

from __future__ import annotations

import pytest
import torch

from engine.components import all_heads
from engine.evaluation.permutation import permutation_consistency, permute_heads
from engine.hooks import trace

PROMPT = "When Mary and John went to the store, John gave a drink to"


def ids_for(target) -> torch.Tensor:
    return torch.tensor([target.tokenizer(PROMPT, add_special_tokens=False).input_ids] * 2)


def _head(cid: str) -> int:
    return int(cid.split(".H")[1])


@torch.no_grad()
def check_permutation(target, seed: int = 0) -> dict[str, str]:
    permuted, mapping = permute_heads(target, seed=seed)
    ids = ids_for(target)
    original_logits = target.model(ids).logits
    torch.testing.assert_close(permuted.model(ids).logits, original_logits, atol=1e-4, rtol=1e-4)
    moved = {k: v for k, v in mapping.items() if k != v}
    assert moved, "the permutation moved no head"
    heads = [c.id for c in all_heads(target.n_layers, target.n_heads)]
    assert sorted(mapping) == sorted(heads) and sorted(mapping.values()) == sorted(heads)
    assert all(k.split(".")[0] == v.split(".")[0] for k, v in mapping.items())  # within a layer
    # each head's output now lives at its image's slot
    with trace(target.adapter, read=list(moved)) as before:
        target.model(ids)
    with trace(permuted.adapter, read=list(moved.values())) as after:
        permuted.model(ids)
    for k, v in moved.items():
        torch.testing.assert_close(after[v], before[k], atol=1e-5, rtol=1e-5)
    # the original is untouched
    torch.testing.assert_close(target.model(ids).logits, original_logits, atol=0, rtol=0)
    return mapping


def test_permuted_tiny_model_is_the_same_function(tiny_model):
    mapping = check_permutation(tiny_model)
    a = tiny_model.adapter
    if a.n_kv_heads < a.n_heads:  # GQA: a group's query heads move together
        for layer in range(a.n_layers):
            images: dict[int, set[int]] = {}
            for h in range(a.n_heads):
                images.setdefault(a.kv_group(h), set()).add(a.kv_group(_head(mapping[f"L{layer}.H{h}"])))
            assert all(len(groups) == 1 for groups in images.values())


def test_permutation_is_seeded(load):
    target = load("tiny-gpt2")
    assert permute_heads(target, seed=3)[1] == permute_heads(target, seed=3)[1]
    assert permute_heads(target, seed=3)[1] != permute_heads(target, seed=4)[1]


@pytest.mark.slow
def test_permuted_smollm_is_the_same_function(smollm):
    check_permutation(smollm, seed=1)


def test_permutation_consistency():
    mapping = {"L9.H6": "L9.H2", "L9.H2": "L9.H6", "L3.H0": "L3.H0"}
    honest = permutation_consistency(["L9.H6", "L3.H0", "L4.MLP"], ["L9.H2", "L3.H0", "L4.MLP"], mapping)
    assert honest["mapped_matches"] == 1.0 and honest["literal_matches"] == 0.0 and honest["jaccard"] == 1.0
    memorised = permutation_consistency(["L9.H6", "L3.H0"], ["L9.H6", "L3.H0"], mapping)
    assert memorised["mapped_matches"] == 0.5 and memorised["literal_matches"] == 1.0
    assert memorised["n_moved"] == 1
    assert memorised["details"][0] == {
        "original": "L9.H6", "expected": "L9.H2", "found": False, "moved": True, "literal": True,
    }
    empty = permutation_consistency([], [], mapping)
    assert empty["mapped_matches"] is None and empty["jaccard"] is None
