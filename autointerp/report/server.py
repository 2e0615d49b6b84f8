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
"""

from __future__ import annotations

import json
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
            return self._error(404, "No such run", f"There is no run '{segments[1]}' in this database.")
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


def make_handler(viewer: Viewer, log: Callable[[str], None] | None = None) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``viewer``."""

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
            try:
                status, content_type, body = viewer.respond(self.path)
            except Exception as exc:  # noqa: BLE001 - one bad page must not stop the viewer
                status, content_type, body = viewer._error(500, "Error", f"{type(exc).__name__}: {exc}")
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
                log(format % args)

    return Handler


def make_server(store: Any, host: str = "127.0.0.1", port: int = 0,
                log: Callable[[str], None] | None = None) -> ThreadingHTTPServer:
    """A viewer server on ``host:port`` (port 0 picks a free one); call ``serve_forever``."""
    server = ThreadingHTTPServer((host, port), make_handler(Viewer(store), log))
    server.daemon_threads = True
    return server
