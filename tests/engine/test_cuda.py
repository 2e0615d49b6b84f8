"""The adapter contract and the engine on a CUDA GPU (``device`` marker; skipped without one).

Why a module of its own: CPU tests cannot see a tensor left on the host
while the model sits on a GPU. This module loads every tiny family and the
bundled model on the GPU and runs the *same* contract functions as
``test_adapters.py`` on them, then checks that the engine's results on the
GPU match the CPU's (patching sweep, swaps, bfloat16), that the memory budget
reads the GPU's free memory, and that a whole ``explain`` run (every tool the
scripted agent calls, the evaluation) completes on the GPU.

``AUTOINTERP_TEST_DEVICE`` names the device (default ``cuda``); setting it to
``cpu`` runs the module on a machine without a GPU, to check the module itself.
"""

from __future__ import annotations

import os

import pytest
import torch

from autointerp import api
from engine import memory
from engine.evaluation.swap import swap_effects
from engine.models import load_model
from engine.patching import patch_sweep
from engine.tasks import load_task
from tests.conftest import ALL_MODELS
from tests.engine import test_adapters as contract

DEVICE = os.environ.get("AUTOINTERP_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.device,
    pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="PyTorch sees no CUDA GPU"),
]
CHECKS = [
    contract.test_runner_matches_hf_forward_bit_for_bit,
    contract.test_resume_from_cached_residual_matches,
    contract.test_read_and_write_back_unchanged_is_bit_identical,
    contract.test_component_values_match_independent_computation,
    contract.test_head_recomputed_from_weights_equals_hooked_head,
    contract.test_attention_input_point_is_the_attention_modules_input,
    contract.test_zero_ablating_head_equals_zeroing_its_output_weights,
    contract.test_hooks_are_removed_after_an_exception,
]


@pytest.fixture(scope="module", params=ALL_MODELS)
def on_device(request):
    return load_model(request.param, device=DEVICE)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("test_") for c in CHECKS])
def test_adapter_contract_on_the_device(on_device, check):
    assert on_device.device.type == torch.device(DEVICE).type
    check(on_device)


@pytest.mark.parametrize("name", ["tiny-gemma2", "tiny-qwen3", "tiny-llama"])
def test_patching_swaps_and_ablations_on_the_device_match_the_cpu(name, load):
    cpu, dev = load(name), load_model(name, device=DEVICE)
    comps = [f"L{layer}.H{h}" for layer in range(cpu.n_layers) for h in range(cpu.n_heads)]
    data_cpu, data_dev = load_task("ioi", cpu, n=6), load_task("ioi", dev, n=6)
    assert data_dev.buckets[0].clean.device == dev.device
    a, b = patch_sweep(cpu, data_cpu, comps), patch_sweep(dev, data_dev, comps)
    for c in comps:
        assert b.effects[c] == pytest.approx(a.effects[c], abs=1e-4)
    pairs = [("L1.H0", "L1.H1"), ("L2.H0", "L0.H1"), ("L1.H0", None)]  # None: the mean ablation that normalises distances
    for x, y in zip(swap_effects(cpu, data_cpu, pairs), swap_effects(dev, data_dev, pairs), strict=True):
        assert y.js_distance == pytest.approx(x.js_distance, abs=1e-4)


def test_bfloat16_on_the_device(load):
    dev = load_model("tiny-gemma2", device=DEVICE, dtype="bfloat16")
    assert dev.dtype == torch.bfloat16
    data = load_task("ioi", dev, n=6)
    result = patch_sweep(dev, data, ["L2.H0", "L2.H1", "L1.MLP"])
    assert all(isinstance(v, float) for v in result.effects.values())


def test_memory_budget_reads_the_device(load):
    dev = load_model("tiny-llama", device=DEVICE)
    budget = memory.memory_budget(dev.device)
    if dev.device.type == "cuda":
        assert "free memory on cuda" in budget.source
    assert memory.rows_per_batch(dev, 16) >= 1


def test_explain_end_to_end_on_the_device(tmp_path):
    outcome = api.explain(task="ioi", model="tiny-gemma2", n=4, max_steps=40, device=DEVICE,
                          db=f"sqlite:///{tmp_path / 'runs.db'}")
    assert outcome.status == "finished" and outcome.circuit
