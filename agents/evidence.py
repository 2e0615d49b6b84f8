"""The research record of one component, typed: what was measured, by which experiment.

Why one record: the scripted researcher measures a component with several
experiments (localisation, the survey, per-component tests), judges its
hypotheses on those numbers, groups components by them and writes their
descriptions from them. Every step reads the same ``ComponentEvidence`` by
attribute, so a measurement has one name and one orientation from the tool
result that produced it to the sentence that cites it.

All numbers are in *contribution* orientation: positive means the
component's clean activation pushes the metric towards the answer (for a
noising patch or an ablation, ``-effect``). Each measurement keeps the id of
the experiment that produced it, so every claim can cite it.

The graph checkpoints plain data, so state holds these records as
``model_dump()`` dicts; nodes read them back with ``model_validate``
(``finding_of``/``findings_of``).
"""

from __future__ import annotations

import math
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from engine.attribution import AttributionMethod
from tools.results import AttentionInputsResult, FaithfulnessResult, PathEdge

V = TypeVar("V")

MeasureName = Literal[
    "exact", "attention", "dla", "path_logits", "path_downstream", "path_q", "path_k", "path_v", "path_edges",
    "copy_score", "ablation", "ablation_resample", "attention_corrupt", "restore", "attention_inputs",
]
MEASURES: tuple[MeasureName, ...] = (
    "exact", "attention", "dla", "path_logits", "path_downstream", "path_q", "path_k", "path_v", "path_edges",
    "copy_score", "ablation", "ablation_resample", "attention_corrupt", "restore", "attention_inputs",
)
#: the receiver inputs the composition measures patch, in order (query, key, value)
COMPOSITION: tuple[MeasureName, ...] = ("path_q", "path_k", "path_v")


class Measured(BaseModel, Generic[V]):
    """One measurement: its value (None when it could not be measured) and the experiment behind it."""

    value: V | None = None
    exp: int | None = None


