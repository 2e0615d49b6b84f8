"""The batch spec: a YAML file naming many (task x model x agent x seed) jobs.

Why validate everything first: a batch may run for hours, so a typo in the
thirtieth job must stop it before the first job starts, with a message that
names the exact YAML path of the bad field (``jobs[2].seed: must be an
integer``), not a traceback halfway through the night.

Two forms, which may be combined (the union of both is run)::

    tasks: [ioi, induction]          # matrix: every combination is a job
    models: [smollm2-135m]
    agents: [scripted]               # default [scripted]
    seeds: [0, 1]                    # default [0]
    options: {n: 32, max_steps: 40, dtype: bfloat16}  # defaults for every job (device too)
    jobs:                            # explicit jobs (override options)
      - {task: ioi, model: tiny-llama, seed: 3, circuit: [L0.H1, L1.H0]}
    workers: 2                       # default concurrency (CLI --workers wins)
    ray: {num_gpus: 1, num_cpus: 1, startup_timeout_s: 120}

``device`` (auto, cpu, cuda, cuda:N, mps) and ``dtype`` (float32, bfloat16,
float16) say where and in what precision a job's model runs. On Ray, a job
reaches a GPU only if its actor asked for one (``ray.num_gpus``); ``device:
auto`` then picks it, and a job that insists on ``cuda`` without
``ray.num_gpus`` is rejected before anything starts. The dtype is part of a
job's identity (it changes the result); the device is not.

A job's *identity* is the sha256 of its normalised settings (see
:meth:`Job.identity`); it is stored in the run's ``meta`` so that re-running
a spec skips jobs that already finished.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
)

from agents.spec import AgentSpecError, parse_agent
from engine.catalog import BUILTIN_TASKS, device_spelling, dtype_spelling
from engine.components import parse_component
from engine.errors import AutointerpError

IDENTITY_FIELDS = ("task", "task_sha256", "model", "agent", "seed", "n", "max_steps",
                   "circuit", "evaluate", "null_draws", "dtype")
"""The settings that make two jobs the same job (everything that changes the result)."""


class SpecError(AutointerpError):
    """A batch spec that cannot be read or is invalid; the message names where."""


def _component(value: str) -> str:

    try:
        return parse_component(value).id
    except AutointerpError as exc:
        raise ValueError(str(exc).rstrip(".")) from None


def _spelling(check):
    """A validator from one of the catalog's spelling checks (its sentence, less the full stop)."""

    def validate(value: str) -> str:
        try:
            return check(value)
        except AutointerpError as exc:
            raise ValueError(str(exc).rstrip(".")) from None

    return validate


PositiveInt = Annotated[StrictInt, Field(gt=0)]
DeviceName = Annotated[str, AfterValidator(_spelling(device_spelling))]
DtypeName = Annotated[str, AfterValidator(_spelling(dtype_spelling))]
AgentSpec = Annotated[str, AfterValidator(lambda v: check_agent(v))]
ComponentId = Annotated[str, AfterValidator(_component)]


