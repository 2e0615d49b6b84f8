"""Tensors the engine and the tools create live on the model's device, and precision is explicit.

Why a static check as well as runtime tests: this machine has no GPU, so a
``torch.arange(n)`` that silently lands on the CPU while the model sits on a
GPU would pass every CPU test and fail (or round-trip through the host) on a
GPU. Every tensor factory call in the production floors must therefore name
its device, or say on its line why the host is meant (``# host:``), e.g. a
seeded CPU generator whose draw is moved to the device right after.

The runtime tests run a bfloat16 model through the engine: metrics come back
in float32 and everything runs without dtype mismatches.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from engine.evaluation.divergence import js_distance, last_token_logprobs
from engine.models import load_model
from engine.patching import patch_sweep
from engine.task_check import check_task
from engine.tasks import load_task, logit_diff

ROOT = Path(__file__).resolve().parents[2]
FLOORS = ("engine", "tools", "agents", "autointerp")
#: modules that only ever run on the host: planted models are trained and their truth established on
#: CPU copies that ``engine.planted`` creates and loads itself, never on a model placed by ``load_model``
HOST_MODULES = {"engine/planted/train.py", "engine/planted/truth.py"}
FACTORIES = {
    "arange", "zeros", "ones", "full", "empty", "tensor", "as_tensor", "eye", "linspace",
    "rand", "randn", "randint", "randperm",
}


def _unplaced_factory_calls() -> list[str]:
    found = []
    for floor in FLOORS:
        for path in sorted((ROOT / floor).rglob("*.py")):
            if str(path.relative_to(ROOT)) in HOST_MODULES:
                continue
            lines = path.read_text().splitlines()
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                owner = node.func.value
                if not (isinstance(owner, ast.Name) and owner.id == "torch" and node.func.attr in FACTORIES):
                    continue
                if any(k.arg == "device" for k in node.keywords):
                    continue
                span = lines[node.lineno - 1:(node.end_lineno or node.lineno)]
                if any("# host:" in line for line in span):
                    continue
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: torch.{node.func.attr}")
    return found


def test_every_tensor_factory_call_names_its_device():
    assert _unplaced_factory_calls() == []


def test_the_check_finds_an_unplaced_call(tmp_path, monkeypatch):
    """The static check can fail: a planted ``torch.zeros(3)`` is reported."""
    planted = tmp_path / "engine"
    planted.mkdir()
    (planted / "bad.py").write_text("import torch\nx = torch.zeros(3)\ny = torch.zeros(3, device='cpu')\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__, fromlist=["FLOORS"]), "FLOORS", ("engine",))
    assert _unplaced_factory_calls() == ["engine/bad.py:2: torch.zeros"]


@pytest.fixture(scope="module")
def bf16():
    return load_model("tiny-gemma2", dtype="bfloat16")


def test_bfloat16_model_metrics_come_back_in_float32(bf16):
    assert bf16.dtype == torch.bfloat16 and bf16.describe()["dtype"] == "bfloat16"
    data = load_task("ioi", bf16, n=4)
    assert data.buckets[0].clean.device == bf16.device
    logits = bf16.model(data.buckets[0].clean).logits
    assert logits.dtype == torch.bfloat16
    ld = logit_diff(logits, data.buckets[0].answer, data.buckets[0].distractor)
    assert ld.dtype == torch.float32
    # the subtraction happens after widening: equal to the float32 difference of the bf16 logits
    last = logits[:, -1].float()
    rows = torch.arange(len(ld))
    assert torch.equal(ld, last[rows, data.buckets[0].answer] - last[rows, data.buckets[0].distractor])
    assert js_distance(last_token_logprobs(logits), last_token_logprobs(logits)).dtype == torch.float64


def test_bfloat16_sweep_runs_and_tracks_float32(bf16, load):
    """A whole patching sweep runs in bfloat16 and its effects follow the float32 model's."""
    fp32 = load("tiny-gemma2")
    comps = [f"L{layer}.H{h}" for layer in range(3) for h in range(4)]
    low = patch_sweep(bf16, load_task("ioi", bf16, n=6), comps)
    high = patch_sweep(fp32, load_task("ioi", fp32, n=6), comps)
    a = torch.tensor([low.effects[c] for c in comps])
    b = torch.tensor([high.effects[c] for c in comps])
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.9
    check = check_task(bf16, load_task("ioi", bf16, n=4))
    assert isinstance(check.clean_metric, float)
