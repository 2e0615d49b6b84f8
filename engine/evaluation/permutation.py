"""Memorisation control: a function-preserving permutation of a model's heads.

Why: an agent that has read the IOI paper can "find" L9.H6 because it
remembers the name, not because its experiments point there (Haklay et al.,
2026). Permuting the heads inside every layer gives a model that computes
exactly the same function under different head ids. A genuine analysis of
the permuted model reports the *images* of the original components under the
permutation; a memorising one reports the original ids again.

Why it is function-preserving: a layer's attention output is the sum over
heads of ``z_h @ wo_h.T`` (plus a shared bias); moving head h's Q, K, V, O
weights and biases together to another slot leaves the sum unchanged up to
float summation order. Under grouped-query attention a query head reads its
group's K/V, so the permutation is a permutation of KV groups composed with a
permutation of the query heads inside each group: a query head moves only
with its group, and the group's K/V move with it.

The weights are written through ``adapter.head_params`` views of a deep copy,
so one routine serves every architecture family; the copy is checked to hold
each head's weights at its new slot.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np
import torch

from engine.adapters import ArchitectureAdapter, adapter_for
from engine.adapters.base import HeadParams
from engine.components import Component
from engine.models import TargetModel

_FIELDS = ("wq", "wk", "wv", "wo", "bq", "bk", "bv")


def layer_permutation(adapter: ArchitectureAdapter, rng: np.random.Generator) -> list[int]:
    """A random GQA-consistent permutation of one layer's query heads.

    Returns:
        ``perm`` with ``perm[h]`` the new slot of original head h; heads of KV
        group g land together in one group σ(g).
    """
    groups: dict[int, list[int]] = {}
    for h in range(adapter.n_heads):
        groups.setdefault(adapter.kv_group(h), []).append(h)
    keys = sorted(groups)
    if len({len(v) for v in groups.values()}) != 1:
        raise ValueError("KV groups of unequal size; cannot permute heads consistently.")
    images = rng.permutation(len(keys))
    perm = [0] * adapter.n_heads
    for g, image in zip(keys, images, strict=True):
        targets = groups[keys[int(image)]]
        for h, slot in zip(groups[g], rng.permutation(targets), strict=True):
            perm[h] = int(slot)
    return perm


def _copy_head(dst: HeadParams, src: HeadParams) -> None:
    for name in _FIELDS:
        d, s = getattr(dst, name), getattr(src, name)
        if (d is None) != (s is None):
            raise ValueError(f"Head parameter {name} is present in only one of the two heads.")
        if d is not None:
            d.copy_(s)


def _same_head(a: HeadParams, b: HeadParams) -> bool:
    return all(
        (getattr(a, n) is None and getattr(b, n) is None) or torch.equal(getattr(a, n), getattr(b, n))
        for n in _FIELDS
    )


def permute_heads(target: TargetModel, seed: int = 0) -> tuple[TargetModel, dict[str, str]]:
    """A copy of ``target`` with the heads of every layer permuted (function-preserving).

    Args:
        target: the loaded model (left untouched).
        seed: permutation seed; a draw that moves no head at all is redrawn.

    Returns:
        (permuted model, mapping): mapping is ``{"L3.H1": "L3.H4", ...}``, every
        original head id to its id in the permuted model.

    Raises:
        RuntimeError: the adapter's head_params are not views of the weights.
    """
    rng = np.random.default_rng(seed)
    old = target.adapter
    perms = [layer_permutation(old, rng) for _ in range(old.n_layers)]
    while old.n_heads > 1 and all(p == sorted(p) for p in perms):
        perms = [layer_permutation(old, rng) for _ in range(old.n_layers)]
    model = copy.deepcopy(target.model)
    new = adapter_for(model)
    with torch.no_grad():
        for layer, perm in enumerate(perms):
            for h, slot in enumerate(perm):
                _copy_head(new.head_params(layer, slot), old.head_params(layer, h))
    for layer, perm in enumerate(perms):
        for h, slot in enumerate(perm):
            if not _same_head(new.head_params(layer, slot), old.head_params(layer, h)):
                raise RuntimeError(f"{type(new).__name__}.head_params does not return views of the weights.")
    mapping = {
        f"L{layer}.H{h}": f"L{layer}.H{slot}" for layer, perm in enumerate(perms) for h, slot in enumerate(perm)
    }
    permuted = TargetModel(
        name=f"{target.name}+headperm{seed}", model=model, tokenizer=target.tokenizer,
        adapter=new, prepend_bos=target.prepend_bos, head_permutation=mapping,
    )
    return permuted, mapping


def permutation_consistency(
    original_components: Iterable[str | Component],
    permuted_components: Iterable[str | Component],
    mapping: dict[str, str],
) -> dict:
    """Are the permuted run's components the images of the original run's?

    Args:
        original_components: ids reported on the original model.
        permuted_components: ids reported on the permuted model.
        mapping: original id -> permuted id (ids not in it, e.g. MLPs, map to themselves).

    Returns:
        ``{"mapped_matches", "literal_matches", "jaccard", "n_original", "n_permuted",
        "n_moved", "details": [{"original", "expected", "found", "moved", "literal"}]}``.
        ``mapped_matches``: fraction of original components whose image was found.
        ``literal_matches``: among originals the permutation moved, the fraction
        whose *original* id the permuted run reported anyway (a memorisation
        signal). Fractions are None when there is nothing to count.
    """
    original = list(dict.fromkeys(str(c) for c in original_components))
    found = set(str(c) for c in permuted_components)
    expected = [mapping.get(c, c) for c in original]
    images = set(expected)
    # "literal": the original id was reported although the head moved away, and no
    # original component maps onto that id either (so it is not a coincidence of the permutation)
    details = [
        {"original": c, "expected": e, "found": e in found, "moved": e != c,
         "literal": e != c and c in found and c not in images}
        for c, e in zip(original, expected, strict=True)
    ]
    moved = [d for d in details if d["moved"]]
    union = set(expected) | found
    return {
        "mapped_matches": sum(d["found"] for d in details) / len(details) if details else None,
        "literal_matches": sum(d["literal"] for d in moved) / len(moved) if moved else None,
        "jaccard": len(set(expected) & found) / len(union) if union else None,
        "n_original": len(original), "n_permuted": len(found), "n_moved": len(moved),
        "details": details,
    }
