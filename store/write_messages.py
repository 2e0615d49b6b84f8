"""Write side, conversation: the LLM messages of a run.

Why: the conversation is half of an agent's trace. Messages are appended in
order (``seq`` under the run's write lock), scrubbed of secrets (prompts and
tool outputs are where keys leak), and may carry an idempotency key so a
resumed run does not log the same message twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from store.engine import Store
from store.idempotent import insert_once
from store.lookup import next_seq
from store.plain import clean, clean_text, to_plain
from store.redact import secret_values
from store.tables import MESSAGE_ROLES, Message


def add_message(
    store: Store,
    run_id: str,
    role: str,
    content: Any,
    *,
    tool_calls: Sequence[Any] | None = None,
    tool_call_id: str | None = None,
    name: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    idempotency_key: str | None = None,
) -> int:
    """Record one chat message (does not change the run's token totals).

    Args:
        store: The open store.
        run_id: The run.
        role: system, user, assistant or tool.
        content: Message text; non-string content (content blocks) is stored
            as its JSON text. Stored redacted.
        tool_calls: The assistant's tool calls (list of dicts), redacted.
        tool_call_id: For tool messages, the call they answer.
        name: Tool or participant name.
        provider: LLM provider (openai, anthropic, ...).
        model: LLM model name.
        prompt_tokens: Prompt tokens of the call that produced the message.
        completion_tokens: Completion tokens of that call.
        idempotency_key: Deduplication key, unique within the run.

    Returns:
        The message id.

    Raises:
        RunNotFound: If the run does not exist.
        ValueError: If ``role`` is not a message role.
    """
    if role not in MESSAGE_ROLES:
        raise ValueError(f"Message role must be one of {', '.join(MESSAGE_ROLES)}, not {role!r}.")
    secret = secret_values()
    if not isinstance(content, str):
        content = json.dumps(to_plain(content), ensure_ascii=False)
    calls = clean(list(tool_calls or []), secret)

    def build(session: Session) -> Message:
        return Message(
            run_id=run_id,
            seq=next_seq(session, Message, run_id),
            role=role,
            content=clean_text(content, secret) or "",
            tool_calls=calls,
            tool_call_id=clean_text(tool_call_id, secret),
            name=clean_text(name, secret),
            provider=clean_text(provider, secret),
            model=clean_text(model, secret),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            idempotency_key=clean_text(idempotency_key, secret),
        )

    return insert_once(store, Message, run_id, idempotency_key, build)
