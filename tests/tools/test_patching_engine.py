"""The batched patching engine against a naive loop, and its invariants."""

from __future__ import annotations

import pytest
import torch

from engine import patching
from engine.components import Component, all_heads, all_mlps, all_resids
from engine.hooks import trace
from engine.tasks import logit_diff

TINY = ("tiny-gpt2", "tiny-llama", "tiny-neox")


def naive_effects(target, data, jobs, direction, positions=None):
    """One full ``model(ids)`` forward per (job, bucket), source activations written by a plain hook edit."""
    model, adapter = target.model, target.adapter
    input_side, source_side = ("clean", "corrupt") if direction == "noising" else ("corrupt", "clean")
    out = {}
    for job in jobs:
        total = 0.0
        for bucket in data.buckets:
            with torch.no_grad(), trace(adapter, read=job) as cache:
                model(getattr(bucket, source_side))
            source = dict(cache)
            rows = torch.arange(bucket.n)

            def edit(cid, value=source, bucket=bucket, rows=rows):
                def fn(current):
                    if positions is None:
                        return value[cid].clone()
                    new = current.clone()
                    for p in positions:
                        pos = bucket.roles[p] if isinstance(p, str) else torch.full((bucket.n,), p % bucket.seq_len)
                        new[rows, pos] = value[cid][rows, pos]
                    return new

                return fn

            ids = getattr(bucket, input_side)
            with torch.no_grad():
                base = logit_diff(model(ids).logits, bucket.answer, bucket.distractor)
                with trace(adapter, edit={cid: edit(cid) for cid in job}):
                    patched = logit_diff(model(ids).logits, bucket.answer, bucket.distractor)
            total += float((patched - base).sum())
        out["+".join(job)] = total / data.n_pairs
    return out


def every_component(target):
    n_layers, n_heads = target.n_layers, target.n_heads
    comps = all_heads(n_layers, n_heads) + all_mlps(n_layers) + all_resids(n_layers)
    comps += [Component(layer, "attn") for layer in range(n_layers)]
    return [c.id for c in comps] + [f"L{n_layers}.RESID"]


@pytest.mark.parametrize("direction", ["noising", "denoising"])
@pytest.mark.parametrize("name", TINY)
def test_sweep_equals_naive_loop(load, data, name, direction):
    target, task = load(name), data(name)
    assert len(task.buckets) > 1  # the bucket weighting is exercised
    comps = every_component(target)
    fast = patching.patch_sweep(target, task, comps, direction, max_rows=3 * task.buckets[0].n)
    slow = naive_effects(target, task, [[c] for c in comps], direction)
    assert set(fast.effects) == set(slow)
    for cid in comps:
        assert fast.effects[cid] == pytest.approx(slow[cid], abs=1e-5), cid
    assert max(abs(v) for v in fast.effects.values()) > 1e-2  # not trivially zero


@pytest.mark.parametrize("name", TINY)
def test_positions_and_sets_equal_naive(load, data, name):
    target, task = load(name), data(name)
    comps = ["L1.H1", "L2.MLP", "L1.RESID", "L2.ATTN"]
    positions = ["S2", "END", 0]
    fast = patching.patch_sweep(target, task, comps, "noising", positions=positions)
    slow = naive_effects(target, task, [[c] for c in comps], "noising", positions)
    for cid in comps:
        assert fast.effects[cid] == pytest.approx(slow[cid], abs=1e-5), cid
    together = patching.patch_sweep(target, task, ["L0.H2", "L2.H0", "L1.MLP"], "denoising", together=True)
    naive = naive_effects(target, task, [["L0.H2", "L2.H0", "L1.MLP"]], "denoising")
    assert together.effects == pytest.approx(naive, abs=1e-5)


@pytest.mark.parametrize("name", TINY)
def test_patching_identical_activations_changes_nothing(load, data, name):
    target, task = load(name), data(name)
    comps = every_component(target)

    def same(bucket, acts):  # clean activations into the clean run
        return {cid: a.clone() for cid, a in acts.items()}

    effects, per_pair, _ = patching.replacement_sweep(target, task, [[c] for c in comps], same)
    assert all(v == 0.0 for v in effects.values())
    assert all(v == 0.0 for row in per_pair.values() for v in row)
    # alpha = 0 patches the input's own value too
    zero = patching.patch_sweep(target, task, comps[:6], "denoising", alpha=0.0)
    assert all(v == 0.0 for v in zero.effects.values())


@pytest.mark.parametrize("name", TINY)
def test_patching_resid0_reproduces_corrupt_run(load, data, name):
    target, task = load(name), data(name)
    model, adapter = target.model, target.adapter
    for bucket in task.buckets:
        with torch.no_grad(), trace(adapter, read=["L0.RESID"]) as cache:
            corrupt_logits = model(bucket.corrupt).logits
        with torch.no_grad(), trace(adapter, edit={"L0.RESID": lambda _x, v=cache["L0.RESID"]: v.clone()}):
            patched_logits = model(bucket.clean).logits
        assert torch.equal(patched_logits, corrupt_logits)
    res = patching.patch_sweep(target, task, ["L0.RESID"], "noising")
    assert res.effects["L0.RESID"] == pytest.approx(res.corrupt_metric - res.clean_metric, abs=1e-6)
    back = patching.patch_sweep(target, task, ["L0.RESID"], "denoising")
    assert back.effects["L0.RESID"] == pytest.approx(res.clean_metric - res.corrupt_metric, abs=1e-6)


def test_metrics_match_forward(load, data):
    from engine.task_check import check_task

    target, task = load("tiny-llama"), data("tiny-llama")
    check = check_task(target, task)
    clean, corrupt = patching.task_metrics(target, task)
    assert clean == pytest.approx(check.clean_metric, abs=1e-6)
    assert corrupt == pytest.approx(check.corrupt_metric, abs=1e-6)


def test_engine_user_errors(load, data):
    target, task = load("tiny-llama"), data("tiny-llama")
    with pytest.raises(patching.PatchingError, match="noising or denoising"):
        patching.patch_sweep(target, task, ["L0.H0"], "sideways")  # type: ignore[arg-type]
    with pytest.raises(patching.PatchingError, match="roles: END, IO, S1, S2"):
        patching.patch_sweep(target, task, ["L0.H0"], positions=["XYZ"])
    with pytest.raises(patching.PatchingError, match="heads 0..5"):
        patching.patch_sweep(target, task, ["L0.H6"])
