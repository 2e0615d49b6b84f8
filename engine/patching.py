"""Exact activation patching, batched so that a sweep does not pay a forward per component.

Why patching: correlation between an activation and a behaviour says little
about whether the model *uses* that activation. Patching intervenes: run the
model on one input and overwrite one component's activation with its value on
another input, and measure how the task metric moves. Two directions answer
two questions (DESIGN.md §6):

* **noising** -- clean input, the corrupt activation patched in. A large drop
  means the component is *necessary*: the clean behaviour needs its clean value.
* **denoising** -- corrupt input, the clean activation patched in. A large rise
  means the component is *sufficient* (with the rest of the corrupt run) to
  restore the behaviour.

In both, ``effect = metric(patched run) - metric(unpatched run of the same
input)``, with ``metric`` the mean logit difference ``logit(answer) -
logit(distractor)`` at the last position over all pairs (buckets weighted by
size). A sweep patches every component separately.

Why the engine looks like this (TransformerLens' ``patching`` module does the
same job with one full forward per component; this one is cheaper):

1. **Cache the prefix once.** Patching a component of layer ``l`` cannot change
   anything before layer ``l``, so the residual stream entering every layer of
   the input run is computed once (``runner.residual_stream``) and each patched
   run resumes at its own layer. Over a sweep of all heads that alone halves
   the work (sum over layers of ``(n_layers - l) / n_layers``).
2. **Batch the suffix.** All components whose patched runs start at the same
   layer share one forward: the bucket is repeated ``k`` times along the batch
   dimension and copy ``i`` gets component ``i`` patched, through edit
   functions that write only their copy's rows. Components are independent
   across copies because every operation in a transformer is per sequence.
3. **Read only what the metric needs.** The metric reads two logits at the
   last position, so the unembedding (a large ``[d_model, vocab]`` matmul) runs
   on the last position only.

The unpatched baseline is computed the same way (cached final residual, last
position). A patch that would write exactly the values already there (same
activation on both inputs, ``alpha = 0``) *is* the unpatched run, so it is not
run and its effect is exactly 0 -- a batched forward can differ from the
unbatched baseline in the last float bits, since matmul kernels depend on the
batch shape. A test checks the engine against a naive loop (a plain hook and a
full ``model(ids)`` forward per component) to 1e-5.

Residual-stream components (``L{l}.RESID``) are patched by writing the cached
tensor itself rather than through a hook. ``positions`` restricts patching to
token positions: integers (negative count from the end) or the task's role
names (``IO``, ``S1``, ``END`` ...), resolved per pair. ``alpha`` interpolates:
the patched value is ``input + alpha * (source - input)``, which is what the
first-order check of attribution patching needs (``alpha -> 0``).

The same engine runs ablations: ``replacement_sweep`` takes any function
producing replacement activations (zero, mean, resample) instead of the other
input's activations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from engine import runner
from engine.adapters.base import ArchitectureAdapter
from engine.components import Component, parse_component
from engine.errors import AutointerpError
from engine.hooks import EditFn, trace
from engine.memory import rows_per_batch
from engine.models import TargetModel
from engine.tasks import Bucket, TaskData, logit_diff

Direction = Literal["noising", "denoising"]
Side = Literal["clean", "corrupt"]
PositionSpec = Sequence[int | str] | None
#: (bucket, activations of the input run by id) -> replacement activations by id
ReplacementFn = Callable[[Bucket, dict[str, torch.Tensor]], dict[str, torch.Tensor]]
StepFn = Callable[[int], None]


class PatchingError(AutointerpError):
    """A patching request that cannot run: bad direction, position or component."""


@dataclass
class SweepResult:
    """Effects of a sweep (patched metric minus unpatched metric, per component or set)."""

    effects: dict[str, float]
    clean_metric: float
    corrupt_metric: float
    n_pairs: int
    direction: str
    per_pair: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class InputRun:
    """One unpatched run of a bucket: residual stream, component activations, metric.

    Shapes: ``resids[l]`` [n, pos, d_model] for l in 0..n_layers; ``acts[id]``
    [n, pos, d_head or d_model]; ``metric`` [n] per-pair logit difference.
    """

    resids: list[torch.Tensor]
    acts: dict[str, torch.Tensor]
    metric: torch.Tensor


def sides(direction: str) -> tuple[Side, Side]:
    """(input side, source side) of a direction: noising = (clean, corrupt)."""
    if direction == "noising":
        return "clean", "corrupt"
    if direction == "denoising":
        return "corrupt", "clean"
    raise PatchingError(f"Unknown direction '{direction}'; use noising or denoising.")


def as_components(target: TargetModel, components: Iterable[str | Component]) -> list[Component]:
    """Parse and range-check component ids (PatchingError names the valid range)."""
    out = []
    for c in components:
        if isinstance(c, Component):
            out.append(c)
            continue
        try:
            out.append(parse_component(c, target.n_layers, target.n_heads))
        except AutointerpError as exc:
            raise PatchingError(str(exc)) from None
    return out


def resolve_positions(bucket: Bucket, positions: PositionSpec) -> list[torch.Tensor] | None:
    """Token positions per pair: None (all positions) or a list of [n] LongTensors.

    Args:
        bucket: the prompts (all of length ``bucket.seq_len``).
        positions: None / empty for all positions, else integers (negative from
            the end) and role names of the task.

    Raises:
        PatchingError: an unknown role or an integer outside the prompt.
    """
    if not positions:
        return None
    n, length = bucket.n, bucket.seq_len
    out = []
    for p in positions:
        if isinstance(p, str) and p in bucket.roles:
            out.append(bucket.roles[p].long())
        elif isinstance(p, int) and -length <= p < length:
            out.append(torch.full((n,), p % length, dtype=torch.long, device=bucket.device))
        else:
            roles = ", ".join(sorted(bucket.roles))
            shown = repr(p) if len(repr(p)) <= 40 else repr(p)[:40] + "..."  # keep the sentence short
            raise PatchingError(
                f"Position {shown} is not valid for prompts of {length} tokens; use an integer in "
                f"{-length}..{length - 1} or one of the task's roles: {roles}."
            )
    return out


def final_metric(adapter: ArchitectureAdapter, final_resid: torch.Tensor, bucket: Bucket, copies: int = 1) -> torch.Tensor:
    """Per-row logit difference from the final residual stream, unembedding the last position only.

    Args:
        final_resid: [copies * n, pos, d_model] (input of the final norm).
        copies: how many times the bucket is repeated along the batch.

    Returns:
        [copies, n] logit differences.
    """
    logits = adapter.logits(final_resid[:, -1:, :])[:, 0]
    ld = logit_diff(logits, bucket.answer.repeat(copies), bucket.distractor.repeat(copies))
    return ld.view(copies, bucket.n)


def input_run(target: TargetModel, bucket: Bucket, side: Side, components: Sequence[Component]) -> InputRun:
    """Run the bucket's ``side`` prompts once, caching the residual stream and ``components``."""
    adapter = target.adapter
    hooked = [c.id for c in components if c.kind != "resid"]
    with torch.no_grad(), trace(adapter, read=hooked) as cache:
        resids = runner.residuals(adapter, getattr(bucket, side))
    acts = dict(cache)
    for c in components:
        if c.kind == "resid":
            acts[c.id] = resids[c.layer]
    return InputRun(resids, acts, final_metric(adapter, resids[-1], bucket)[0])


