"""Planted tasks: the prompts of the planted models, in those models' own vocabulary.

Each planted task (``planted-induction``, ...) is drawn from the same
generator its model was trained on (``engine.planted.episodes``), so the
task is in-distribution for that model and its roles name the positions the
mechanism uses (``A``/``B`` for induction, ``K``/``V`` for recall, ``END``
always). Prompts are words joined by single spaces,
one token per word; the words exist only in the planted model's tokenizer,
so running a planted task on another model is refused in one sentence.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from engine.errors import TaskFormatError
from engine.planted.episodes import Episode
from engine.planted.recipes import RECIPES, task_episode
from engine.tasks.base import Pair, Task

ROLE_NAMES = {"induction": ("A", "B"), "recall": ("K", "V")}
DESCRIPTIONS = {
    "induction": "continue a repeated random token sequence (A B ... A -> B); planted model only",
    "recall": "associative recall: the value stored with the query key (K V ... K -> V); planted model only",
}


def _offsets(words: tuple[str, ...]) -> list[int]:
    """Character offset of each word in ``" ".join(words)``."""
    out, at = [], 0
    for word in words:
        out.append(at)
        at += len(word) + 1
    return out


def check_vocabulary(name: str, tokenizer) -> None:
    """Refuse a tokenizer in which the planted task's words are not single tokens of their own."""
    for word in RECIPES[name].task_words:
        ids = tokenizer(" " + word, add_special_tokens=False).input_ids
        if len(ids) != 1 or tokenizer.decode(ids).strip() != word:
            raise TaskFormatError(
                f"Task '{name}' is written in the vocabulary of the planted model '{name}' "
                f"(the word {word!r} is not one token here); run it with --model {name}."
            )


def pair_from(name: str, episode: Episode, index: int) -> Pair:
    offsets = _offsets(episode.clean)
    roles = {role: offsets[i] for role, i in episode.roles.items() if role != "END"}
    return Pair(" ".join(episode.clean), " ".join(episode.corrupt), " " + episode.answer,
                " " + episode.distractor, roles, origin=f"{name} pair {index + 1}")


def planted_maker(name: str) -> Callable[..., Task]:
    """The task maker of planted task ``name`` (signature of the other built-in makers)."""
    family = RECIPES[name].family

    def make(tokenizer, n: int = 48, seed: int = 0) -> Task:
        check_vocabulary(name, tokenizer)
        rng = random.Random(seed)
        pairs = [pair_from(name, task_episode(family)(rng), i) for i in range(n)]
        return Task(name, DESCRIPTIONS[family], pairs, ROLE_NAMES[family], entities=RECIPES[name].task_words)

    make.__name__ = f"make_{name.replace('-', '_')}"
    return make
