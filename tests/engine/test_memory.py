"""Batched sweeps size their batches from a stated, overridable memory budget.

The budget must bind: with ``AUTOINTERP_MEMORY_BUDGET`` set, no batched
forward of a patching sweep, a swap matrix or an ablation sweep holds more
rows than the budget allows (counted on the forwards themselves), and the
results equal those of the smallest possible batches.
"""

from __future__ import annotations

import pytest
import torch

from engine import memory, runner
from engine.errors import DeviceError
from engine.evaluation.faithfulness import ablated_metrics
from engine.evaluation.swap import swap_effects
from engine.patching import patch_sweep
from engine.tasks import load_task


def test_sizes_parse_in_decimal_and_binary_units():
    assert memory.parse_size("6GiB") == 6 * 2**30
    assert memory.parse_size("512MB") == 512 * 10**6
    assert memory.parse_size("2e9") == 2 * 10**9
    assert memory.parse_size(" 1.5 kib ") == 1536
    for bad in ("lots", "-3GB", "12 parsecs", ""):
        with pytest.raises(DeviceError, match=r"is not a size; write it like 8GiB, 512MB or 2e9 \(bytes\)\.$"):
            memory.parse_size(bad)


def test_the_estimate_grows_with_every_size_it_names(load):
    config = load("tiny-llama").model.config
    base = memory.bytes_per_row(config, 16, torch.float32)
    assert memory.bytes_per_row(config, 32, torch.float32) > base
    assert memory.bytes_per_row(config, 16, torch.bfloat16) < base
    # by hand: 16 tokens x (12*96 + 4*128 + 3*6*16) floats + the vocabulary row in float32 and 3x float64
    assert base == 16 * (12 * 96 + 4 * 128 + 3 * 6 * 16) * 4 + 49152 * (4 + 24)


def test_budget_comes_from_the_environment_then_the_machine(monkeypatch):
    monkeypatch.setenv("AUTOINTERP_MEMORY_BUDGET", "3MiB")
    stated = memory.memory_budget(torch.device("cpu"))
    assert stated.bytes == 3 * 2**20 and stated.source == "AUTOINTERP_MEMORY_BUDGET"
    assert memory.memory_budget(torch.device("cpu"), "1KB").bytes == 1000
    monkeypatch.delenv("AUTOINTERP_MEMORY_BUDGET")
    machine = memory.memory_budget(torch.device("cpu"))
    assert machine.source == "50% of available RAM" and machine.bytes > 0


def _forward_shapes(monkeypatch) -> list[tuple[int, int]]:
    """(rows, tokens) of every batched suffix forward run while the test lasts."""
    shapes: list[tuple[int, int]] = []
    original = runner.run_layers

    def counting(adapter, resid, start, stop=None, ctx=None):
        shapes.append((resid.shape[0], resid.shape[1]))
        return original(adapter, resid, start, stop, ctx)

    monkeypatch.setattr(runner, "run_layers", counting)
    return shapes


def _within(target, shapes, budget: int) -> bool:
    return all(rows * memory.bytes_per_row(target.model.config, tokens, target.dtype) <= budget
               for rows, tokens in shapes)


def test_patching_sweep_batches_bind_to_the_budget(load, monkeypatch):
    target = load("tiny-gemma2")
    data = load_task("ioi", target, n=6)
    comps = [f"L{layer}.H{h}" for layer in range(3) for h in range(4)]
    reference = patch_sweep(target, data, comps, max_rows=1)
    largest = max(b.n for b in data.buckets)
    longest = max(b.seq_len for b in data.buckets)
    budget = 2 * largest * memory.bytes_per_row(target.model.config, longest, target.dtype)
    monkeypatch.setenv("AUTOINTERP_MEMORY_BUDGET", str(budget))
    shapes = _forward_shapes(monkeypatch)
    sized = patch_sweep(target, data, comps)
    assert _within(target, shapes, budget)
    assert any(rows > largest for rows, _ in shapes)  # it did batch several copies
    for c in comps:
        assert sized.effects[c] == pytest.approx(reference.effects[c], abs=1e-5)


def test_swap_and_ablation_batches_bind_to_the_budget(load, monkeypatch):
    target = load("tiny-qwen3")
    data = load_task("ioi", target, n=6)
    pairs = [("L1.H0", "L1.H1"), ("L2.H3", "L0.H2"), ("L2.H0", "L2.H1"), ("L0.H0", "L0.H3"), ("L1.H2", "L1.H3")]
    sets = [frozenset(), frozenset({"L0.H1"}), frozenset({"L2.H2", "L1.H3"}), frozenset({"L1.H1"})]
    one_swap = swap_effects(target, data, pairs, swaps_per_batch=1)
    one_set = ablated_metrics(target, data, sets, sets_per_batch=1)
    largest = max(b.n for b in data.buckets)
    longest = max(b.seq_len for b in data.buckets)
    budget = 3 * largest * memory.bytes_per_row(target.model.config, longest, target.dtype)
    monkeypatch.setenv("AUTOINTERP_MEMORY_BUDGET", str(budget))
    assert memory.copies_per_batch(target, data) == 3
    shapes = _forward_shapes(monkeypatch)
    swapped = swap_effects(target, data, pairs)
    ablated = ablated_metrics(target, data, sets)
    assert _within(target, shapes, budget)
    assert any(rows > largest for rows, _ in shapes)
    for a, b in zip(swapped, one_swap, strict=True):
        assert a.js_distance == pytest.approx(b.js_distance, abs=1e-6)
    assert ablated == pytest.approx(one_set, abs=1e-5)


def test_a_budget_too_small_for_one_row_still_runs_one_row(load, monkeypatch):
    target = load("tiny-llama")
    data = load_task("ioi", target, n=4)
    monkeypatch.setenv("AUTOINTERP_MEMORY_BUDGET", "1KB")
    assert memory.rows_per_batch(target, 20) == 1
    assert memory.copies_per_batch(target, data) == 1


def test_a_bad_budget_is_one_sentence(load, monkeypatch):
    target = load("tiny-llama")
    data = load_task("ioi", target, n=4)
    monkeypatch.setenv("AUTOINTERP_MEMORY_BUDGET", "plenty")
    with pytest.raises(DeviceError, match="Memory budget 'plenty' is not a size"):
        patch_sweep(target, data, ["L0.H0"])
