"""path_patching against independent computations of the same quantities."""

from __future__ import annotations

import contextlib

import pytest
import torch

from engine.components import all_heads, all_mlps
from engine.hooks import trace
from engine.tasks import logit_diff
from tools.base import ToolContext, run_tool
from tools.registry import get_tool

TINY = ("tiny-gpt2", "tiny-llama", "tiny-neox")


@contextlib.contextmanager
def eager(model):
    """Run ``model`` with eager attention, so Hugging Face materialises its patterns (restored afterwards)."""
    configs = [m.config for m in model.modules() if hasattr(m, "config")]
    before = [c._attn_implementation for c in configs]
    for c in configs:
        c._attn_implementation = "eager"
    try:
        yield
    finally:
        for c, impl in zip(configs, before, strict=True):
            c._attn_implementation = impl


def o_proj_slice(model, layer: int, head: int, d_head: int) -> torch.Tensor:
    """Head ``head``'s output weights as [d_head, d_model] (z @ W), read straight from the module."""
    cols = slice(head * d_head, (head + 1) * d_head)
    kind = model.config.model_type
    if kind == "gpt2":
        return model.transformer.h[layer].attn.c_proj.weight[cols, :]
    if kind == "gpt_neox":
        return model.gpt_neox.layers[layer].attention.dense.weight[:, cols].T
    return model.model.layers[layer].self_attn.o_proj.weight[:, cols].T


def final_norm_and_unembed(model):
    kind = model.config.model_type
    norm = {"gpt2": lambda: model.transformer.ln_f, "gpt_neox": lambda: model.gpt_neox.final_layer_norm}.get(
        kind, lambda: model.model.norm
    )()
    return norm, model.get_output_embeddings().weight


