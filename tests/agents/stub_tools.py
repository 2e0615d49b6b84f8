"""Cheap deterministic stand-ins for the experiment tools (graph-mechanics tests only).

Why: tests of the LLM loop, budgets and error handling need tools that answer
instantly and predictably, with the real tool protocol (pydantic arguments,
range-checked component ids, errors as ``ToolResult.error``). The scripted
end-to-end tests use the real registry.
"""

from __future__ import annotations

from typing import Any, Literal

from tools.base import ToolArgs, ToolContext, ToolSpec


def _value(cid: str) -> float:
    """A fixed pseudo-effect per component id."""
    return ((sum(map(ord, cid)) * 37) % 100) / 100.0 - 0.5


class AllArgs(ToolArgs):
    components: Any = "all"


def _effects(ctx: ToolContext, args: AllArgs) -> tuple[dict, str]:
    t = ctx.target
    ids = args.components
    if ids == "all":
        ids = [f"L{i}.H{h}" for i in range(t.n_layers) for h in range(t.n_heads)] + [f"L{i}.MLP" for i in range(t.n_layers)]
    for cid in ids:
        ctx.component(cid)
    return {"effects": {c: -abs(_value(c)) for c in ids}, "clean_metric": 2.0, "corrupt_metric": 0.0}, "effects"


class OneArgs(ToolArgs):
    component: str
    mode: Literal["dla", "copy"] | None = None


def _attention(ctx: ToolContext, args: OneArgs) -> tuple[dict, str]:
    ctx.component(args.component)
    roles = list(ctx.data.role_names)
    weights = [abs(_value(args.component + r)) + 0.01 for r in roles]
    return {"by_role": {r: w / sum(weights) for r, w in zip(roles, weights, strict=True)}}, "attention"


def _lens(ctx: ToolContext, args: OneArgs) -> tuple[dict, str]:
    ctx.component(args.component)
    if args.mode == "copy":
        return {"copy_score": 2 * _value(args.component + "copy")}, "copy"
    return {"direct_logit_attribution": abs(_value(args.component))}, "dla"


class PathArgs(ToolArgs):
    sender: str
    receivers: Any = "logits"


def _path(ctx: ToolContext, args: PathArgs) -> tuple[dict, str]:
    ctx.component(args.sender)
    if args.receivers == "logits":
        return {"effect": -0.6 * abs(_value(args.sender))}, "path"
    return {"effect": -0.3 * abs(_value(args.sender)),
            "per_receiver": {r: -0.1 for r in args.receivers}}, "path"


class AblationArgs(ToolArgs):
    components: list[str]
    kind: Literal["zero", "mean", "resample"] = "mean"


def _ablation(ctx: ToolContext, args: AblationArgs) -> tuple[dict, str]:
    for c in args.components:
        ctx.component(c)
    return {"effect": -0.4 * sum(abs(_value(c)) for c in args.components)}, "ablation"


def _boom(ctx: ToolContext, args: AllArgs) -> tuple[dict, str]:
    raise RuntimeError("a bug inside a tool")


TOOLS: dict[str, ToolSpec] = {s.name: s for s in (
    ToolSpec("attribution_patching", "Rank all heads and MLPs.", AllArgs, _effects),
    ToolSpec("activation_patching", "Exact patching of components.", AllArgs, _effects),
    ToolSpec("attention_pattern", "Attention by task role.", OneArgs, _attention),
    ToolSpec("logit_lens", "Direct logit attribution / copy score.", OneArgs, _lens),
    ToolSpec("path_patching", "Sender to receivers or logits.", PathArgs, _path),
    ToolSpec("ablation", "Ablate components.", AblationArgs, _ablation),
    ToolSpec("buggy_tool", "Always raises (tests that tool bugs do not end runs).", AllArgs, _boom),
)}
