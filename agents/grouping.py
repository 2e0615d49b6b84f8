"""Roles by a rule fixed in advance: components that share a discrete evidence signature share a role.

Why a fixed rule, not clustering: a clustering that chooses its number of
groups from the data it groups can find structure in noise, and two runs with
slightly different numbers can group differently. A researcher names roles by
what the heads do -- which sign they push the answer, by which path, from
which token they read -- so the scripted agent does the same, with one rule
stated here, recorded with every run (``GROUPING_RULE``), and applied
mechanically: the same evidence always yields the same roles.

The signature of a component (``signature``):

- ``kind``: head or MLP (they never share a role);
- ``polarity``: answer-promoting when its patching contribution is positive;
- ``pathway``: where the largest share of its effect goes -- directly to the
  logits, through the later circuit heads (path patching), or through
  components outside the circuit;
- ``attends``: for a head, the task role (e.g. ``S2``, ``IO``) receiving at
  least ``ATTENDS_MIN`` of the final position's attention, else ``spread``.

What the head writes (copying or suppressing the attended token) is stated in
the description, not used to split: it follows from polarity and attention
for direct heads and is noisy for indirect ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.evidence import ComponentEvidence
from agents.signatures import pathway_shares, top_role

#: share of the final position's attention that makes a task role "the attended role"
ATTENDS_MIN = 0.3

GROUPING_RULE = (
    "Components share a role exactly when they share a signature: same kind (head / MLP), same sign of "
    "patching contribution, same dominant pathway (the largest of: direct to the logits, through later "
    f"circuit heads, through components outside the circuit) and, for heads, the same task role receiving "
    f">= {ATTENDS_MIN:.0%} of the final position's attention ('spread' otherwise). Fixed before any run; "
    "no swap or evaluation number is used."
)

PATHWAY_PHRASES = {
    "direct": "writing directly to the logits",
    "circuit": "acting through later circuit heads",
    "other": "acting through components outside the circuit",
    "unmeasured": "with an unmeasured pathway",
}


@dataclass(frozen=True, order=True)
class Signature:
    """A component's discrete evidence signature (the grouping key)."""

    kind: str
    polarity: str
    pathway: str
    attends: str

    def name(self, plural: bool = True) -> str:
        """``answer-promoting heads writing directly to the logits, attending to IO``."""
        kind = {"head": "head", "mlp": "MLP"}.get(self.kind, self.kind) + ("s" if plural else "")
        text = f"{self.polarity} {kind} {PATHWAY_PHRASES[self.pathway]}"
        if self.kind == "head":
            text += ", attention spread over the prompt" if self.attends == "spread" else \
                f", attending to {self.attends}"
        return text


def signature(ev: ComponentEvidence) -> Signature:
    """The signature of one component's evidence (see the module docstring)."""
    kind = "head" if ev.kind == "head" else "mlp"
    contribution = ev.number("exact", ev.number("dla"))
    polarity = "answer-promoting" if contribution > 0 else "answer-opposing"
    shares = pathway_shares(ev)
    pathway = "unmeasured" if shares is None else max(("direct", "circuit", "other"), key=lambda k: shares[k])
    attends = ""
    if kind == "head":
        role, frac = top_role(ev)
        attends = role if role is not None and frac >= ATTENDS_MIN else "spread"
    return Signature(kind=kind, polarity=polarity, pathway=pathway, attends=attends)


def group_by_signature(evidence: dict[str, ComponentEvidence]) -> list[tuple[Signature, list[str]]]:
    """Components grouped by identical signature; groups ordered by signature, members keep input order."""
    groups: dict[Signature, list[str]] = {}
    for cid, ev in evidence.items():
        groups.setdefault(signature(ev), []).append(cid)
    return sorted(groups.items(), key=lambda kv: (kv[0].kind != "head", -len(kv[1]), kv[0]))
