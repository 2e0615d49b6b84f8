"""``autointerp serve``: a read-only web viewer of runs (stdlib ``http.server`` + Jinja).

Pages: ``/`` lists runs with filters (task, model, agent, status);
``/run/<id>`` shows one run -- explanation, circuit, heat-maps, attention,
components with their hypotheses and status history, scores, the timeline
hypothesis -> experiment -> result -> status change, the conversation --
``/run/<id>/report.html`` is the same run as the static report and
``/run/<id>/audit.json`` its audit JSON; ``/compare?a=<id>&b=<id>`` shows two
runs side by side (agent vs one-shot, original vs head-permuted model).

Why this shape: the viewer is for one researcher on their own machine, so it
binds to 127.0.0.1 by default, answers only GET/HEAD, never writes (the
store is opened read-only, see :mod:`autointerp.report.source`), sends a
strict Content-Security-Policy with every page and runs no script at all.

Why the Host check: a web page on another site can make the researcher's
browser resolve its own domain name to 127.0.0.1 (DNS rebinding) and then
read the viewer as "same origin". Such requests carry the attacker's name in
their ``Host`` header, so only the names of the bound address are answered
(:func:`allowed_hosts`); anything else gets 403. Request paths are untrusted
text too: before a request is logged, control characters are escaped
(:func:`printable`), so no escape sequence reaches the terminal.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import unicodedata
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import store as st
from autointerp.report import source
from autointerp.report.build import build_view
from autointerp.report.render import csp, render_page, render_report

Response = tuple[int, str, bytes]
"""(HTTP status, content type, body)."""

FILTERS = ("task", "model", "agent", "status")
HTML = "text/html; charset=utf-8"
log_ = logging.getLogger(__name__)


def printable(text: str) -> str:
    """``text`` with control and other non-printing characters escaped (``\\x1b``), safe for a terminal."""
    out = []
    for ch in text:
        if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _host_name(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def allowed_hosts(bound_host: str, port: int) -> frozenset[str] | None:
    """The ``Host`` header values a server bound to ``bound_host:port`` answers.

    Loopback binds answer their loopback names (``localhost``, ``127.0.0.1``,
    ``[::1]``); a specific address answers itself and this machine's names; a
    wildcard bind (``0.0.0.0``, ``::``) returns None: any IP literal or this
    machine's names (checked by :func:`host_allowed`).
    """
    names = {_host_name(bound_host.lower())}
    try:
        address = ipaddress.ip_address(bound_host)
    except ValueError:  # bound by name
        address = None
    if address is not None and address.is_unspecified:
        return None
    if bound_host == "localhost" or (address is not None and address.is_loopback):
        names |= {"localhost", "127.0.0.1", "[::1]"}
    else:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset({f"{n}:{port}" for n in names} | (names if port == 80 else set()))


def host_allowed(header: str | None, allowed: frozenset[str] | None, port: int) -> bool:
    """Whether a request's ``Host`` header names this server (a missing header is allowed: no browser omits it)."""
    if header is None:
        return True
    host = header.strip().lower()
    if allowed is not None:
        return host in allowed
    if host.startswith("["):  # [v6]:port
        name, _, rest = host[1:].partition("]")
        given_port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, given_port = host.split(":")
    else:
        name, given_port = host, ""
    if given_port and given_port != str(port):
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name in {"localhost", socket.gethostname().lower(), socket.getfqdn().lower()}


def security_headers(form_action: bool = True) -> dict[str, str]:
    """Headers sent with every response."""
    return {
        "Content-Security-Policy": csp(form_action=form_action) + "; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY", "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin",
    }  # fmt: skip


