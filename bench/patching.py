"""Benchmark: exact patching sweep vs a naive loop, and attribution patching vs exact.

Prints, for the bundled model on IOI (all attention heads, noising):
the wall time of the naive loop (one full ``model(ids)`` forward per head and
bucket, with a plain forward pre-hook on the output projection), the wall time
of ``engine.patching.patch_sweep`` (cached prefix, batched suffix), their
ratio, the largest difference between the two, and the Pearson correlation of
attribution patching with the exact sweep over all heads and over the top 20
(for noising, and for denoising with a second exact sweep). No assertions.

Usage: ``python bench/patching.py [--model smollm2-135m] [--task ioi] [--n 24] [--threads T]``

OpenMP's busy-waiting makes multi-threaded CPU forwards collapse when another
process competes for a core, so this script asks for passive waiting (before
torch loads) to keep the figures meaningful on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

from engine.attribution import attribution_sweep
from engine.components import all_heads
from engine.models import load_model
from engine.patching import patch_sweep
from engine.tasks import load_task, logit_diff


def naive_head_sweep(target, data) -> dict[str, float]:
    """One full forward per (head, bucket), the corrupt z patched in by a plain pre-hook."""
    adapter, model = target.adapter, target.model
    dh = adapter.d_head
    sums: dict[str, float] = {}
    for bucket in data.buckets:
        corrupt_in: dict[int, torch.Tensor] = {}

        def keep(layer: int, store: dict[int, torch.Tensor] = corrupt_in):
            return lambda _m, args: store.__setitem__(layer, args[0].detach().clone())

        handles = [adapter.out_proj(layer).register_forward_pre_hook(keep(layer)) for layer in range(adapter.n_layers)]
        try:
            model(bucket.corrupt)
        finally:
            for h in handles:
                h.remove()
        base = logit_diff(model(bucket.clean).logits, bucket.answer, bucket.distractor)
        for layer in range(adapter.n_layers):
            for head in range(adapter.n_heads):
                cols = slice(head * dh, (head + 1) * dh)
                src = corrupt_in[layer][..., cols]

                def patch(_m, args, cols=cols, src=src):
                    x = args[0].clone()
                    x[..., cols] = src
                    return (x, *args[1:])

                handle = adapter.out_proj(layer).register_forward_pre_hook(patch)
                try:
                    logits = model(bucket.clean).logits
                finally:
                    handle.remove()
                eff = logit_diff(logits, bucket.answer, bucket.distractor) - base
                key = f"L{layer}.H{head}"
                sums[key] = sums.get(key, 0.0) + float(eff.sum())
    return {k: v / data.n_pairs for k, v in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="ioi")
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    target = load_model(args.model)
    data = load_task(args.task, target, n=args.n)
    heads = [c.id for c in all_heads(target.n_layers, target.n_heads)]
    print(f"{args.model} / {args.task}: {data.n_pairs} pairs in {len(data.buckets)} buckets, "
          f"{len(heads)} heads, torch threads {torch.get_num_threads()}")

    with torch.no_grad():
        patch_sweep(target, data, heads[:1])  # warm-up
        t0 = time.perf_counter()
        naive = naive_head_sweep(target, data)
        t_naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        exact = patch_sweep(target, data, heads)
        t_sweep = time.perf_counter() - t0
    t0 = time.perf_counter()
    atp = attribution_sweep(target, data, heads)
    t_atp = time.perf_counter() - t0
    with torch.no_grad():
        exact_dn = patch_sweep(target, data, heads, "denoising")
    atp_dn = attribution_sweep(target, data, heads, "denoising")

    e = np.array([exact.effects[h] for h in heads])
    nv = np.array([naive[h] for h in heads])
    print(f"clean metric {exact.clean_metric:.3f}, corrupt metric {exact.corrupt_metric:.3f}")
    print(f"naive loop (full forward per head): {t_naive:8.2f} s")
    print(f"patch_sweep (cached prefix, batch): {t_sweep:8.2f} s")
    print(f"speed-up:                           {t_naive / t_sweep:8.2f} x")
    print(f"max |sweep - naive|:                {np.abs(e - nv).max():.2e}")
    print(f"attribution patching (one fwd+bwd): {t_atp:8.2f} s")
    for direction, ex, at in (("noising", exact, atp), ("denoising", exact_dn, atp_dn)):
        x = np.array([ex.effects[h] for h in heads])
        a = np.array([at.effects[h] for h in heads])
        top = np.argsort(-np.abs(x))[:20]
        print(f"AtP vs exact Pearson r, {direction:9s}: all heads {np.corrcoef(a, x)[0, 1]:.4f}, "
              f"top-20 {np.corrcoef(a[top], x[top])[0, 1]:.4f}")


if __name__ == "__main__":
    main()
