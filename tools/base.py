"""The tool protocol every experiment follows.

Why a protocol: the agent (scripted or LLM) calls experiments by name with
JSON arguments. Each tool therefore has a pydantic argument model (bad
arguments are rejected with a readable message that goes back to the agent),
returns a typed ``result`` (a pydantic model of ``tools.results``, stored and
shown to LLMs as its JSON) plus a short ``summary`` fit for an LLM context, and
records its wall time. Large tensors never go into results; a tool that is
asked for raw values writes them as content-hashed artifacts.

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
from tools.results import ToolOutput


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
    """One call's outcome: the validated arguments, the typed result (None on error), the summary."""

    tool: str
    args: dict
    result: ToolOutput | None
    summary: str
    wall_time_s: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def result_json(self) -> dict:
        """The result as plain JSON (what is stored and what an LLM reads); ``{}`` on error."""
        return {} if self.result is None else self.result.model_dump(mode="json")


ToolFn = Callable[[ToolContext, Any], tuple[ToolOutput, str]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args_model: type[ToolArgs]
    result_model: type[ToolOutput]
    fn: ToolFn

    def json_schema(self) -> dict:
        """OpenAI/Anthropic-style function schema of this tool."""
        return {"name": self.name, "description": self.description, "parameters": self.args_model.model_json_schema()}

    def parse_result(self, stored: dict | None) -> ToolOutput | None:
        """A stored (JSON) result validated back into this tool's result model; None if absent."""
        return self.result_model.model_validate(stored) if stored else None


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
        return ToolResult(spec.name, dict(raw_args or {}), None, "", time.perf_counter() - start,
                          error=format_validation_error(spec.name, exc))
    try:
        result, summary = spec.fn(ctx, args)
    except AutointerpError as exc:
        return ToolResult(spec.name, args.model_dump(mode="json"), None, "", time.perf_counter() - start,
                          error=str(exc))
    return ToolResult(spec.name, args.model_dump(mode="json"), result, summary, time.perf_counter() - start)
