"""Two knowledge tasks the bundled model performs: country capitals and antonyms.

Both swap the one content word of the prompt for another of the same token
length; the distractor is the corrupt prompt's own answer, so the clean logit
difference is positive and the corrupt one negative when the model recalls
the fact -- the circuit has to route *which* fact, not just "a capital".
"""

from __future__ import annotations

import random

from engine.tasks.base import Pair, Task

CAPITALS = {
    "France": "Paris", "England": "London", "Germany": "Berlin", "Italy": "Rome",
    "Spain": "Madrid", "Japan": "Tokyo", "Russia": "Moscow", "Egypt": "Cairo",
    "Greece": "Athens", "Austria": "Vienna", "Ireland": "Dublin", "Portugal": "Lisbon",
    "China": "Beijing", "Canada": "Ottawa", "Poland": "Warsaw", "Norway": "Oslo",
    "Sweden": "Stockholm", "Hungary": "Budapest", "Kenya": "Nairobi", "Peru": "Lima",
}
ANTONYMS = {
    "hot": "cold", "big": "small", "fast": "slow", "happy": "sad", "high": "low",
    "old": "young", "strong": "weak", "rich": "poor", "early": "late", "hard": "soft",
    "long": "short", "light": "dark", "wet": "dry", "open": "closed", "loud": "quiet",
    "full": "empty", "thick": "thin", "clean": "dirty", "cheap": "expensive", "true": "false",
}


def _usable(tokenizer, table: dict[str, str], template: str) -> dict[int, list[tuple[str, str]]]:
    """Entries whose answer is one token, grouped by the prompt's token length."""
    groups: dict[int, list[tuple[str, str]]] = {}
    for key, value in table.items():
        if len(tokenizer(" " + value, add_special_tokens=False).input_ids) != 1:
            continue
        length = len(tokenizer(template.format(key), add_special_tokens=False).input_ids)
        groups.setdefault(length, []).append((key, value))
    return {k: v for k, v in groups.items() if len(v) >= 2}


def _make(name, description, table, templates, tokenizer, n, seed) -> Task:
    rng = random.Random(seed)
    options = [(t, g) for t in templates for g in _usable(tokenizer, table, t).values()]
    pairs = []
    for i in range(n):
        template, group = options[i % len(options)]
        (key, value), (other, other_value) = rng.sample(group, 2)
        clean, corrupt = template.format(key), template.format(other)
        pairs.append(
            Pair(clean, corrupt, " " + value, " " + other_value, {"X": template.index("{}")},
                 origin=f"{name} pair {i + 1}", template=template)
        )
    return Task(name, description, pairs, ("X",))


def make_capitals(tokenizer, n: int = 40, seed: int = 0) -> Task:
    templates = ("The capital of {} is", "The capital city of {} is")
    return _make("capitals", "name the capital of a country", CAPITALS, templates, tokenizer, n, seed)


def make_antonyms(tokenizer, n: int = 40, seed: int = 0) -> Task:
    templates = ("The opposite of {} is", "The antonym of {} is")
    return _make("antonyms", "name the opposite of an adjective", ANTONYMS, templates, tokenizer, n, seed)
