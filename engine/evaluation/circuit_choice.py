"""Choosing a circuit by faithfulness: the smallest prefix that carries the behaviour.

Why: a circuit kept because each member's patching effect passes a threshold
is a list of important components, not a set that *alone* carries the
behaviour. Faithfulness asks the second question (``faithfulness``): with
every other head and MLP mean-ablated, how much of the full model's metric is
left? This module answers it for nested candidate sets -- the first k of a
ranking, k = 1 .. cap -- in one batched pass, and picks the smallest k whose
f reaches a stated target (else the k with the largest f, the smaller on a
tie). The ranking and the curve are measured on the *research* prompts; the
evaluator re-measures the chosen circuit on held-out prompts, so the set is
never scored on the prompts that chose it.

Answer-opposing components (patching them towards corrupt *raises* the
metric) make the metric larger when ablated, so a prefix of promoters is
chosen first and the opposing part is measured separately: f with and without
it (``circuit_parts``), as a researcher reports negative name movers beside
the circuit rather than hidden in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.evaluation.batching import Progress
from engine.evaluation.faithfulness import ablatable, ablated_metrics
from engine.models import TargetModel
from engine.tasks import TaskData

#: the faithfulness a chosen circuit aims for (MIB reports f; 0.8 is a common bar)
DEFAULT_TARGET = 0.8


@dataclass(frozen=True)
class PrefixCurve:
    """Faithfulness of the first k components of a ranking, for every k in ``sizes``.

    ``f[i]`` belongs to ``sizes[i]``; ``m_full``/``m_empty`` are the metric
    with nothing and with everything ablatable ablated.
    """

    ranking: list[str]
    sizes: list[int]
    f: list[float | None]
    m_full: float
    m_empty: float
    ablated: str

    def choose(self, target: float = DEFAULT_TARGET) -> tuple[int, str]:
        """The chosen size and the reason, in one sentence."""
        measured = [(k, f) for k, f in zip(self.sizes, self.f, strict=True) if f is not None and k > 0]
        if not measured:
            return (min(len(self.ranking), 2), "faithfulness undefined (the ablated and full metrics are "
                    "equal); kept the top two")
        for k, f in measured:
            if f >= target:
                return k, f"f = {f:.2f} at {k} components, the smallest prefix reaching f >= {target:.2f}"
        k, f = max(measured, key=lambda kf: (round(kf[1], 6), -kf[0]))
        top = max(self.sizes)
        return k, (f"f = {f:.2f} at {k} components, the most faithful prefix (none of up to {top} components "
                   f"reaches f >= {target:.2f})")


def prefix_curve(
    target: TargetModel,
    data: TaskData,
    ranking: Sequence[str],
    sizes: Sequence[int] | None = None,
    ablate_mlps: bool = True,
    progress: Progress | None = None,
) -> PrefixCurve:
    """f of the first k components of ``ranking`` (everything else ablatable mean-ablated).

    Args:
        target: loaded model.
        data: tokenised task (the research prompts when choosing a circuit).
        ranking: component ids, best first (heads and MLPs).
        sizes: the k to measure (default 1 .. len(ranking)).
        ablate_mlps: MLPs outside the prefix are ablated too (default: yes).
        progress: ``progress(done, total)``.
    """
    universe = ablatable(target, ablate_mlps)
    order = [c for c in dict.fromkeys(ranking) if c in set(universe)]
    ks = sorted(set(sizes if sizes is not None else range(1, len(order) + 1)))
    ks = [k for k in ks if 0 <= k <= len(order)]
    sets = [frozenset(), frozenset(universe)] + [frozenset(c for c in universe if c not in set(order[:k]))
                                                 for k in ks]
    m_full, m_empty, *ms = ablated_metrics(target, data, sets, progress=progress)
    span = m_full - m_empty
    fs = [None if span == 0 else (m - m_empty) / span for m in ms]
    return PrefixCurve(ranking=order, sizes=ks, f=fs, m_full=m_full, m_empty=m_empty,
                       ablated="heads and MLPs" if ablate_mlps else "heads (MLPs kept)")


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
    for name, mlps in (("heads", False), ("heads_and_mlps", True)):
        universe = ablatable(target, mlps)
        keep_all, keep_core = set(core) | set(opposing), set(core)
        sets = [frozenset(), frozenset(universe), frozenset(c for c in universe if c not in keep_all),
                frozenset(c for c in universe if c not in keep_core)]
        m_full, m_empty, m_all, m_core = ablated_metrics(target, data, sets, progress=progress)
        span = m_full - m_empty
        out[name] = {"with_opposing": None if span == 0 else (m_all - m_empty) / span,
                     "without_opposing": None if span == 0 else (m_core - m_empty) / span,
                     "m_full": m_full, "m_empty": m_empty}
    return out
