"""Batch sizes from a memory budget: how many prompt copies a batched sweep runs at once.

Why: exact patching, weight swaps and ablation sets share forwards by
repeating a bucket of prompts along the batch (``engine.patching``,
``engine.evaluation.swap``, ``engine.evaluation.faithfulness``). On the
bundled 135M model 512 rows cost about a gigabyte; on a 2B-parameter model
with a 256k-token vocabulary the same batch would not fit a 24 GB GPU. So
the batch is sized from a budget instead of a constant.

The budget (bytes for activations, on top of the loaded model) is stated,
in this order:

1. an explicit ``budget`` argument, or ``AUTOINTERP_MEMORY_BUDGET`` (e.g.
   ``6GiB``, ``512MB``, ``2e9`` bytes);
2. else on a CUDA device: ``CUDA_SHARE`` of the memory free on it now
   (``torch.cuda.mem_get_info``, after the model was loaded);
3. else (CPU, MPS): ``HOST_SHARE`` of the RAM the OS reports available.

One batch row is one prompt copy of ``seq_len`` tokens running the suffix of
a forward under ``no_grad``. Its estimate (``bytes_per_row``) is an upper
bound of what is alive at once: the residual stream and the tensors around
one block (``RESID_COPIES * d_model``, counting the clones that hook edits
make), the MLP's hidden activations (``MLP_COPIES * d_mlp``), one layer's
attention scores (``SCORE_COPIES * n_heads * seq_len``), all in the model's
dtype, plus the last position's logits in the model's dtype and as the
float64 log-probabilities the JS distance needs (``VOCAB_FLOAT64_COPIES``).
``bench/memory.py`` prints measured peaks next to the estimate.

Rows are also capped (``ROW_CAP``): on a CPU larger batches stop paying for
themselves long before memory runs out.

On a CPU the budget bounds the memory *live* in a forward. glibc's allocator
keeps freed blocks (up to 32 MiB each) for reuse, so the process's resident
set can grow past that by a few hundred MiB over a long sweep;
``MALLOC_MMAP_THRESHOLD_=131072`` makes it return them at once (slower). The
budget's shares leave room for this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psutil
import torch

from engine.config import settings
from engine.errors import DeviceError

CUDA_SHARE = 0.6
HOST_SHARE = 0.5
RESID_COPIES = 12
MLP_COPIES = 4
SCORE_COPIES = 3
VOCAB_FLOAT64_COPIES = 3
#: most rows per batched forward, by device type (larger batches help a GPU, not a CPU)
ROW_CAP = {"cpu": 512, "mps": 1024, "cuda": 8192}
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Budget:
    """Bytes a batched sweep may use for activations, and where the figure came from."""

    bytes: int
    source: str


def parse_size(text: str) -> int:
    """``"6GiB"`` -> 6442450944; plain numbers are bytes.

    Raises:
        DeviceError: not a size.
    """
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS or float(match.group(1)) <= 0:
        raise DeviceError(f"Memory budget '{text}' is not a size; write it like 8GiB, 512MB or 2e9 (bytes).")
    return int(float(match.group(1)) * _UNITS[unit])


def memory_budget(device: torch.device, budget: int | str | None = None) -> Budget:
    """The activation budget on ``device`` (see the module docstring for the order)."""
    if budget is not None:
        return Budget(parse_size(budget) if isinstance(budget, str) else int(budget), "argument")
    configured = settings().memory_budget
    if configured:
        return Budget(parse_size(configured), "AUTOINTERP_MEMORY_BUDGET")
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return Budget(int(free * CUDA_SHARE), f"{CUDA_SHARE:.0%} of free memory on {device}")
    available = psutil.virtual_memory().available
    return Budget(int(available * HOST_SHARE), f"{HOST_SHARE:.0%} of available RAM")


def bytes_per_row(config, seq_len: int, dtype: torch.dtype) -> int:
    """Estimated peak bytes of one batch row (one prompt copy) of a suffix forward.

    Args:
        config: the model's HF config (sizes are read from it).
        seq_len: tokens per prompt.
        dtype: the model's parameter dtype (activations share it).
    """
    d_model = int(config.hidden_size)
    d_mlp = int(getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * d_model)
    n_heads = int(config.num_attention_heads)
    vocab = int(config.vocab_size)
    elem = torch.finfo(dtype).bits // 8
    per_token = RESID_COPIES * d_model + MLP_COPIES * d_mlp + SCORE_COPIES * n_heads * seq_len
    return seq_len * per_token * elem + vocab * (elem + 8 * VOCAB_FLOAT64_COPIES)


def rows_per_batch(target, seq_len: int, budget: int | str | None = None) -> int:
    """How many prompt rows of ``seq_len`` tokens one batched forward of ``target`` may hold (>= 1)."""
    device = target.device
    per_row = bytes_per_row(target.model.config, seq_len, target.dtype)
    fits = memory_budget(device, budget).bytes // per_row
    return int(max(1, min(ROW_CAP.get(device.type, ROW_CAP["cpu"]), fits)))


def copies_per_batch(target, data, budget: int | str | None = None) -> int:
    """How many copies of the largest bucket of ``data`` fit one forward (swaps, ablation sets; >= 1)."""
    longest = max(b.seq_len for b in data.buckets)
    largest = max(b.n for b in data.buckets)
    return max(1, rows_per_batch(target, longest, budget) // largest)
