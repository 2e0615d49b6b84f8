"""What is built in: model and task names with their descriptions, device and dtype spellings, as plain data.

Why a module of its own: listing what is available (``autointerp models``,
``autointerp tasks``, batch-spec validation) must not import torch or
transformers. ``engine.models`` and ``engine.tasks`` build on these tables;
``engine.models.placement`` turns the spellings into torch devices and dtypes
and checks that the machine has them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import DeviceError


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str


@dataclass(frozen=True)
class TaskInfo:
    name: str
    description: str
    default_n: int


BUNDLED_MODEL = "smollm2-135m"
TINY_MODELS = (
    "tiny-gpt2", "tiny-llama", "tiny-neox", "tiny-mistral", "tiny-qwen2", "tiny-qwen3", "tiny-gemma2", "tiny-gemma3",
)
#: each planted name is both a model (trained in-process, see engine.planted) and its task
PLANTED_MODELS = ("planted-induction", "planted-recall")

BUILTIN_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(BUNDLED_MODEL, "SmolLM2-135M-Instruct (Llama, 30 layers, 9 query / 3 KV heads, d=576); bundled, offline"),
    ModelInfo("tiny-gpt2", "random 3-layer GPT-2 (4 heads, d=64) for tests"),
    ModelInfo("tiny-llama", "random 3-layer Llama with grouped-query attention (6 query / 2 KV heads) for tests"),
    ModelInfo("tiny-neox", "random 3-layer GPT-NeoX (partial rotary, parallel residual) for tests"),
    ModelInfo("tiny-mistral", "random 3-layer Mistral (sliding window of 4 on every layer) for tests"),
    ModelInfo("tiny-qwen2", "random 3-layer Qwen2 (q/k/v biases, sliding-window upper layers) for tests"),
    ModelInfo("tiny-qwen3", "random 3-layer Qwen3 (QK-norm, sliding-window upper layers) for tests"),
    ModelInfo("tiny-gemma2", "random 3-layer Gemma 2 (one KV head, soft-capping, alternating sliding windows) "
              "for tests"),
    ModelInfo("tiny-gemma3", "random 3-layer Gemma 3 (QK-norm, local/global rotary, alternating sliding windows) "
              "for tests"),
    ModelInfo("planted-induction", "planted: 2-layer attention-only model trained on induction; known roles"),
    ModelInfo("planted-recall", "planted: 2-layer attention-only model trained on associative recall; known roles"),
)

BUILTIN_TASKS: dict[str, TaskInfo] = {
    t.name: t
    for t in (
        TaskInfo("ioi", "indirect object identification, ABC corruption", 48),
        TaskInfo("induction", "copy the continuation of a repeated random word sequence", 48),
        TaskInfo("capitals", "name a country's capital; corrupt = another country", 40),
        TaskInfo("antonyms", "name an adjective's opposite; corrupt = another adjective", 40),
        TaskInfo("planted-induction", "A B ... A -> B in random tokens; only on model planted-induction", 48),
        TaskInfo("planted-recall", "k1 v1 .. kn vn .. k -> v (associative recall); only on model planted-recall", 48),
    )
}

DEVICES = "auto, cpu, cuda, cuda:N or mps"
DTYPE_NAMES = ("float32", "bfloat16", "float16")
CUDA_DEVICE = re.compile(r"^cuda(?::(\d+))?$")


def device_spelling(spec: str) -> str:
    """``spec`` normalised (``" CUDA:1"`` -> ``"cuda:1"``) if it names a device kind; availability unchecked.

    Raises:
        DeviceError: not one of auto, cpu, cuda, cuda:N, mps.
    """
    text = spec.strip().lower()
    if text in ("auto", "cpu", "mps") or CUDA_DEVICE.match(text):
        return text
    raise DeviceError(f"Unknown device '{spec}'; use {DEVICES}.")


def dtype_spelling(spec: str) -> str:
    """``spec`` normalised (``"torch.bfloat16"`` -> ``"bfloat16"``) if it names a supported dtype.

    Raises:
        DeviceError: not one of float32, bfloat16, float16.
    """
    text = spec.strip().lower().removeprefix("torch.")
    if text not in DTYPE_NAMES:
        raise DeviceError(f"Unknown dtype '{spec}'; use {', '.join(DTYPE_NAMES)}.")
    return text
