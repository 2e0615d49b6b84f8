"""probe: at chance on random labels, well above chance on a label the activation encodes."""

from __future__ import annotations

import random

import pytest
import torch

from tools.base import run_tool
from tools.probe import fit_logistic
from tools.registry import get_tool

N = 96


def test_logistic_regression_separates_separable_data():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=gen)
    y = (x[:, 0] - 2 * x[:, 3] > 0).long()
    w, b = fit_logistic(x, y, 2, l2=1e-3)
    assert float(((x.double() @ w + b).argmax(-1) == y).double().mean()) > 0.97


def _answer_labels(ctx) -> list[int]:
    """1 when the pair's answer (the IO name) is in the first half of the names used, by token id."""
    answers: dict[int, int] = {}
    for bucket in ctx.data.buckets:
        for i, pair in enumerate(bucket.pair_index):
            answers[pair] = int(bucket.answer[i])
    names = sorted(set(answers.values()))
    first_half = set(names[: len(names) // 2])
    return [int(answers[p] in first_half) for p in range(ctx.data.n_pairs)]


def test_probe_reads_a_label_the_embedding_encodes(make_ctx):
    # the IO token's residual stream entering layer 0 is its embedding: which name it is, is linearly readable
    ctx = make_ctx("tiny-llama", n=N)
    labels = _answer_labels(ctx)
    out = run_tool(get_tool("probe"), ctx, {"component": "L0.RESID", "position": "IO", "label": "custom", "labels": labels})
    assert out.ok, out.error
    r = out.result
    assert r.n_test >= 25 and r.train_accuracy >= 0.95
    assert r.test_accuracy >= 0.85
    assert r.selectivity >= 0.25
    assert 0.3 <= r.control_test_accuracy <= 0.7


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_probe_on_random_labels_is_at_chance(make_ctx, seed):
    ctx = make_ctx("tiny-llama", n=N)
    rng = random.Random(seed)
    labels = [rng.randint(0, 1) for _ in range(ctx.data.n_pairs)]
    out = run_tool(get_tool("probe"), ctx, {"component": "L0.RESID", "position": "IO", "label": "custom", "labels": labels})
    assert out.ok, out.error
    # a held-out set of ~29 pairs: chance is 0.5 with a standard deviation of ~0.09
    assert 0.25 <= out.result.test_accuracy <= 0.75
    assert abs(out.result.selectivity) <= 0.3


def test_probe_label_kinds_and_errors(make_ctx):
    ctx = make_ctx("tiny-llama", n=24)
    tool = get_tool("probe")
    order = run_tool(tool, ctx, {"component": "L2.RESID", "position": "END", "label": "role_order", "roles": ["IO", "S1"]})
    assert order.ok and order.result.n_examples == 24
    both = run_tool(tool, ctx, {"component": "L1.H0", "label": "clean_vs_corrupt"})
    assert both.ok and both.result.n_examples == 48 and both.result.dim == ctx.target.adapter.d_head
    bad = run_tool(tool, ctx, {"component": "L1.H0", "label": "role_order", "roles": ["IO", "XX"]})
    assert "IO, S1, S2" in bad.error
    bad = run_tool(tool, ctx, {"component": "L1.H0", "label": "custom", "labels": [0, 1]})
    assert "24" in bad.error
    same = run_tool(tool, ctx, {"component": "L1.H0", "label": "custom", "labels": [1] * 24})
    assert "single value" in same.error
