"""Disguised tasks: the same behaviour under renamed entities, with the task's identity hidden.

Why: the head permutation (``engine.evaluation.permutation``) catches an
agent that recites a remembered circuit by its *ids*: the function stays, the
ids move. The disguise is its dual: the ids stay, the narrative moves. An LLM
that has read about IOI recognises "When Mary and John went to the store,
John gave a drink to", the task's name, its description and its role names
(IO, S1, S2). A disguised run shows it an unnamed task, neutral role names
(R1, R2, ...) and renamed entities ("When Apple and River went to the store,
River gave a drink to"), so a paper's narrative cannot be matched by name.
An evidence-following agent reports the same circuit, roles and (once the
renaming is undone, :meth:`Disguise.reveal`) descriptions as on the plain
task, because the model's mechanism is the same; an agent that recites what
it recognised on the plain task reports something else on the disguised one,
and the comparison (``agents.memorisation``) fails it.

What is renamed: a task declares its *entities* (``Task.entities``), the
words it can rename without changing the behaviour: IOI's names, induction's
random words, a planted task's tokens. Facts (capitals, antonyms) and JSONL
tasks declare none and are refused -- renaming Paris changes the fact. Each
entity gets an image: a common noun in the entity's case ("Mary" -> "Apple")
that is one token for the model and is not itself an entity; when the
tokenizer has too few such nouns (a planted model knows only its own tokens),
the entities are permuted among themselves with no fixed point. Template
words are kept: the disguise hides names, not grammar, and how much of the
behaviour survives the renaming is measured beside the check (the comparison
means nothing for a behaviour the renaming destroys).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.errors import TaskFormatError
from engine.tasks.base import Pair, Task

#: images of renamed entities (disjoint from every built-in task's entities; checked by a test)
NOUNS = (
    "cat", "dog", "book", "car", "tree", "bird", "fish", "hat", "cup", "door", "ship", "king", "moon", "star",
    "rain", "snow", "wind", "fire", "gold", "milk", "rice", "salt", "wine", "coat", "shoe", "ring", "bell",
    "drum", "lamp", "desk", "wall", "road", "farm", "hill", "lake", "park", "bank", "shop", "club", "game",
    "song", "film", "card", "coin", "gift", "bag", "box", "key", "map", "pen", "pipe", "rope", "wheel",
    "clock", "phone", "train", "plane", "truck", "boat", "bike", "sheep", "goat", "duck", "frog", "bear",
    "wolf", "lion", "deer", "mouse", "snake", "whale", "shark", "bee", "fox", "cow", "pig", "tea", "egg",
    "cake", "corn", "bean", "nut", "leaf", "root", "seed", "rock", "sand", "dust", "wood", "glue", "ink",
    "wire", "nail", "bolt", "tent", "roof", "gate", "tower", "bridge", "church", "school", "library", "beach",
)
#: what an agent is told about a disguised task instead of its name and description
DISGUISED_NAME = "unnamed-task"
DISGUISED_DESCRIPTION = ("an unnamed behaviour: the model should prefer the answer to the distractor (the task's "
                         "name, description, role names and entity words are hidden)")


@dataclass(frozen=True)
class Disguise:
    """How a task was disguised: entity word -> image, role name -> neutral name."""

    seed: int
    words: dict[str, str]
    roles: dict[str, str]
    #: ``nouns`` (entities renamed to nouns) or ``permutation`` (too few nouns: entities permuted among themselves)
    mode: str = "nouns"

    def reveal(self, text: str) -> str:
        """``text`` with every image and neutral role name replaced by the original it stands for."""
        back = {**{image: word for word, image in self.words.items()},
                **{neutral: role for role, neutral in self.roles.items()}}
        return _rename(text, back)[0]

    def to_json(self) -> dict[str, object]:
        return {"seed": self.seed, "words": dict(self.words), "roles": dict(self.roles), "mode": self.mode}


def _rename(text: str, mapping: Mapping[str, str]) -> tuple[str, Callable[[int], int]]:
    """``text`` with every whole-word occurrence of a key replaced by its value, and an offset map.

    Returns:
        the new text and ``moved(offset)``: where a character offset of ``text``
        lands in the new text (inside a renamed word: the same letter, or the
        image's last one when the image is shorter).
    """
    if not mapping:
        return text, lambda offset: offset
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in sorted(mapping, key=len, reverse=True))
                         + r")(?!\w)")
    pieces: list[str] = []
    spans: list[tuple[int, int, int, int]] = []  # old start, old end, new start, new length
    at, new_at = 0, 0
    for match in pattern.finditer(text):
        pieces.append(text[at:match.start()])
        new_at += match.start() - at
        image = mapping[match.group(1)]
        spans.append((match.start(), match.end(), new_at, len(image)))
        pieces.append(image)
        new_at += len(image)
        at = match.end()
    pieces.append(text[at:])

    def moved(offset: int) -> int:
        shift = 0
        for start, end, new_start, length in spans:
            if start <= offset < end:
                return new_start + min(offset - start, length - 1)
            if end <= offset:
                shift += length - (end - start)
        return offset + shift

    return "".join(pieces), moved


def _one_token(tokenizer, word: str) -> bool:
    """``word`` after a space is one token of its own (not an unknown-word token) for ``tokenizer``."""
    ids = tokenizer(" " + word, add_special_tokens=False).input_ids
    return len(ids) == 1 and tokenizer.decode(ids).strip() == word


def _derangement(words: list[str], rng: random.Random) -> list[str]:
    images = words[:]
    while any(a == b for a, b in zip(words, images, strict=True)):
        rng.shuffle(images)
    return images


def make_disguise(task: Task, tokenizer, seed: int) -> Disguise:
    """A deterministic disguise of ``task`` for ``tokenizer``: each entity's image and neutral role names.

    Raises:
        TaskFormatError: the task declares fewer than two entities (nothing it can rename safely).
    """
    entities = list(dict.fromkeys(task.entities))
    if len(entities) < 2:
        raise TaskFormatError(
            f"Task '{task.name}' declares no entity words that can be renamed without changing its behaviour, "
            "so it cannot be disguised (ioi, induction and the planted tasks can)."
        )
    rng = random.Random(seed)
    groups = {case: [w for w in entities if w[:1].isupper() is case] for case in (True, False)}
    # capitalised entities take capitalised nouns, the others lower-case ones
    pools = {case: [n for n in (noun.capitalize() if case else noun for noun in NOUNS)
                    if n not in entities and _one_token(tokenizer, n)] for case in groups}
    mode = "nouns" if all(len(pools[case]) >= len(group) for case, group in groups.items()) else "permutation"
    if mode == "nouns":
        words = {w: image for case, group in groups.items()
                 for w, image in zip(group, rng.sample(pools[case], len(group)), strict=True)}
    else:  # too few nouns this tokenizer knows (a planted model): permute the entities among themselves
        words = dict(zip(entities, _derangement(entities, rng), strict=True))
    roles = {role: f"R{i + 1}" for i, role in enumerate(task.role_names)}
    return Disguise(seed=seed, words={w: words[w] for w in entities}, roles=roles, mode=mode)


def disguise_task(task: Task, disguise: Disguise) -> Task:
    """``task`` with its entities renamed, its role names neutral and its name and description hidden.

    Role positions are carried through the renaming (a role at a renamed word
    stays at its image).
    """
    return Task(DISGUISED_NAME, DISGUISED_DESCRIPTION, [_disguise_pair(p, disguise) for p in task.pairs],
                tuple(disguise.roles.get(r, r) for r in task.role_names),
                entities=tuple(disguise.words[w] for w in dict.fromkeys(task.entities)),
                reference=[_disguise_pair(p, disguise) for p in task.reference], reference_seed=task.reference_seed)


def _disguise_pair(pair: Pair, disguise: Disguise) -> Pair:
    clean, moved = _rename(pair.clean, disguise.words)
    return Pair(
        clean=clean, corrupt=_rename(pair.corrupt, disguise.words)[0],
        answer=_rename(pair.answer, disguise.words)[0], distractor=_rename(pair.distractor, disguise.words)[0],
        roles={disguise.roles.get(role, role): moved(offset) for role, offset in pair.roles.items()},
        origin=f"{pair.origin} (disguised)" if pair.origin else "", template=pair.template,
    )
