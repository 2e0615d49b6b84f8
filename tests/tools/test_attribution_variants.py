"""AtP*, integrated gradients and the shared gradient pass, each against an independent computation.

References used here: the gradient theorem (IG's completeness on the input
stream), plain PyTorch hooks and ``torch.autograd`` on the Hugging Face forward
(no ``trace``, no ``gradient_run``), the Hugging Face *eager* attention's own
patterns and their gradients, and exact patching (``patch_sweep``).
"""

from __future__ import annotations

import pytest
import torch

from engine.attribution import AttributionError, attribution_sweep
from engine.attribution.atp import differences
from engine.attribution.atp_star import (
    QueryKeyWeights,
    direct_write,
    first_receiving_layer,
    layer_patterns,
    qk_corrections,
)
from engine.attribution.gradients import gradient_run
from engine.components import all_heads, all_mlps, parse_component
from engine.models import load_model
from engine.patching import input_run, patch_sweep, task_metrics
from engine.tasks import TaskData, logit_diff

TINY = ("tiny-llama", "tiny-gpt2", "tiny-neox")
#: the families with QK-norm, soft-capping and sliding windows: the recomputed patterns must follow them too
PATTERN_MODELS = (*TINY, "tiny-gemma2", "tiny-gemma3", "tiny-qwen3")


def _eager(name: str):
    """A fresh copy of a tiny model that runs the eager attention (patterns materialised)."""
    target = load_model(name)
    for module in target.model.modules():
        if hasattr(module, "config"):
            module.config._attn_implementation = "eager"
    return target


def _one_bucket(data: TaskData) -> TaskData:
    return TaskData(data.task, data.buckets[:1])


# ----- integrated gradients ------------------------------------------------------------

@pytest.mark.parametrize("direction", ["noising", "denoising"])
@pytest.mark.parametrize("name", TINY)
def test_ig_converges_to_exact_patching_of_the_input_stream(load, data, name, direction):
    """On ``L0.RESID`` the embedding path is the activation's own straight path: IG -> exact (gradient theorem),
    pair by pair."""
    target, task = load(name), data(name, "induction")
    exact = torch.tensor(patch_sweep(target, task, ["L0.RESID"], direction).per_pair["L0.RESID"])
    order = torch.tensor([i for b in task.buckets for i in b.pair_index]).argsort()  # per_pair is in pair order
    clean = torch.cat([input_run(target, b, "clean", []).metric for b in task.buckets])[order]
    corrupt = torch.cat([input_run(target, b, "corrupt", []).metric for b in task.buckets])[order]
    torch.testing.assert_close(exact, corrupt - clean if direction == "noising" else clean - corrupt, atol=1e-4, rtol=0)
    assert float(exact.abs().max()) > 0.5  # patches large enough for the first order to be visibly off

    def error(method: str, steps: int = 1) -> float:
        res = attribution_sweep(target, task, ["L0.RESID"], direction, method=method, ig_steps=steps)
        return float((torch.tensor(res.per_pair["L0.RESID"]) - exact).abs().max())

    err = {m: error("ig", m) for m in (2, 8, 64)}
    atp_err = error("atp")
    assert err[64] < 1e-2 * max(1.0, float(exact.abs().max())), err
    assert err[64] < err[8] < err[2], err  # the midpoint rule's error shrinks with the steps
    assert err[64] < atp_err / 20, (err, atp_err)


