"""Benchmark: the exact head sweep as users write it elsewhere, beside ``autointerp patch --method exact``.

Why: our own naive loop is a weak reference; users compare with what they
would write in nnsight or with plain PyTorch hooks. This script runs, on the
bundled model and the same IOI pairs (8 by default), in one process with the
model loaded once, the noising sweep over every attention head three ways:

* **nnsight** (``NNsight`` wrapping the loaded Hugging Face model): one trace
  on the corrupt prompts saving every ``o_proj`` input, one on the clean
  prompts for the baseline, then one trace per head and bucket that overwrites
  the head's slice of ``o_proj.input`` and saves the last-position logits --
  the per-head intervention loop of nnsight's activation-patching tutorial;
* **plain PyTorch hooks**: the same loop with ``register_forward_pre_hook`` on
  ``o_proj`` and a full ``model(ids)`` forward per head and bucket;
* **autointerp patch --method exact**: the engine call the command makes
  (``engine.patching.patch_sweep``: cached prefix, batched suffix, last
  position unembedded).

The three are timed in interleaved rounds (after a warm-up) and each keeps
its best round, so a change of load on a shared machine hits all three; the
table prints wall seconds, CPU seconds of the process (less sensitive to
other processes competing for the cores) and the ratios to the engine, and
the largest difference of each loop's effects from the engine's. No
assertions. nnsight is a bench-only
extra: ``pip install -e '.[bench]'``.

Usage: ``python bench/peers.py [--model smollm2-135m] [--n 8] [--threads T] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import nnsight
import torch
from nnsight import NNsight
from patching import (
    naive_head_sweep,  # the plain-hook loop, shared with bench/patching.py (script dir on sys.path)
)

from engine.components import all_heads
from engine.models import TargetModel, load_model
from engine.patching import patch_sweep
from engine.tasks import TaskData, load_task, logit_diff

Effects = dict[str, float]


def nnsight_sweep(model: NNsight, target: TargetModel, data: TaskData) -> Effects:
    """Noising of every head, one nnsight trace per head and bucket."""
    n_layers, n_heads, dh = target.n_layers, target.n_heads, target.adapter.d_head
    layers = model.model.layers
    sums: dict[str, float] = {}
    for bucket in data.buckets:
        with model.trace(bucket.corrupt):
            corrupt_z = nnsight.save([layers[layer].self_attn.o_proj.input for layer in range(n_layers)])
        with model.trace(bucket.clean):
            base_logits = model.output.logits[:, -1].save()
        base = logit_diff(base_logits, bucket.answer, bucket.distractor)
        for layer in range(n_layers):
            for head in range(n_heads):
                cols = slice(head * dh, (head + 1) * dh)
                with model.trace(bucket.clean):
                    layers[layer].self_attn.o_proj.input[:, :, cols] = corrupt_z[layer][:, :, cols]
                    logits = model.output.logits[:, -1].save()
                effect = logit_diff(logits, bucket.answer, bucket.distractor) - base
                key = f"L{layer}.H{head}"
                sums[key] = sums.get(key, 0.0) + float(effect.sum())
    return {k: v / data.n_pairs for k, v in sums.items()}


@dataclass
class Timing:
    """Best wall and CPU seconds over the rounds, and the effects of the last round."""

    wall: float = float("inf")
    cpu: float = float("inf")
    effects: Effects = field(default_factory=dict)

    def run(self, fn: Callable[[], Effects]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.effects = fn()
        self.wall = min(self.wall, time.perf_counter() - wall)
        self.cpu = min(self.cpu, time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="ioi")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds; each way keeps its best")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    target = load_model(args.model)
    data = load_task(args.task, target, n=args.n)
    heads = [c.id for c in all_heads(target.n_layers, target.n_heads)]
    wrapped = NNsight(target.model)
    print(f"{args.model} / {args.task}: {data.n_pairs} pairs in {len(data.buckets)} buckets "
          f"(lengths {[b.seq_len for b in data.buckets]}), {len(heads)} heads, noising; "
          f"torch {torch.__version__}, nnsight {nnsight.__version__}, torch threads {torch.get_num_threads()}")

    one = TaskData(data.task, data.buckets[:1])
    with torch.no_grad():  # warm-up: allocator, kernels, nnsight's first trace
        patch_sweep(target, one, heads[:9])
        with wrapped.trace(one.buckets[0].clean):
            wrapped.output.logits[:, -1].save()
        target.model(one.buckets[0].clean)

    ways = {
        "autointerp patch --method exact (engine)": lambda: patch_sweep(target, data, heads, "noising").effects,
        "plain PyTorch hooks, forward per head": lambda: naive_head_sweep(target, data),
        "nnsight, trace per head": lambda: nnsight_sweep(wrapped, target, data),
    }
    timings = {name: Timing() for name in ways}
    with torch.no_grad():
        for _ in range(args.rounds):
            for name, fn in ways.items():
                timings[name].run(fn)
    engine = timings["autointerp patch --method exact (engine)"]

    print(f"\n{'way':42s} {'wall s':>8s} {'x engine':>8s} {'CPU s':>8s} {'x engine':>8s} {'max |diff| to engine':>21s}")
    for name, t in timings.items():
        gap = max(abs(t.effects[h] - engine.effects[h]) for h in heads)
        print(f"{name:42s} {t.wall:8.2f} {t.wall / engine.wall:8.2f} {t.cpu:8.2f} {t.cpu / engine.cpu:8.2f} {gap:21.1e}")
    hooks, via_nnsight = timings["plain PyTorch hooks, forward per head"], timings["nnsight, trace per head"]
    print(f"\nengine vs the nnsight loop: {via_nnsight.wall / engine.wall:.1f}x faster by wall time, "
          f"{via_nnsight.cpu / engine.cpu:.1f}x by CPU time; vs the plain-hook loop: {hooks.wall / engine.wall:.1f}x / "
          f"{hooks.cpu / engine.cpu:.1f}x (best of {args.rounds} interleaved rounds each)")

if __name__ == "__main__":
    main()
