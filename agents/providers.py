"""LLM providers: agent specs, chat models, keys, retries.

Why one module: the agent spec on the command line (``openai:gpt-4o``,
``anthropic:claude-sonnet-4-5``, ``compatible:http://localhost:8000/v1#qwen``,
``oneshot:<provider spec>``) must map to a LangChain chat model that supports
native tool calling, with the key read from the environment (never stored:
the store redacts it and the run config keeps only the spec), retries with
exponential back-off on rate limits (429) and server errors (5xx) -- done by
the provider SDKs, whose ``max_retries`` honour ``Retry-After`` -- and one
clear sentence when a key is missing.
"""

from __future__ import annotations

import os
from typing import Any

from agents.context import LLMHandle
from agents.spec import USAGE, AgentSpec, AgentSpecError
from engine.errors import AutointerpError
from store import redact

MAX_RETRIES = 6
REQUEST_TIMEOUT_S = 120.0
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
COMPATIBLE_KEY_ENV = ("COMPATIBLE_API_KEY", "OPENAI_API_KEY")


class MissingKeyError(AutointerpError):
    """The provider's API key is not in the environment."""


class ProviderError(AutointerpError):
    """The LLM provider refused or failed a request after all retries (bad key, server unreachable)."""


def _key(provider: str) -> str:
    if provider == "compatible":
        for name in COMPATIBLE_KEY_ENV:
            if os.environ.get(name):
                return os.environ[name]
        return "not-needed"  # local servers (vLLM, Ollama, transformers serve) accept any key
    name = KEY_ENV[provider]
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingKeyError(f"The {provider} agent needs an API key: set {name} in the environment "
                              "(or use --agent scripted, which needs none).")
    return value


def make_chat_model(spec: AgentSpec, http_client: Any = None, max_tokens: int = 4096) -> Any:
    """The LangChain chat model of ``spec`` (tools are bound later, per call).

    Args:
        spec: a parsed ``llm`` or ``oneshot`` agent spec.
        http_client: an ``httpx.Client`` to send requests through (tests pass one
            with a ``MockTransport`` to replay recorded responses).
        max_tokens: the completion limit per call.

    Raises:
        MissingKeyError: the provider's key is not set.
    """
    if spec.provider is None or spec.model is None:
        raise AgentSpecError(f"The {spec.kind} agent has no LLM; {USAGE}.")
    key = _key(spec.provider)
    if spec.provider in ("openai", "compatible"):
        from langchain_openai import ChatOpenAI

        kwargs: dict[str, Any] = {"model": spec.model, "api_key": key, "max_retries": MAX_RETRIES,
                                  "timeout": REQUEST_TIMEOUT_S, "temperature": 0, "max_tokens": max_tokens}
        if spec.base_url:
            kwargs["base_url"] = spec.base_url
        if http_client is not None:
            kwargs["http_client"] = http_client
        return ChatOpenAI(**kwargs)
    from langchain_anthropic import ChatAnthropic

    chat = ChatAnthropic(model=spec.model, api_key=key, max_retries=MAX_RETRIES, temperature=0,
                         max_tokens=max_tokens, default_request_timeout=REQUEST_TIMEOUT_S)
    if http_client is not None:
        import anthropic

        # ChatAnthropic has no http_client field; its SDK client is a cached property.
        chat.__dict__["_client"] = anthropic.Client(**{**chat._client_params, "http_client": http_client})
    return chat


def make_llm(spec: AgentSpec, chat_model: Any = None, http_client: Any = None) -> LLMHandle:
    """An ``LLMHandle`` for ``spec``; ``chat_model`` overrides the provider's (fake models in tests)."""
    chat = chat_model if chat_model is not None else make_chat_model(spec, http_client)
    return LLMHandle(chat=chat, provider=spec.provider or "fake", model=spec.model or "fake")


def invoke(llm: LLMHandle, messages: list[Any], tools: list[dict[str, Any]] | None = None) -> Any:
    """Call the chat model (tools bound natively when given); provider failures become one sentence.

    The SDKs have already retried rate limits and server errors with back-off
    (``MAX_RETRIES``); what arrives here is final: a rejected key, an
    unreachable server, a request the provider refuses. Its message is
    redacted of secrets before it is shown or stored.

    Raises:
        ProviderError: the request failed for good.
    """
    chat = llm.chat.bind_tools(tools) if tools else llm.chat
    try:
        return chat.invoke(messages)
    except Exception as exc:
        module = type(exc).__module__.split(".")[0]
        if module not in ("openai", "anthropic", "httpx", "httpx2", "langchain_anthropic", "langchain_openai"):
            raise

        detail = redact(str(exc)).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise ProviderError(f"The {llm.provider} model {llm.model} failed ({type(exc).__name__}): "
                            f"{detail.rstrip('.')}.") from None


def message_text(message: Any) -> str:
    """The text of a chat message whose content is a string or a list of content blocks."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)


def usage_tokens(message: Any) -> tuple[int, int]:
    """(prompt, completion) tokens of an AI message (0, 0 when the provider reports none)."""
    usage = getattr(message, "usage_metadata", None) or {}
    return int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