def _plain_ig(target, bucket, heads: list[str], steps: int) -> dict[str, float]:
    """IG of heads with plain hooks on ``model(inputs_embeds=...)``: the o_proj input made a grad leaf."""
    model, adapter = target.model, target.adapter
    dh = adapter.d_head
    layers = sorted({parse_component(h).layer for h in heads})

    def run(embeds: torch.Tensor, grad: bool) -> dict[int, torch.Tensor]:
        seen: dict[int, torch.Tensor] = {}
        embeds = embeds.detach().requires_grad_(grad)  # so that every o_proj input is on the graph

        def grab(layer: int):
            def hook(_module, args):
                if grad:
                    args[0].retain_grad()
                seen[layer] = args[0]
            return hook

        handles = [adapter.out_proj(layer).register_forward_pre_hook(grab(layer)) for layer in layers]
        try:
            with torch.set_grad_enabled(grad):
                logits = model(inputs_embeds=embeds).logits
                if grad:
                    logit_diff(logits, bucket.answer, bucket.distractor).sum().backward()
        finally:
            for handle in handles:
                handle.remove()
        return seen

    with torch.no_grad():
        # GPT-2's ``inputs_embeds`` get the position embeddings added by the model: pass token embeddings
        e_clean, e_corrupt = model.get_input_embeddings()(bucket.clean), model.get_input_embeddings()(bucket.corrupt)
    clean, corrupt = run(e_clean, False), run(e_corrupt, False)
    out = {h: 0.0 for h in heads}
    for k in range(steps):
        alpha = (k + 0.5) / steps
        grads = run(e_clean + alpha * (e_corrupt - e_clean), True)
        for h in heads:
            comp = parse_component(h)
            cols = slice(comp.head * dh, (comp.head + 1) * dh)
            diff = (corrupt[comp.layer] - clean[comp.layer]).detach()[..., cols]
            out[h] += float((grads[comp.layer].grad[..., cols] * diff).sum()) / steps
    return {h: v / bucket.n for h, v in out.items()}


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_ig_matches_a_plain_hook_reference(load, data, name):
    target = load(name)
    task = _one_bucket(data(name, "induction"))
    heads = ["L0.H1", "L1.H2", "L2.H0"]
    got = attribution_sweep(target, task, heads, "noising", method="ig", ig_steps=3).effects
    want = _plain_ig(target, task.buckets[0], heads, 3)
    for h in heads:
        assert got[h] == pytest.approx(want[h], abs=1e-5, rel=1e-4)
    assert len({round(v, 4) for v in got.values()}) == 3


def test_ig_positions_add_up_and_steps_are_checked(load, data):
    target, task = load("tiny-llama"), _one_bucket(data("tiny-llama", "induction"))
    comps = ["L1.H0", "L2.MLP", "L1.RESID"]
    total = attribution_sweep(target, task, comps, method="ig", ig_steps=2).effects
    parts = [attribution_sweep(target, task, comps, positions=[p], method="ig", ig_steps=2).effects
             for p in range(task.buckets[0].seq_len)]
    for c in comps:
        assert sum(p[c] for p in parts) == pytest.approx(total[c], abs=1e-4)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(AttributionError, match="IG steps must be an integer from 1 to 1024"):
            attribution_sweep(target, task, comps, method="ig", ig_steps=bad)


# ----- the shared gradient pass: pattern gradients ---------------------------------------

