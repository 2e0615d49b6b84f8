"""A scriptable OpenAI-compatible chat server on loopback, for misbehaving-server tests.

Each request to ``/v1/chat/completions`` is recorded (headers and JSON body)
and answered by ``reply(n, body)``: a chat-completion dict, or ``HANG`` to
hold the connection open without answering (a hung server). Helpers build the
answers a careless server gives: tool calls with reused ids, invalid JSON
arguments, no ``usage``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = object()
"""Answer marker: keep the connection open and never answer."""


@dataclass
class Seen:
    """What the server received."""

    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.bodies)


def completion(content: str = "", tool_calls: list[dict[str, Any]] | None = None,
               usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A chat.completion answer; no ``usage`` unless given (as some servers do)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "fake",
                            "choices": [{"index": 0, "finish_reason": "tool_calls" if tool_calls else "stop",
                                         "message": message}]}
    if usage is not None:
        body["usage"] = usage
    return body


def tool_call(name: str, arguments: str | dict[str, Any], call_id: str = "call_0") -> dict[str, Any]:
    """One tool call; ``arguments`` as given when a string (so it may be invalid JSON)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


@contextmanager
def fake_openai_server(reply: Callable[[int, dict[str, Any]], Any]) -> Iterator[tuple[str, Seen]]:
    """Serve ``reply`` on 127.0.0.1:<free port>; yields (base URL ending in /v1, what was seen)."""
    seen = Seen()
    lock = threading.Lock()
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            with lock:
                seen.headers.append({k.lower(): v for k, v in self.headers.items()})
                seen.bodies.append(body)
                n = seen.count
            answer = reply(n, body)
            if answer is HANG:
                stop.wait(120)
                return
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
