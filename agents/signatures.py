"""Evidence signatures: from measured numbers to features, roles and descriptions.

Why: the scripted researcher must not know any task's answer. It describes a
component only by what was measured on it -- where it attends from the final
position, how much of its effect reaches the logits directly or through other
circuit components, whether its output copies or suppresses the attended
token, how much ablating it hurts -- and it forms roles by clustering these
signatures. All numbers are in *contribution* orientation: positive means
the component's clean activation pushes the metric towards the answer.

A component's evidence is one ``agents.evidence.ComponentEvidence`` record.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from agents.evidence import ComponentEvidence, finite_or
from engine.evaluation.silhouette import silhouette


def downstream_total(ev: ComponentEvidence) -> float:
    """Contribution through the downstream circuit components (0 when unmeasured)."""
    return ev.number("path_downstream")


def pathway_shares(ev: ComponentEvidence) -> dict[str, float] | None:
    """How the component's effect splits: directly to the logits, via later circuit heads, the rest.

    Shares are signed fractions of its patching contribution (``exact``); the
    rest goes through components outside the circuit (or is non-additive).
    None when the direct path or the contribution is unknown.
    """
    direct, ref = ev.value("path_logits"), ev.number("exact")
    if direct is None:
        return None
    via = downstream_total(ev)
    total = max(abs(ref), abs(direct) + abs(via), 1e-9)
    d, c = abs(direct) / total, abs(via) / total
    return {"direct": d, "circuit": c, "other": max(0.0, 1.0 - d - c)}


def direct_share(ev: ComponentEvidence) -> float | None:
    """Fraction of the component's effect that goes directly to the logits."""
    shares = pathway_shares(ev)
    return None if shares is None else shares["direct"]


def top_role(ev: ComponentEvidence) -> tuple[str | None, float]:
    """The role the component attends to most from the final position, and the fraction."""
    attn = ev.value("attention")
    if not attn:
        return None, 0.0
    role = max(sorted(attn), key=lambda r: finite_or(attn[r]))
    return role, finite_or(attn[role])


def features(ev: ComponentEvidence, roles: list[str]) -> np.ndarray:
    """Signature vector: kind, attention per role, direct/indirect share, polarity, copy."""
    scale = max(finite_or(ev.scale, 1.0), 1e-6)
    attn = ev.value("attention") or {}
    attn_vec = [finite_or(attn.get(r)) for r in roles]
    attn_vec.append(max(0.0, 1.0 - sum(attn_vec)) if attn else 0.0)
    exact = ev.number("exact")
    direct = ev.number("path_logits", ev.number("dla"))
    shares = pathway_shares(ev) or {"direct": 0.0, "circuit": 0.0, "other": 0.0}
    copy = ev.value("copy_score")
    return np.array([
        2.0 * (ev.kind != "head"),
        *attn_vec,
        np.tanh(direct / scale * 3.0),
        np.tanh(downstream_total(ev) / scale * 3.0),
        shares["direct"], shares["circuit"], shares["other"],
        math.copysign(0.5, exact) if exact else 0.0,
        0.0 if copy is None else float(np.tanh(finite_or(copy))),
    ])


def euclidean_distances(x: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances between the rows of ``x``: [n, d] -> [n, n]."""
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


def cluster_signatures(x: np.ndarray, max_k: int = 6) -> np.ndarray:
    """Average-linkage clustering; the number of clusters maximises the silhouette.

    Returns:
        Labels 0..k-1 in order of first appearance (deterministic).
    """
    n = len(x)
    if n <= 2:
        return np.arange(n)
    tree = linkage(x, method="average", metric="euclidean")
    best, best_score = np.zeros(n, dtype=int), -2.0
    for k in range(2, min(max_k, n - 1) + 1):
        labels = fcluster(tree, t=k, criterion="maxclust")
        score = silhouette(euclidean_distances(x), labels)
        if score is not None and score > best_score + 1e-9:
            best, best_score = labels, score
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(label), len(first)) for label in best])


def role_phrase(ev: ComponentEvidence) -> dict[str, str]:
    """Short phrases of a signature: mode (direct/indirect), polarity, attention, copy."""
    shares = pathway_shares(ev)
    mode = "mixed"
    if shares is not None:
        best = max(sorted(shares), key=lambda k: shares[k])
        if shares[best] >= 0.5:
            mode = {"direct": "direct", "circuit": "circuit-mediated", "other": "indirect"}[best]
    contrib = ev.number("exact", ev.number("dla"))
    polarity = "answer-promoting" if contrib > 0 else "answer-opposing"
    role, frac = top_role(ev)
    attends = f"attending to {role}" if role and frac >= 0.3 else ""
    copy = ev.value("copy_score")
    behaviour = ""
    if copy is not None:
        behaviour = "copying" if copy > 0.5 else "suppressing" if copy < -0.5 else ""
    kind = "heads" if ev.kind == "head" else "MLPs"
    return {"mode": mode, "polarity": polarity, "attends": attends, "behaviour": behaviour, "kind": kind}


def cluster_name(members: list[ComponentEvidence]) -> str:
    """A name from the members' shared signature phrases (majority vote per phrase)."""
    phrases = [role_phrase(ev) for ev in members]

    def vote(key: str, unanimous: bool = False) -> str:
        values = [p[key] for p in phrases]
        best = max(sorted(set(values)), key=values.count)
        needed = len(values) if unanimous else len(values) // 2 + 1
        return best if values.count(best) >= needed else ""

    kind = vote("kind") or "components"
    # a sign is a claim about every member: a role mixing both signs is not named by either
    shared = [vote("mode"), vote("polarity", unanimous=True), vote("behaviour")]
    attends = vote("attends")
    if not any(shared) and not attends:  # nothing in common but the swaps that grouped them
        return f"{kind} of mixed signature"
    return " ".join(p for p in [*shared, kind, attends] if p)