class Viewer:
    """The viewer's pages as a function of a request path; holds the read-only store."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def _page(self, template: str, status: int = 200, **context: Any) -> Response:
        return status, HTML, render_page(template, viewer=True, **context).encode("utf-8")

    def _error(self, status: int, title: str, message: str) -> Response:
        return self._page("error.html.j2", status, title=title, message=message)

    def respond(self, target: str) -> Response:
        """Answer ``GET target`` (path and query string)."""

        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = [unquote(s) for s in parts.path.split("/") if s]
        try:
            if not segments:
                return self.runs(query)
            if segments == ["compare"]:
                return self.compare(query.get("a"), query.get("b"))
            if segments[0] == "run" and len(segments) == 2:
                return self._page("run.html.j2", view=build_view(source.load_audit(self.store, segments[1])))
            if segments[0] == "run" and len(segments) == 3 and segments[2] == "report.html":
                return 200, HTML, render_report(source.load_audit(self.store, segments[1])).encode("utf-8")
            if segments[0] == "run" and len(segments) == 3 and segments[2] == "audit.json":
                audit = source.load_audit(self.store, segments[1])
                return 200, "application/json", json.dumps(audit, indent=1).encode("utf-8")
        except st.RunNotFound:
            wanted = segments[1] if len(segments) > 1 else " or ".join(x for x in (query.get("a"), query.get("b")) if x)
            return self._error(404, "No such run", f"There is no run '{wanted}' in this database.")
        return self._error(404, "Not found", f"Nothing lives at {parts.path}.")

    def runs(self, query: dict[str, str]) -> Response:
        """The filtered list of runs."""
        filters = {k: (query.get(k) or None) for k in FILTERS}
        rows = source.run_rows(self.store, filters)
        return self._page("runs.html.j2", runs=rows, filters=filters, facets=source.facets(self.store),
                          limit=source.RUN_LIST_LIMIT)

    def compare(self, a: str | None, b: str | None) -> Response:
        """Two runs side by side (or the form to choose them)."""
        choices = source.run_rows(self.store, {})
        views = []
        for run_id in (a, b):
            view = build_view(source.load_audit(self.store, run_id)) if run_id else None
            if view is not None:
                view["link_base"] = f"/run/{quote(run_id or '')}"
            views.append(view)
        return self._page("compare.html.j2", a=views[0], b=views[1], choices=choices,
                          selected=(a or "", b or ""))


def make_handler(
    viewer: Viewer, log: Callable[[str], None] | None = None, hosts: tuple[frozenset[str] | None, int] = (None, 0),
) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``viewer``, answering the ``Host`` names ``hosts`` allows.

    ``log`` receives each log line as plain text with control characters escaped.
    """
    allowed, port = hosts

    class Handler(BaseHTTPRequestHandler):
        server_version = "autointerp-viewer"
        sys_version = ""

        def _send(self, status: int, content_type: str, body: bytes, head: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in security_headers().items():
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _answer(self, head: bool) -> None:
            if not host_allowed(self.headers.get("Host"), allowed, port):
                body = b"This viewer answers only requests addressed to its own host name.\n"
                self._send(HTTPStatus.FORBIDDEN, "text/plain; charset=utf-8", body, head)
                return
            try:
                status, content_type, body = viewer.respond(self.path)
            except Exception:  # noqa: BLE001 - one bad page must not stop the viewer
                log_.warning("viewer error on %s", printable(self.path), exc_info=True)
                status, content_type, body = viewer._error(500, "Error", "The page could not be built; "
                                                           "the viewer's log has the details.")
            self._send(status, content_type, body, head)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._answer(head=False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(head=True)

        def _refuse(self) -> None:
            body = b"This viewer is read-only.\n"
            self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            if log is not None:
                log(printable(format % args))

    return Handler


def make_server(store: Any, host: str = "127.0.0.1", port: int = 0,
                log: Callable[[str], None] | None = None) -> ThreadingHTTPServer:
    """A viewer server on ``host:port`` (port 0 picks a free one); call ``serve_forever``."""
    server = ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)  # the handler needs the bound port
    bound_port = int(server.server_address[1])
    server.RequestHandlerClass = make_handler(Viewer(store), log, (allowed_hosts(host, bound_port), bound_port))
    server.daemon_threads = True
    return server
