"""Evidence signatures: from measured numbers to features, roles and descriptions.

Why: the scripted researcher must not know any task's answer. It describes a
component only by what was measured on it -- where it attends from the final
position, how much of its effect reaches the logits directly or through other
circuit components, whether its output copies or suppresses the attended
token, how much ablating it hurts -- and it forms roles by clustering these
signatures. All numbers are in *contribution* orientation: positive means
the component's clean activation pushes the metric towards the answer.

A component's evidence is ``{"kind", "scale", "measures": {name: {"value",
"exp"}}}`` where ``exp`` is the id of the experiment that measured it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MEASURES = ("exact", "attention", "dla", "path_logits", "path_downstream", "copy", "ablation",
            "ablation_resample", "attention_corrupt")


def value(ev: dict[str, Any], name: str) -> Any:
    """The measured value of ``name`` (None when not measured)."""
    return ((ev.get("measures") or {}).get(name) or {}).get("value")


def exp_id(ev: dict[str, Any], name: str) -> int | None:
    """The experiment id behind measure ``name``."""
    return ((ev.get("measures") or {}).get(name) or {}).get("exp")


def cite(ev: dict[str, Any], *names: str) -> str:
    """`` [E12, E15]`` for the experiments behind ``names`` (empty when none)."""
    ids = sorted({i for n in names if (i := exp_id(ev, n)) is not None})
    return " [" + ", ".join(f"E{i}" for i in ids) + "]" if ids else ""


def evidence_ids(ev: dict[str, Any]) -> list[int]:
    """All experiment ids behind a component's measures."""
    return sorted({i for n in MEASURES if (i := exp_id(ev, n)) is not None})


def _num(x: Any, default: float = 0.0) -> float:
    return float(x) if isinstance(x, int | float) and math.isfinite(float(x)) else default


def downstream_total(ev: dict[str, Any]) -> float:
    """Summed contribution through downstream circuit components."""
    down = value(ev, "path_downstream")
    return sum(_num(v) for v in down.values()) if isinstance(down, dict) else 0.0


def pathway_shares(ev: dict[str, Any]) -> dict[str, float] | None:
    """How the component's effect splits: directly to the logits, via later circuit heads, the rest.

    Shares are signed fractions of its patching contribution (``exact``); the
    rest goes through components outside the circuit (or is non-additive).
    None when the direct path or the contribution is unknown.
    """
    direct, ref = value(ev, "path_logits"), _num(value(ev, "exact"))
    if not isinstance(direct, int | float):
        return None
    via = downstream_total(ev)
    total = max(abs(ref), abs(direct) + abs(via), 1e-9)
    d, c = abs(direct) / total, abs(via) / total
    return {"direct": d, "circuit": c, "other": max(0.0, 1.0 - d - c)}


def direct_share(ev: dict[str, Any]) -> float | None:
    """Fraction of the component's effect that goes directly to the logits."""
    shares = pathway_shares(ev)
    return None if shares is None else shares["direct"]


def top_role(ev: dict[str, Any]) -> tuple[str | None, float]:
    """The role the component attends to most from the final position, and the fraction."""
    attn = value(ev, "attention")
    if not isinstance(attn, dict) or not attn:
        return None, 0.0
    role = max(sorted(attn), key=lambda r: _num(attn[r]))
    return role, _num(attn[role])


def features(ev: dict[str, Any], roles: list[str]) -> np.ndarray:
    """Signature vector: kind, attention per role, direct/indirect share, polarity, copy."""
    scale = max(_num(ev.get("scale"), 1.0), 1e-6)
    attn = value(ev, "attention") if isinstance(value(ev, "attention"), dict) else {}
    attn_vec = [_num(attn.get(r)) for r in roles]
    attn_vec.append(max(0.0, 1.0 - sum(attn_vec)) if attn else 0.0)
    exact = _num(value(ev, "exact"))
    direct = _num(value(ev, "path_logits"), _num(value(ev, "dla")))
    shares = pathway_shares(ev) or {"direct": 0.0, "circuit": 0.0, "other": 0.0}
    copy = value(ev, "copy")
    return np.array([
        2.0 * (ev.get("kind") != "head"),
        *attn_vec,
        np.tanh(direct / scale * 3.0),
        np.tanh(downstream_total(ev) / scale * 3.0),
        shares["direct"], shares["circuit"], shares["other"],
        math.copysign(0.5, exact) if exact else 0.0,
        0.0 if copy is None else float(np.tanh(_num(copy))),
    ])


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient of a labelling (Euclidean)."""
    n = len(labels)
    if n < 3 or len(set(labels.tolist())) < 2:
        return -1.0
    dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    scores = []
    for i in range(n):
        same = labels == labels[i]
        if same.sum() <= 1:
            scores.append(0.0)
            continue
        a = dist[i, same].sum() / (same.sum() - 1)
        b = min(dist[i, labels == other].mean() for other in set(labels.tolist()) if other != labels[i])
        scores.append((b - a) / max(a, b) if max(a, b) > 0 else 0.0)
    return float(np.mean(scores))


def cluster_signatures(x: np.ndarray, max_k: int = 6) -> np.ndarray:
    """Average-linkage clustering; the number of clusters maximises the silhouette.

    Returns:
        Labels 0..k-1 in order of first appearance (deterministic).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(x)
    if n <= 2:
        return np.arange(n)
    tree = linkage(x, method="average", metric="euclidean")
    best, best_score = np.zeros(n, dtype=int), -2.0
    for k in range(2, min(max_k, n - 1) + 1):
        labels = fcluster(tree, t=k, criterion="maxclust")
        score = silhouette(x, labels)
        if score > best_score + 1e-9:
            best, best_score = labels, score
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(label), len(first)) for label in best])


def role_phrase(ev: dict[str, Any]) -> dict[str, str]:
    """Short phrases of a signature: mode (direct/indirect), polarity, attention, copy."""
    shares = pathway_shares(ev)
    mode = "mixed"
    if shares is not None:
        best = max(sorted(shares), key=lambda k: shares[k])
        if shares[best] >= 0.5:
            mode = {"direct": "direct", "circuit": "circuit-mediated", "other": "indirect"}[best]
    contrib = _num(value(ev, "exact"), _num(value(ev, "dla")))
    polarity = "answer-promoting" if contrib > 0 else "answer-opposing"
    role, frac = top_role(ev)
    attends = f"attending to {role}" if role and frac >= 0.3 else ""
    copy = value(ev, "copy")
    behaviour = ""
    if isinstance(copy, int | float):
        behaviour = "copying" if copy > 0.5 else "suppressing" if copy < -0.5 else ""
    kind = "heads" if ev.get("kind") == "head" else "MLPs"
    return {"mode": mode, "polarity": polarity, "attends": attends, "behaviour": behaviour, "kind": kind}


def cluster_name(members: list[dict[str, Any]]) -> str:
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
