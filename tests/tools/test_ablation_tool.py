"""ablation tool: hook ablations agree with weight surgery and with a plain hooked forward."""

from __future__ import annotations

import pytest
import torch

from engine.hooks import trace
from engine.models import load_model
from engine.tasks import logit_diff
from tools.base import ToolContext, run_tool
from tools.registry import get_tool

TINY = ("tiny-gpt2", "tiny-llama", "tiny-neox")


def metric(model, data) -> float:
    with torch.no_grad():
        total = sum(
            float(logit_diff(model(b.clean).logits, b.answer, b.distractor).sum()) for b in data.buckets
        )
    return total / data.n_pairs


def zero_out_columns(model, layer: int, head: int, d_head: int) -> None:
    """Zero head ``head``'s input columns of layer ``layer``'s attention output projection, in place."""
    cols = slice(head * d_head, (head + 1) * d_head)
    kind = model.config.model_type
    with torch.no_grad():
        if kind == "gpt2":  # Conv1D: weight is [in, out], x @ W
            model.transformer.h[layer].attn.c_proj.weight[cols, :] = 0
        elif kind == "gpt_neox":
            model.gpt_neox.layers[layer].attention.dense.weight[:, cols] = 0
        else:
            model.model.layers[layer].self_attn.o_proj.weight[:, cols] = 0


@pytest.mark.parametrize("name", TINY)
def test_zero_ablation_equals_zeroing_output_weights(name, data):
    task = data(name)
    target = load_model(name)  # a private copy: its weights are edited below
    heads = [(1, 2), (2, 0)]
    ids = [f"L{layer}.H{head}" for layer, head in heads]
    out = run_tool(get_tool("ablation"), ToolContext(target, task), {"components": ids, "kind": "zero"})
    assert out.ok, out.error
    clean = metric(target.model, task)
    assert out.result.clean_metric == pytest.approx(clean, abs=1e-4)
    d_head = target.adapter.d_head
    for (layer, head), cid in zip(heads, ids, strict=True):
        saved = {k: v.clone() for k, v in target.model.state_dict().items()}
        zero_out_columns(target.model, layer, head, d_head)
        expected = metric(target.model, task) - clean
        target.model.load_state_dict(saved)
        assert out.result.effects[cid] == pytest.approx(expected, abs=1e-4), cid
        assert abs(expected) > 1e-3


@pytest.mark.parametrize("kind", ["mean", "resample"])
def test_ablation_kinds_equal_plain_hooked_forward(load, data, kind):
    from engine.ablation import ablation_edits

    target, task = load("tiny-llama"), data("tiny-llama")
    ids = ["L0.H1", "L1.MLP", "L2.ATTN"]
    ctx = ToolContext(target, task, seed=3)
    each = run_tool(get_tool("ablation"), ctx, {"components": ids, "kind": kind})
    both = run_tool(get_tool("ablation"), ctx, {"components": ids, "kind": kind, "together": True})
    assert each.ok and both.ok
    clean = metric(target.model, task)
    for subset in [[c] for c in ids] + [ids]:
        total = 0.0
        for bucket in task.buckets:
            edits = ablation_edits(target, bucket, subset, kind=kind, seed=3)
            with torch.no_grad(), trace(target.adapter, edit=edits):
                total += float(logit_diff(target.model(bucket.clean).logits, bucket.answer, bucket.distractor).sum())
        expected = total / task.n_pairs - clean
        got = both.result.effects["+".join(subset)] if len(subset) > 1 else each.result.effects[subset[0]]
        assert got == pytest.approx(expected, abs=1e-5), subset
    assert both.result.components == ids
