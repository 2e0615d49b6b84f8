"""Reference explanations: a circuit's components, their roles and role clusters, as JSON.

Why a file format: replication scoring (``autointerp replicate RUN
--reference REF.json``) compares an agent's explanation with a reference --
a published circuit transcribed by a researcher, or a planted model's truth.
The planted models ship theirs under ``engine/planted/references/``
(``reference_path(name)``), written from the established truth by
``bench/planted.py --write-references``.

Format (one JSON object)::

    {
      "format": "autointerp-reference/1",
      "task": "planted-induction",        # the task the explanation is of
      "model": "planted-induction",       # the model its component ids refer to
      "source": "planted truth ...",      # where the explanation comes from
      "fingerprint": "f5dbba5b44b3bd01",  # optional: planted recipe it was derived for
      "components": {                     # every component of the reference circuit
        "L0.H0": {"role": "previous-token", "description": "one sentence"}
      },
      "clusters": [                       # optional: each role, with all its members
        {"name": "previous-token", "description": "one or two sentences", "members": ["L0.H0"]}
      ],
      "outside": ["L0.H3"]                # optional: components known not to be in the circuit
    }

Component ids follow DESIGN.md §4. A cluster's members must be components
whose ``role`` is the cluster's name, and every component's role must have
a cluster when clusters are given; ``outside`` must not overlap the
components. ``load_reference`` checks all of this and names the first
violation in one sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from engine.errors import AutointerpError
from engine.planted.truth import PlantedTruth

FORMAT = "autointerp-reference/1"
REFERENCES = Path(__file__).resolve().parent / "references"


class ReferenceError(AutointerpError):
    """A reference file that cannot be read or breaks the format."""


class ReferenceComponent(BaseModel):
    role: str
    description: str


class ReferenceCluster(BaseModel):
    name: str
    description: str
    members: list[str]


class Reference(BaseModel):
    """A reference explanation (see the module docstring for the format)."""

    format: Literal["autointerp-reference/1"] = FORMAT
    task: str
    model: str
    source: str
    fingerprint: str | None = None
    components: dict[str, ReferenceComponent]
    clusters: list[ReferenceCluster] = Field(default_factory=list)
    outside: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Reference:
        for cluster in self.clusters:
            for member in cluster.members:
                if member not in self.components:
                    raise ValueError(f"cluster '{cluster.name}' lists {member}, which is not a component")
                if self.components[member].role != cluster.name:
                    raise ValueError(f"{member} is in cluster '{cluster.name}' but has role "
                                     f"'{self.components[member].role}'")
        if self.clusters:
            named = {c.name for c in self.clusters}
            for cid, component in self.components.items():
                if component.role not in named:
                    raise ValueError(f"{cid} has role '{component.role}', which has no cluster")
        overlap = sorted(set(self.outside) & set(self.components))
        if overlap:
            raise ValueError(f"{overlap[0]} is listed both as a component and as outside the circuit")
        return self

    @property
    def circuit(self) -> list[str]:
        return list(self.components)

    def labels(self) -> dict[str, str]:
        """Component id -> role name."""
        return {cid: c.role for cid, c in self.components.items()}


def load_reference(path: str | Path) -> Reference:
    """Read and check a reference file.

    Raises:
        ReferenceError: unreadable file, invalid JSON, or a format violation (one sentence).
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ReferenceError(f"Cannot read reference file '{path}' ({exc.strerror or exc}).") from None
    try:
        return Reference.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ReferenceError(f"Reference file '{path}' is not a valid reference: {message} (at {where}).") from None


def reference_path(name: str) -> Path:
    """The shipped reference file of planted task ``name``."""
    return REFERENCES / f"{name}.json"


def reference_from_truth(truth: PlantedTruth) -> Reference:
    """The reference explanation a planted model's truth amounts to."""
    components = {
        head: {"role": role, "description": f"{role.capitalize()} head: {truth.role_descriptions[role]}."}
        for role, members in truth.roles.items() for head in members
    }
    clusters = [
        {"name": role, "description": f"{truth.role_descriptions[role].capitalize()}.", "members": members}
        for role, members in truth.roles.items() if members
    ]
    outside = [h.head for h in truth.heads if not h.in_circuit]
    return Reference.model_validate({
        "task": truth.name, "model": truth.name, "fingerprint": truth.fingerprint,
        "source": f"planted truth of {truth.name}: attention signatures and mean ablation on "
                  f"{truth.n_sequences} fresh sequences (engine.planted.truth)",
        "components": components, "clusters": clusters, "outside": outside,
    })