def manual_direct_effect(target, data, layer: int, head: int) -> float:
    """(corrupt z - clean z) @ W_O through the final norm with the clean run's scale, onto W_U[a] - W_U[d]."""
    model = target.model
    cid = f"L{layer}.H{head}"
    w_o = o_proj_slice(model, layer, head, target.adapter.d_head)
    norm, w_u = final_norm_and_unembed(model)
    total = 0.0
    for bucket in data.buckets:
        with torch.no_grad():
            with trace(target.adapter, read=[cid, f"L{target.n_layers}.RESID"]) as clean:
                model(bucket.clean)
            with trace(target.adapter, read=[cid]) as corrupt:
                model(bucket.corrupt)
        delta = (corrupt[cid][:, -1] - clean[cid][:, -1]) @ w_o  # [n, d_model]
        resid = clean[f"L{target.n_layers}.RESID"][:, -1]
        if isinstance(norm, torch.nn.LayerNorm):
            scale = torch.sqrt(resid.var(-1, unbiased=False, keepdim=True) + norm.eps)
            normed = (delta - delta.mean(-1, keepdim=True)) / scale * norm.weight
        else:
            scale = torch.sqrt(resid.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
            normed = delta / scale * norm.weight
        total += float((normed * (w_u[bucket.answer] - w_u[bucket.distractor])).sum())
    return total / data.n_pairs


def manual_path_to_logits_with_real_norm(target, data, sender: str) -> float:
    """Add the sender's output change to the final residual stream; recompute the norm."""
    model = target.model
    n = target.n_layers
    total = 0.0
    for bucket in data.buckets:
        with torch.no_grad():
            with trace(target.adapter, read=[sender, f"L{n}.RESID"]) as clean:
                base = logit_diff(model(bucket.clean).logits, bucket.answer, bucket.distractor)
            with trace(target.adapter, read=[sender]) as corrupt:
                model(bucket.corrupt)
            delta = corrupt[sender] - clean[sender]
            if ".H" in sender:
                layer, head = (int(x) for x in sender[1:].split(".H"))
                delta = delta @ o_proj_slice(model, layer, head, target.adapter.d_head)
            final = clean[f"L{n}.RESID"] + delta
            edit = {f"L{n}.RESID": lambda _x, v=final: v.clone()}
            with trace(target.adapter, edit=edit):
                patched = logit_diff(model(bucket.clean).logits, bucket.answer, bucket.distractor)
        total += float((patched - base).sum())
    return total / data.n_pairs


@pytest.mark.parametrize("name", TINY)
def test_path_to_logits_with_frozen_norm_is_the_direct_effect(perturbed, data, name):
    target, task = perturbed(name), data(name)
    ctx = ToolContext(target, task)
    for layer, head in [(0, 1), (1, 3), (2, 2)]:
        out = run_tool(get_tool("path_patching"), ctx, {"sender": f"L{layer}.H{head}", "receivers": ["logits"], "freeze_norm": True})
        assert out.ok, out.error
        expected = manual_direct_effect(target, task, layer, head)
        assert out.result.effect == pytest.approx(expected, abs=1e-4)
        assert abs(expected) > 1e-4


def plain_metrics(target, data) -> tuple[float, float]:
    """Mean clean and corrupt logit difference from plain forwards of the Hugging Face model."""
    with torch.no_grad():
        sums = [sum(float(logit_diff(target.model(getattr(b, side)).logits, b.answer, b.distractor).sum())
                    for b in data.buckets) for side in ("clean", "corrupt")]
    return sums[0] / data.n_pairs, sums[1] / data.n_pairs


@pytest.mark.parametrize("name", TINY)
def test_path_to_logits_with_real_norm(perturbed, data, name):
    target, task = perturbed(name), data(name)
    ctx = ToolContext(target, task)
    clean, corrupt = plain_metrics(target, task)
    assert abs(clean - corrupt) > 1e-3
    for sender in ("L1.H0", "L1.MLP", "L0.ATTN"):
        for direction in ("noising", "denoising"):
            out = run_tool(get_tool("path_patching"), ctx,
                           {"sender": sender, "receivers": ["logits"], "direction": direction})
            assert out.ok, out.error
            # the reported metrics are the unpatched runs', whichever side the patch reads
            assert (out.result.clean_metric, out.result.corrupt_metric) == pytest.approx((clean, corrupt), abs=1e-4)
        out = run_tool(get_tool("path_patching"), ctx, {"sender": sender, "receivers": ["logits"]})
        assert out.ok, out.error
        assert out.result.effect == pytest.approx(manual_path_to_logits_with_real_norm(target, task, sender), abs=1e-4)


def naive_path_to_heads(
    target, data, sender: str, receivers: list[str], queries_only: bool = False, inputs: str = "qkv",
    attention: dict[str, list[float]] | None = None, frozen: tuple[str, ...] = (),
) -> float:
    """Wang et al.'s three runs with plain hooked forwards.

    Run 2, once per receiver: sender patched to its corrupt value, every other
    head and MLP (other receivers included) frozen at its clean value; read the
    receiver's z. Only the projections named in ``inputs`` (Llama; ``queries_only``
    is ``inputs="q"``) see the change: the receiver layers' other projections get
    their clean input. Run 3: clean run with the receivers' z replaced, everything
    else free but ``frozen`` (held at their clean value). With ``attention`` (one
    receiver, an eager model), run 2 also collects the receiver's attention from
    the last position to each task role and the first token, pair by pair, read
    from Hugging Face's own ``output_attentions``.
    """
    model, adapter = target.model, target.adapter
    inputs = "q" if queries_only else inputs
    others = [c.id for c in all_heads(target.n_layers, target.n_heads) + all_mlps(target.n_layers)]
    layers = {int(r[1:].split(".")[0]) for r in receivers}
    kept_clean = [p for p in "qkv" if p not in inputs]
    total = 0.0
    for bucket in data.buckets:
        clean_inputs: dict[int, torch.Tensor] = {}
        grab = [
            model.model.layers[layer].self_attn.k_proj.register_forward_pre_hook(
                lambda _m, a, layer=layer, store=clean_inputs: store.__setitem__(layer, a[0].clone()))
            for layer in (layers if kept_clean else ())
        ]
        with torch.no_grad():
            with trace(adapter, read=others) as clean:
                base = logit_diff(model(bucket.clean).logits, bucket.answer, bucket.distractor)
            for h in grab:
                h.remove()
            with trace(adapter, read=[sender]) as corrupt:
                model(bucket.corrupt)
            new_z = {}
            for receiver in receivers:  # run 2, once per receiver: all but sender and receiver frozen
                edits = {c: (lambda _x, v=clean[c]: v.clone()) for c in others if c not in (sender, receiver)}
                edits[sender] = lambda _x, v=corrupt[sender]: v.clone()
                handles = [
                    getattr(model.model.layers[layer].self_attn, f"{p}_proj").register_forward_pre_hook(
                        lambda _m, _a, x=x: (x,))
                    for layer, x in clean_inputs.items()
                    for p in kept_clean
                ]
                try:
                    with trace(adapter, read=[receiver], edit=edits) as run2:
                        out = model(bucket.clean, output_attentions=attention is not None)
                finally:
                    for h in handles:
                        h.remove()
                new_z[receiver] = run2[receiver]
                if attention is not None:
                    layer, head = (int(x) for x in receiver[1:].split(".H"))
                    row = out.attentions[layer][:, head, -1, :]  # [n, key]
                    rows = torch.arange(bucket.n)
                    for role, pos in {"first token": torch.zeros_like(rows), **bucket.roles}.items():
                        attention.setdefault(role, []).extend(row[rows, pos].tolist())
            new_z.update({f: clean[f] for f in frozen})
            with trace(adapter, edit={r: (lambda _x, v=z: v.clone()) for r, z in new_z.items()}):
                patched = logit_diff(model(bucket.clean).logits, bucket.answer, bucket.distractor)
        total += float((patched - base).sum())
    return total / data.n_pairs


@pytest.mark.parametrize("name", TINY)
def test_path_to_receiver_heads_equals_naive_three_runs(load, data, name):
    target, task = load(name), data(name)
    ctx = ToolContext(target, task)
    cases = [("L0.H1", ["L1.H2"]), ("L0.MLP", ["L1.H0", "L2.H3"]), ("L1.H3", ["L2.H1", "L2.H2"])]
    for sender, receivers in cases:
        out = run_tool(get_tool("path_patching"), ctx, {"sender": sender, "receivers": receivers})
        assert out.ok, out.error
        expected = naive_path_to_heads(target, task, sender, receivers)
        assert out.result.effect == pytest.approx(expected, abs=1e-4), (sender, receivers)
        assert abs(expected) > 1e-4


def test_path_via_queries_only_on_gqa(load, data):
    target, task = load("tiny-llama"), data("tiny-llama")
    ctx = ToolContext(target, task)
    sender, receivers = "L0.H1", ["L1.H2", "L1.H5"]
    q_only = run_tool(get_tool("path_patching"), ctx, {"sender": sender, "receivers": receivers, "receiver_input": ["q"]})
    every = run_tool(get_tool("path_patching"), ctx, {"sender": sender, "receivers": receivers})
    assert q_only.ok and every.ok
    expected = naive_path_to_heads(target, task, sender, receivers, queries_only=True)
    assert q_only.result.effect == pytest.approx(expected, abs=1e-4)
    assert q_only.result.effect != pytest.approx(every.result.effect, abs=1e-4)


def test_each_edge_is_the_naive_three_runs_on_that_receivers_one_input(load, data):
    """``separately``: each (receiver, input) edge and its receiver's attention against plain hooked runs."""
    target, task = load("tiny-llama"), data("tiny-llama")
    sender, receivers = "L0.MLP", ["L1.H2", "L2.H5"]
    out = run_tool(get_tool("path_patching"), ToolContext(target, task),
                   {"sender": sender, "receivers": receivers, "separately": True})
    assert out.ok, out.error
    assert sorted((e.receiver, e.input) for e in out.result.edges) == sorted((r, x) for r in receivers for x in "qkv")
    # the naive runs read the last position: the task's END is it
    assert all(bool(b.roles["END"].eq(b.clean.shape[1] - 1).all()) for b in task.buckets)
    with eager(target.model):  # Hugging Face materialises the patterns it attends with
        clean_attention: dict[str, dict[str, list[float]]] = {}
        for edge in out.result.edges:
            patched: dict[str, list[float]] = {}
            # the other receivers keep their clean output, as the joint path fixes every receiver's
            others = tuple(r for r in receivers if r != edge.receiver)
            expected = naive_path_to_heads(target, task, sender, [edge.receiver], inputs=edge.input,
                                           attention=patched, frozen=others)
            assert edge.effect == pytest.approx(expected, abs=1e-4), (edge.receiver, edge.input)
            if edge.input == "v":
                assert edge.attention is None and edge.attention_before is None
                continue
            # the clean attention is the patched run's with no input changed
            unpatched = clean_attention.setdefault(edge.receiver, {})
            if not unpatched:
                naive_path_to_heads(target, task, sender, [edge.receiver], inputs="", attention=unpatched)
            for role, values in patched.items():
                assert edge.attention[role] == pytest.approx(sum(values) / len(values), abs=1e-4), (edge, role)
                assert edge.attention_before[role] == pytest.approx(
                    sum(unpatched[role]) / len(unpatched[role]), abs=1e-4)
        moved = [e for e in out.result.edges if e.attention is not None
                 and max(abs(e.attention[r] - e.attention_before[r]) for r in e.attention) > 1e-3]
        assert moved, "no query or key edge moved its receiver's attention: the check would be vacuous"
    # the edges are not the joint path: the sum over one receiver's inputs differs from patching all three
    joint = run_tool(get_tool("path_patching"), ToolContext(target, task),
                     {"sender": sender, "receivers": [receivers[0]]}).result.effect
    single = {e.input: e.effect for e in out.result.edges if e.receiver == receivers[0]}
    assert sum(single.values()) != pytest.approx(joint, abs=1e-4)
    # and holding the other receivers matters: L1.H2's edges, L2.H5 left free, give other numbers
    free = naive_path_to_heads(target, task, sender, [receivers[0]], inputs="k")
    assert free != pytest.approx(next(e.effect for e in out.result.edges if e.receiver == receivers[0]
                                      and e.input == "k"), abs=1e-4)


def test_path_patching_rejects_bad_receivers(load, data):
    ctx = ToolContext(load("tiny-llama"), data("tiny-llama"))
    tool = get_tool("path_patching")
    out = run_tool(tool, ctx, {"sender": "L2.H0", "receivers": ["L1.H0"]})
    assert "later layer" in out.error and "use 'logits'" in out.error
    out = run_tool(tool, ctx, {"sender": "L0.H0", "receivers": ["L1.MLP"]})
    assert "must be a head id" in out.error
    out = run_tool(tool, ctx, {"sender": "L0.H0", "receivers": ["L1.H0"], "freeze_norm": True})
    assert "freeze_norm" in out.error
    out = run_tool(tool, ctx, {"sender": "L0.H0", "receivers": ["logits"], "separately": True})
    assert "receiver head" in out.error
