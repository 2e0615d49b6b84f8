"""Faithfulness of a circuit whose members are kept only at the positions where they are said to act.

Why: an explanation that says "L23.H3 acts at END" makes a claim beyond "L23.H3
is in the circuit": its output at every other position should not matter. This
measures that claim as faithfulness. With m the task metric,

    m(C@P)  every head and MLP mean-ablated at every position, except each member c
            of C at the positions of its task roles P(c) (all positions when P(c) is None);
    f(C@P)  = (m(C@P) - m(∅)) / (m(N) - m(∅)),

beside f(C) with the members kept at every position. If f(C@P) is close to
f(C), the positional story carries the behaviour; if it drops, the members
also act at positions the explanation does not name. The control keeps each
restricted member at up to as many *other* task roles instead (``elsewhere``,
the first unnamed ones in the task's role order; ``controlled`` counts the
members it could move): if that scores as well, the
stated positions carry no information and the match is the procedure's.
``by_kind`` restricts one kind at a time (heads, then MLPs), to say whose
positional claims fail when the whole does. Mean ablation is the
template mean of ``engine.ablation``; a role's position is the pair's own
(``Bucket.roles``; ``END`` is the last token).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from engine import runner
from engine.ablation import corrupt_means
from engine.components import parse_component
from engine.evaluation.faithfulness import ablatable, ablated_metrics
from engine.hooks import EditFn, trace
from engine.models import TargetModel
from engine.tasks import Bucket, TaskData, logit_diff


def _kept_mask(bucket: Bucket, roles: Sequence[str] | None) -> torch.Tensor:
    """[n, pos] True where the member is kept: at its roles' positions (every position for None)."""
    if roles is None:
        return torch.ones(bucket.n, bucket.seq_len, dtype=torch.bool, device=bucket.device)
    keep = torch.zeros(bucket.n, bucket.seq_len, dtype=torch.bool, device=bucket.device)
    rows = torch.arange(bucket.n, device=bucket.device)
    for role in roles:
        keep[rows, bucket.roles[role]] = True
    return keep


def _mean_except(mean: torch.Tensor, keep: torch.Tensor) -> EditFn:
    """Mean-ablate ([n, pos, ...] ``mean``) wherever ``keep`` ([n, pos]) is False."""
    shape = keep.shape + (1,) * (mean.dim() - 2)

    def edit(current: torch.Tensor) -> torch.Tensor:
        return torch.where(keep.view(shape), current, mean.to(current.dtype))

    return edit


def _elsewhere(roles: Sequence[str] | None, role_names: Sequence[str]) -> list[str] | None:
    """Up to as many task roles as ``roles`` names, none of them (the first in task order); None stays None,
    and a member naming every role keeps them (it has no control)."""
    if roles is None:
        return None
    others = [r for r in role_names if r not in roles]
    return others[: len(roles)] if others else list(roles)


@torch.no_grad()
def positional_metrics(
    target: TargetModel, data: TaskData, keeps: Sequence[Mapping[str, Sequence[str] | None]], ablate_mlps: bool = True,
    means: Sequence[Mapping[str, torch.Tensor]] | None = None,
) -> list[float]:
    """For each keep map: the mean clean logit difference with everything ablatable mean-ablated except its
    members at their roles (the template means computed once per bucket for all of them, unless given:
    ``means``, per bucket, ``corrupt_means`` of at least every ablatable component)."""
    universe = ablatable(target, ablate_mlps)
    totals = [0.0] * len(keeps)
    for b, bucket in enumerate(data.buckets):
        bucket_means = means[b] if means is not None else corrupt_means(target, bucket, universe)
        none = torch.zeros(bucket.n, bucket.seq_len, dtype=torch.bool, device=bucket.device)
        for i, keep in enumerate(keeps):
            edits = {c: _mean_except(bucket_means[c], _kept_mask(bucket, keep[c]) if c in keep else none)
                     for c in universe}
            with trace(target.adapter, edit=edits):
                logits = runner.forward(target.adapter, bucket.clean)
            totals[i] += float(logit_diff(logits[:, -1, :], bucket.answer, bucket.distractor).sum())
    return [t / data.n_pairs for t in totals]


def position_faithfulness(
    target: TargetModel, data: TaskData, keep: Mapping[str, Sequence[str] | None], ablate_mlps: bool = True
) -> dict:
    """f of ``keep``'s members kept only at their roles' positions, beside f with them kept everywhere.

    Args:
        target: loaded model.
        data: tokenised task (its buckets must hold every role named in ``keep``).
        keep: member id -> task roles where it is kept (None: every position).
        ablate_mlps: MLPs outside the circuit are ablated too (default: yes).

    Returns:
        ``{"normalized", "all_positions", "elsewhere", "by_kind", "m_circuit", "m_full", "m_empty",
        "kept", "restricted", "controlled"}`` (``restricted``: how many members are kept at named positions
        only; ``elsewhere``: the control, each restricted member kept at up to as many other roles, of which
        ``controlled`` could be moved;
        ``by_kind``: ``{"head": f, "mlp": f}`` with only that kind's members restricted, the other
        kind's kept everywhere, for each kind with a restricted member).
    """
    named = {r for roles in keep.values() if roles for r in roles}
    missing = sorted(r for r in named if any(r not in b.roles for b in data.buckets))
    if missing:
        raise ValueError(f"Unknown task role(s) {', '.join(missing)}: not every prompt has "
                         f"{'it' if len(missing) == 1 else 'them'} (the task has {', '.join(data.role_names)}).")
    universe = ablatable(target, ablate_mlps)
    means = [corrupt_means(target, b, universe) for b in data.buckets]  # once, for every metric below
    m_full, m_empty, m_all = ablated_metrics(
        target, data, [frozenset(), frozenset(universe), frozenset(c for c in universe if c not in keep)], means=means)
    moved = {c: _elsewhere(roles, data.role_names) for c, roles in keep.items()}
    # which kind's claims hold: only the heads restricted (MLPs everywhere), then only the MLPs
    kinds = [kind for kind in ("head", "mlp")
             if any(r is not None and parse_component(c).kind == kind for c, r in keep.items())]
    by_kind = [{c: r if parse_component(c).kind == kind else None for c, r in keep.items()} for kind in kinds]
    m_pos, m_moved, *kind_metrics = positional_metrics(target, data, [keep, moved, *by_kind], ablate_mlps, means)
    m_kind = dict(zip(kinds, kind_metrics, strict=True))
    span = m_full - m_empty
    return {
        "normalized": None if span == 0 else (m_pos - m_empty) / span,
        "all_positions": None if span == 0 else (m_all - m_empty) / span,
        "elsewhere": None if span == 0 else (m_moved - m_empty) / span,
        "by_kind": {kind: None if span == 0 else (m - m_empty) / span for kind, m in m_kind.items()},
        "m_circuit": m_pos, "m_full": m_full, "m_empty": m_empty,
        "kept": {c: None if r is None else list(r) for c, r in keep.items()},
        "restricted": sum(1 for r in keep.values() if r is not None),
        # members whose control moved them (a member naming every role stays where it is)
        "controlled": sum(1 for c, r in keep.items() if r is not None and moved[c] != list(r)),
    }
