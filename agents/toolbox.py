"""The agent's view of the tool registry: look-up by name and LLM tool schemas.

Why a thin wrapper: agents must treat an unknown tool name as an ordinary,
recordable mistake (LLMs invent tools), and LLM providers need each tool's
JSON schema in the function-calling shape both OpenAI and Anthropic accept.
"""

from __future__ import annotations

from typing import Any

from tools.base import ToolSpec
from tools.registry import TOOLS

EVALUATOR_TOOLS = ("weight_swap",)
"""Tools that measure what the evaluation scores: hidden from agents unless a run opts in."""


def _registry() -> dict[str, ToolSpec]:
    return dict(TOOLS)


def tool_names() -> list[str]:
    """Names of all registered experiment tools, sorted."""
    return sorted(_registry())


def get_spec(name: str) -> ToolSpec | None:
    """The tool named ``name``, or None if there is none."""
    return _registry().get(name)


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$defs`` references: some providers reject ``$ref`` in tool schemas."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = defs.get(ref.split("/")[-1], {})
                merged = {**walk(target), **{k: walk(v) for k, v in node.items() if k != "$ref"}}
                return merged
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def function_schema(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-style function tool (``bind_tools`` converts it for Anthropic too)."""
    params = _inline_refs(parameters)
    params.pop("title", None)
    params.setdefault("type", "object")
    params.setdefault("properties", {})
    return {"type": "function", "function": {"name": name, "description": description, "parameters": params}}


def experiment_tool_schemas(exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Function schemas of every registered experiment tool (minus ``exclude``)."""
    out = []
    for name, spec in sorted(_registry().items()):
        if name in exclude:
            continue
        schema = spec.json_schema()
        out.append(function_schema(name, schema.get("description", spec.description), schema["parameters"]))
    return out