class ComponentEvidence(BaseModel):
    """Everything measured on one component, in contribution orientation.

    Attributes:
        kind: ``head``, ``attn``, ``mlp`` or ``resid``.
        scale: the metric's clean-corrupt gap, to express effects as fractions of it.
        exact: exact activation-patching contribution (localisation; noising: what the clean
            run loses when the component takes its corrupt-run value).
        restore: denoising contribution (localisation: what the corrupt run gains when the
            component takes its clean-run value).
        attention: mean attention from the final position to each task role
            (plus ``first token``), clean prompts.
        attention_corrupt: the same on the corrupt prompts.
        dla: direct logit attribution.
        path_logits: path-patching contribution into the logits only.
        path_downstream: path-patching contribution into the later circuit heads only.
        path_q / path_k / path_v: the same path into only the queries / keys / values of
            those heads (Q-, K-, V-composition).
        path_edges: the path into each later circuit head's query, key and value on its own (tool
            orientation: ``effect`` is the raw noising effect), with the receiver's attention from the
            final position before and after each query or key edge.
        attention_inputs: a head's attention from the final position by task role with its query or key
            input from the corrupt run (the whole upstream) or with only the earlier circuit members'
            change (what makes it attend where it does), and the head's effect under each swap.
        copy_score: DLA towards the attended token, relative to the component's own effect.
        ablation: mean-ablation contribution; ``ablation_resample`` the resample one.
        downstream: the later circuit heads ``path_downstream`` went through.
        at_position: exact noising contribution when only the component's output at one task
            role's position is patched (role -> measurement): which query position its
            effect is computed at.
        promoted: tokens its direct output promotes most (logit lens).
    """

    kind: str
    scale: float = 1.0
    exact: Measured[float] | None = None
    restore: Measured[float] | None = None
    attention: Measured[dict[str, float]] | None = None
    attention_corrupt: Measured[dict[str, float]] | None = None
    dla: Measured[float] | None = None
    path_logits: Measured[float] | None = None
    path_downstream: Measured[float] | None = None
    path_q: Measured[float] | None = None
    path_k: Measured[float] | None = None
    path_v: Measured[float] | None = None
    path_edges: Measured[list[PathEdge]] | None = None
    attention_inputs: Measured[AttentionInputsResult] | None = None
    copy_score: Measured[float] | None = None
    ablation: Measured[float] | None = None
    ablation_resample: Measured[float] | None = None
    ablation_kind: str = "mean"
    downstream: list[str] = Field(default_factory=list)
    promoted: list[str] = Field(default_factory=list)
    at_position: dict[str, Measured[float]] = Field(default_factory=dict)

    def measured(self, name: MeasureName) -> Measured[Any] | None:
        """The measurement called ``name`` (None when it was never attempted)."""
        return getattr(self, name)

    def has(self, name: MeasureName) -> bool:
        """Whether ``name`` was attempted (its value may still be None: could not be measured)."""
        return self.measured(name) is not None

    def value(self, name: MeasureName) -> Any:
        m = self.measured(name)
        return None if m is None else m.value

    def exp(self, name: MeasureName) -> int | None:
        m = self.measured(name)
        return None if m is None else m.exp

    def record(self, name: MeasureName, value: Any, exp: int | None) -> None:
        """Store measurement ``name`` (value None = attempted, could not be measured)."""
        setattr(self, name, Measured(value=value, exp=exp))

    def number(self, name: MeasureName, default: float = 0.0) -> float:
        """The measured number, or ``default`` when unmeasured or not finite."""
        return finite_or(self.value(name), default)

    def evidence_ids(self) -> list[int]:
        """Every experiment id behind this record's measurements."""
        ids = {i for n in MEASURES if (i := self.exp(n)) is not None}
        return sorted(ids | {m.exp for m in self.at_position.values() if m.exp is not None})

    def position_shares(self) -> dict[str, float] | None:
        """Each task role's position-only contribution as a share of the all-position one (None if unmeasured)."""
        ref = self.number("exact")
        # a component whose own effect is under 1% of the clean-corrupt gap has no meaningful shares
        if not self.at_position or abs(ref) < 0.01 * max(abs(finite_or(self.scale, 1.0)), 1e-9):
            return None
        return {role: finite_or(m.value) / ref for role, m in self.at_position.items() if m.value is not None}

    def cite_positions(self) -> str:
        """`` [E7, E8]`` for the position-specific sweeps (empty when none ran)."""
        ids = sorted({m.exp for m in self.at_position.values() if m.exp is not None})
        return " [" + ", ".join(f"E{i}" for i in ids) + "]" if ids else ""

    def cite(self, *names: MeasureName) -> str:
        """`` [E12, E15]`` for the experiments behind ``names`` (empty when none)."""
        ids = sorted({i for n in names if (i := self.exp(n)) is not None})
        return " [" + ", ".join(f"E{i}" for i in ids) + "]" if ids else ""


def finite_or(x: Any, default: float = 0.0) -> float:
    """``x`` as a float when it is a finite number, else ``default``."""
    return float(x) if isinstance(x, int | float) and math.isfinite(float(x)) else default


class HypothesisRecord(BaseModel):
    """A hypothesis as the findings keep it (the store holds the full history)."""

    id: int | None = None
    key: str | None = None
    text: str
    status: str = "proposed"
    reason: str = ""
    evidence: list[int] = Field(default_factory=list)


class Finding(BaseModel):
    """What the study of one component concluded.

    Attributes:
        description: the functional description (every claim cites experiments).
        evidence_ids: experiments the description rests on.
        headline: its one-sentence summary (scripted agent), None otherwise.
        evidence: the measurements (scripted agent and one-shot survey), None for LLM studies.
        hypotheses: the component's hypotheses and their verdicts.
    """

    description: str
    evidence_ids: list[int] = Field(default_factory=list)
    headline: str | None = None
    evidence: ComponentEvidence | None = None
    hypotheses: list[HypothesisRecord] = Field(default_factory=list)


