"""Weight swap: run head j's parameters at head i's place ("swap j into i", DESIGN.md §7).

Why: an explanation that puts heads i and j in the same functional role
predicts that they are interchangeable *in the model*: computing head i's
output with head j's weights (its Q, its K/V group under GQA, its O) should
barely change the next-token distribution. The swap keeps everything that
belongs to the *place* -- layer i's normalised attention input, its rotary
positions and attention scale -- and changes only the *parameters*.

Mechanism: ``trace`` reads layer i's attention input ``x``
(``hooks.AttentionInput``) and edits the layer's attention output, adding

    delta = z_j' @ wo_j.T - z_i @ wo_i.T,

where ``z_j' = compute_head(layer_i, params_j, x)`` and ``z_i`` is head i's
own output, recomputed by the same ``compute_head`` path. Using the same code
for both terms makes a head swapped with itself (or with an exact copy of
itself) a bit-exact no-op instead of leaving a 1e-7 residue of the
difference between hand-written attention and SDPA.

Cost: a swap into layer l changes nothing before layer l, so the clean
residual stream is computed once per bucket (``runner.residual_stream``) and
each swapped forward resumes at the target head's layer -- which is never
later than the earlier layer of the pair for the direction that needs it.
Several swaps share one forward: the bucket is repeated along the batch
dimension and copy k carries swap k. Swaps are grouped by layer
(``batch_plan``) so a batch resumes as late as possible, and only the last
position is unembedded.
The tests and the benchmark compare it with an independent reference that
writes the source head's weights into a copy of the model
(``tests/evaluation/swap_reference.py``).

A pair whose source is ``None`` *mean-ablates* the target head instead: its
output at its place is replaced by its mean over the task's corrupt prompts
(per position, as faithfulness does). ``d(i ← ablated)`` is how much the
next-token distribution depends on head i's place at all; the calibrated
interchangeability distance divides every swap into i by it
(``interchangeability``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch

from engine import runner
from engine.ablation import corrupt_means
from engine.adapters.base import ArchitectureAdapter, BlockContext, HeadParams, compute_head
from engine.components import Component, parse_component
from engine.errors import ComponentError
from engine.evaluation.batching import Progress, batch_plan
from engine.evaluation.divergence import js_distance, last_token_logprobs
from engine.hooks import AttentionInput, trace
from engine.memory import copies_per_batch
from engine.models import TargetModel
from engine.tasks import TaskData, logit_diff

#: (target i, source j): compute head i's output with head j's parameters; source None = mean-ablate i.
HeadPair = tuple[str, str | None]
ABLATED = "mean-ablated"
"""The ``source`` of a swap outcome that mean-ablates its target instead of swapping."""


@dataclass(frozen=True)
class PlannedSwap:
    """One resolved swap: the target head's place and both heads' parameter views."""

    layer: int
    target: HeadParams
    source: HeadParams | None  # None: mean-ablate the target head
    target_id: str = ""


@dataclass
class SwapOutcome:
    """Effect of one swap, averaged over the task's clean prompts.

    ``js_distance`` is in nats^(1/2) (see ``divergence``); logit differences are
    the task metric before and after the swap.
    """

    target: str
    source: str
    js_distance: float
    logit_diff_clean: float
    logit_diff_swapped: float
    n_prompts: int

    @property
    def logit_diff_change(self) -> float:
        return self.logit_diff_swapped - self.logit_diff_clean

    def to_dict(self) -> dict:
        return {**asdict(self), "logit_diff_change": self.logit_diff_change}


def head_component(adapter: ArchitectureAdapter, text: str | Component) -> Component:
    """Parse a head id (``L3.H1``), range-checked; other component kinds are an error."""
    comp = text if isinstance(text, Component) else parse_component(text, adapter.n_layers, adapter.n_heads)
    if comp.kind != "head":
        raise ComponentError(f"'{comp.id}' is not an attention head; weight swaps need L<layer>.H<head> ids.")
    return comp


def plan_swap(adapter: ArchitectureAdapter, target: str | Component, source: str | Component | None) -> PlannedSwap:
    """Resolve "swap ``source`` into ``target``" (or "mean-ablate ``target``") to parameter views."""
    i = head_component(adapter, target)
    assert i.head is not None
    if source is None:
        return PlannedSwap(i.layer, adapter.head_params(i.layer, i.head), None, i.id)
    j = head_component(adapter, source)
    assert j.head is not None
    return PlannedSwap(i.layer, adapter.head_params(i.layer, i.head), adapter.head_params(j.layer, j.head), i.id)


def swap_delta(
    adapter: ArchitectureAdapter, swap: PlannedSwap, x: torch.Tensor, ctx: BlockContext,
    mean_z: torch.Tensor | None = None,
) -> torch.Tensor:
    """Change of the attention output when the swap (or ablation) is applied.

    Args:
        x: [batch, pos, d_model] normalised attention input at ``swap.layer``.
        ctx: block context (rotary) for this sequence length.
        mean_z: [n, pos, d_head] the target head's mean output over the corrupt
            prompts; needed when ``swap.source`` is None (mean ablation).

    Returns:
        [batch, pos, d_model] ``z_j' @ wo_j.T - z_i @ wo_i.T`` (``mean_z`` in place of ``z_j'``
        with ``wo_i`` for an ablation).
    """
    z_target, _ = compute_head(adapter, swap.layer, swap.target, x, ctx)
    if swap.source is None:
        assert mean_z is not None, "a mean ablation needs the head's mean output"
        return (mean_z - z_target) @ swap.target.wo.T
    z_source, _ = compute_head(adapter, swap.layer, swap.source, x, ctx)
    return z_source @ swap.source.wo.T - z_target @ swap.target.wo.T


@contextmanager
def swap_hooks(
    adapter: ArchitectureAdapter,
    swaps: Sequence[PlannedSwap | None],
    n: int,
    ctx: BlockContext,
    means: dict[str, torch.Tensor] | None = None,
) -> Iterator[None]:
    """Apply ``swaps[k]`` to batch rows ``k*n:(k+1)*n`` during forwards inside the block.

    Args:
        adapter: the model's adapter.
        swaps: one swap (or None, unswapped) per copy of the prompts in the batch.
        n: prompts per copy.
        ctx: block context of the batch (rotary cos/sin broadcast over the batch).
        means: head id -> [n, pos, d_head] mean output over the corrupt prompts of each pair's template,
            for the swaps that mean-ablate their target (``engine.ablation.corrupt_means``).

    Hooks are ``trace``'s: the attention input of each swapped layer is read,
    and the layer's attention output gets ``swap_delta`` added; they are
    removed on exit, also when the body raises.
    """
    by_layer: dict[int, list[tuple[int, PlannedSwap]]] = defaultdict(list)
    for k, swap in enumerate(swaps):
        if swap is not None:
            by_layer[swap.layer].append((k, swap))
    inputs = [AttentionInput(layer) for layer in by_layer]
    live: list[dict[str, torch.Tensor]] = []  # trace's cache, filled as the forward runs

    def apply(layer: int) -> Callable[[torch.Tensor], torch.Tensor]:
        def edit(output: torch.Tensor) -> torch.Tensor:
            x = live[0][AttentionInput(layer).id]
            out = output.clone()
            for k, swap in by_layer[layer]:
                rows = slice(k * n, (k + 1) * n)
                mean_z = None if swap.source is not None else (means or {})[swap.target_id]
                out[rows] = out[rows] + swap_delta(adapter, swap, x[rows], ctx, mean_z)
            return out

        return edit

    edits = {f"L{layer}.ATTN": apply(layer) for layer in by_layer}
    with trace(adapter, read=inputs, edit=edits, detach=False) as cache:
        live.append(cache)
        yield


class _Accumulator:
    """Pair-weighted sums over buckets of one swap's per-prompt values.

    The sums stay on the model's device (float64) until ``_outcomes`` reads
    them, so the swap loop never waits for the host.
    """

    def __init__(self) -> None:
        self.js: torch.Tensor | float = 0.0
        self.ld: torch.Tensor | float = 0.0
        self.n = 0

    def add(self, js: torch.Tensor, ld: torch.Tensor) -> None:
        self.js = self.js + js.double().sum()
        self.ld = self.ld + ld.double().sum()
        self.n += int(js.numel())


def _outcomes(pairs: Sequence[HeadPair], accs: list[_Accumulator], base_ld: float, n: int) -> list[SwapOutcome]:
    return [
        SwapOutcome(str(t), ABLATED if s is None else str(s), float(acc.js) / acc.n, base_ld / n,
                    float(acc.ld) / acc.n, acc.n)
        for (t, s), acc in zip(pairs, accs, strict=True)
    ]


def swap_effects(
    target: TargetModel,
    data: TaskData,
    pairs: Sequence[HeadPair],
    swaps_per_batch: int | None = None,
    progress: Progress | None = None,
) -> list[SwapOutcome]:
    """JS distance and metric change of each swap, over all clean prompts (fast path).

    Args:
        target: loaded model.
        data: tokenised task; every bucket's clean prompts are used.
        pairs: ``(target_head, source_head)`` ids; swap source into target
            (source None: mean-ablate the target head at its place).
        swaps_per_batch: swaps sharing one forward (batch = this × bucket size); None: as
            many as the memory budget allows (``engine.memory.copies_per_batch``).
        progress: ``progress(done, total)`` in (swap, bucket) evaluations.

    Returns:
        One ``SwapOutcome`` per pair, in the order given.
    """
    adapter = target.adapter
    planned = [plan_swap(adapter, t, s) for t, s in pairs]
    if not planned:
        return []
    per_batch = copies_per_batch(target, data) if swaps_per_batch is None else swaps_per_batch
    chunks = batch_plan([s.layer for s in planned], adapter.n_layers, per_batch)
    accs = [_Accumulator() for _ in planned]
    base_ld, n_total, done = 0.0, 0, 0
    with torch.no_grad():
        for bucket in data.buckets:
            resids, logits = runner.residual_stream(adapter, bucket.clean)
            base = last_token_logprobs(logits)
            base_ld += float(logit_diff(logits, bucket.answer, bucket.distractor).sum())
            n_total += bucket.n
            ablated = sorted({s.target_id for s in planned if s.source is None})
            means = corrupt_means(target, bucket, ablated) if ablated else {}
            for chunk in chunks:
                start = min(planned[p].layer for p in chunk)
                resid = resids[start].repeat(len(chunk), 1, 1)
                ctx = adapter.block_context(resid)
                with swap_hooks(adapter, [planned[p] for p in chunk], bucket.n, ctx, means):
                    final = runner.run_layers(adapter, resid, start, ctx=ctx)
                last = adapter.logits(final[:, -1:, :])[:, 0, :]
                for k, p in enumerate(chunk):
                    rows = last[k * bucket.n:(k + 1) * bucket.n]
                    accs[p].add(
                        js_distance(base, last_token_logprobs(rows)),
                        logit_diff(rows, bucket.answer, bucket.distractor),
                    )
                done += len(chunk)
                if progress is not None:
                    progress(done, len(planned) * len(data.buckets))
    return _outcomes(pairs, accs, base_ld, n_total)
