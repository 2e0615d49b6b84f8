"""Benchmark: peak memory of a patching sweep under memory budgets, next to the estimate.

For the bundled model on IOI (every head, noising), runs the exact patching
sweep once per budget (a forward holds at most one bucket copy per head of
one layer, 9 on SmolLM2, so ``--n`` must be large enough for a budget to bind), each in a fresh child process so the figures do not
mix, and prints: the budget, the rows per batched forward it allows
(``engine.memory.rows_per_batch``), the estimated bytes of one row, the
measured peak memory of the sweep above the memory in use after loading the
model and the task and running one unpatched forward over it (which pages in
memory-mapped weights and kernel workspaces), and the wall time. On a GPU the
peak is ``torch.cuda.max_memory_allocated``. On a CPU it is the process's
peak resident set (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``),
measured twice: with glibc's default allocator, which keeps freed blocks of
up to 32 MiB for reuse and so grows the resident set beyond what is live,
and with ``MALLOC_MMAP_THRESHOLD_=131072``, which returns every freed large
block at once, so the peak is close to the memory actually live (slower).
No assertions.

Usage: ``python bench/memory.py [--model smollm2-135m] [--n 48] [--device auto]
[--budgets 64MiB,256MiB,default] [--allocators default,returning]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch

from engine.components import all_heads
from engine.memory import bytes_per_row, memory_budget, rows_per_batch
from engine.models import load_model
from engine.patching import patch_sweep, task_metrics
from engine.tasks import load_task


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(model: str, n: int, device: str, budget: str) -> dict:
    """One sweep under ``budget`` in this process; the figures as a dict."""
    if budget != "default":
        os.environ["AUTOINTERP_MEMORY_BUDGET"] = budget
    target = load_model(model, device=device)
    data = load_task("ioi", target, n=n)
    longest = max(b.seq_len for b in data.buckets)
    figures = {
        "budget": budget, "device": str(target.device), "source": memory_budget(target.device).source,
        "rows": rows_per_batch(target, longest), "per_row_mib": bytes_per_row(target.model.config, longest, target.dtype) / 2**20,
        "largest_bucket": max(b.n for b in data.buckets), "tokens": longest,
    }
    task_metrics(target, data)  # warm-up: pages in the (memory-mapped) weights and the kernels' workspaces
    cuda = target.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(target.device)
        before = torch.cuda.memory_allocated(target.device)
        torch.cuda.reset_peak_memory_stats(target.device)
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS to the current RSS
        before = _rss_kib("VmRSS") * 1024
    start = time.perf_counter()
    patch_sweep(target, data, all_heads(target.n_layers, target.n_heads), "noising")
    if cuda:
        torch.cuda.synchronize(target.device)
        peak = torch.cuda.max_memory_allocated(target.device)
    else:
        peak = _rss_kib("VmHWM") * 1024
    figures.update({"seconds": time.perf_counter() - start, "peak_above_load_mib": (peak - before) / 2**20})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--budgets", default="64MiB,256MiB,default")
    parser.add_argument("--allocators", default="default,returning", help="CPU allocator settings to measure")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.model, args.n, args.device, args.child)))
        return
    print(f"{args.model}, IOI n={args.n}, exact patching of every head (noising); one child process per run")
    allocators = {"default": {}, "returning": {"MALLOC_MMAP_THRESHOLD_": "131072"}}
    for budget in args.budgets.split(","):
        for allocator in args.allocators.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--model", args.model, "--n", str(args.n), "--device", args.device,
                 "--child", budget], capture_output=True, text=True, check=True,
                env={**os.environ, **allocators[allocator]},
            )
            f = json.loads(out.stdout.strip().splitlines()[-1])
            estimate = f["rows"] * f["per_row_mib"]
            where = f["device"] if f["device"] != "cpu" else f"cpu, {allocator} allocator"
            print(f"  budget {f['budget']:>8} ({f['source']}): {f['rows']:4d} rows/forward "
                  f"(bucket of {f['largest_bucket']}, {f['tokens']} tokens; estimate {f['per_row_mib']:.2f} MiB/row, "
                  f"{estimate:.0f} MiB/forward) -> measured peak {f['peak_above_load_mib']:.0f} MiB above the "
                  f"warmed-up model, {f['seconds']:.1f} s ({where})")
            if f["device"] != "cpu":
                break  # the allocator setting is a CPU matter


if __name__ == "__main__":
    main()
