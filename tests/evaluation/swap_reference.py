"""Independent references for weight swaps and head ablations (tests and benchmarks).

Why: the engine's swaps recompute one head with another's weights through
``compute_head`` inside ``trace`` edits. These references share none of that:
a swap writes the source head's weights into a copy of the model and lets the
Hugging Face attention compute the head there; an ablation replaces the
head's slice of the output projection's input with a plain PyTorch pre-hook.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from engine.adapters import adapter_for
from engine.evaluation.divergence import js_distance, last_token_logprobs
from engine.hooks import trace
from engine.models import TargetModel
from engine.tasks import TaskData, logit_diff
from tests.evaluation.ablation_reference import mean_by_template, mean_prompts

FIELDS = ("wq", "wk", "wv", "wo", "bq", "bk", "bv")


def split_head(cid: str) -> tuple[int, int]:
    layer, head = cid[1:].split(".H")
    return int(layer), int(head)


@torch.no_grad()
def reference_swapped_logits(target: TargetModel, ids: torch.Tensor, target_head: str, source_head: str) -> torch.Tensor:
    """Logits with ``source_head``'s weights at ``target_head``'s place, by weight rewrite.

    The source head's weights are written into the target's slot of a model copy
    (its whole KV group under GQA; only the target head's z is read), the HF
    attention computes z_j' there, and the original model's attention output is
    corrected by ``z_j' @ wo_j.T - z_i @ wo_i.T``.
    """
    (lt, ht), (ls, hs) = split_head(target_head), split_head(source_head)
    original = target.adapter
    clone = copy.deepcopy(target.model)
    clone_adapter = adapter_for(clone)
    dst, src = clone_adapter.head_params(lt, ht), original.head_params(ls, hs)
    for name in FIELDS:
        if getattr(dst, name) is not None:
            getattr(dst, name).copy_(getattr(src, name))
    for name in ("q_norm", "k_norm"):  # QK-norm (Qwen3, Gemma 3) travels with the head's parameters
        if getattr(dst, name) is not None:
            getattr(dst, name).weight.copy_(getattr(src, name).weight)
    with trace(clone_adapter, read=[target_head]) as cache:
        clone(ids)
    z_new = cache[target_head]
    with trace(original, read=[target_head]) as cache:
        target.model(ids)
    z_old = cache[target_head]
    delta = z_new @ src.wo.T - z_old @ original.head_params(lt, ht).wo.T
    with trace(original, edit={f"L{lt}.ATTN": lambda out: out + delta}):
        return target.model(ids).logits


@torch.no_grad()
def reference_swap_effects(target: TargetModel, data: TaskData, pairs: Sequence[tuple[str, str]]) -> list[tuple[float, float]]:
    """(mean JS distance, mean swapped logit difference) per swap, one rewritten-weights forward each."""
    sums = [[0.0, 0.0] for _ in pairs]
    for bucket in data.buckets:
        base = last_token_logprobs(target.model(bucket.clean).logits)
        for k, (t, s) in enumerate(pairs):
            logits = reference_swapped_logits(target, bucket.clean, t, s)
            sums[k][0] += float(js_distance(base, last_token_logprobs(logits)).sum())
            sums[k][1] += float(logit_diff(logits, bucket.answer, bucket.distractor).sum())
    return [(js / data.n_pairs, ld / data.n_pairs) for js, ld in sums]


@torch.no_grad()
def reference_ablation_effect(target: TargetModel, data: TaskData, head: str) -> tuple[float, float]:
    """(mean JS distance, mean logit difference) with ``head`` mean-ablated by a plain pre-hook.

    The mean is the head's slice of the output projection's input, averaged
    over the corrupt prompts of each pair's template per position (read with the same plain hook).
    """
    layer, h = split_head(head)
    proj = target.adapter.out_proj(layer)
    dh = target.adapter.d_head
    cols = slice(h * dh, (h + 1) * dh)
    js_sum = ld_sum = 0.0
    for bucket in data.buckets:
        seen: list[torch.Tensor] = []
        handle = proj.register_forward_pre_hook(lambda _m, args, seen=seen: seen.append(args[0][..., cols].clone()))
        try:
            prompts, names = mean_prompts(bucket, data.task, target.tokenizer, target.prepend_bos)
            target.model(prompts)
        finally:
            handle.remove()
        mean = mean_by_template(seen[0], names, bucket.n)

        def replace(_module, args, mean=mean):
            x = args[0].clone()
            x[..., cols] = mean
            return (x, *args[1:])

        base = last_token_logprobs(target.model(bucket.clean).logits)
        handle = proj.register_forward_pre_hook(replace)
        try:
            logits = target.model(bucket.clean).logits
        finally:
            handle.remove()
        js_sum += float(js_distance(base, last_token_logprobs(logits)).sum())
        ld_sum += float(logit_diff(logits, bucket.answer, bucket.distractor).sum())
    return js_sum / data.n_pairs, ld_sum / data.n_pairs
