"""An independent reference for mean-ablation metrics: one full hooked forward per ablation set.

Shares no code with ``engine.evaluation.faithfulness`` (no batching of sets,
no resumed forwards, no cached residual stream); it only uses the
single-component ablation primitive ``engine.ablation.ablation_edits``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from engine import runner
from engine.ablation import ablation_edits
from engine.components import all_heads, all_mlps
from engine.hooks import trace
from engine.tasks import logit_diff


def mean_prompts(bucket, task, tokenizer, prepend_bos: bool) -> tuple[torch.Tensor, list[str]]:
    """The prompts a bucket's means average over and each one's template string, rebuilt from the task by hand.

    The bucket's corrupt prompts first, then every distinct corrupt prompt of ``task.reference`` that
    tokenises to the bucket's length and names a template one of the bucket's pairs names (not
    ``Bucket.reference``: the definition, re-derived).
    """
    names = [task.pairs[i].template for i in bucket.pair_index]
    rows = bucket.corrupt.tolist()
    seen: set[tuple[int, ...]] = set()
    for pair in task.reference:
        ids = tokenizer(pair.corrupt, add_special_tokens=False).input_ids
        ids = [tokenizer.bos_token_id, *ids] if prepend_bos and tokenizer.bos_token_id is not None else list(ids)
        if tuple(ids) in seen:
            continue
        seen.add(tuple(ids))
        if len(ids) == bucket.seq_len and pair.template in names[: bucket.n]:
            rows.append(ids)
            names.append(pair.template)
    return torch.tensor(rows, device=bucket.device), names


def mean_by_template(acts: torch.Tensor, names: list[str], n: int) -> torch.Tensor:
    """[rows, pos, ...] activations of ``mean_prompts`` -> [n, pos, ...]: row i's mean over every row of its template.

    A Python loop over the template strings (not ``Bucket.templates``): the definition, by hand.
    """
    return torch.stack([acts[[j for j, other in enumerate(names) if other == names[i]]].mean(dim=0)
                        for i in range(n)])


def every_component(target, mlps: bool = True) -> list[str]:
    """Every head id (and every MLP id when ``mlps``)."""
    ids = [c.id for c in all_heads(target.n_layers, target.n_heads)]
    return ids + ([c.id for c in all_mlps(target.n_layers)] if mlps else [])


@torch.no_grad()
def plain_metric(target, data, ablate: Iterable[str]) -> float:
    """Mean logit difference over the clean prompts with ``ablate`` mean-ablated, one forward per bucket."""
    ablate = list(ablate)
    total = 0.0
    for bucket in data.buckets:
        edits = ablation_edits(target, bucket, ablate, kind="mean") if ablate else {}
        with trace(target.adapter, edit=edits):
            logits = runner.forward(target.adapter, bucket.clean)
        total += float(logit_diff(logits, bucket.answer, bucket.distractor).sum())
    return total / data.n_pairs


def plain_f(target, data, keep: Iterable[str], mlps: bool = True) -> float:
    """Normalised faithfulness of ``keep`` with everything else (heads, and MLPs if ``mlps``) mean-ablated."""
    universe = every_component(target, mlps)
    keep = set(keep)
    full, empty = plain_metric(target, data, []), plain_metric(target, data, universe)
    return (plain_metric(target, data, [c for c in universe if c not in keep]) - empty) / (full - empty)
