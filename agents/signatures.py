"""Evidence signatures: from measured numbers to features, roles and descriptions.

Why: the scripted researcher must not know any task's answer. It describes a
component only by what was measured on it -- where it attends from the final
position, how much of its effect reaches the logits directly or through other
circuit components, whether its output copies or suppresses the attended
token, how much ablating it hurts -- and ``agents.grouping`` forms roles
from these signatures by a fixed rule. All numbers are in *contribution* orientation: positive means
the component's clean activation pushes the metric towards the answer.

A component's evidence is one ``agents.evidence.ComponentEvidence`` record.
"""

from __future__ import annotations

from agents.evidence import COMPOSITION, ComponentEvidence, finite_or


def contribution(ev: ComponentEvidence) -> float:
    """Signed contribution: what removing it costs the clean run plus what adding it gives the corrupt run.

    Noising alone misjudges redundant components (the others cover for
    them, so removing one costs almost nothing and its sign is noise);
    denoising alone misjudges components that need company. Their sum has
    the sign of the component's job in both directions. Falls back to direct
    logit attribution when neither was measured.
    """
    if ev.value("exact") is None and ev.value("restore") is None:
        return ev.number("dla")
    return ev.number("exact") + ev.number("restore")


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


def composition(ev: ComponentEvidence) -> dict[str, float] | None:
    """How the path through later circuit heads splits over their query, key and value inputs.

    Each share is that input's single-input path-patching contribution over
    the sum of the three, counting only paths that push the same way as the
    joint path into all three inputs (``path_downstream``); a path pushing
    the other way gets share 0 (the measured sentence still reports it). The
    single-input paths need not add up to the joint one: the inputs
    interact. None unless all four were measured and the paths pushing the
    joint path's way add up to at least a fifth of it.
    """
    joint = ev.value("path_downstream")
    values = {name[-1]: ev.value(name) for name in COMPOSITION}
    if joint is None or any(v is None for v in values.values()):
        return None
    sign = 1.0 if finite_or(joint) >= 0 else -1.0
    aligned = {k: max(0.0, sign * finite_or(v)) for k, v in values.items()}
    total = sum(aligned.values())
    # the paths pushing the joint path's way must carry a real part of it (a fifth), or no input is "the" one
    if total < 1e-9 or total < 0.2 * abs(finite_or(joint)):
        return None
    return {k: v / total for k, v in aligned.items()}


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


KIND_NOUNS: dict[str, tuple[str, str]] = {
    "head": ("head", "heads"), "attn": ("attention block", "attention blocks"),
    "mlp": ("MLP", "MLPs"), "resid": ("residual stream", "residual streams"),
}
"""What a component of each kind (``engine.components``) is called: (singular, plural)."""


def role_phrase(ev: ComponentEvidence) -> dict[str, str]:
    """Short phrases of a signature: mode (direct/indirect), polarity, attention, copy."""
    shares = pathway_shares(ev)
    mode = "mixed"
    if shares is not None:
        best = max(sorted(shares), key=lambda k: shares[k])
        if shares[best] >= 0.5:
            mode = {"direct": "direct", "circuit": "circuit-mediated", "other": "indirect"}[best]
    contrib = contribution(ev)
    polarity = "answer-promoting" if contrib > 0 else "answer-opposing"
    role, frac = top_role(ev)
    attends = f"attending to {role}" if role and frac >= 0.3 else ""
    copy = ev.value("copy_score")
    behaviour = ""
    if copy is not None:
        behaviour = "copying" if copy > 0.5 else "suppressing" if copy < -0.5 else ""
    kind = KIND_NOUNS.get(ev.kind, ("component", "components"))[1]
    return {"mode": mode, "polarity": polarity, "attends": attends, "behaviour": behaviour, "kind": kind}
