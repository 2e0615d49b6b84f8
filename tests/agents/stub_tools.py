"""The real tool registry plus a deliberately broken tool (tests that tool bugs do not end runs)."""

from __future__ import annotations

from tools.base import ToolArgs, ToolContext, ToolSpec
from tools.registry import TOOLS
from tools.results import ToolOutput


class NoArgs(ToolArgs):
    pass


def _boom(ctx: ToolContext, args: NoArgs) -> tuple[ToolOutput, str]:
    raise RuntimeError("a bug inside a tool")


BUGGY = ToolSpec("buggy_tool", "Always raises (tests that tool bugs do not end runs).", NoArgs, ToolOutput, _boom)


def tools_with_bug() -> dict[str, ToolSpec]:
    return {**TOOLS, BUGGY.name: BUGGY}
