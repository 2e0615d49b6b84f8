"""The patching engine and attribution patching on the bundled model (IOI, 12 pairs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.attribution import attribution_sweep
from engine.patching import patch_sweep
from engine.tasks import logit_diff

pytestmark = pytest.mark.slow

N_PAIRS = 12
LAYERS = range(15, 30)  # the IOI circuit of this model lives in the second half


def naive_denoising(target, data, heads: list[str]) -> dict[str, float]:
    """One full ``model(ids)`` forward per (head, bucket): a plain pre-hook on o_proj writes the clean z."""
    model, adapter = target.model, target.adapter
    dh = adapter.d_head
    out = {}
    for bucket in data.buckets:
        clean_in: dict[int, torch.Tensor] = {}
        layers = {int(h[1:].split(".")[0]) for h in heads}
        grab = [
            adapter.out_proj(layer).register_forward_pre_hook(
                lambda _m, args, layer=layer, store=clean_in: store.__setitem__(layer, args[0].clone()))
            for layer in layers
        ]
        with torch.no_grad():
            model(bucket.clean)
        for g in grab:
            g.remove()
        with torch.no_grad():
            base = logit_diff(model(bucket.corrupt).logits, bucket.answer, bucket.distractor)
        for h in heads:
            layer, head = (int(x) for x in h[1:].split(".H"))
            cols = slice(head * dh, (head + 1) * dh)

            def patch(_m, args, cols=cols, src=clean_in[layer]):
                x = args[0].clone()
                x[..., cols] = src[..., cols]
                return (x,)

            handle = adapter.out_proj(layer).register_forward_pre_hook(patch)
            try:
                with torch.no_grad():
                    patched = logit_diff(model(bucket.corrupt).logits, bucket.answer, bucket.distractor)
            finally:
                handle.remove()
            out[h] = out.get(h, 0.0) + float((patched - base).sum())
    return {h: v / data.n_pairs for h, v in out.items()}


def test_sweep_and_attribution_on_smollm2(smollm):
    from engine.tasks import load_task

    data = load_task("ioi", smollm, n=N_PAIRS)
    heads = [f"L{layer}.H{h}" for layer in LAYERS for h in range(smollm.n_heads)]
    exact = patch_sweep(smollm, data, heads, "denoising")
    assert exact.clean_metric > 2.0 and exact.corrupt_metric < exact.clean_metric - 2.0
    e = np.array([exact.effects[h] for h in heads])
    order = np.argsort(-np.abs(e))
    # the naive loop on the top heads and every seventh other head
    check = [heads[i] for i in order[:10]] + [heads[i] for i in sorted(order[10:])[::7]]
    naive = naive_denoising(smollm, data, check)
    x = np.array([exact.effects[h] for h in check])
    y = np.array([naive[h] for h in check])
    assert np.abs(x - y).max() <= 0.02
    assert np.corrcoef(x, y)[0, 1] >= 0.999
    atp = attribution_sweep(smollm, data, heads, "denoising")
    a = np.array([atp.effects[h] for h in heads])
    top = order[:20]
    assert np.corrcoef(a[top], e[top])[0, 1] >= 0.9