class Localisation(BaseModel):
    """How the circuit was chosen, with the numbers behind every in/out decision.

    Attributes:
        method: ``attribution+exact`` (ranked by attribution patching, confirmed
            exactly) or ``given`` (``--circuit``).
        exact: exact noising-patching effect per measured component.
        attribution_method: the attribution variant that ranked the components
            (``atp``, ``atp*`` or ``ig``; ``attribution+exact`` only).
        atp: attribution estimates (``attribution+exact`` only).
        candidates: the components confirmed by exact patching.
        threshold: |effect| a component needs to be kept; ``threshold_frac`` of the largest.
        reasons: component -> why it is in or out.
        scale: the metric's clean-corrupt gap.
        experiments: the experiments localisation ran.
        opposing: the answer-opposing part of the circuit (reported beside the core).
        faithfulness: the greedy faithfulness selection that chose the core, if it ran.
        target_f: the f the core should reach on held-out prompts (the selection's own target,
            ``faithfulness.target_f``, adds a margin for the research prompts that chose it).
        exact_experiment: the experiment that measured ``exact``.
        restoring: denoising effects of the candidates (corrupt run, clean activation patched
            in; positive restores the answer), from experiment ``restoring_experiment``.
    """

    method: str
    attribution_method: AttributionMethod | None = None
    exact: dict[str, float] = Field(default_factory=dict)
    atp: dict[str, float] = Field(default_factory=dict)
    candidates: list[str] = Field(default_factory=list)
    threshold: float | None = None
    threshold_frac: float | None = None
    reasons: dict[str, str] = Field(default_factory=dict)
    scale: float = 1.0
    experiments: list[int] = Field(default_factory=list)
    opposing: list[str] = Field(default_factory=list)
    faithfulness: FaithfulnessResult | None = None
    target_f: float | None = None
    exact_experiment: int | None = None
    restoring: dict[str, float] = Field(default_factory=dict)
    restoring_experiment: int | None = None


def localisation_of(state: Any) -> Localisation | None:
    """The state's localisation record, typed (None before localisation ran)."""
    loc = state.get("localisation")
    return Localisation.model_validate(loc) if loc else None


class Role(BaseModel):
    """A functional role: a name, what its members do (citing experiments), its members."""

    name: str
    description: str = ""
    members: list[str]
    evidence: list[int] = Field(default_factory=list)

    def stored(self) -> dict[str, Any]:
        """The shape the store and the evaluation read: name, description, members."""
        return {"name": self.name, "description": self.description, "members": list(self.members)}


def roles_of(state: Any) -> list[Role]:
    """The state's roles (``clusters``), typed."""
    return [Role.model_validate(c) for c in state.get("clusters") or []]


def findings_of(state: Any) -> dict[str, Finding]:
    """The state's findings, typed (component id -> ``Finding``), in study order."""
    return {cid: Finding.model_validate(f) for cid, f in (state.get("findings") or {}).items()}


def evidence_of(state: Any) -> dict[str, ComponentEvidence]:
    """The survey's evidence records in the state (component id -> ``ComponentEvidence``)."""
    return {cid: ComponentEvidence.model_validate(e) for cid, e in (state.get("survey") or {}).items()}


def stated_parts(components: list[Any]) -> tuple[list[str], dict[str, list[str] | None]]:
    """From a stored explanation's components: the answer-opposing part, and where each member is said to act.

    Both evaluation paths (``explain``'s evaluate node and ``autointerp eval``) read the parts from the
    stored explanation, so they score the same claims. Explanations stored before positions were stated
    say nothing about positions: every member counts as acting everywhere.
    """
    rows = [c for c in components if isinstance(c, dict)]
    opposing = [str(c["id"]) for c in rows if c.get("part") == "opposing"]
    return opposing, {str(c["id"]): c.get("positions") for c in rows}
