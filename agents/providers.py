"""LLM providers: chat models, keys, retries within a deadline, token counts.

Why one module: the agent spec on the command line (``openai:gpt-4o``,
``anthropic:claude-sonnet-4-5``, ``compatible:http://localhost:8000/v1#qwen``,
``oneshot:<provider spec>``) must map to a LangChain chat model that supports
native tool calling, with the key read from the environment (never stored:
the store redacts it and the run config keeps only the spec and, at most, the
*name* of the variable holding the key), and one clear sentence when a key is
missing.

Keys go only where they belong: ``openai:`` sends ``OPENAI_API_KEY`` to
OpenAI, ``anthropic:`` sends ``ANTHROPIC_API_KEY`` to Anthropic, and a
``compatible:`` server -- any URL the user typed -- gets a key only from its
own variable ``AUTOINTERP_COMPATIBLE_API_KEY`` or from the variable named
with ``--api-key-env``; never the OpenAI key.

Why our own retry loop: the SDKs retry with back-off, but each attempt may
take the whole timeout, so a hanging server used to cost ``timeout x
attempts`` (120 s x 7). Here the SDK makes one attempt per call, and
:func:`complete` retries rate limits, server errors, timeouts and connection
failures with back-off (honouring ``Retry-After``) while a total deadline per
request lasts; each attempt's timeout is cut to what is left of it
(:class:`~agents.limits.RunLimits`).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from agents.context import LLMHandle
from agents.limits import RunLimits, run_limits
from agents.spec import USAGE, AgentSpec, AgentSpecError
from engine.errors import AutointerpError
from store import redact
from store.redact import is_secret_name

KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
           "compatible": "AUTOINTERP_COMPATIBLE_API_KEY"}
NO_KEY = "not-needed"  # local servers (vLLM, Ollama, transformers serve) accept any key
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SDK_MODULES = ("openai", "anthropic", "httpx", "httpx2", "langchain_anthropic", "langchain_openai")
_RETRY_STATUS = {408, 409, 429}
CHARS_PER_TOKEN = 4
"""Characters per token of the estimate used when a provider reports no usage."""


class MissingKeyError(AutointerpError):
    """The provider's API key is not in the environment."""


class ProviderError(AutointerpError):
    """The LLM provider refused or failed a request after all retries (bad key, server unreachable)."""


def key_variable(spec: AgentSpec, api_key_env: str | None = None) -> str:
    """The environment variable whose value is sent as ``spec``'s API key.

    Raises:
        MissingKeyError: ``api_key_env`` is not a variable name that marks a
            secret (so its value would not be redacted everywhere).
    """
    if api_key_env is None:
        return KEY_ENV[spec.provider or "compatible"]
    if not _ENV_NAME.match(api_key_env) or not is_secret_name(api_key_env):
        raise MissingKeyError(
            f"--api-key-env must name an environment variable ending in _API_KEY, _KEY, _TOKEN or "
            f"_SECRET (so that its value is redacted everywhere), not '{api_key_env}'.")
    return api_key_env


def api_key(spec: AgentSpec, api_key_env: str | None = None) -> str:
    """The key to send for ``spec``: from its own variable, or ``--api-key-env``'s.

    Raises:
        MissingKeyError: the variable is not set (a ``compatible`` server
            without a variable of its own gets no key instead).
    """
    name = key_variable(spec, api_key_env)
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if spec.provider == "compatible" and api_key_env is None:
        return NO_KEY
    raise MissingKeyError(f"The {spec.provider} agent needs an API key: set {name} in the environment "
                          "(or use --agent scripted, which needs none).")


def make_chat_model(
    spec: AgentSpec, http_client: Any = None, limits: RunLimits | None = None, api_key_env: str | None = None,
) -> Any:
    """The LangChain chat model of ``spec`` (tools are bound later, per call).

    Args:
        spec: a parsed ``llm`` or ``oneshot`` agent spec.
        http_client: an ``httpx.Client`` to send requests through (tests pass one
            with a ``MockTransport`` to replay recorded responses).
        limits: per-attempt timeout and completion limit (default: the environment's).
        api_key_env: the variable holding the key, instead of the provider's own.

    Raises:
        MissingKeyError: the provider's key is not set.
    """
    if spec.provider is None or spec.model is None:
        raise AgentSpecError(f"The {spec.kind} agent has no LLM; {USAGE}.")
    limits = limits or run_limits()
    key = api_key(spec, api_key_env)
    # one attempt per SDK call: ``complete`` retries within the request's deadline
    if spec.provider in ("openai", "compatible"):
        from langchain_openai import ChatOpenAI

        kwargs: dict[str, Any] = {"model": spec.model, "api_key": key, "max_retries": 0,
                                  "timeout": limits.llm_timeout_s, "temperature": 0,
                                  "max_tokens": limits.llm_max_completion_tokens}
        if spec.base_url:
            kwargs["base_url"] = spec.base_url
        if http_client is not None:
            kwargs["http_client"] = http_client
        return ChatOpenAI(**kwargs)
    from langchain_anthropic import ChatAnthropic

    chat = ChatAnthropic(model=spec.model, api_key=key, max_retries=0, temperature=0,
                         max_tokens=limits.llm_max_completion_tokens,
                         default_request_timeout=limits.llm_timeout_s)
    if http_client is not None:
        import anthropic

        # ChatAnthropic has no http_client field; its SDK client is a cached property.
        chat.__dict__["_client"] = anthropic.Client(**{**chat._client_params, "http_client": http_client})
    return chat


