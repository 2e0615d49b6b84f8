"""``autointerp report RUN -o FILE.html`` and ``autointerp serve``: read runs, never write them.

``report`` writes one self-contained HTML file (inline CSS and SVG, no
script, no network). ``serve`` starts the read-only trace viewer, bound to
127.0.0.1 unless told otherwise. Both open the database read-only.
"""

from __future__ import annotations

from pathlib import Path

import typer

from autointerp.cli.common import stderr
from autointerp.report import open_readonly, render_report
from autointerp.report.server import make_server
from autointerp.report.source import load_audit
from engine.errors import AutointerpError


def report(
    run_id: str = typer.Argument(..., metavar="RUN", help="Run id (see `autointerp runs`)."),
    output: Path = typer.Option(..., "--output", "-o", help="HTML file to write."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default $AUTOINTERP_DB or user data)."),
) -> None:
    """Write a self-contained HTML report of one run."""

    with open_readonly(db) as store:
        html = render_report(load_audit(store, run_id))
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise AutointerpError(f"Cannot write the report to {output} ({exc.strerror or exc}).") from None
    stderr.print(f"Wrote {output} ({len(html.encode('utf-8')) / 1024:.0f} KiB).", highlight=False)


def serve(
    db: str | None = typer.Option(None, "--db", help="Database URL (default $AUTOINTERP_DB or user data)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8765, "--port", "-p", min=0, max=65535, help="Port (0 picks a free one)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not log requests."),
) -> None:
    """Serve the read-only trace viewer: list, open, follow and compare runs."""

    with open_readonly(db) as store:
        try:
            # request lines are untrusted: printed as plain text, never as rich markup
            server = make_server(store, host, port, log=None if quiet else
                                 lambda line: stderr.print(line, markup=False, highlight=False, soft_wrap=True))
        except OSError as exc:
            raise AutointerpError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}).") from None
        bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
        if host not in ("127.0.0.1", "localhost", "::1"):
            stderr.print(f"[yellow]warning:[/] the viewer has no authentication and listens on {host}.")
        print(f"Serving {store.masked_url} read-only at http://{bound_host}:{bound_port}/ (Ctrl-C stops)",
              flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