class JobOptions(BaseModel):
    """Per-job settings that are not part of the matrix axes."""

    model_config = ConfigDict(extra="forbid")

    n: PositiveInt | None = None
    max_steps: PositiveInt | None = None
    circuit: list[ComponentId] | None = None
    evaluate: bool = True
    null_draws: Annotated[StrictInt, Field(ge=200)] | None = None
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    device: DeviceName | None = None
    dtype: DtypeName | None = None

    @field_validator("circuit", mode="before")
    @classmethod
    def _split_circuit(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("circuit")
    @classmethod
    def _some_components(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("must name at least one component")
        return value


class JobEntry(JobOptions):
    """One explicit job of ``jobs:``."""

    task: str
    model: str
    agent: AgentSpec = "scripted"
    seed: StrictInt = 0
    name: str | None = None

    @field_validator("task", "model")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


class RaySettings(BaseModel):
    """Resources of each Ray actor and how long to wait for them."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    num_cpus: Annotated[float, Field(ge=0)] = 1.0
    num_gpus: Annotated[float, Field(ge=0)] = 0.0
    startup_timeout_s: Annotated[float, Field(gt=0)] = 120.0


class BatchSpec(BaseModel):
    """The whole YAML document."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    tasks: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    agents: list[AgentSpec] = Field(default_factory=lambda: ["scripted"])
    seeds: list[StrictInt] = Field(default_factory=lambda: [0])
    options: JobOptions = Field(default_factory=JobOptions)
    jobs: list[JobEntry] = Field(default_factory=list)
    workers: PositiveInt | None = None
    ray: RaySettings = Field(default_factory=RaySettings)


class Job(BaseModel):
    """One fully resolved job: what the worker runs and what identifies it."""

    model_config = ConfigDict(frozen=True)

    task: str
    model: str
    agent: str = "scripted"
    seed: int = 0
    n: int | None = None
    max_steps: int | None = None
    circuit: tuple[str, ...] | None = None
    evaluate: bool = True
    null_draws: int | None = None
    timeout_s: float | None = None
    device: str | None = None
    dtype: str | None = None
    name: str | None = None
    task_sha256: str | None = None
    workdir: str | None = None  # where the worker keeps its private store (not part of identity)

    def settings(self) -> dict[str, Any]:
        """The normalised settings that define this job (None values left out)."""
        data = self.model_dump(mode="json")
        out = {k: data[k] for k in IDENTITY_FIELDS if data.get(k) is not None}
        if "circuit" in out:
            out["circuit"] = sorted(set(out["circuit"]))
        return out

    def identity(self) -> str:
        """sha256 of the canonical JSON of :meth:`settings`: the job's key in the store."""
        text = json.dumps(self.settings(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        """Short human label: the name, or task · model · agent · seed."""
        return self.name or f"{Path(self.task).name} · {self.model} · {self.agent} · s{self.seed}"


def check_agent(value: str) -> str:
    """Validate an agent spec with the agents' own parser (DESIGN §6); returns it stripped."""
    try:
        parse_agent(value)
    except AgentSpecError as exc:
        raise ValueError(str(exc).rstrip(".")) from None
    return value.strip()


def yaml_path(loc: tuple[Any, ...]) -> str:
    """Turn a pydantic error location into a YAML path: ``('jobs', 2, 'seed')`` -> ``jobs[2].seed``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "constrained-")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "missing": "is required",
    "extra_forbidden": "is not a known field",
}


def format_errors(exc: ValidationError, source: str) -> str:
    """One sentence listing every problem of a spec, each with its YAML path."""
    problems = []
    for err in exc.errors():
        message = _MESSAGES.get(err["type"])
        if message is None:
            message = str(err["msg"]).removeprefix("Value error, ")
            message = message[:1].lower() + message[1:]
        problems.append(f"{yaml_path(err['loc'])}: {message}")
    return f"Invalid batch spec {source}: " + "; ".join(problems) + "."


def _resolve_task(task: str, base: Path, where: str) -> tuple[str, str | None]:
    """A built-in task name as is; a JSONL path made absolute (relative to the spec), with its hash."""

    if task in BUILTIN_TASKS:
        return task, None
    path = Path(task).expanduser()
    if not path.is_absolute():
        path = base / path
    if path.is_file():
        return str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest()
    raise SpecError(
        f"{where}: unknown task '{task}'; use one of {', '.join(BUILTIN_TASKS)} "
        "or a path to a .jsonl file."
    )


def expand(spec: BatchSpec, base: Path = Path(".")) -> list[Job]:
    """All jobs of a spec: the matrix, then the explicit jobs, duplicates dropped.

    Raises:
        SpecError: The spec names no job, a task that does not exist, or a
            half-filled matrix (tasks without models or the reverse).
    """
    if bool(spec.tasks) != bool(spec.models):
        missing = "models" if spec.tasks else "tasks"
        raise SpecError(f"Invalid batch spec: {missing}: is required when the matrix form is used.")
    defaults = spec.options.model_dump(exclude_unset=True)
    entries: list[tuple[str, dict[str, Any]]] = []
    for ti, task in enumerate(spec.tasks):
        for model in spec.models:
            for agent in spec.agents:
                for seed in spec.seeds:
                    fields = {**defaults, "task": task, "model": model, "agent": agent, "seed": seed}
                    entries.append((f"tasks[{ti}]", fields))
    for ji, entry in enumerate(spec.jobs):
        fields = {**defaults, **entry.model_dump(exclude_unset=True)}
        fields.setdefault("agent", entry.agent)
        fields.setdefault("seed", entry.seed)
        entries.append((f"jobs[{ji}].task", fields))
    jobs: dict[str, Job] = {}
    for where, fields in entries:
        task, sha = _resolve_task(str(fields["task"]), base, where)
        circuit = fields.get("circuit")
        job = Job(**{**fields, "task": task, "task_sha256": sha,
                     "circuit": tuple(circuit) if circuit else None})
        jobs.setdefault(job.identity(), job)
    if not jobs:
        raise SpecError("The batch spec names no jobs; give tasks and models, or jobs.")
    return list(jobs.values())


def load_spec(path: str | Path) -> tuple[BatchSpec, list[Job]]:
    """Read, validate and expand a batch spec file.

    Args:
        path: The YAML file.

    Returns:
        The validated spec and its jobs.

    Raises:
        SpecError: Unreadable file, YAML syntax error, or invalid content
            (message names the YAML path of every bad field).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"Cannot read the batch spec {path} ({exc.strerror or exc}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError(f"The batch spec {path} is not valid YAML{where}: {problem}.") from None
    if data is None:
        raise SpecError(f"The batch spec {path} is empty.")
    if not isinstance(data, dict):
        raise SpecError(f"The batch spec {path} must be a mapping (tasks/models/... or jobs).")
    try:
        spec = BatchSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_errors(exc, str(path))) from None
    return spec, expand(spec, path.parent)
