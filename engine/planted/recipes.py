"""Training recipes of the planted models: everything that determines their weights.

Why a recipe is data: the cache is keyed by a fingerprint of the recipe (and
of the generators' version), so changing a step count, a seed or a sequence
generator retrains instead of silently loading a model trained differently.

Both models are Llama-architecture, attention-only transformers: their MLP
weights are fixed at zero (so every MLP output is exactly 0 and no mechanism
can hide there), with rotary positions so that "the previous token" is one
learnable relative offset. The ``decoys`` (one head per layer, at a
position that differs between models so that no head index gives the answer
away) are trained only on decoy sequences in their own vocabulary
(``episodes.decoy_sequence``), and ``head_dropout`` drops each head
independently during training so that several heads learn each job (the
redundancy that makes heads interchangeable). Six heads a layer, one of them a
decoy, leave five heads to each role: a 5 + 5 split of ten heads has 126
distinct relabellings, so the interchangeability score's random-relabelling
p can go well below 0.05 (a 3 + 3 split of six heads has only 10, so p could
never fall below about 0.1 whatever the roles).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

from engine.planted import episodes
from engine.planted.episodes import Episode, Sequence

#: bump when a generator in ``episodes`` or the training loop changes what a recipe produces
RECIPE_FORMAT = 2

Family = Literal["induction", "recall"]


@dataclass(frozen=True)
class Recipe:
    """How one planted model is built and trained (all fields enter the cache fingerprint)."""

    name: str
    family: Family
    description: str
    task_words: tuple[str, ...]
    n_layers: int
    n_heads: int
    decoys: tuple[tuple[int, int], ...]
    d_head: int
    main_steps: int
    decoy_steps: int
    batch: int
    decoy_batch: int
    lr: float
    warmup: int
    weight_decay: float
    head_dropout: float
    seed: int
    attempts: int
    min_accuracy: float

    @property
    def decoy_words(self) -> tuple[str, ...]:
        return episodes.DECOY_TOKENS

    @property
    def words(self) -> tuple[str, ...]:
        """The model's vocabulary after training (without specials): task words, then decoy words."""
        return (*self.task_words, *self.decoy_words)

    @property
    def d_model(self) -> int:
        return self.n_heads * self.d_head

    @property
    def heads(self) -> tuple[tuple[int, int], ...]:
        """Every (layer, head)."""
        return tuple((layer, head) for layer in range(self.n_layers) for head in range(self.n_heads))

    @property
    def task_heads(self) -> tuple[tuple[int, int], ...]:
        return tuple(h for h in self.heads if h not in self.decoys)

    def fingerprint(self) -> str:
        blob = json.dumps({"format": RECIPE_FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def training_sequence(family: Family) -> Callable[[random.Random], Sequence]:
    return {"induction": episodes.induction_sequence, "recall": episodes.recall_sequence}[family]


def task_episode(family: Family) -> Callable[[random.Random], Episode]:
    return {"induction": episodes.induction_episode, "recall": episodes.recall_episode}[family]


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            name="planted-induction", family="induction",
            description="2-layer attention-only Llama trained on repeated random tokens: "
                        "previous-token heads feed induction heads; decoy heads outside the circuit",
            task_words=episodes.INDUCTION_TOKENS,
            n_layers=2, n_heads=6, decoys=((0, 4), (1, 1)), d_head=16, main_steps=400, decoy_steps=200,
            batch=64, decoy_batch=32, lr=3e-3, warmup=100, weight_decay=0.01, head_dropout=0.3,
            seed=0, attempts=3, min_accuracy=0.9,
        ),
        Recipe(
            name="planted-recall", family="recall",
            description="2-layer attention-only Llama trained on associative recall (k1 v1 .. kn vn .. kq -> vq): "
                        "previous-token heads at the values feed retrieval heads; decoy heads outside the circuit",
            task_words=episodes.INDUCTION_TOKENS,
            n_layers=2, n_heads=6, decoys=((0, 1), (1, 5)), d_head=16, main_steps=400, decoy_steps=200,
            batch=64, decoy_batch=32, lr=3e-3, warmup=100, weight_decay=0.01, head_dropout=0.3,
            seed=0, attempts=3, min_accuracy=0.9,
        ),
    )
}
