"""Sequences of the planted tasks: one generator per task, shared by training, the task and the truth.

Why one generator: a planted model's task must be drawn from the same
distribution the model was trained on, and its truth must be measured on
fresh draws of it. Each generator takes a ``random.Random`` (platform
independent and seedable) and returns words; callers turn them into ids
(training, truth) or prompt strings (``engine.tasks.planted``).

* **Induction** (``induction_sequence``/``induction_episode``): random
  distinct tokens ``t*``, in which a segment of random length is repeated:
  ``p1 .. pk s1 .. sL s1 .. sL f1 ..``. After ``s_r`` in the second copy
  the next token is ``s_{r+1}``, predictable only by finding the earlier
  ``s_r`` (induction). Roles: ``A`` is the first ``s_r``, ``B`` the first
  ``s_{r+1}`` (the answer's earlier occurrence), ``END`` the current token.
* **Associative recall** (``recall_sequence``/``recall_episode``): pairs
  ``k1 v1 .. kn vn`` of distinct random tokens, then queries ``kq vq``; after
  a queried key the next token is its stored value. Roles: ``K`` is the
  key's first occurrence, ``V`` the stored value (the answer's earlier
  occurrence), ``END`` the query key.
* **Decoy sequences** (``decoy_sequence``): tokens ``u*`` following a fixed
  skip rule ``x[i] = g(x[i - 3])`` (90 %), so the next token is read two
  positions back. Decoy heads learn this job on their own vocabulary; they
  exist so that every planted model has heads outside its task's circuit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

INDUCTION_TOKENS = tuple(f"t{i}" for i in range(50))
DECOY_TOKENS = tuple(f"u{i}" for i in range(24))
DECOY_SEED = 7
DECOY_LAG = 3
DECOY_NOISE = 0.1


@dataclass(frozen=True)
class Sequence:
    """A training sequence: words, and the indices ``i`` whose next word ``words[i + 1]`` is a target."""

    words: tuple[str, ...]
    targets: tuple[int, ...]


@dataclass(frozen=True)
class Episode:
    """One task prompt: clean and corrupt words of equal length, answer, distractor, role indices.

    ``roles`` maps a role name to an index into ``clean``; ``END`` is the last index.
    """

    clean: tuple[str, ...]
    corrupt: tuple[str, ...]
    answer: str
    distractor: str
    roles: dict[str, int] = field(default_factory=dict)


# ----- induction -------------------------------------------------------------

INDUCTION_LENGTH = 32
INDUCTION_SEGMENT = (4, 12)
INDUCTION_PROMPT = 20


def induction_sequence(rng: random.Random, length: int = INDUCTION_LENGTH) -> Sequence:
    """``length`` words with one repeated segment; targets are the predictable second-copy words."""
    seg = rng.randint(*INDUCTION_SEGMENT)
    start = rng.randint(0, length - 2 * seg)
    pool = rng.sample(INDUCTION_TOKENS, length - seg)
    prefix, segment, rest = pool[:start], pool[start:start + seg], pool[start + seg:]
    words = (*prefix, *segment, *segment, *rest)
    second = start + seg
    return Sequence(words, tuple(range(second, second + seg - 1)))


def induction_episode(rng: random.Random, length: int = INDUCTION_PROMPT) -> Episode:
    """A prompt ending inside the second copy: ``prefix, s1..sL, s1..sr`` -> ``s_{r+1}``.

    Corrupt: the earlier occurrence of the current token ``s_r`` (role ``A``)
    is replaced by a fresh token, so nothing says what followed ``s_r``; only
    that one position differs, and what the previous-token heads write at
    ``B`` changes with it, so patching sees both steps of the mechanism.
    Distractor: a later word of the segment (``s_{r+2}..sL``), so the metric
    rewards copying the right token, not any earlier one.
    """
    seg = rng.randint(*INDUCTION_SEGMENT)
    repeat = rng.randint(1, min(seg - 2, length - seg))
    start = length - seg - repeat
    pool = rng.sample(INDUCTION_TOKENS, start + seg + 1)
    prefix, segment, fresh = pool[:start], pool[start:start + seg], pool[start + seg]
    clean = (*prefix, *segment, *segment[:repeat])
    roles = {"A": start + repeat - 1, "B": start + repeat, "END": len(clean) - 1}
    corrupt = tuple(fresh if i == roles["A"] else w for i, w in enumerate(clean))
    return Episode(clean, corrupt, segment[repeat], rng.choice(segment[repeat + 1:]), roles)


# ----- associative recall ----------------------------------------------------------

RECALL_PAIRS = (4, 10)
RECALL_PROMPT = 21


def _pairs(rng: random.Random, n: int, extra: int) -> tuple[list[str], list[str], list[str]]:
    """``n`` distinct keys, ``n`` distinct values and ``extra`` fresh tokens, all different."""
    pool = rng.sample(INDUCTION_TOKENS, 2 * n + extra)
    return pool[:n], pool[n:2 * n], pool[2 * n:]


def recall_sequence(rng: random.Random, length: int = INDUCTION_LENGTH) -> Sequence:
    """``k1 v1 .. kn vn`` then queries ``kq vq`` in random order; targets are the queried values."""
    n = rng.randint(*RECALL_PAIRS)
    keys, values, _ = _pairs(rng, n, 0)
    words = [w for pair in zip(keys, values, strict=True) for w in pair]
    targets = []
    while len(words) + 2 <= length:
        q = rng.randrange(n)
        targets.append(len(words))
        words += [keys[q], values[q]]
    return Sequence(tuple(words), tuple(targets))


def recall_episode(rng: random.Random, length: int = RECALL_PROMPT) -> Episode:
    """``k1 v1 .. kn vn`` + earlier queries + ``kq`` -> ``vq`` (the value stored with ``kq``).

    Corrupt: every earlier occurrence of the query key (stored and queried)
    is replaced by one token absent from the prompt, so nothing says which
    value goes with the key; what the previous-token heads write at those
    values changes with it, so patching sees both steps of the mechanism.
    Distractor: another stored value.
    """
    n = rng.randint(*RECALL_PAIRS)
    keys, values, fresh = _pairs(rng, n, 1)
    words = [w for pair in zip(keys, values, strict=True) for w in pair]
    while len(words) + 1 < length:
        q = rng.randrange(n)
        words += [keys[q], values[q]]
    q = rng.randrange(n)
    clean = (*words, keys[q])
    corrupt = (*(fresh[0] if w == keys[q] else w for w in words), keys[q])
    roles = {"K": 2 * q, "V": 2 * q + 1, "END": len(clean) - 1}
    return Episode(clean, corrupt, values[q], rng.choice([v for i, v in enumerate(values) if i != q]), roles)


# ----- decoys ------------------------------------------------------------------


def decoy_rule() -> dict[str, str]:
    """The fixed map ``g`` of the decoy sequences (a seeded permutation of the decoy tokens)."""
    shuffled = list(DECOY_TOKENS)
    random.Random(DECOY_SEED).shuffle(shuffled)
    return dict(zip(DECOY_TOKENS, shuffled, strict=True))


def decoy_sequence(rng: random.Random, length: int = INDUCTION_LENGTH, rule: dict[str, str] | None = None) -> Sequence:
    """``u*`` words with ``x[i] = g(x[i - 3])`` except for 10 % noise; every word after the third is a target."""
    g = rule or decoy_rule()
    words = [rng.choice(DECOY_TOKENS) for _ in range(DECOY_LAG)]
    for i in range(DECOY_LAG, length):
        words.append(rng.choice(DECOY_TOKENS) if rng.random() < DECOY_NOISE else g[words[i - DECOY_LAG]])
    return Sequence(tuple(words), tuple(range(DECOY_LAG - 1, length - 1)))
