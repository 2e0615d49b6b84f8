"""Weight swap: identity cases are exact no-ops, the fast path equals the naive one, and both
equal an independent reference that runs the HF attention with rewritten weights."""

from __future__ import annotations

import pytest
import torch

from engine.errors import ComponentError
from engine.evaluation.batching import batch_plan
from engine.evaluation.divergence import JS_DISTANCE_MAX, js_distance, last_token_logprobs
from engine.evaluation.swap import ABLATED, plan_swap, swap_effects, swap_hooks
from engine.hooks import count_hooks
from engine.models import load_model
from engine.tasks import load_task
from tests.evaluation.swap_reference import (
    reference_ablation_effect,
    reference_swap_effects,
    reference_swapped_logits,
    split_head,
)

FIELDS = ("wq", "wk", "wv", "wo", "bq", "bk", "bv")
_split = split_head
# (target, source): same layer, cross-layer both ways, and (tiny-llama) across KV groups
PAIRS = [("L1.H1", "L1.H0"), ("L0.H1", "L2.H3"), ("L2.H0", "L0.H3"), ("L1.H3", "L1.H3")]


def _split(cid: str) -> tuple[int, int]:
    layer, head = cid[1:].split(".H")
    return int(layer), int(head)


@pytest.fixture
def data(tiny_model):
    return load_task("ioi", tiny_model, n=6)


def test_js_distance_bounds_and_exact_zero():
    logp = torch.log_softmax(torch.randn(3, 50), dim=-1)
    assert torch.equal(js_distance(logp, logp), torch.zeros(3, dtype=torch.float64))
    disjoint_p = torch.log(torch.tensor([[1.0, 0.0]]))
    disjoint_q = torch.log(torch.tensor([[0.0, 1.0]]))
    assert js_distance(disjoint_p, disjoint_q).item() == pytest.approx(JS_DISTANCE_MAX, abs=1e-12)


def test_self_swap_is_zero(tiny_model, data):
    heads = ["L0.H0", "L1.H2", "L2.H3"]
    outcomes = swap_effects(tiny_model, data, [(h, h) for h in heads], swaps_per_batch=2)
    for o in outcomes:
        assert o.js_distance < 1e-6
        assert o.logit_diff_change == pytest.approx(0.0, abs=1e-5)
    assert count_hooks(tiny_model.model) == 0


@pytest.mark.parametrize("name, target_head, source_head", [
    ("tiny-llama", "L1.H1", "L1.H2"),  # same KV group (heads 0-2 share group 0)
    ("tiny-gpt2", "L2.H0", "L2.H3"),
])
def test_swapping_identical_heads_is_zero(name, target_head, source_head):
    target = load_model(name)  # a private copy: this test rewrites weights
    adapter = target.adapter
    (lt, ht), (ls, hs) = _split(target_head), _split(source_head)
    if adapter.n_kv_heads < adapter.n_heads:  # under GQA, identical heads must share K/V
        assert adapter.kv_group(ht) == adapter.kv_group(hs)
    data = load_task("ioi", target, n=8)
    before = swap_effects(target, data, [(target_head, source_head)])[0].js_distance
    dst, src = adapter.head_params(lt, ht), adapter.head_params(ls, hs)
    with torch.no_grad():
        for field in FIELDS:
            if getattr(dst, field) is not None:
                getattr(dst, field).copy_(getattr(src, field))
    after = swap_effects(target, data, [(target_head, source_head), (source_head, target_head)])
    assert before > 1e-3  # the heads differed before the copy: the test can fail
    assert all(o.js_distance < 1e-6 for o in after)


def test_fast_swap_equals_the_weight_rewrite_reference(tiny_model, data):
    fast = swap_effects(tiny_model, data, PAIRS, swaps_per_batch=3)
    reference = reference_swap_effects(tiny_model, data, PAIRS)
    for f, (js, ld) in zip(fast, reference, strict=True):
        assert f.js_distance == pytest.approx(js, abs=1e-5)
        assert f.logit_diff_swapped == pytest.approx(ld, abs=1e-4)
        assert f.n_prompts == data.n_pairs
    assert fast[0].js_distance > 1e-3 and fast[-1].js_distance < 1e-6


def test_mean_ablation_at_a_head_equals_a_plain_hook(tiny_model, data):
    heads = ["L0.H1", "L2.H0"]
    fast = swap_effects(tiny_model, data, [(h, None) for h in heads])
    for outcome, head in zip(fast, heads, strict=True):
        assert outcome.source == ABLATED
        js, ld = reference_ablation_effect(tiny_model, data, head)
        assert outcome.js_distance == pytest.approx(js, abs=1e-5) and js > 1e-4
        assert outcome.logit_diff_swapped == pytest.approx(ld, abs=1e-4)


def test_batching_does_not_change_results(load):
    llama = load("tiny-llama")
    data = load_task("ioi", llama, n=6)
    one = swap_effects(llama, data, PAIRS, swaps_per_batch=1)
    many = swap_effects(llama, data, PAIRS, swaps_per_batch=len(PAIRS))
    for a, b in zip(one, many, strict=True):
        assert a.js_distance == pytest.approx(b.js_distance, abs=1e-6)


@torch.no_grad()
def test_swap_matches_weight_rewrite_reference(tiny_model, data):
    bucket = data.buckets[0]
    adapter = tiny_model.adapter
    pairs = PAIRS[:3]
    if 1 < adapter.n_kv_heads < adapter.n_heads:  # GQA: cross-layer and cross-group swaps
        last = adapter.n_heads - 1
        pairs = [("L0.H1", f"L2.H{last}"), (f"L2.H{last}", "L0.H0"), (f"L1.H{last - 1}", "L1.H0")]
        assert all(adapter.kv_group(_split(t)[1]) != adapter.kv_group(_split(s)[1]) for t, s in pairs)
    ctx = adapter.block_context(adapter.embed(bucket.clean))
    base = tiny_model.model(bucket.clean).logits
    for t, s in pairs:
        with swap_hooks(adapter, [plan_swap(adapter, t, s)], bucket.n, ctx):
            swapped = tiny_model.model(bucket.clean).logits
        reference = reference_swapped_logits(tiny_model, bucket.clean, t, s)
        assert (swapped - base).abs().max() > 1e-3  # the swap does something
        torch.testing.assert_close(swapped, reference, atol=1e-4, rtol=1e-4)
        d = js_distance(last_token_logprobs(swapped), last_token_logprobs(reference))
        assert float(d.max()) < 1e-4


def test_swap_rejects_non_heads(tiny_model, data):
    with pytest.raises(ComponentError, match="not an attention head"):
        swap_effects(tiny_model, data, [("L0.MLP", "L0.H1")])
    with pytest.raises(ComponentError, match="out of range"):
        swap_effects(tiny_model, data, [("L0.H0", "L9.H1")])


def test_batch_plan_keeps_early_and_late_swaps_apart():
    layers = [20, 0, 20, 0, 20, 20, 25]
    groups = batch_plan(layers, n_layers=30, max_size=4)
    assert sorted(i for g in groups for i in g) == list(range(len(layers)))
    assert all(len(g) <= 4 for g in groups)
    assert [1, 3] in groups  # the two layer-0 swaps run alone, not with the layer-20 ones
    with pytest.raises(ValueError):
        batch_plan(layers, 30, 0)