def make_llm(
    spec: AgentSpec, chat_model: Any = None, http_client: Any = None, api_key_env: str | None = None,
) -> LLMHandle:
    """An ``LLMHandle`` for ``spec``; ``chat_model`` overrides the provider's (fake models in tests)."""
    limits = run_limits()
    own = chat_model is None
    chat = make_chat_model(spec, http_client, limits, api_key_env) if own else chat_model
    return LLMHandle(chat=chat, provider=spec.provider or "fake", model=spec.model or "fake",
                     timeout_s=limits.llm_timeout_s, max_retries=limits.llm_max_retries,
                     deadline_s=limits.llm_deadline_s, per_call_timeout=own)


@dataclass(frozen=True)
class Completion:
    """One answered LLM request and what it cost.

    Attributes:
        message: the AI message.
        prompt_tokens, completion_tokens: as the provider reported them, or
            estimated from the request and the answer when it reported none.
        estimated: True when the token counts are estimates.
        attempts: HTTP attempts the request took.
    """

    message: Any
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    attempts: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return int(status) if isinstance(status, int) else None


def _retryable(exc: BaseException) -> bool:
    status = _status(exc)
    if status is not None:
        return status in _RETRY_STATUS or status >= 500
    return any(word in type(exc).__name__ for word in ("Timeout", "Connection", "Connect"))


def _retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` / ``retry-after``), if it did."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def _failure(llm: LLMHandle, exc: BaseException, attempts: int) -> ProviderError:
    detail = redact(str(exc)).splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    return ProviderError(f"The {llm.provider} model {llm.model} failed{tries} ({type(exc).__name__}): "
                         f"{detail.rstrip('.')}.")


def _send(llm: LLMHandle, messages: list[Any], tools: list[dict[str, Any]] | None) -> tuple[Any, int]:
    """The AI message and the number of attempts, retrying within the request's deadline."""
    chat = llm.chat.bind_tools(tools) if tools else llm.chat
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        left = llm.deadline_s - (time.monotonic() - start)
        kwargs = {"timeout": max(0.05, min(llm.timeout_s, left))} if llm.per_call_timeout else {}
        try:
            return chat.invoke(messages, **kwargs), attempt
        except Exception as exc:
            if type(exc).__module__.split(".")[0] not in _SDK_MODULES:
                raise
            wait = _retry_after(exc)
            wait = min(8.0, 0.5 * 2 ** (attempt - 1)) if wait is None else wait
            left = llm.deadline_s - (time.monotonic() - start)
            if not _retryable(exc) or attempt > llm.max_retries or wait >= left:
                raise _failure(llm, exc, attempt) from None
            time.sleep(wait)


def estimate_tokens(value: Any) -> int:
    """A rough token count of text or JSON-able data (``CHARS_PER_TOKEN`` characters a token)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _request_text(messages: list[Any], tools: list[dict[str, Any]] | None) -> list[Any]:
    return [[getattr(m, "content", m), getattr(m, "tool_calls", None)] for m in messages] + [tools or []]


def complete(llm: LLMHandle, messages: list[Any], tools: list[dict[str, Any]] | None = None) -> Completion:
    """Send one request (tools bound natively when given) and count its tokens.

    When the provider reports no usage, prompt tokens are estimated from the
    request (messages and tool schemas) and completion tokens from the
    answer, so a token budget binds against any server.

    Raises:
        ProviderError: the request failed for good (a rejected key, an
            unreachable server, the deadline passed); its message is redacted.
    """
    message, attempts = _send(llm, messages, tools)
    prompt, completion = usage_tokens(message)
    estimated = not (prompt or completion)
    if estimated:
        prompt = estimate_tokens(_request_text(messages, tools))
        answer = [message_text(message), getattr(message, "tool_calls", None),
                  getattr(message, "invalid_tool_calls", None)]
        completion = estimate_tokens(answer)
    return Completion(message, prompt, completion, estimated, attempts)


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
