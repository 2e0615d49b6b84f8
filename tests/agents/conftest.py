"""Fixtures of the agent tests: temporary stores, stub tools, tiny models."""

from __future__ import annotations

import pytest

from tests.agents import stub_tools


@pytest.fixture
def db(tmp_path) -> str:
    """A fresh SQLite store URL in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def stub_registry(monkeypatch):
    """Replace the tool registry with the cheap deterministic stand-ins."""
    import agents.toolbox as toolbox

    monkeypatch.setattr(toolbox, "_registry", lambda: dict(stub_tools.TOOLS))
    return stub_tools.TOOLS


def real_registry_available() -> bool:
    try:
        from tools.registry import TOOLS  # noqa: F401
    except ImportError:
        return False
    return True


needs_tools = pytest.mark.skipif(not real_registry_available(), reason="tools.registry has not landed yet")
