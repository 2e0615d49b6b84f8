"""The stored truth of each planted model, re-derived here with code of its own.

Why: a planted model is only a known answer if its roles are right. The
stored truth (``engine.planted.truth``) is checked here against an
independent derivation that shares nothing with it or with the agent:
its own sequences (drawn with ``torch.Generator``, not the task
generators), attention weights straight from ``output_attentions``, its own
role rule, and ablation by *weight rewrite* (zeroing a head's columns of the
output projection in a copy of the model) instead of mean-ablation hooks.
"""

from __future__ import annotations

import copy

import pytest
import torch

from engine.planted import load_planted

pytestmark = pytest.mark.planted

WORDS = [f"t{i}" for i in range(50)]
N, SEED = 128, 20_261_201
ROLE_CUTOFF = 0.5
"""Mean attention on the head's signature pair that counts as having the job (uniform would be ~0.05)."""


def _word_ids(tokenizer) -> torch.Tensor:
    ids = tokenizer.convert_tokens_to_ids(WORDS)
    assert tokenizer.unk_token_id not in ids
    return torch.tensor(ids)


def _eager(model):
    model = copy.deepcopy(model).eval()
    model.config._attn_implementation = "eager"
    return model


def _zeroed(model, heads: list[str]):
    """A copy whose listed heads write nothing (their output-projection columns are zero)."""
    model = copy.deepcopy(model)
    d_head = model.config.head_dim
    with torch.no_grad():
        for head in heads:
            layer, index = (int(x) for x in head[1:].split(".H"))
            model.model.layers[layer].self_attn.o_proj.weight[:, index * d_head:(index + 1) * d_head] = 0.0
    return model


def induction_batch(tokenizer, gen: torch.Generator):
    """``<bos> x1..x10 x1..x10``: ids [N, 21], with the first-half position of each second-half token."""
    words = _word_ids(tokenizer)
    half = torch.stack([words[torch.randperm(len(words), generator=gen)[:10]] for _ in range(N)])
    bos = torch.full((N, 1), tokenizer.bos_token_id)
    return torch.cat([bos, half, half], dim=1)


def induction_signatures(model, tokenizer, gen) -> tuple[torch.Tensor, torch.Tensor]:
    """(previous-token, induction) attention, each [layer, head]."""
    ids = induction_batch(tokenizer, gen)
    with torch.no_grad():
        att = torch.stack(_eager(model)(ids, output_attentions=True).attentions)  # [layer, batch, head, q, k]
    queries = torch.arange(2, 21)
    previous = att[:, :, :, queries, queries - 1].mean(dim=(1, 3))
    second = torch.arange(12, 21)  # x2..x10 of the second copy; x_i's first occurrence is at q - 10
    induction = att[:, :, :, second, second - 10 + 1].mean(dim=(1, 3))
    return previous, induction


def recall_batch(tokenizer, gen: torch.Generator):
    """``<bos> k1 v1 .. k6 v6 kq``: ids [N, 14], the answer ids [N] and the stored value's position [N]."""
    words = _word_ids(tokenizer)
    pairs = torch.stack([words[torch.randperm(len(words), generator=gen)[:12]] for _ in range(N)])
    q = torch.randint(0, 6, (N,), generator=gen)
    rows = torch.arange(N)
    query, answer = pairs[rows, 2 * q], pairs[rows, 2 * q + 1]
    ids = torch.cat([torch.full((N, 1), tokenizer.bos_token_id), pairs, query[:, None]], dim=1)
    return ids, answer, 2 * q + 2


def recall_signatures(model, tokenizer, gen) -> tuple[torch.Tensor, torch.Tensor]:
    """(previous-token at the stored values, query key -> its stored value), each [layer, head]."""
    ids, _, value_pos = recall_batch(tokenizer, gen)
    with torch.no_grad():
        att = torch.stack(_eager(model)(ids, output_attentions=True).attentions)
    values = torch.arange(2, 13, 2)
    previous = att[:, :, :, values, values - 1].mean(dim=(1, 3))
    retrieval = att[:, torch.arange(N), :, -1, value_pos].mean(dim=0)  # advanced indices first: [batch, layer, head]
    return previous, retrieval


def _roles(previous: torch.Tensor, lookup: torch.Tensor, lookup_name: str) -> dict[str, set[str]]:
    roles: dict[str, set[str]] = {"previous-token": set(), lookup_name: set()}
    for layer in range(previous.shape[0]):
        for head in range(previous.shape[1]):
            p, k = float(previous[layer, head]), float(lookup[layer, head])
            if max(p, k) >= ROLE_CUTOFF:
                roles["previous-token" if p >= k else lookup_name].add(f"L{layer}.H{head}")
    return roles


def _accuracy(model, ids: torch.Tensor, answer: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(ids).logits[:, -1].argmax(-1) == answer).float().mean())


CASES = {"planted-induction": "induction", "planted-recall": "retrieval"}


@pytest.fixture(scope="module", params=list(CASES))
def planted(request):
    return load_planted(request.param)


def test_attention_signatures_give_the_stored_roles(planted):
    gen = torch.Generator().manual_seed(SEED)
    signatures = induction_signatures if planted.name == "planted-induction" else recall_signatures
    previous, lookup = signatures(planted.model, planted.tokenizer, gen)
    derived = _roles(previous, lookup, CASES[planted.name])
    assert planted.truth.verified, planted.truth.checks
    assert {role: set(members) for role, members in planted.truth.roles.items()} == derived
    assert not set(planted.truth.decoys) & set(planted.truth.circuit)
    assert all(len(members) >= 2 for members in derived.values())


def _task_batch(planted, gen):
    if planted.name == "planted-induction":
        ids = induction_batch(planted.tokenizer, gen)[:, :16]  # ends at x5 of the second copy -> x6
        return ids, ids[:, 6]
    ids, answer, _ = recall_batch(planted.tokenizer, gen)
    return ids, answer


def test_weight_rewrite_ablation_agrees_with_the_stored_circuit(planted):
    """The circuit alone does the task; knocking out any true role breaks it."""
    gen = torch.Generator().manual_seed(SEED + 1)
    ids, answer = _task_batch(planted, gen)
    heads = [f"L{layer}.H{head}" for layer in range(planted.model.config.num_hidden_layers)
             for head in range(planted.model.config.num_attention_heads)]
    outside = [h for h in heads if h not in planted.truth.circuit]
    assert _accuracy(planted.model, ids, answer) >= 0.9
    assert _accuracy(_zeroed(planted.model, outside), ids, answer) >= 0.9
    for members in planted.truth.roles.values():
        assert _accuracy(_zeroed(planted.model, members), ids, answer) <= 0.3
