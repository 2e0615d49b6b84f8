"""What is built in: model and task names with their descriptions, as plain data.

Why a module of its own: listing what is available (``autointerp models``,
``autointerp tasks``, batch-spec validation) must not import torch or
transformers. ``engine.models`` and ``engine.tasks`` build on these tables.
"""

from __future__ import annotations

from dataclasses import dataclass


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
TINY_MODELS = ("tiny-gpt2", "tiny-llama", "tiny-neox")
#: each planted name is both a model (trained in-process, see engine.planted) and its task
PLANTED_MODELS = ("planted-induction", "planted-recall")

BUILTIN_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(BUNDLED_MODEL, "SmolLM2-135M-Instruct (Llama, 30 layers, 9 query / 3 KV heads, d=576); bundled, offline"),
    ModelInfo("tiny-gpt2", "random 3-layer GPT-2 (4 heads, d=64) for tests"),
    ModelInfo("tiny-llama", "random 3-layer Llama with grouped-query attention (6 query / 2 KV heads) for tests"),
    ModelInfo("tiny-neox", "random 3-layer GPT-NeoX (partial rotary, parallel residual) for tests"),
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
