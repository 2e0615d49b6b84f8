"""Roles by a rule fixed in advance: components that share a discrete evidence signature share a role.

Why a fixed rule, not clustering: a clustering that chooses its number of
groups from the data it groups can find structure in noise, and two runs with
slightly different numbers can group differently. A researcher names roles by
what the heads do -- which sign they push the answer, by which path, from
which token they read -- so the scripted agent does the same, with one rule
stated here, recorded with every run (``GROUPING_RULE``), and applied
mechanically: the same evidence always yields the same roles.

The signature of a component (``signature``) has three parts, chosen because
each is a measured property that does not depend on which other components
happen to be in the circuit:

- ``kind``: head, MLP, attention block or residual stream (kinds never share a role);
- ``polarity``: answer-promoting when its contribution is positive (noising
  plus denoising, ``signatures.contribution``: redundant components cost
  little when removed, so their noising sign alone is noise);
- ``pathway``: ``direct`` when at least half of its effect goes straight to
  the logits (path patching into the logits only), else ``indirect`` (it acts
  by changing what later components compute).

Where each head attends and what it writes (copying or suppressing the
attended token) are stated per member in the role's description, not used to
split: a first version split by the attended task role and by circuit vs
non-circuit paths, and gave every IOI head on the bundled model its own role
(nothing to score), so the rule was coarsened to these three parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.evidence import ComponentEvidence
from agents.signatures import KIND_NOUNS, contribution, pathway_shares

#: share of the effect that must go straight to the logits for the ``direct`` pathway
DIRECT_MIN = 0.5

GROUPING_RULE = (
    "Components share a role exactly when they share a signature: same kind (head / MLP), same sign of "
    f"contribution (noising plus denoising patching), and same pathway (direct when >= {DIRECT_MIN:.0%} of the effect goes straight "
    "to the logits under path patching, indirect otherwise). Fixed before the run; no swap or evaluation "
    "number is used."
)

PATHWAY_PHRASES = {
    "direct": "writing directly to the logits",
    "indirect": "acting through later components",
    "unmeasured": "with an unmeasured pathway",
}


@dataclass(frozen=True, order=True)
class Signature:
    """A component's discrete evidence signature (the grouping key)."""

    kind: str
    polarity: str
    pathway: str

    def name(self, plural: bool = True) -> str:
        """``answer-promoting heads writing directly to the logits``."""
        kind = KIND_NOUNS.get(self.kind, ("component", "components"))[1 if plural else 0]
        return f"{self.polarity} {kind} {PATHWAY_PHRASES[self.pathway]}"


def signature(ev: ComponentEvidence) -> Signature:
    """The signature of one component's evidence (see the module docstring)."""
    kind = ev.kind
    polarity = "answer-promoting" if contribution(ev) > 0 else "answer-opposing"
    shares = pathway_shares(ev)
    pathway = "unmeasured" if shares is None else "direct" if shares["direct"] >= DIRECT_MIN else "indirect"
    return Signature(kind=kind, polarity=polarity, pathway=pathway)


def group_by_signature(evidence: dict[str, ComponentEvidence]) -> list[tuple[Signature, list[str]]]:
    """Components grouped by identical signature; groups ordered by signature, members keep input order."""
    groups: dict[Signature, list[str]] = {}
    for cid, ev in evidence.items():
        groups.setdefault(signature(ev), []).append(cid)
    return sorted(groups.items(), key=lambda kv: (kv[0].kind != "head", -len(kv[1]), kv[0]))