def _write(target: torch.Tensor, value: torch.Tensor, positions: list[torch.Tensor] | None) -> None:
    """Write ``value`` [n, pos, ...] into ``target`` [n, pos, ...] in place, at ``positions`` only."""
    if positions is None:
        target.copy_(value)
        return
    rows = torch.arange(value.shape[0], device=value.device)
    for pos in positions:
        target[rows, pos] = value[rows, pos]


def _unchanged(value: torch.Tensor, current: torch.Tensor, positions: list[torch.Tensor] | None) -> bool:
    """Whether writing ``value`` over ``current`` (at ``positions``) would change nothing."""
    if positions is None:
        return torch.equal(value, current)
    rows = torch.arange(value.shape[0], device=value.device)
    return all(torch.equal(value[rows, p], current[rows, p]) for p in positions)


def _writer(copy: int, n: int, value: torch.Tensor, positions: list[torch.Tensor] | None) -> EditFn:
    def edit(current: torch.Tensor) -> torch.Tensor:
        out = current.clone()
        _write(out[copy * n:(copy + 1) * n], value, positions)
        return out

    return edit


def _job_key(job: Sequence[Component]) -> str:
    return "+".join(c.id for c in job)


def run_jobs(
    target: TargetModel,
    bucket: Bucket,
    run: InputRun,
    replacements: dict[str, torch.Tensor],
    jobs: Sequence[Sequence[Component]],
    positions: list[torch.Tensor] | None = None,
    max_rows: int | None = None,
    on_step: StepFn | None = None,
    hold: Sequence[Sequence[Component]] | None = None,
) -> dict[str, torch.Tensor]:
    """Patched metric minus unpatched metric [n] for each job (a set of components patched together).

    Each job's components take their ``replacements`` value (at ``positions``) in a copy of ``run``'s
    input; jobs starting at the same layer share one batched forward from there, as many copies a
    batch as the memory budget (or ``max_rows``) allows. ``hold[i]`` (optional) lists components job
    ``i`` keeps at the input run's value everywhere, whatever the patch sends them (path patching's
    other receivers). Keys are the jobs' ids joined by ``+``.
    """
    adapter, n = target.adapter, bucket.n
    held = list(hold) if hold is not None else [[] for _ in jobs]
    by_start: dict[int, list[tuple[Sequence[Component], Sequence[Component]]]] = {}
    out: dict[str, torch.Tensor] = {}
    for job, kept in zip(jobs, held, strict=True):
        if all(_unchanged(replacements[c.id], run.acts[c.id], positions) for c in job):
            # the patched run *is* the unpatched run: its effect is 0 by definition, no forward needed
            # (a batched forward could differ from the baseline's in the last float bits)
            out[_job_key(job)] = torch.zeros_like(run.metric)
            if on_step:
                on_step(1)
            continue
        by_start.setdefault(min(c.layer for c in job), []).append((job, kept))
    rows = rows_per_batch(target, bucket.seq_len) if max_rows is None else max_rows
    per_copy = max(1, rows // n)
    for start in sorted(by_start):
        group = by_start[start]
        for first in range(0, len(group), per_copy):
            chunk = group[first:first + per_copy]
            k = len(chunk)
            resid = run.resids[start].repeat(k, 1, 1)
            edits: dict[str, list[EditFn]] = {}
            for i, (job, kept) in enumerate(chunk):
                for c in job:
                    if c.kind == "resid" and c.layer == start:
                        _write(resid[i * n:(i + 1) * n], replacements[c.id], positions)
                    else:  # hooked; a later resid of a set is patched on its block's input
                        edits.setdefault(c.id, []).append(_writer(i, n, replacements[c.id], positions))
                for c in kept:
                    edits.setdefault(c.id, []).append(_writer(i, n, run.acts[c.id], None))
            final_edits = edits.pop(f"L{adapter.n_layers}.RESID", [])
            with torch.no_grad(), trace(adapter, edit={cid: _chain(fns) for cid, fns in edits.items()}):
                final = runner.run_layers(adapter, resid, start)
            for fn in final_edits:
                final = fn(final)
            metric = final_metric(adapter, final, bucket, k)
            for i, (job, _) in enumerate(chunk):
                out[_job_key(job)] = metric[i] - run.metric
            if on_step:
                on_step(k)
    return out


def _chain(fns: list[EditFn]) -> EditFn:
    if len(fns) == 1:
        return fns[0]

    def edit(current: torch.Tensor) -> torch.Tensor:
        for fn in fns:
            current = fn(current)
        return current

    return edit


def replacement_sweep(
    target: TargetModel,
    data: TaskData,
    jobs: Sequence[Sequence[str | Component]],
    replacement: ReplacementFn,
    input_side: Side = "clean",
    positions: PositionSpec = None,
    alpha: float = 1.0,
    max_rows: int | None = None,
    on_step: StepFn | None = None,
) -> tuple[dict[str, float], dict[str, list[float]], float]:
    """Effect of overwriting each job's components with replacement values, batched.

    Args:
        target: the loaded model.
        data: the task; every bucket is run.
        jobs: sets of components; the components of one set are replaced together,
            sets separately. A sweep passes singletons.
        replacement: gives, per bucket, the replacement activation of every
            component ([n, pos, ...], like the input run's activation).
        input_side: which prompts the runs read (``clean`` or ``corrupt``).
        positions: token positions to overwrite (None = all), see ``resolve_positions``.
        alpha: interpolation ``input + alpha * (replacement - input)``.
        max_rows: rows per batched forward (None: as many as the memory budget allows,
            ``engine.memory.rows_per_batch``).
        on_step: called with the number of jobs finished.

    Returns:
        (effect per job key, per-pair effects per job key in task pair order, unpatched metric);
        a job's key is its ids joined by ``+``.
    """
    parsed = [as_components(target, job) for job in jobs]
    if any(not job for job in parsed):
        raise PatchingError("Every set of components to patch needs at least one component.")
    comps = sorted({c for job in parsed for c in job})
    sums: dict[str, float] = {}
    per_pair: dict[str, dict[int, float]] = {}
    base_sum = 0.0
    for bucket in data.buckets:
        pos = resolve_positions(bucket, positions)
        run = input_run(target, bucket, input_side, comps)
        with torch.no_grad():
            repl = replacement(bucket, run.acts)
            if alpha != 1.0:
                repl = {cid: run.acts[cid] + alpha * (v - run.acts[cid]) for cid, v in repl.items()}
        effects = run_jobs(target, bucket, run, repl, parsed, pos, max_rows, on_step)
        base_sum += float(run.metric.double().sum())
        # one host transfer per bucket for every job's per-pair effects
        keys = list(effects)
        table = torch.stack([effects[k] for k in keys]).double().cpu() if keys else torch.zeros(0, bucket.n, device="cpu")
        for key, row, total in zip(keys, table.tolist(), table.sum(dim=1).tolist(), strict=True):
            sums[key] = sums.get(key, 0.0) + total
            per_pair.setdefault(key, {}).update(zip(bucket.pair_index, row, strict=True))
    n = data.n_pairs
    ordered = {k: [v[i] for i in sorted(v)] for k, v in per_pair.items()}
    return {k: s / n for k, s in sums.items()}, ordered, base_sum / n


def source_replacement(target: TargetModel, source_side: Side) -> ReplacementFn:
    """Replacement by the other input's activations (activation patching)."""

    def replace(bucket: Bucket, acts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        comps = as_components(target, acts)
        return input_run(target, bucket, source_side, comps).acts

    return replace


def task_metrics(target: TargetModel, data: TaskData) -> tuple[float, float]:
    """Mean clean and corrupt logit difference over all pairs."""
    clean = corrupt = 0.0
    for bucket in data.buckets:
        clean += float(input_run(target, bucket, "clean", []).metric.sum())
        corrupt += float(input_run(target, bucket, "corrupt", []).metric.sum())
    return clean / data.n_pairs, corrupt / data.n_pairs


def patch_sweep(
    target: TargetModel,
    data: TaskData,
    components: Sequence[str | Component],
    direction: Direction = "noising",
    positions: PositionSpec = None,
    alpha: float = 1.0,
    together: bool = False,
    max_rows: int | None = None,
    on_step: StepFn | None = None,
) -> SweepResult:
    """Exact activation patching of each component (or of all together), batched.

    Args:
        target: the loaded model.
        data: the task.
        components: ids or ``Component``s (heads, ``ATTN``, ``MLP``, ``RESID``).
        direction: ``noising`` (clean input, corrupt activation) or ``denoising``.
        positions: None for all positions, else integers / role names.
        alpha: patch ``input + alpha * (source - input)``; 1 = the source value.
        together: patch all components in one run (effect keyed by the ids joined by ``+``).
        max_rows: rows per batched forward (None: sized from the memory budget, ``engine.memory``).
        on_step: progress callback, called with the number of patched runs done.

    Returns:
        ``SweepResult`` with effect = metric(patched) - metric(unpatched input run).
    """
    input_side, source_side = sides(direction)
    comps = as_components(target, components)
    jobs = [comps] if together else [[c] for c in comps]
    effects, per_pair, _ = replacement_sweep(
        target, data, jobs, source_replacement(target, source_side), input_side,
        positions, alpha, max_rows, on_step,
    )
    clean, corrupt = task_metrics(target, data)
    return SweepResult(effects, clean, corrupt, data.n_pairs, direction, per_pair)
