"""Benchmark: how well each attribution variant tracks exact patching, and what it costs.

Prints, for the bundled model on IOI (all attention heads), in both directions:
for exact patching (``patch_sweep``) and for each attribution variant (``atp``,
``atp*`` with and without GradDrop, ``ig`` with several step counts), the
Pearson correlation with exact patching over all heads and over the 20 heads
of largest exact |effect|, the recall of those 20 among the variant's own top
20 and among its top 48 (the agent's localisation exact-patches the top 48
candidates of its attribution ranking), and the cost: wall seconds,
forward-equivalents measured (CPU seconds of the process divided by the CPU
seconds of one plain forward over the same prompts, timed in the same
process; CPU time is less sensitive than wall time to other processes
competing for the cores) and forward-equivalents counted (a forward of the prompts = 1, a
backward = 2, a forward resumed at layer l = (L - l) / L; ``atp*``'s QK fix and
GradDrop are only measured). Then, among the variants within 10 counted
forward-equivalents, the best by worst-direction top-20 r, and the best for
localisation: the highest worst-direction recall of exact's top 20 in the
variant's top 48, then the highest worst-direction top-20 r, then the cheaper
-- the one ``engine.attribution.DEFAULT_METHOD`` should name. No assertions.

``--naive`` also times the naive exact loop (one full ``model(ids)`` forward
per head and bucket, a plain pre-hook on the output projection) against
``patch_sweep`` (minutes on a laptop CPU); ``bench/peers.py`` compares the
exact sweep with nnsight and plain PyTorch loops.

Usage: ``python bench/patching.py [--model smollm2-135m] [--task ioi] [--n 24] [--threads T] [--naive]``

OpenMP's busy-waiting makes multi-threaded CPU forwards collapse when another
process competes for a core, so this script asks for passive waiting (before
torch loads) to keep the figures meaningful on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

from engine.attribution import DEFAULT_METHOD, attribution_sweep
from engine.components import all_heads, parse_component
from engine.models import load_model
from engine.patching import input_run, patch_sweep
from engine.tasks import load_task, logit_diff

DIRECTIONS = ("noising", "denoising")
TOP = 20
SHORTLIST = 48  # agents.nodes.localise's n_candidates
BUDGET = 10.0  # forward-equivalents


@dataclass(frozen=True)
class Variant:
    label: str
    method: str
    ig_steps: int = 5
    grad_drop: bool = True

    def counted_cost(self) -> float | None:
        """Forward-equivalents by the counting rule (None where only a measurement is meaningful)."""
        if self.method == "atp":
            return 4.0  # input forward + backward (2) + source forward
        if self.method == "ig":
            return 2.0 + 3.0 * self.ig_steps  # input and source forwards + a forward and backward per step
        return None


VARIANTS = (
    Variant("atp", "atp"),
    Variant("atp* (QK fix only)", "atp*", grad_drop=False),
    Variant("atp* (QK fix + GradDrop)", "atp*"),
    Variant("ig, 1 step", "ig", ig_steps=1),
    Variant("ig, 2 steps", "ig", ig_steps=2),
    Variant("ig, 5 steps", "ig", ig_steps=5),
)


def exact_counted_cost(heads: list[str], n_layers: int) -> float:
    """``patch_sweep``: input and source runs, one resumed suffix per head, and the two task metrics."""
    return 4.0 + sum((n_layers - parse_component(h).layer) / n_layers for h in heads)


def one_forward_cpu_seconds(target, data, repeats: int = 5) -> float:
    """Median CPU seconds of one plain forward (no gradient, last-position logits) over every bucket."""
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.process_time()
            for bucket in data.buckets:
                input_run(target, bucket, "clean", [])
            times.append(time.process_time() - start)
    return statistics.median(times)


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


@dataclass(frozen=True)
class Agreement:
    """How an estimate tracks exact patching over the heads."""

    r_all: float  # Pearson r over all heads
    r_top: float  # Pearson r over exact's top 20 (by |effect|)
    recall: float  # share of exact's top 20 in the estimate's top 20
    recall_shortlist: float  # share of exact's top 20 in the estimate's top 48

    @classmethod
    def of(cls, estimate: np.ndarray, exact: np.ndarray) -> Agreement:
        top = set(np.argsort(-np.abs(exact))[:TOP].tolist())
        ranked = np.argsort(-np.abs(estimate)).tolist()
        idx = sorted(top)
        return cls(
            float(np.corrcoef(estimate, exact)[0, 1]), float(np.corrcoef(estimate[idx], exact[idx])[0, 1]),
            len(top & set(ranked[:TOP])) / TOP, len(top & set(ranked[:SHORTLIST])) / TOP,
        )


EXACT = Agreement(1.0, 1.0, 1.0, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="ioi")
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--naive", action="store_true", help="also time the naive exact loop (slow)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    target = load_model(args.model)
    data = load_task(args.task, target, n=args.n)
    heads = [c.id for c in all_heads(target.n_layers, target.n_heads)]
    print(f"{args.model} / {args.task}: {data.n_pairs} pairs in {len(data.buckets)} buckets "
          f"(lengths {[b.seq_len for b in data.buckets]}), {len(heads)} heads, torch threads {torch.get_num_threads()}")
    patch_sweep(target, data, heads[:1])  # warm-up
    forward = one_forward_cpu_seconds(target, data)
    print(f"one plain forward over all prompts: {forward * 1000:.0f} ms of CPU time (the unit of 'measured' "
          "forward-equivalents)")

    exact: dict[str, np.ndarray] = {}
    rows = []
    for direction in DIRECTIONS:
        start, cpu = time.perf_counter(), time.process_time()
        res = patch_sweep(target, data, heads, direction)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        exact[direction] = np.array([res.effects[h] for h in heads])
        rows.append(("exact", direction, EXACT, seconds, cpu / forward, exact_counted_cost(heads, target.n_layers)))
        if direction == "noising":
            print(f"clean metric {res.clean_metric:.3f}, corrupt metric {res.corrupt_metric:.3f}")
    if args.naive:
        with torch.no_grad():
            start = time.perf_counter()
            naive = naive_head_sweep(target, data)
            t_naive = time.perf_counter() - start
        gap = max(abs(naive[h] - e) for h, e in zip(heads, exact["noising"], strict=True))
        print(f"naive exact loop (full forward per head): {t_naive:.1f} s; patch_sweep {rows[0][3]:.1f} s: "
              f"{t_naive / rows[0][3]:.2f}x; max |sweep - naive| {gap:.1e}")

    worst: dict[str, Agreement] = {}
    for variant in VARIANTS:
        for direction in DIRECTIONS:
            start, cpu = time.perf_counter(), time.process_time()
            res = attribution_sweep(target, data, heads, direction, method=variant.method,
                                    ig_steps=variant.ig_steps, grad_drop=variant.grad_drop)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            agree = Agreement.of(np.array([res.effects[h] for h in heads]), exact[direction])
            rows.append((variant.label, direction, agree, seconds, cpu / forward, variant.counted_cost()))
            before = worst.get(variant.label, EXACT)
            worst[variant.label] = Agreement(*(min(a, b) for a, b in zip(
                (before.r_all, before.r_top, before.recall, before.recall_shortlist),
                (agree.r_all, agree.r_top, agree.recall, agree.recall_shortlist), strict=True)))

    print(f"\n{'method':26s} {'direction':10s} {'r all':>6s} {'r top20':>7s} {'top20 in 20':>11s} "
          f"{'top20 in 48':>11s} {'seconds':>8s} {'fwd-eq measured':>15s} {'fwd-eq counted':>14s}")
    for label, direction, agree, seconds, measured, counted in rows:
        counted_text = "-" if counted is None else f"{counted:.1f}"
        print(f"{label:26s} {direction:10s} {agree.r_all:6.3f} {agree.r_top:7.3f} {agree.recall:11.2f} "
              f"{agree.recall_shortlist:11.2f} {seconds:8.1f} {measured:15.1f} {counted_text:>14s}")

    within = [v for v in VARIANTS if (c := v.counted_cost()) is not None and c <= BUDGET]
    print(f"\nwithin {BUDGET:.0f} counted forward-equivalents, worst direction: "
          + "; ".join(f"{v.label}: top-20 r {worst[v.label].r_top:.3f}, top 20 in top {SHORTLIST} "
                      f"{worst[v.label].recall_shortlist:.2f}" for v in within))
    by_r = max(within, key=lambda v: (worst[v.label].r_top, -(v.counted_cost() or 0.0)))
    print(f"best by worst-direction top-20 r: {by_r.label}")
    choice = max(within, key=lambda v: (worst[v.label].recall_shortlist, worst[v.label].r_top, -(v.counted_cost() or 0.0)))
    print(f"best for localisation (worst-direction share of exact's top 20 in its top {SHORTLIST}, then top-20 r, "
          f"then cost): {choice.label}; engine.attribution.DEFAULT_METHOD = {DEFAULT_METHOD!r}")


if __name__ == "__main__":
    main()
