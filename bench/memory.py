"""Benchmark: peak memory of a patching sweep under memory budgets, next to the estimate.

For the bundled model on IOI (every head, noising), runs the exact patching
sweep once per budget, each in a fresh child process so the figures do not
mix, and prints: the budget, the rows per batched forward it allows
(``engine.memory.rows_per_batch``), the estimated bytes of one row, the
measured peak memory of the sweep above the memory in use after loading the
model and the task, and the wall time. On a CPU the peak is the process's
peak resident set (Linux ``VmHWM``, reset after loading through
``/proc/self/clear_refs``); on a GPU it is ``torch.cuda.max_memory_allocated``.
No assertions.

Usage: ``python bench/memory.py [--model smollm2-135m] [--n 24] [--device auto]
[--budgets 64MiB,256MiB,1GiB,default]``
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
from engine.patching import patch_sweep
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
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--budgets", default="64MiB,256MiB,1GiB,default")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.model, args.n, args.device, args.child)))
        return
    print(f"{args.model}, IOI n={args.n}, exact patching of every head (noising); one child process per budget")
    for budget in args.budgets.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--model", args.model, "--n", str(args.n), "--device", args.device,
             "--child", budget], capture_output=True, text=True, check=True,
        )
        f = json.loads(out.stdout.strip().splitlines()[-1])
        estimate = f["rows"] * f["per_row_mib"]
        print(f"  budget {f['budget']:>8} ({f['source']}): {f['rows']:4d} rows/forward "
              f"(bucket of {f['largest_bucket']}, {f['tokens']} tokens; estimate {f['per_row_mib']:.2f} MiB/row, "
              f"{estimate:.0f} MiB/forward) -> measured peak {f['peak_above_load_mib']:.0f} MiB above the loaded "
              f"model, {f['seconds']:.1f} s on {f['device']}")


if __name__ == "__main__":
    main()
