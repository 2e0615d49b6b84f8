"""Indirect object identification (Wang et al., 2022).

"When Mary and John went to the store, John gave a drink to" -> " Mary" (the
indirect object, IO) rather than " John" (the subject, S). Corruption is the
ABC distribution: the three name slots are filled with three other names, so
the prompt keeps its grammar and length but no longer says which name is the
IO; a model that solves IOI scores a clean logit difference far above zero and
a corrupt one near zero. Both BABA and ABBA orders are generated.
"""

from __future__ import annotations

import random

from engine.tasks.base import Pair, Task

NAMES = ["Mary", "John", "Tom", "James", "Dan", "Sarah", "Anna", "Mark", "Paul", "David", "Michael", "Kate", "Lisa", "Emma", "Peter", "Alex", "Jack", "Laura", "Rachel", "Steve", "Chris", "Jane", "George", "Frank", "Sam", "Ben", "Amy", "Lucy", "Ryan", "Adam", "Eric", "Kevin", "Robert", "Susan", "Helen", "Joe", "Tim", "Mike", "Bob", "Alice"]

# {A} and {B} are the two names of the first clause; {S} repeats the subject.
TEMPLATES = (
    "When {A} and {B} went to the store, {S} gave a drink to",
    "When {A} and {B} went to the park, {S} gave a ball to",
    "After {A} and {B} went to the office, {S} handed a letter to",
    "Then, {A} and {B} had a long argument, and afterwards {S} said to",
    "While {A} and {B} were working at the school, {S} gave a book to",
    "Friends {A} and {B} found a necklace at the beach. {S} gave it to",
)
ROLES = ("IO", "S1", "S2")


def _fill(template: str, a: str, b: str, s: str) -> tuple[str, dict[str, int]]:
    text = template.format(A=a, B=b, S=s)
    first_a = template.index("{A}")
    first_b = first_a + len(a) + (template.index("{B}") - template.index("{A}") - 3)
    s_pos = text.rindex(s, first_b + len(b))
    return text, {"A": first_a, "B": first_b, "S": s_pos}


def single_token_names(tokenizer) -> list[str]:
    """Names that are one token after a space for this tokenizer."""
    return [n for n in NAMES if len(tokenizer(" " + n, add_special_tokens=False).input_ids) == 1]


def make_ioi(tokenizer, n: int = 48, seed: int = 0) -> Task:
    """Generate ``n`` IOI pairs deterministically from ``seed``.

    Pairs come in counterbalanced couples: the same template, name order and
    corrupt prompt, with the two names' IO/S roles swapped. A name's prior
    (how likely the model says "Mary" anyway) then adds to one pair's metric
    and subtracts from the other's, so the task metric measures the IOI
    computation rather than name frequencies. The name order (BABA/ABBA) is
    drawn independently of the template, so a probe for one cannot read the other.
    """
    rng = random.Random(seed)
    names = single_token_names(tokenizer)
    pairs: list[Pair] = []
    couple = 0
    while len(pairs) < n:
        template = TEMPLATES[couple % len(TEMPLATES)]
        first, second, c1, c2, c3 = rng.sample(names, 5)
        baba = rng.random() < 0.5
        corrupt, _ = _fill(template, c1, c2, c3)
        for io, s in ((first, second), (second, first)):
            if len(pairs) == n:
                break
            a, b = (io, s) if baba else (s, io)
            clean, pos = _fill(template, a, b, s)
            io_key, s_key = ("A", "B") if baba else ("B", "A")
            roles = {"IO": pos[io_key], "S1": pos[s_key], "S2": pos["S"]}
            pairs.append(Pair(clean, corrupt, " " + io, " " + s, roles, origin=f"ioi pair {len(pairs) + 1}",
                              template=template))
        couple += 1
    return Task("ioi", "indirect object identification (ABC corruption, counterbalanced names)", pairs, ROLES,
                entities=tuple(names))
