"""Agent specs: what an ``--agent`` value names, parsed in one place.

``scripted`` (no LLM), ``openai:<model>``, ``anthropic:<model>``,
``compatible:<base_url>#<model>`` and ``oneshot:<one of those providers>``
(DESIGN §6). The CLI, the graph's routing, batch-spec validation and the
provider factory all read an agent through ``parse_agent``.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import AutointerpError

PROVIDERS = ("openai", "anthropic", "compatible")


class AgentSpecError(AutointerpError):
    """An ``--agent`` value that names no known agent."""


@dataclass(frozen=True)
class AgentSpec:
    """A parsed ``--agent`` value.

    Attributes:
        kind: ``scripted``, ``llm`` (the LLM researcher) or ``oneshot`` (the baseline).
        provider: ``openai``, ``anthropic`` or ``compatible`` (None for scripted).
        model: the provider's model name.
        base_url: the server of a ``compatible`` provider.
    """

    kind: str
    provider: str | None = None
    model: str | None = None
    base_url: str | None = None


USAGE = ("use scripted, openai:<model>, anthropic:<model>, compatible:<base_url>#<model> "
          "or oneshot:<one of those providers>")


def _provider(text: str, original: str) -> AgentSpec:
    provider, sep, rest = text.partition(":")
    if provider not in PROVIDERS or not sep or not rest.strip():
        raise AgentSpecError(f"Unknown agent '{original}'; {USAGE}.")
    if provider == "compatible":
        base_url, hash_, model = rest.rpartition("#")
        if not hash_ or not base_url.strip() or not model.strip():
            raise AgentSpecError(
                f"Agent '{original}' needs a server and a model: compatible:<base_url>#<model>, "
                "e.g. compatible:http://localhost:8000/v1#Qwen/Qwen2.5-7B-Instruct.")
        return AgentSpec("llm", "compatible", model.strip(), base_url.strip())
    return AgentSpec("llm", provider, rest.strip())


def parse_agent(text: str) -> AgentSpec:
    """Parse an ``--agent`` value.

    Raises:
        AgentSpecError: the value names no known agent or lacks a model.
    """
    text = (text or "").strip()
    if text == "scripted":
        return AgentSpec("scripted")
    if text.startswith("oneshot:"):
        inner = _provider(text[len("oneshot:"):], text)
        return AgentSpec("oneshot", inner.provider, inner.model, inner.base_url)
    return _provider(text, text)
