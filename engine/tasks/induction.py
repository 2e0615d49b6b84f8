"""Induction: continue a repeated sequence of random words.

Clean: a random sequence of common single-token words, then the same
sequence again up to some point; the answer is the word that followed the
current word the first time ("A B ... A" -> "B"). Corrupt: the second half is a
fresh random sequence of the same length, so nothing can be copied. The
distractor is another word of the first half, so the metric rewards copying
the *right* token rather than any in-context token.
"""

from __future__ import annotations

import random

from engine.tasks.base import Pair, Task

WORDS = ["apple", "river", "green", "table", "house", "water", "light", "stone", "music", "paper", "garden", "window", "mountain", "silver", "bread", "doctor", "market", "summer", "winter", "forest", "yellow", "orange", "castle", "ocean", "pencil", "camera", "letter", "bottle", "rabbit", "tiger", "planet", "engine", "butter", "chair", "cloud", "dream", "field", "flower", "glass", "horse", "island", "jacket", "kitchen", "lemon", "mirror", "night", "office", "pocket", "queen", "rocket", "sugar", "ticket", "valley", "wallet", "anchor", "basket", "candle", "dollar", "eagle", "farmer", "guitar", "hammer", "iron", "jungle"]
ROLES = ("A", "B")


def single_token_words(tokenizer) -> list[str]:
    return [w for w in WORDS if len(tokenizer(" " + w, add_special_tokens=False).input_ids) == 1]


def make_induction(tokenizer, n: int = 48, seed: int = 0, length: int = 12, repeat: int = 6) -> Task:
    """Generate ``n`` induction pairs: ``length`` words, then the first ``repeat`` again."""
    rng = random.Random(seed)
    words = single_token_words(tokenizer)
    pairs = []
    for i in range(n):
        seq = rng.sample(words, length)
        fresh = rng.sample([w for w in words if w not in seq], repeat)
        first = " ".join(seq)
        clean = first + " " + " ".join(seq[:repeat])
        corrupt = first + " " + " ".join(fresh)
        answer, distractor = seq[repeat], seq[rng.randrange(repeat + 1, length)]
        a_pos = len(" ".join(seq[: repeat - 1])) + (1 if repeat > 1 else 0)
        b_pos = len(" ".join(seq[:repeat])) + 1
        pairs.append(
            Pair(clean, corrupt, " " + answer, " " + distractor, {"A": a_pos, "B": b_pos},
                 origin=f"induction pair {i + 1}")
        )
    return Task("induction", "copy the token that followed the current token earlier", pairs, ROLES,
                entities=tuple(words))
