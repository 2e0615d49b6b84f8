"""Fixtures of the agent tests: temporary stores, stub tools, tiny models."""

from __future__ import annotations

import pytest

from tests.agents import stub_tools


@pytest.fixture
def db(tmp_path) -> str:
    """A fresh SQLite store URL in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def buggy_registry(monkeypatch):
    """The real registry plus ``buggy_tool``, which always raises."""
    import agents.toolbox as toolbox

    tools = stub_tools.tools_with_bug()
    monkeypatch.setattr(toolbox, "_registry", lambda: dict(tools))
    return tools
