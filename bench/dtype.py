"""Benchmark: does a half-precision model find the same heads? IOI exact patching, float32 vs bfloat16.

Prints, for the bundled model on IOI (every attention head, noising, all
positions): each dtype's clean and corrupt logit difference and sweep wall
time, the Pearson and Spearman correlations of the per-head effects, the
overlap of the top-k heads by |effect|, both top-k lists, and the largest
absolute difference of an effect. On a GPU it also prints the sweep's peak
GPU memory. The metric is read in float32 in both runs (``engine.tasks.logit_diff``),
so the comparison isolates the model's own precision. No assertions.

Usage: ``python bench/dtype.py [--model smollm2-135m] [--task ioi] [--n 24]
[--dtype bfloat16] [--device auto] [--top 10] [--threads T]``
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np
import torch
from scipy.stats import spearmanr

from engine.components import all_heads
from engine.models import load_model
from engine.patching import patch_sweep
from engine.tasks import load_task


def sweep(model: str, task: str, n: int, device: str, dtype: str) -> tuple[dict[str, float], float, float, float, str]:
    """(effects, clean metric, corrupt metric, seconds, peak-memory note) of one exact head sweep."""
    target = load_model(model, device=device, dtype=dtype)
    data = load_task(task, target, n=n)
    comps = all_heads(target.n_layers, target.n_heads)
    cuda = target.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(target.device)
        torch.cuda.reset_peak_memory_stats(target.device)
    start = time.perf_counter()
    result = patch_sweep(target, data, comps, "noising")
    if cuda:
        torch.cuda.synchronize(target.device)
    seconds = time.perf_counter() - start
    peak = f", peak GPU memory {torch.cuda.max_memory_allocated(target.device) / 2**20:.0f} MiB" if cuda else ""
    return result.effects, result.clean_metric, result.corrupt_metric, seconds, f"{target.device}{peak}"


def top(effects: dict[str, float], k: int) -> list[str]:
    return [c for c, _ in sorted(effects.items(), key=lambda kv: -abs(kv[1]))[:k]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="ioi")
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--dtype", default="bfloat16", help="the precision compared with float32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = {}
    for dtype in ("float32", args.dtype):
        runs[dtype] = sweep(args.model, args.task, args.n, args.device, dtype)
        effects, clean, corrupt, seconds, where = runs[dtype]
        print(f"{dtype:>9}: logit diff clean {clean:.4f}, corrupt {corrupt:.4f}; sweep of {len(effects)} heads "
              f"{seconds:.1f} s on {where}")
    ref, low = runs["float32"][0], runs[args.dtype][0]
    keys = sorted(ref)
    a = np.array([ref[k] for k in keys])
    b = np.array([low[k] for k in keys])
    top_ref, top_low = top(ref, args.top), top(low, args.top)
    print(f"{args.model}, {args.task} n={args.n}, noising, every head: {args.dtype} vs float32")
    print(f"  Pearson r = {np.corrcoef(a, b)[0, 1]:.5f}, Spearman rho = {spearmanr(a, b).statistic:.5f}, "
          f"largest |difference| = {np.abs(a - b).max():.4f} (largest |effect| {np.abs(a).max():.4f})")
    print(f"  top-{args.top} overlap: {len(set(top_ref) & set(top_low))}/{args.top}; "
          f"same order: {top_ref == top_low}")
    print(f"  float32  top-{args.top}: {', '.join(f'{c} {ref[c]:+.3f}' for c in top_ref)}")
    print(f"  {args.dtype} top-{args.top}: {', '.join(f'{c} {low[c]:+.3f}' for c in top_low)}")
    print(f"  time ratio {args.dtype}/float32: {runs[args.dtype][3] / runs['float32'][3]:.2f}")


if __name__ == "__main__":
    main()
