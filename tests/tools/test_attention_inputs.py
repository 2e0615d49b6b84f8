"""attention_inputs against plain hooked forwards of the Hugging Face model.

The naive reference never calls the tool's code: it swaps the input of the
receiver layer's ``q_proj`` / ``k_proj`` modules with forward pre-hooks, reads
the head's pattern from Hugging Face's own ``output_attentions`` (eager), and
measures the effect by writing the head's slice of that run's ``o_proj`` input
into a clean forward. The senders' input is Wang et al.'s run 2 (senders at
their corrupt value, every other head and MLP frozen at its clean value).
"""

from __future__ import annotations

import pytest
import torch

from engine.components import all_heads, all_mlps
from engine.hooks import trace
from engine.tasks import logit_diff
from tests.tools.test_path_patching import eager
from tools.base import ToolContext, run_tool
from tools.registry import get_tool

SENDERS = ["L0.MLP", "L1.H2", "L0.H4"]


def _grab(module, store: list):
    return module.register_forward_pre_hook(lambda _m, a: store.append(a[0].detach().clone()))


def _role_means(rows: list[tuple[object, torch.Tensor]]) -> dict[str, float]:
    """Mean attention from the last position to each role and the first token over (bucket, row) pairs."""
    sums: dict[str, list[float]] = {}
    for bucket, row in rows:
        idx = torch.arange(bucket.n)
        for role, pos in {"first token": torch.zeros_like(idx), **bucket.roles}.items():
            sums.setdefault(role, []).extend(row[idx, pos].tolist())
    return {role: sum(v) / len(v) for role, v in sums.items()}


def naive_swaps(target, data, head: str, senders: list[str]) -> dict[tuple[str, str], tuple[dict[str, float], float]]:
    """(source, input) -> (attention by role from the last position, effect on the logit difference)."""
    model, adapter = target.model, target.adapter
    layer, h = (int(x) for x in head[1:].split(".H"))
    attn = model.model.layers[layer].self_attn
    d_head = adapter.d_head
    others = [c.id for c in all_heads(target.n_layers, target.n_heads) + all_mlps(target.n_layers)]
    rows: dict[tuple[str, str], list] = {}
    effects: dict[tuple[str, str], float] = {}
    with torch.no_grad(), eager(model):
        for bucket in data.buckets:
            x_clean: list[torch.Tensor] = []
            x_corrupt: list[torch.Tensor] = []
            x_senders: list[torch.Tensor] = []
            handle = _grab(attn.q_proj, x_clean)
            with trace(adapter, read=others) as clean:
                base = logit_diff(model(bucket.clean).logits, bucket.answer, bucket.distractor)
            handle.remove()
            handle = _grab(attn.q_proj, x_corrupt)
            with trace(adapter, read=senders) as corrupt:
                model(bucket.corrupt)
            handle.remove()
            edits = {c: (lambda _x, v=clean[c]: v.clone()) for c in others if c not in senders}
            edits.update({s: (lambda _x, v=corrupt[s]: v.clone()) for s in senders})
            handle = _grab(attn.q_proj, x_senders)
            with trace(adapter, edit=edits):
                model(bucket.clean)
            handle.remove()
            for source, x in (("upstream", x_corrupt[0]), ("senders", x_senders[0])):
                for which in ("q", "k", "qk"):
                    z_all: list[torch.Tensor] = []
                    hooks = [getattr(attn, f"{p}_proj").register_forward_pre_hook(lambda _m, _a, x=x: (x,))
                             for p in which]
                    hooks.append(_grab(attn.o_proj, z_all))
                    out = model(bucket.clean, output_attentions=True)
                    for hk in hooks:
                        hk.remove()
                    rows.setdefault((source, which), []).append((bucket, out.attentions[layer][:, h, -1, :]))
                    z = z_all[0][..., h * d_head:(h + 1) * d_head]

                    def put(_m, a, z=z):
                        new = a[0].clone()
                        new[..., h * d_head:(h + 1) * d_head] = z
                        return (new,)

                    hk = attn.o_proj.register_forward_pre_hook(put)
                    patched = logit_diff(model(bucket.clean).logits, bucket.answer, bucket.distractor)
                    hk.remove()
                    effects[(source, which)] = effects.get((source, which), 0.0) + float((patched - base).sum())
    return {key: (_role_means(r), effects[key] / data.n_pairs) for key, r in rows.items()}


def hf_pattern_means(target, data, head: str, side: str) -> dict[str, float]:
    """The head's own attention on the ``side`` prompts, from Hugging Face's output_attentions."""
    layer, h = (int(x) for x in head[1:].split(".H"))
    with torch.no_grad(), eager(target.model):
        rows = [(b, target.model(getattr(b, side), output_attentions=True).attentions[layer][:, h, -1, :])
                for b in data.buckets]
    return _role_means(rows)


