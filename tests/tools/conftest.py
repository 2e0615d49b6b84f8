"""Fixtures for the experiment-tool tests: tiny models and small task data, loaded once.

Tests run single-threaded (restored afterwards): on a shared 2-core machine
OpenMP's busy-waiting makes two-thread CPU forwards many times slower as soon
as another process competes for a core, and these tests run many small forwards.
"""

from __future__ import annotations

import functools

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def data(load):
    """``data(model_name, task='ioi', n=8, seed=0)`` -> TaskData, cached per session."""
    from engine.tasks import load_task

    @functools.cache
    def task_data(model_name: str, task: str = "ioi", n: int = 8, seed: int = 0):
        return load_task(task, load(model_name), n=n, seed=seed)

    return task_data


@pytest.fixture
def make_ctx(load, data, tmp_path):
    """``make_ctx(model_name, task='ioi', n=8)`` -> a ToolContext with an artifact directory."""
    from tools.base import ToolContext

    def make(model_name: str, task: str = "ioi", n: int = 8, seed: int = 0):
        return ToolContext(load(model_name), data(model_name, task, n, seed), seed=0, artifact_dir=str(tmp_path / "artifacts"))

    return make


@pytest.fixture(scope="session")
def perturbed():
    """``perturbed(name)`` -> a private tiny model whose norm gains and biases are random too.

    Tiny models initialise 1-D parameters to HF defaults (gains 1, biases 0),
    which would hide a missing norm gain or bias in direct-effect code.
    """
    from engine.models import load_model

    @functools.cache
    def make(name: str):
        target = load_model(name)
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for pname, param in target.model.named_parameters():
                if param.dim() == 1:
                    base = 1.0 if pname.endswith("weight") else 0.0
                    param.copy_(base + 0.3 * torch.randn(param.shape, generator=gen))
        return target

    return make
