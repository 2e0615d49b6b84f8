"""The registry of experiment tools: name -> ``ToolSpec``.

Why one registry: the agent's tool list, the JSON schemas an LLM sees and the
dispatcher all come from this one dict, so a tool exists for the agent exactly
when it is listed here.
"""

from __future__ import annotations

import importlib

from tools.base import ToolError, ToolSpec

_MODULES = (
    "read_activations",
    "logit_lens",
    "attention_pattern",
    "activation_patching",
    "path_patching",
    "ablation",
    "attribution_patching",
    "probe",
    "weight_swap",
)


def _load() -> dict[str, ToolSpec]:
    tools: dict[str, ToolSpec] = {}
    for name in _MODULES:
        spec = importlib.import_module(f"tools.{name}").SPEC
        tools[spec.name] = spec
    return tools


TOOLS: dict[str, ToolSpec] = _load()


def get_tool(name: str) -> ToolSpec:
    """The tool called ``name``; ToolError listing the valid names otherwise."""
    try:
        return TOOLS[name]
    except KeyError:
        raise ToolError(f"Unknown tool '{name}'; available tools: {', '.join(sorted(TOOLS))}.") from None


def tool_schemas() -> list[dict]:
    """Function schemas of every tool, for an LLM's tool list."""
    return [spec.json_schema() for spec in TOOLS.values()]
