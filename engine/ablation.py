"""Ablation primitives: what "removing" a component means, made explicit.

Why three kinds: zero-ablation takes the activation off the data manifold and
can overstate a component's importance; mean-ablation (over the task's corrupt
distribution, per position, as in MIB) keeps the average signal and removes
only the pair-specific information; resample-ablation substitutes the
activation of another corrupt prompt, keeping the variance too. Every result
in this project states which one it used.

Means are per position and per template: position ``p`` of a pair is
averaged only with position ``p`` of the corrupt prompts of the same
template in its bucket (``Pair.template``; pairs naming no template share
the bucket's mean). Why per template, as Wang et al.'s IOI code does
(``compute_means_by_template``): two templates of one token length put
different words at one position ("store" / "park"), and a mean across them
would erase the template's words as well as the pair's entities, charging a
circuit for information every prompt of its template carries.

Why a reference draw joins the average (``Bucket.reference``): a run of 32
IOI pairs has 2-3 distinct corrupt prompts per template, and their mean is
nearer one resample than the distribution's mean -- it keeps those prompts'
particular names, which the ablated circuit then has to fight. Built-in
tasks carry a larger draw of the same distribution (never scored, never
shown to the agent; the evaluation's held-out prompts carry a draw of their
own), and its distinct corrupt prompts of the bucket's length and templates
are averaged with the bucket's own. The bucket's rows count as they are (an
IOI couple's shared corrupt prompt twice, as its two pairs are scored), the
reference's once each.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch

from engine import runner
from engine.components import Component
from engine.hooks import EditFn, trace
from engine.memory import rows_per_batch
from engine.models import TargetModel
from engine.tasks import Bucket

AblationKind = Literal["zero", "mean", "resample"]


def component_ids(components: Iterable[str | Component]) -> list[str]:
    return [c.id if isinstance(c, Component) else c for c in components]


def activations(target: TargetModel, prompts: torch.Tensor, ids: list[str]) -> dict[str, torch.Tensor]:
    """Activations of ``ids`` on ``prompts`` [rows, pos]: id -> [rows, pos, ...], run in chunks of the rows
    the memory budget allows (``engine.memory.rows_per_batch``)."""
    chunk = rows_per_batch(target, int(prompts.shape[1]))
    chunks: list[dict[str, torch.Tensor]] = []
    for start in range(0, prompts.shape[0], chunk):
        with torch.no_grad(), trace(target.adapter, read=ids) as cache:
            runner.forward(target.adapter, prompts[start:start + chunk])
        chunks.append(dict(cache))
    return {cid: torch.cat([c[cid] for c in chunks]) for cid in ids}


def corrupt_activations(
    target: TargetModel, bucket: Bucket, components: Iterable[str | Component]
) -> dict[str, torch.Tensor]:
    """Activations of ``components`` on the bucket's corrupt prompts: id -> [n, pos, ...]."""
    return activations(target, bucket.corrupt, component_ids(components))


def template_means(acts: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
    """Each row replaced by the mean of the rows of its template.

    Args:
        acts: [n, pos, ...] activations of one bucket's corrupt prompts.
        templates: [n] template index of each row.

    Returns:
        [n, pos, ...]: row i is the mean of ``acts[templates == templates[i]]``.
    """
    index = templates.to(acts.device)
    n_groups = int(index.max()) + 1 if index.numel() else 0
    flat = acts.reshape(acts.shape[0], -1).float()  # summed in float32: exact counts, stable in half precision
    one_hot = torch.nn.functional.one_hot(index, n_groups).float()  # [n, groups]: a matmul, deterministic on GPU
    means = (one_hot.T @ flat) / one_hot.sum(dim=0).unsqueeze(1)
    return means[index].reshape(acts.shape).to(acts.dtype)


def corrupt_means(
    target: TargetModel, bucket: Bucket, components: Iterable[str | Component]
) -> dict[str, torch.Tensor]:
    """Mean-ablation values of ``components`` for the bucket's rows: id -> [n, pos, ...].

    Row i holds, per position, the mean over the corrupt prompts of its template: the bucket's own and
    its reference prompts (``template_means`` over both, read back at the bucket's rows).
    """
    acts = activations(target, torch.cat([bucket.corrupt, bucket.reference]), component_ids(components))
    templates = torch.cat([bucket.templates, bucket.reference_templates])
    return {cid: template_means(a, templates)[: bucket.n] for cid, a in acts.items()}


def ablation_edits(
    target: TargetModel,
    bucket: Bucket,
    components: Iterable[str | Component],
    kind: AblationKind = "mean",
    seed: int = 0,
    batch_repeat: int = 1,
) -> dict[str, EditFn]:
    """Edit functions that ablate ``components`` on a forward over this bucket.

    Args:
        target: the loaded model.
        bucket: the prompts the ablated forward will run on (its corrupt prompts and its reference
            define the mean, ``corrupt_means``; its corrupt prompts alone the resample distribution).
        components: ids to ablate.
        kind: ``zero``, ``mean`` (per-position mean over the corrupt prompts of the pair's template) or
            ``resample`` (the activation of a random other corrupt prompt).
        seed: resampling seed.
        batch_repeat: the ablated forward's batch is the bucket repeated this many times.

    Returns:
        id -> edit function, for ``hooks.trace(edit=...)``.
    """
    ids = component_ids(components)
    if kind == "zero":
        return {cid: torch.zeros_like for cid in ids}
    if kind == "mean":
        means = corrupt_means(target, bucket, ids)
        return {cid: _constant(means[cid].repeat(batch_repeat, *[1] * (means[cid].dim() - 1))) for cid in ids}
    acts = corrupt_activations(target, bucket, ids)
    if kind == "resample":
        gen = torch.Generator().manual_seed(seed)  # a host generator: the same draw on every device
        n = bucket.n
        # a derangement-free random draw: any other prompt, never the same index
        shift = (
            torch.randint(1, max(n, 2), (n,), generator=gen)  # host: seeded CPU draw, moved below
            if n > 1 else torch.zeros(1, dtype=torch.long)  # host: moved below
        )
        source = ((torch.arange(n) + shift) % n).to(bucket.device)  # host: moved to the device here
        return {cid: _constant(acts[cid][source].repeat(batch_repeat, *[1] * (acts[cid].dim() - 1))) for cid in ids}
    raise ValueError(f"Unknown ablation kind '{kind}'; use zero, mean or resample.")


def _constant(value: torch.Tensor) -> EditFn:
    def edit(current: torch.Tensor) -> torch.Tensor:
        return value.expand_as(current).clone()

    return edit
