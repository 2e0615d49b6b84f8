"""Opt-in: roles tested and regrouped by weight swaps (``explain --fit-roles-to-swaps``).

Why opt-in: the interchangeability score is made of weight swaps, so roles
chosen by looking at swap distances are graded by the measurement they were
fitted to. By default no agent sees a swap (DESIGN §7; the ``weight_swap``
tool is refused and hidden from LLMs). A user who wants the agent to use
swaps anyway gets this mode, and the run is recorded as
``roles_source: "fitted_to_swaps"``: its score is compared with a
selection-aware null (the same fitting procedure rerun on structureless
matrices) and never printed as the headline of an evidence-based
explanation.

The mode: every signature role with two or more heads becomes a hypothesis
("these heads are interchangeable"), one batched weight-swap sweep over the
circuit's heads decides them all (*supported* when the role's members are
closer to each other than to the nearest other role, mean silhouette > 0),
and when a role is refuted the heads are regrouped by the evaluator's own
fitting procedure (``engine.evaluation.fitting``), each new role described
from its members' signatures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.describe import describe_cluster
from agents.evidence import ComponentEvidence, Role
from agents.nodes.common import Lab
from agents.recorder import propose, resolve
from engine.components import parse_component
from engine.evaluation.fitting import fit_roles_to_distances, grouping_z
from engine.evaluation.silhouette import silhouette_samples
from tools.results import WeightSwapResult
from tools.weight_swap import MAX_AMONG

SWAP_PAIRS = 32
"""Research prompt pairs the swap sweep uses (its cost is m (m - 1) swaps over these)."""


def _mean_to(d: np.ndarray, i: int, members: list[int]) -> float:
    others = [j for j in members if j != i]
    return float(d[i, others].mean()) if others else float("nan")


def role_fit(d: np.ndarray, labels: list[Any], role: Any) -> dict[str, float]:
    """How interchangeable one role's members are: within vs nearest-other-role swap distance.

    Returns:
        ``{"within", "nearest_other", "silhouette"}``: the members' mean
        distance to their own role, to the closest other role (nan when there
        is none) and their mean silhouette (``evaluation.silhouette``; 0 when
        there is no other role).
    """
    idx = [i for i, lab in enumerate(labels) if lab == role]
    groups = {lab: [i for i, x in enumerate(labels) if x == lab] for lab in dict.fromkeys(labels)}
    within = [_mean_to(d, i, idx) for i in idx]
    if len(groups) < 2:
        return {"within": float(np.mean(within)), "nearest_other": float("nan"), "silhouette": 0.0}
    nearest = [min(_mean_to(d, i, g) for lab, g in groups.items() if lab != role) for i in idx]
    sil = silhouette_samples(d, [str(x) for x in labels])[idx]
    return {"within": float(np.mean(within)), "nearest_other": float(np.mean(nearest)),
            "silhouette": float(np.mean(sil))}


def _fit_text(fit: dict[str, float], exp: int | None) -> str:
    cite = f" [E{exp}]" if exp is not None else ""
    if np.isnan(fit["nearest_other"]):
        return f"mean swap distance {fit['within']:.3f} within the role, no other role to compare with{cite}"
    return (f"mean swap distance {fit['within']:.3f} within the role vs {fit['nearest_other']:.3f} to the "
            f"nearest other role, silhouette {fit['silhouette']:+.2f}{cite}")


def _judge(lab: Lab, hyp_id: int, fit: dict[str, float], exp: int | None, caveat: str = "") -> str:
    if np.isnan(fit["nearest_other"]):
        status, rule = "inconclusive", "one role holds every head, so there is nothing to be more interchangeable than"
    elif fit["silhouette"] > 0:
        status, rule = "supported", "> 0: its heads swap for each other more freely than for other heads"
    else:
        status, rule = "refuted", "<= 0: its heads are no more interchangeable with each other than with other roles"
    resolve(lab.ctx, hyp_id, status, f"{_fit_text(fit, exp)} ({rule}){caveat}", exp)
    return status


def _hypothesis(lab: Lab, name: str, members: list[str], revised: bool = False) -> int:
    kind = "regrouped role" if revised else "role"
    text = (f"The heads of {kind} '{name}' ({', '.join(members)}) are interchangeable: computing one's output "
            "with another's weights changes the next-token distribution less than swapping in a head from "
            "another role")
    key = ("role:swap:" if revised else "role:") + ",".join(sorted(members))
    return propose(lab.ctx, lab.run_id, None, key, text)


POST_HOC = "; post hoc: this grouping was fitted to these swaps (roles_source: fitted_to_swaps)"


def swap_test_roles(lab: Lab, clusters: list[Role], evidence: dict[str, ComponentEvidence]) -> list[Role]:
    """Test each multi-head role with one swap sweep; regroup by interchangeability when refuted.

    Args:
        lab: the group node's lab (the sweep is one experiment).
        clusters: evidence roles.
        evidence: per-component evidence records (their signatures describe new roles).

    Returns:
        The roles to explain: the given ones, or the regrouped heads plus
        the given non-head roles.
    """
    heads = [m for c in clusters for m in c.members if parse_component(m).kind == "head" and m in evidence]
    if not 3 <= len(heads) <= MAX_AMONG:
        lab.note("roles:skip", f"Role test skipped: {len(heads)} studied heads (a sweep compares 3 to {MAX_AMONG}).")
        return clusters
    role_of = {m: c.name for c in clusters for m in c.members}
    multi = [c for c in clusters if sum(m in heads for m in c.members) >= 2]
    hyp_ids = {c.name: _hypothesis(lab, c.name, [m for m in c.members if m in heads]) for c in multi}
    n = min(lab.ctx.data.n_pairs, SWAP_PAIRS)
    out = lab.run("weight_swap", {"among": heads, "n": n}, hypothesis_ids=list(hyp_ids.values()))
    result = out.result if out is not None and isinstance(out.result, WeightSwapResult) else None
    if out is None or result is None or result.heads != heads or result.distances is None:
        why = "the step budget is spent" if out is None else f"the sweep failed: {out.error}"
        for hid in hyp_ids.values():
            resolve(lab.ctx, hid, "inconclusive", f"not tested: {why}", out.id if out else None)
        lab.note("roles:untested", f"Roles not tested by weight swaps: {why}.")
        return clusters
    exp = out.id
    d = np.asarray(result.distances, dtype=float)
    labels = [role_of[h] for h in heads]
    verdicts = {name: _judge(lab, hid, role_fit(d, labels, name), exp) for name, hid in hyp_ids.items()}
    z_signature = grouping_z(d, labels, seed=lab.ctx.tools.seed)
    new_labels, z_swap = fit_roles_to_distances(d, lab.ctx.tools.seed)
    refuted = [name for name, v in verdicts.items() if v != "supported"]
    adopt = (bool(refuted) or z_signature is None) and z_swap is not None and \
        (z_signature is None or z_swap > z_signature)
    fmt = lambda z: "undefined" if z is None else f"{z:.2f}"  # noqa: E731
    summary = (f"Role test [E{exp}]: {len(multi)} multi-head role(s), {len(refuted)} not supported; the "
               f"signature grouping scores z = {fmt(z_signature)} on these swap distances, a grouping by "
               f"interchangeability z = {fmt(z_swap)}.")
    if not adopt:
        lab.note("roles:kept", summary + " Keeping the signature roles.")
        return [c.model_copy(update={"description": _with_fit(c, d, labels, exp, heads)}) for c in clusters]
    groups: dict[int, list[str]] = {}
    for h, g in zip(heads, new_labels, strict=True):
        groups.setdefault(g, []).append(h)
    names = unique_names([describe_cluster(members, evidence) for _, members in sorted(groups.items())])
    revised_labels = [next(c.name for c in names if h in c.members) for h in heads]
    for c in names:
        c.evidence = sorted({*c.evidence, exp})
        if len(c.members) >= 2:
            hid = _hypothesis(lab, c.name, c.members, revised=True)
            _judge(lab, hid, role_fit(d, revised_labels, c.name), exp, POST_HOC)
        c.description = _with_fit(c, d, revised_labels, exp, heads)
    lab.note("roles:regrouped", summary + " Regrouping the heads by interchangeability: " +
             "; ".join(f"{c.name}: {', '.join(c.members)}" for c in names))
    rest = [c for c in clusters if not any(m in heads for m in c.members)]
    return unique_names(names + rest)


def _with_fit(cluster: Role, d: np.ndarray, labels: list[str], exp: int | None, heads: list[str]) -> str:
    """The role's description, followed by the swap evidence for a multi-head role."""
    if sum(m in heads for m in cluster.members) < 2:
        return cluster.description
    return f"{cluster.description} Weight swaps: {_fit_text(role_fit(d, labels, cluster.name), exp)}."


def unique_names(clusters: list[Role]) -> list[Role]:
    """Number repeated role names (``name (2)``) so every role is named once."""
    seen: dict[str, int] = {}
    out = []
    for c in clusters:
        n = seen.get(c.name, 0) + 1
        seen[c.name] = n
        out.append(c if n == 1 else c.model_copy(update={"name": f"{c.name} ({n})"}))
    return out