@pytest.mark.parametrize("name", PATTERN_MODELS)
def test_pattern_gradients_match_eager_attention(load, data, name):
    """Routing the gradient through recomputed heads gives the eager model's d(metric)/d(pattern),
    and leaves the components' own gradients as they are without it."""
    target, bucket = load(name), data(name, "induction").buckets[0]
    eager = _eager(name)
    comps = [parse_component(c) for c in ("L0.H1", "L1.MLP", "L2.H3")]
    heads = [(layer, h) for layer in range(target.n_layers) for h in range(target.n_heads)]
    run = gradient_run(target, bucket, target.adapter.embed(bucket.clean), comps, pattern_heads=heads)
    plain = gradient_run(target, bucket, target.adapter.embed(bucket.clean), comps)
    for c in comps:
        torch.testing.assert_close(run.grads[c.id], plain.grads[c.id], atol=1e-5, rtol=1e-4)
    with torch.enable_grad():
        embeds = eager.model.get_input_embeddings()(bucket.clean).detach().requires_grad_(True)
        out = eager.model(inputs_embeds=embeds, output_attentions=True)
        for a in out.attentions:
            a.retain_grad()
        logit_diff(out.logits, bucket.answer, bucket.distractor).sum().backward()
    # QK-norm and soft-caps add float32 rounding steps the eager backward orders differently (seen: 2.3e-5 on qwen3)
    grad_atol = 1e-5 if name in TINY else 5e-5
    for layer, h in heads:
        torch.testing.assert_close(run.patterns[(layer, h)], out.attentions[layer][:, h].detach(), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(run.pattern_grads[(layer, h)], out.attentions[layer].grad[:, h], atol=grad_atol, rtol=1e-4)


# ----- AtP*: the QK fix ---------------------------------------------------------------------

@pytest.mark.parametrize("name", PATTERN_MODELS)
def test_qk_fix_pattern_is_the_models_own_for_a_key_side_patch_at_one_position(load, data, name):
    """One head's change at one position, written into the stream entering the next layer: the QK fix's
    recomputed patterns equal what the eager model computes on a forward with that stream patched."""
    target, bucket = load(name), data(name, "induction").buckets[0]
    adapter, eager = target.adapter, _eager(name)
    sender, receiver_layer = parse_component("L0.H2"), 1
    clean = input_run(target, bucket, "clean", [sender])
    corrupt = input_run(target, bucket, "corrupt", [sender])
    change = (corrupt.acts[sender.id] - clean.acts[sender.id]).abs().sum(dim=(0, 2))  # per position
    pos = int(change[1:-1].argmax()) + 1  # a middle position whose value the corrupt prompt changes
    diff = torch.zeros_like(clean.acts[sender.id])
    diff[:, pos] = (corrupt.acts[sender.id] - clean.acts[sender.id])[:, pos]
    delta = direct_write(adapter, sender, diff)
    assert float(delta[:, pos].abs().max()) > 0.1 and float(delta.abs().sum()) == float(delta[:, pos].abs().sum())
    ctx = adapter.block_context(clean.resids[receiver_layer])
    weights = QueryKeyWeights.of(adapter, receiver_layer, range(adapter.n_heads))
    with torch.no_grad():
        got = layer_patterns(adapter, weights, adapter.attention_norm(receiver_layer)(clean.resids[receiver_layer] + delta), ctx)

    def shift(_module, args, kwargs):
        if args:
            return (args[0] + delta, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": kwargs["hidden_states"] + delta}

    handle = eager.adapter.blocks()[receiver_layer].register_forward_pre_hook(shift, with_kwargs=True)
    try:
        with torch.no_grad():
            want = eager.model(bucket.clean, output_attentions=True).attentions[receiver_layer]
    finally:
        handle.remove()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        unpatched = layer_patterns(adapter, weights, adapter.attention_norm(receiver_layer)(clean.resids[receiver_layer]), ctx)
    moved = (got - unpatched).abs()
    assert float(moved[:, :, pos:, pos].max()) > 1e-3  # the key column at pos moved for queries that see it
    assert float(moved[:, :, :pos].max()) == 0.0  # queries before pos cannot see the patched key


@pytest.mark.parametrize("name", TINY)
def test_qk_correction_is_second_order_in_the_patch(load, data, name):
    """Exact-softmax term minus the first-order term through the same patterns: O(eps^2) when the patch is
    scaled by eps, so the first-order term matches the gradient (else the difference would be O(eps))."""
    target, bucket = load(name), data(name, "induction").buckets[0]
    adapter = target.adapter
    comps = all_heads(target.n_layers, target.n_heads)[: 2 * target.n_heads] + all_mlps(target.n_layers)[:2]
    heads = [(layer, h) for layer in range(target.n_layers) for h in range(target.n_heads)]
    run = gradient_run(target, bucket, adapter.embed(bucket.clean), comps, pattern_heads=heads)
    source = input_run(target, bucket, "corrupt", comps)
    diffs = differences(source.acts, run.acts, comps, None)
    first = {c.id: first_receiving_layer(c) for c in comps}
    sizes = {}
    for eps in (0.1, 0.01):
        writes = {c.id: direct_write(adapter, c, eps * diffs[c.id]) for c in comps}
        sizes[eps] = {cid: float(v.sum(0).abs().sum()) for cid, v in qk_corrections(target, run, writes, first).items()}
    big = [cid for cid in sizes[0.1] if sizes[0.1][cid] > 1e-4]
    assert len(big) >= 3
    for cid in big:
        assert 30 < sizes[0.1][cid] / sizes[0.01][cid] < 300, (cid, sizes[0.1][cid], sizes[0.01][cid])


# ----- AtP*: GradDrop ----------------------------------------------------------------------

def _plain_cut_gradients(target, bucket, cut: int, heads: list[str], resid_layer: int) -> dict[str, torch.Tensor]:
    """d(metric)/d(head z) and d(metric)/d(stream entering ``resid_layer``), with block ``cut``'s attention
    and MLP outputs detached by plain forward hooks (their values kept, their gradient cut)."""
    adapter, model = target.adapter, target.model
    dh = adapter.d_head
    layers = sorted({parse_component(h).layer for h in heads})
    seen: dict[str, torch.Tensor] = {}

    def leaf(layer: int):
        def hook(_module, args):
            args[0].retain_grad()
            seen[f"z{layer}"] = args[0]
        return hook

    def stream_leaf(_module, args, kwargs):
        stream = args[0] if args else kwargs["hidden_states"]
        stream.retain_grad()
        seen["resid"] = stream

    def detached(_module, _args, output):
        return (output[0].detach(), *output[1:]) if isinstance(output, tuple) else output.detach()

    handles = [adapter.out_proj(layer).register_forward_pre_hook(leaf(layer)) for layer in layers]
    handles.append(adapter.blocks()[resid_layer].register_forward_pre_hook(stream_leaf, with_kwargs=True))
    handles += [adapter.out_proj(cut).register_forward_hook(detached), adapter.mlp(cut).register_forward_hook(detached)]
    try:
        with torch.enable_grad():
            embeds = model.get_input_embeddings()(bucket.clean).detach().requires_grad_(True)
            logits = model(inputs_embeds=embeds).logits
            logit_diff(logits, bucket.answer, bucket.distractor).sum().backward()
    finally:
        for handle in handles:
            handle.remove()
    out = {f"L{resid_layer}.RESID": seen["resid"].grad}
    for h in heads:
        comp = parse_component(h)
        grad = seen[f"z{comp.layer}"].grad
        if grad is not None:
            out[h] = grad[..., comp.head * dh:(comp.head + 1) * dh]
    return out


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2", "tiny-neox"])
def test_graddrop_cut_gradients_match_detached_blocks(load, data, name):
    """The cotangent shortcut of ``grads_with_block_cut`` equals a forward with the block's writes detached."""
    target, bucket = load(name), data(name, "induction").buckets[0]
    heads = ["L0.H0", "L0.H3", "L1.H1", "L2.H2"]
    comps = [parse_component(h) for h in [*heads, "L1.RESID"]]
    run = gradient_run(target, bucket, target.adapter.embed(bucket.clean), comps, keep_graph=True)
    for cut in range(target.n_layers):
        got = run.grads_with_block_cut(cut, comps)
        want = _plain_cut_gradients(target, bucket, cut, heads, resid_layer=1)
        torch.testing.assert_close(got["L1.RESID"], want["L1.RESID"], atol=1e-5, rtol=1e-4)
        for h in heads:
            if parse_component(h).layer == cut:
                assert h not in got  # no path left through a cut block's own components
            else:
                torch.testing.assert_close(got[h], want[h], atol=1e-5, rtol=1e-4)
    # the cut matters: block 1's writes carry part of layer 0's gradient
    assert not torch.allclose(run.grads_with_block_cut(1, comps)["L0.H0"], run.grads["L0.H0"], atol=1e-4)


def test_atp_star_reduces_to_atp_where_nothing_is_cut_or_received(load, data):
    """Last-layer heads: no later receiver (no QK correction), and no cut changes their gradient."""
    target, task = load("tiny-llama"), data("tiny-llama", "induction")
    last = [c.id for c in all_heads(target.n_layers, target.n_heads) if c.layer == target.n_layers - 1]
    early = ["L0.H0", "L0.H4", "L1.H2"]
    atp = attribution_sweep(target, task, last + early, method="atp").effects
    star = attribution_sweep(target, task, last + early, method="atp*").effects
    star_qk = attribution_sweep(target, task, last + early, method="atp*", grad_drop=False).effects
    for h in last:
        assert star[h] == pytest.approx(atp[h], abs=1e-5) and star_qk[h] == pytest.approx(atp[h], abs=1e-5)
    assert any(abs(star_qk[h] - atp[h]) > 1e-3 for h in early)  # earlier heads' changes reach later patterns
    assert any(abs(star[h] - star_qk[h]) > 1e-3 for h in early)


# ----- the sweep ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["atp", "atp*", "ig"])
def test_every_variant_reports_the_task_metrics_and_pairs(load, data, method):
    target, task = load("tiny-gpt2"), data("tiny-gpt2")
    comps = ["L0.H1", "L1.MLP", "L2.RESID"]
    res = attribution_sweep(target, task, comps, "denoising", method=method, ig_steps=2)
    clean, corrupt = task_metrics(target, task)
    assert res.clean_metric == pytest.approx(clean, abs=1e-5) and res.corrupt_metric == pytest.approx(corrupt, abs=1e-5)
    assert res.n_pairs == task.n_pairs and res.direction == "denoising"
    for c in comps:
        assert len(res.per_pair[c]) == task.n_pairs
        assert sum(res.per_pair[c]) / task.n_pairs == pytest.approx(res.effects[c], abs=1e-6)


def test_unknown_method_is_one_sentence_and_attribution_is_the_default(load, data):
    target, task = load("tiny-llama"), data("tiny-llama")
    with pytest.raises(AttributionError, match=r"^Unknown attribution method 'magic'; use one of atp, atp\*, ig \(or attribution\)\.$"):
        attribution_sweep(target, task, ["L0.H0"], method="magic")
    alias = attribution_sweep(target, task, ["L0.H0", "L1.MLP"], method="attribution").effects
    default = attribution_sweep(target, task, ["L0.H0", "L1.MLP"]).effects
    assert alias == default
