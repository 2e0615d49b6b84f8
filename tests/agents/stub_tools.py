"""The real tool registry plus a deliberately broken tool (tests that tool bugs do not end runs)."""

from __future__ import annotations

from tools.base import ToolArgs, ToolContext, ToolSpec


class NoArgs(ToolArgs):
    pass


def _boom(ctx: ToolContext, args: NoArgs) -> tuple[dict, str]:
    raise RuntimeError("a bug inside a tool")


BUGGY = ToolSpec("buggy_tool", "Always raises (tests that tool bugs do not end runs).", NoArgs, _boom)


def tools_with_bug() -> dict[str, ToolSpec]:
    from tools.registry import TOOLS

    return {**TOOLS, BUGGY.name: BUGGY}
