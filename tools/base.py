"""The tool protocol every experiment follows.

Why a protocol: the agent (scripted or LLM) calls experiments by name with
JSON arguments. Each tool therefore has a pydantic argument model (bad
arguments are rejected with a readable message that goes back to the agent),
returns a JSON-serialisable ``result`` plus a short ``summary`` fit for an LLM
context, and records its wall time. Large tensors never go into results; a
tool that is asked for raw values writes them as content-hashed artifacts.

A tool is a plain function ``fn(ctx, args) -> (result, summary)``; ``run_tool``
validates arguments, times the call and wraps the outcome in ``ToolResult``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.components import parse_component
from engine.errors import AutointerpError
from engine.models import TargetModel
from engine.tasks import TaskData


class ToolError(AutointerpError):
    """A tool call that cannot run as asked (bad arguments, out-of-range component)."""


class ToolArgs(BaseModel):
    """Base of every tool's argument model: unknown keys are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class ToolContext:
    """What a tool runs against: the loaded model and the tokenised task (never checkpointed)."""

    target: TargetModel
    data: TaskData
    seed: int = 0
    #: where raw arrays go when a tool is asked for them (content-hashed); None = refuse raw output
    artifact_dir: str | None = None
    #: memo for expensive shared intermediates (e.g. cached clean/corrupt runs), keyed by the tool
    memo: dict[str, Any] = field(default_factory=dict)

    def component(self, text: str):
        """Parse and range-check a component id for this model (ToolError naming the valid range)."""
        try:
            return parse_component(text, self.target.n_layers, self.target.n_heads)
        except AutointerpError as exc:
            raise ToolError(str(exc)) from None


@dataclass
class ToolResult:
    tool: str
    args: dict
    result: dict
    summary: str
    wall_time_s: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


ToolFn = Callable[[ToolContext, Any], tuple[dict, str]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args_model: type[ToolArgs]
    fn: ToolFn

    def json_schema(self) -> dict:
        """OpenAI/Anthropic-style function schema of this tool."""
        return {"name": self.name, "description": self.description, "parameters": self.args_model.model_json_schema()}


def format_validation_error(tool: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        problems.append(f"{where}: {err['msg']}")
    return f"Invalid arguments for {tool}: " + "; ".join(problems) + "."


def run_tool(spec: ToolSpec, ctx: ToolContext, raw_args: dict | None) -> ToolResult:
    """Validate ``raw_args``, run the tool, and capture result, summary, time and any error.

    User-caused problems (validation, out-of-range components) come back as a
    ``ToolResult`` with ``error`` set -- they never raise -- so an agent sees
    them as messages and can correct itself.
    """
    start = time.perf_counter()
    try:
        args = spec.args_model.model_validate(raw_args or {})
    except ValidationError as exc:
        return ToolResult(spec.name, dict(raw_args or {}), {}, "", time.perf_counter() - start,
                          error=format_validation_error(spec.name, exc))
    try:
        result, summary = spec.fn(ctx, args)
    except AutointerpError as exc:
        return ToolResult(spec.name, args.model_dump(mode="json"), {}, "", time.perf_counter() - start,
                          error=str(exc))
    return ToolResult(spec.name, args.model_dump(mode="json"), result, summary, time.perf_counter() - start)
