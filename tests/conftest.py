"""Shared fixtures: tests never download anything, and each model is loaded once per session."""

from __future__ import annotations

import functools
import os

import pytest

# Before torch is imported: OpenMP threads that spin while waiting make every
# forward many times slower when another process competes for the 2 cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: the tiny random models of the families added for real checkpoints (sliding windows, QK-norm, soft-caps)
NEW_FAMILY_MODELS = ("tiny-mistral", "tiny-qwen2", "tiny-qwen3", "tiny-gemma2", "tiny-gemma3")
ALL_MODELS = ("tiny-gpt2", "tiny-llama", "tiny-neox", *NEW_FAMILY_MODELS, "smollm2-135m")
#: the tiny models every engine and evaluation test runs on (the three named families of the issue included)
TINY_MODELS = ("tiny-gpt2", "tiny-llama", "tiny-neox", "tiny-gemma2", "tiny-gemma3", "tiny-qwen3")


@functools.cache
def cached_model(name: str):
    """Load a model once per test session (models are frozen; tests must not mutate them)."""
    from engine.models import load_model

    return load_model(name)


@pytest.fixture(scope="session")
def load():
    return cached_model


@pytest.fixture(params=ALL_MODELS)
def any_model(request):
    return cached_model(request.param)


@pytest.fixture(params=TINY_MODELS)
def tiny_model(request):
    return cached_model(request.param)


@pytest.fixture(scope="session")
def smollm():
    return cached_model("smollm2-135m")


IOI_TEST_CAP = 12
"""The circuit cap of the suite's IOI runs on the bundled model (the memorisation control uses it too)."""


@pytest.fixture(scope="session")
def ioi_smollm_run(tmp_path_factory, smollm):
    """One scripted IOI run on the bundled model (24 pairs, seed 0, circuits of up to ``IOI_TEST_CAP``
    components, not evaluated) and its store's URL.

    Shared by the slow tests that read such a run (the scripted agent's findings, the memorisation
    control's plain run), so the suite explains IOI on the bundled model once instead of once per test;
    the smaller cap halves the study (the default 20 is measured by `make demo` and the README).
    """
    import autointerp

    url = f"sqlite:///{tmp_path_factory.mktemp('ioi_smollm') / 'runs.db'}"
    return url, autointerp.explain(task="ioi", model="smollm2-135m", n=24, db=url, evaluate=False, target=smollm,
                                   params={"max_circuit": IOI_TEST_CAP})