def test_swaps_equal_hooked_projections_on_gqa(load, data):
    target, task = load("tiny-llama"), data("tiny-llama")
    assert all(bool(b.roles["END"].eq(b.clean.shape[1] - 1).all()) for b in task.buckets)  # END is the last token
    head = "L2.H5"
    out = run_tool(get_tool("attention_inputs"), ToolContext(target, task), {"head": head, "senders": SENDERS})
    assert out.ok, out.error
    result = out.result
    assert result.attention == pytest.approx(hf_pattern_means(target, task, head, "clean"), abs=1e-4)
    expected = naive_swaps(target, task, head, SENDERS)
    assert {(s.source, s.input) for s in result.swaps} == set(expected)
    for swap in result.swaps:
        attention, effect = expected[(swap.source, swap.input)]
        assert swap.attention == pytest.approx(attention, abs=1e-4), (swap.source, swap.input)
        assert swap.effect == pytest.approx(effect, abs=1e-4), (swap.source, swap.input)
    # not vacuous: the swaps move the pattern, differently by side, and the senders are not the whole upstream
    by = {(s.source, s.input): s for s in result.swaps}
    moved = {k: max(abs(s.attention[r] - result.attention[r]) for r in result.attention) for k, s in by.items()}
    assert min(moved.values()) > 0.01, moved
    assert by[("upstream", "q")].attention != pytest.approx(by[("upstream", "k")].attention, abs=1e-3)
    assert by[("senders", "k")].attention != pytest.approx(by[("upstream", "k")].attention, abs=1e-3)
    assert max(abs(s.effect) for s in result.swaps) > 1e-2


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-neox", "tiny-llama"])
@pytest.mark.parametrize("direction", ["noising", "denoising"])
def test_both_sides_from_the_source_run_are_the_heads_source_pattern(load, data, name, direction):
    """Query and key both from the source run give the head's own pattern on the source prompts (every
    architecture: fused and separate projections, rotary and learned positions)."""
    target, task = load(name), data(name)
    head = "L1.H3"
    out = run_tool(get_tool("attention_inputs"), ToolContext(target, task), {"head": head, "direction": direction})
    assert out.ok, out.error
    assert [(s.source, s.input) for s in out.result.swaps] == [("upstream", "q"), ("upstream", "k"), ("upstream", "qk")]
    both = out.result.swaps[2]
    input_side, source_side = ("clean", "corrupt") if direction == "noising" else ("corrupt", "clean")
    assert out.result.attention == pytest.approx(hf_pattern_means(target, task, head, input_side), abs=1e-4)
    assert both.attention == pytest.approx(hf_pattern_means(target, task, head, source_side), abs=1e-4)
    assert abs(both.effect) > 1e-4  # the corruption moves this head's output through its pattern
    assert out.result.attention != pytest.approx(both.attention, abs=1e-3)


def test_attention_inputs_refuses_bad_heads_and_senders(load, data):
    ctx = ToolContext(load("tiny-llama"), data("tiny-llama"))
    tool = get_tool("attention_inputs")
    assert "earlier layer" in run_tool(tool, ctx, {"head": "L1.H0", "senders": ["L1.H2"]}).error
    assert "none: it is in layer 0" in run_tool(tool, ctx, {"head": "L0.H0", "senders": ["L0.MLP"]}).error
    assert "not an attention head" in run_tool(tool, ctx, {"head": "L1.MLP"}).error
    assert "residual stream" in run_tool(tool, ctx, {"head": "L2.H0", "senders": ["L1.RESID"]}).error
    out = run_tool(tool, ctx, {"head": "L2.H99"})
    assert not out.ok and "L2.H99" in out.error
    out = run_tool(tool, ctx, {"head": "L2.H0", "query": "NOPE"})
    assert not out.ok and "NOPE" in out.error and "END" in out.error


def test_each_sender_counts_once(load, data):
    """A repeated sender, or a head inside a listed ATTN, is not added twice: the same numbers as once."""
    ctx = ToolContext(load("tiny-llama"), data("tiny-llama"))
    tool = get_tool("attention_inputs")
    once = run_tool(tool, ctx, {"head": "L2.H5", "senders": ["L0.ATTN", "L1.H2"]}).result
    again = run_tool(tool, ctx, {"head": "L2.H5", "senders": ["L1.H2", "L0.ATTN", "L0.H1", "L1.H2"]}).result
    assert sorted(again.senders) == sorted(once.senders) == ["L0.ATTN", "L1.H2"]
    assert [s.model_dump() for s in again.swaps] == [s.model_dump() for s in once.swaps]
    doubled = run_tool(tool, ctx, {"head": "L2.H5", "senders": ["L0.ATTN"]}).result
    assert [s.model_dump() for s in doubled.swaps] != [s.model_dump() for s in once.swaps]  # the senders matter


@pytest.mark.parametrize("name", ["tiny-gemma2", "tiny-gemma3"])
def test_senders_are_refused_where_block_outputs_are_normalised(load, data, name):
    """Gemma normalises each attention and MLP output before the residual stream: an output difference is not
    what reaches it, so sending one is refused (the whole-upstream swaps need no such sum and still run)."""
    ctx = ToolContext(load(name), data(name))
    out = run_tool(get_tool("attention_inputs"), ctx, {"head": "L1.H0", "senders": ["L0.MLP"]})
    assert not out.ok and "not supported on gemma" in out.error and out.error.count(".") == 1
    assert "not supported on gemma" in run_tool(get_tool("path_patching"), ctx, {"sender": "L0.MLP"}).error
    whole = run_tool(get_tool("attention_inputs"), ctx, {"head": "L1.H0"})
    assert whole.ok, whole.error
    assert whole.result.swaps[2].attention == pytest.approx(hf_pattern_means(ctx.target, ctx.data, "L1.H0", "corrupt"),
                                                            abs=1e-4)
