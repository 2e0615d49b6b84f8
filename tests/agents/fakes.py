"""Scripted fake chat models with native tool calling, for graph tests."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage


class ToolCallingFake(FakeMessagesListChatModel):
    """Replays ``responses`` in order; ``bind_tools`` records the schemas it was given.

    Once the list is used up it keeps returning the last response (instead of
    cycling), so a test script ends in a stable state.
    """

    bound: list[list[Any]] = []
    seen: list[list[Any]] = []

    def bind_tools(self, tools: list[Any], **kwargs: Any):
        self.bound.append(list(tools))
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.seen.append(list(messages))
        index = min(self.i, len(self.responses) - 1)
        self.i = index + 1
        from langchain_core.outputs import ChatGeneration, ChatResult

        message = self.responses[index]
        if isinstance(message, AIMessage) and message.usage_metadata is None:
            message = message.model_copy(update={"usage_metadata": {
                "input_tokens": 100, "output_tokens": 20, "total_tokens": 120}})
        return ChatResult(generations=[ChatGeneration(message=message)])


def call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    """A well-formed tool call."""
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def bad_call(name: str, raw: str, call_id: str) -> dict[str, Any]:
    """A malformed tool call (arguments that are not JSON)."""
    return {"name": name, "args": raw, "id": call_id, "error": "arguments are not valid JSON",
            "type": "invalid_tool_call"}
