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
# `make test` runs the suite on pytest-xdist workers: each gets its share of the cores (and so do the CLI
# processes it starts), so the workers' torch threads do not compete for the same cores.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _WORKERS)))

#: files whose tests are collected first. ``make test`` hands whole files to its workers in collection order
#: (``--dist loadfile --no-loadscope-reorder``); the longest file (two explain runs on the bundled model) then
#: starts at once on one worker while the other takes the rest, instead of being the suite's tail.
FIRST_FILES = ("tests/agents/test_bundled_ioi.py",)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in FIRST_FILES)  # stable: the rest keep their order


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
