"""The registry of experiment tools: name -> ``ToolSpec``.

Why one registry: the agent's tool list, the JSON schemas an LLM sees and the
dispatcher all come from this one dict, so a tool exists for the agent exactly
when it is listed here.
"""

from __future__ import annotations

from tools import (
    ablation,
    activation_patching,
    attention_inputs,
    attention_pattern,
    attribution_patching,
    faithfulness,
    logit_lens,
    path_patching,
    probe,
    read_activations,
    weight_swap,
)
from tools.base import ToolError, ToolSpec

TOOLS: dict[str, ToolSpec] = {
    module.SPEC.name: module.SPEC
    for module in (
        read_activations, logit_lens, attention_pattern, attention_inputs, activation_patching, path_patching,
        ablation, attribution_patching, probe, weight_swap, faithfulness,
    )
}


def get_tool(name: str) -> ToolSpec:
    """The tool called ``name``; ToolError listing the valid names otherwise."""
    try:
        return TOOLS[name]
    except KeyError:
        raise ToolError(f"Unknown tool '{name}'; available tools: {', '.join(sorted(TOOLS))}.") from None


def tool_schemas() -> list[dict]:
    """Function schemas of every tool, for an LLM's tool list."""
    return [spec.json_schema() for spec in TOOLS.values()]
