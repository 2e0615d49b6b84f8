"""Choosing a circuit by faithfulness: greedy forward selection of the set that carries the behaviour.

Why: a circuit kept because each member's patching effect passes a threshold
is a list of important components, not a set that *alone* carries the
behaviour. Faithfulness asks the second question (``faithfulness``): with
every other head and MLP mean-ablated, how much of the full model's metric is
left? A prefix of a ranking by single-component effect answers it poorly
when the behaviour needs components together (an early MLP without which no
head works; many MLPs each carrying a small part): a component's effect
alone says little about what it adds to the others. So the circuit is grown
greedily: starting from a given set (e.g. the top two by effect), each step
adds the candidate whose addition gives the largest f, all candidates
measured in one batched pass (``ablated_metrics``), until f reaches a stated
target or the set reaches its cap; the chosen size is the smallest reaching
the target, else the most faithful (the smaller on a tie). The selection
sees only the *research* prompts; the evaluator re-measures the chosen
circuit on held-out prompts, so the set is never scored on the prompts that
chose it.

Which candidates a step measures: all of them, or (``shortlist=k``) the k
with the largest *restoration gradient*, dm/dα_c at the current set, where
every ablatable activation is ``mean + α_c (activation - mean)`` with α = 1
inside the set and 0 outside: a first-order estimate of what restoring c
adds (attribution patching taken at the ablated model, not at the full
one, so it sees what the set already carries). One forward and backward
pass a step ranks every head and MLP of the model, so the candidates need
not be pre-filtered by single-component patching (a head whose patching
effect is small may still be needed once the rest is ablated), and only k
candidates a step are measured exactly; the chosen one is always the best
*measured* addition, so the estimate only decides which are measured.

Answer-opposing components (patching them towards corrupt *raises* the
metric) make the metric larger when ablated, so the core is grown without
them and the opposing part is measured separately: f with and without it
(``circuit_parts``), as a researcher reports negative name movers beside
the circuit rather than hidden in it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import torch

from engine import runner
from engine.ablation import corrupt_means
from engine.evaluation.batching import Progress
from engine.evaluation.faithfulness import ablatable, ablated_metrics
from engine.hooks import EditFn, trace
from engine.models import TargetModel
from engine.tasks import TaskData, logit_diff

#: the faithfulness a chosen circuit aims for (MIB reports f; 0.8 is a common bar)
DEFAULT_TARGET = 0.8
#: the most components a chosen circuit holds unless told otherwise
DEFAULT_CAP = 20
#: candidates measured exactly per greedy step when shortlisting by restoration gradient
DEFAULT_SHORTLIST = 8


@dataclass(frozen=True)
class GreedyCurve:
    """Components in the order they joined the circuit, and f after each join.

    ``order[:sizes[i]]`` has faithfulness ``f[i]`` (None when the full and the
    fully ablated metric are equal); the first size is the start set's when a
    start set was given. ``m_full``/``m_empty`` are the metric with nothing
    and with everything ablatable ablated.
    """

    order: list[str]
    sizes: list[int]
    f: list[float | None]
    m_full: float
    m_empty: float
    ablated: str
    #: candidates measured exactly per step (None: every candidate)
    shortlist: int | None = None
    #: the candidates measured at each step, in the order given (the audit of what the choice saw)
    measured: list[list[str]] | None = None

    def choose(self, target: float = DEFAULT_TARGET) -> tuple[int, str]:
        """The chosen size and the reason, in one sentence."""
        measured = [(k, f) for k, f in zip(self.sizes, self.f, strict=True) if f is not None and k > 0]
        if not measured:
            return (min(len(self.order), 2), "faithfulness undefined (the ablated and full metrics are "
                    "equal); kept the first two")
        for k, f in measured:
            if f >= target:
                return k, (f"f = {f:.2f} at {k} components, the first step of greedy selection reaching "
                           f"f >= {target:.2f}")
        k, f = max(measured, key=lambda kf: (round(kf[1], 6), -kf[0]))
        top = max(self.sizes)
        return k, (f"f = {f:.2f} at {k} components, the most faithful step of greedy selection (none of up to "
                   f"{top} components reaches f >= {target:.2f})")


def _interpolate(mean: torch.Tensor, alpha: torch.Tensor) -> EditFn:
    def edit(current: torch.Tensor) -> torch.Tensor:
        return mean + alpha * (current - mean)

    return edit


def restoration_gradients(
    target: TargetModel, data: TaskData, kept: Collection[str], universe: Sequence[str],
    means: Sequence[Mapping[str, torch.Tensor]] | None = None,
) -> dict[str, float]:
    """dm/dα_c for every c in ``universe``, at α = 1 for ``kept`` and 0 for the rest.

    Each activation of ``universe`` is ``mean + α_c (activation - mean)`` (the
    template means of ``engine.ablation``), so α = 0 is mean ablation and the
    gradient estimates what restoring c would add to the metric m (mean clean
    logit difference). The model's weights get no gradient.

    Args:
        means: per bucket, ``corrupt_means`` of ``universe`` (computed here when not given; a greedy
            selection computes them once for all its steps).

    Returns:
        id -> dm/dα_c, pair-weighted over buckets.
    """
    ids = list(universe)
    alpha = torch.tensor([1.0 if c in kept else 0.0 for c in ids], device=target.device, requires_grad=True)
    total = torch.zeros(len(ids), dtype=torch.float64, device=target.device)
    per_bucket = means if means is not None else [corrupt_means(target, b, ids) for b in data.buckets]
    for bucket, mean in zip(data.buckets, per_bucket, strict=True):
        edits = {c: _interpolate(mean[c], alpha[i].to(mean[c].dtype)) for i, c in enumerate(ids)}
        with torch.enable_grad(), trace(target.adapter, edit=edits):
            logits = runner.forward(target.adapter, bucket.clean)
            metric = logit_diff(logits[:, -1, :], bucket.answer, bucket.distractor).sum()
            (grad,) = torch.autograd.grad(metric, [alpha])
        total += grad.double()
    return dict(zip(ids, (total / data.n_pairs).cpu().tolist(), strict=True))


def greedy_circuit(
    target: TargetModel,
    data: TaskData,
    candidates: Sequence[str],
    start: Sequence[str] = (),
    target_f: float = DEFAULT_TARGET,
    cap: int = DEFAULT_CAP,
    ablate_mlps: bool = True,
    shortlist: int | None = None,
    progress: Progress | None = None,
) -> GreedyCurve:
    """Grow a circuit from ``start`` by adding, each step, the candidate that gives the largest f.

    Every head (and MLP, with ``ablate_mlps``) outside the set is mean-ablated.
    Stops when f reaches ``target_f``, the set holds ``cap`` components, or no
    candidate is left. Ties go to the candidate listed first.

    Args:
        target: loaded model.
        data: tokenised task (the research prompts when choosing a circuit).
        candidates: component ids that may join (heads and MLPs), best first (the tie order).
        start: component ids the set begins with (measured together, as the first point).
        target_f: the faithfulness to reach.
        cap: the most components in the set (start included).
        ablate_mlps: MLPs outside the set are ablated too (default: yes).
        shortlist: measure exactly only this many candidates a step, those of largest restoration
            gradient (``restoration_gradients``); None measures every candidate.
        progress: ``progress(step, cap)`` after each step.

    Returns:
        The order of joining and f after each step (one batched ``ablated_metrics`` call per step, after one
        gradient pass when shortlisting).
    """
    universe = ablatable(target, ablate_mlps)
    allowed = set(universe)
    chosen = [c for c in dict.fromkeys(start) if c in allowed][:cap]
    pool = [c for c in dict.fromkeys(candidates) if c in allowed and c not in set(chosen)]

    def without(keep: set[str]) -> frozenset[str]:
        return frozenset(c for c in universe if c not in keep)

    # the means of every ablatable component, once for every step (the reference draw makes them costly)
    means = [corrupt_means(target, b, universe) for b in data.buckets]
    head = [frozenset(), frozenset(universe)] + ([without(set(chosen))] if chosen else [])
    m_full, m_empty, *m_start = ablated_metrics(target, data, head, progress=None, means=means)
    span = m_full - m_empty
    sizes = [len(chosen)] if chosen else []
    fs: list[float | None] = [None if span == 0 else (m_start[0] - m_empty) / span] if chosen else []
    reached = bool(fs) and fs[-1] is not None and fs[-1] >= target_f
    seen: list[list[str]] = []
    while span != 0 and not reached and pool and len(chosen) < cap:
        measured = pool
        if shortlist is not None and len(pool) > shortlist:
            grads = restoration_gradients(target, data, set(chosen), universe, means)
            # the estimated gain in f is grad / span; a stable sort keeps the given order on ties
            top = set(sorted(pool, key=lambda c: -grads[c] / span)[:shortlist])
            measured = [c for c in pool if c in top]
        if shortlist is not None:
            seen.append(list(measured))
        ms = ablated_metrics(target, data, [without(set(chosen) | {c}) for c in measured], means=means)
        step_f = [(m - m_empty) / span for m in ms]  # maximise f, not m: the span may be negative
        best = max(range(len(measured)), key=lambda i: (step_f[i], -i))
        chosen.append(measured[best])
        pool.remove(measured[best])
        f = step_f[best]
        sizes.append(len(chosen))
        fs.append(f)
        reached = f >= target_f
        if progress is not None:
            progress(len(chosen), cap)
    return GreedyCurve(order=chosen, sizes=sizes, f=fs, m_full=m_full, m_empty=m_empty,
                       ablated="heads and MLPs" if ablate_mlps else "heads (MLPs kept)", shortlist=shortlist,
                       measured=seen if shortlist is not None else None)


def circuit_parts(
    target: TargetModel,
    data: TaskData,
    core: Sequence[str],
    opposing: Sequence[str],
    progress: Progress | None = None,
) -> dict[str, dict[str, float | None]]:
    """f of the core alone and of core + opposing part, with heads only and with heads and MLPs ablated.

    Returns:
        ``{"heads": {...}, "heads_and_mlps": {...}}``, each
        ``{"with_opposing", "without_opposing", "m_full", "m_empty"}``.
    """
    out: dict[str, dict[str, float | None]] = {}
    # every head's and MLP's means once, for both universes (the heads' universe is a subset)
    means = [corrupt_means(target, b, ablatable(target, True)) for b in data.buckets]
    for name, mlps in (("heads", False), ("heads_and_mlps", True)):
        universe = ablatable(target, mlps)
        keep_all, keep_core = set(core) | set(opposing), set(core)
        sets = [frozenset(), frozenset(universe), frozenset(c for c in universe if c not in keep_all),
                frozenset(c for c in universe if c not in keep_core)]
        m_full, m_empty, m_all, m_core = ablated_metrics(target, data, sets, progress=progress, means=means)
        span = m_full - m_empty
        out[name] = {"with_opposing": None if span == 0 else (m_all - m_empty) / span,
                     "without_opposing": None if span == 0 else (m_core - m_empty) / span,
                     "m_full": m_full, "m_empty": m_empty}
    return out
