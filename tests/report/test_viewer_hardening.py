"""The viewer against hostile requests: foreign Host headers, markup and escape codes in paths, unknown ids.

The logging case runs ``autointerp serve`` itself, so the request log goes
through the same console code a user sees.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from viewer_fixtures import SampleDb, make_sample_db, running_viewer

import store as st
from autointerp.report import open_readonly
from autointerp.report.source import run_rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleDb:
    return make_sample_db(tmp_path_factory.mktemp("viewer-hardening"))


def request(base: str, path: str, host: str | None = None) -> tuple[int, str]:
    """GET ``path`` with the given Host header (the real one when None)."""
    netloc = base.removeprefix("http://")
    conn = http.client.HTTPConnection(netloc, timeout=30)
    conn.putrequest("GET", path, skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def test_only_the_bound_host_names_are_answered(sample: SampleDb) -> None:
    with running_viewer(sample) as base:
        port = base.rsplit(":", 1)[1]
        path = f"/run/{sample.agent_run}/audit.json"
        assert request(base, path)[0] == 200
        for ok in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
            assert request(base, path, ok)[0] == 200, ok
        for rebound in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{int(port) + 1}", f"localhost.evil:{port}"):
            status, body = request(base, path, rebound)
            assert status == 403 and sample.agent_run not in body, rebound


def test_unknown_run_ids_are_404_everywhere(sample: SampleDb) -> None:
    with running_viewer(sample) as base:
        for path in ("/compare?a=nope", f"/compare?a={sample.agent_run}&b=nope", "/run/nope",
                     "/run/nope/audit.json", "/run/nope/report.html"):
            status, body = request(base, path)
            assert status == 404 and "No such run" in body and "nope" in body, path
            assert "Error" not in body.split("<title>")[1].split("</title>")[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_request_paths_are_logged_as_plain_escaped_text(sample: SampleDb) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "autointerp.cli.app", "serve", "--db", sample.url,
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, TERM="xterm-256color"))
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:  # raw bytes no client would send
            raw.sendall(b"GET /\x1b[31mred\x1b]0;title\x07 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
            raw.recv(65536)
        for path in ("/[/x]", "/[bold]x[/bold]", "/%1b[2J"):
            assert request(f"http://127.0.0.1:{port}", path)[0] == 404
        assert request(f"http://127.0.0.1:{port}", "/")[0] == 200  # still serving
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    log = err.decode("utf-8", "replace")
    assert "Traceback" not in log and "MarkupError" not in log, log
    assert "\x1b" not in log and "\x07" not in log  # no escape code reached the terminal
    assert "\\x1b[31mred\\x1b]0;title\\x07" in log
    assert re.search(r'"GET /\[/x\] HTTP/1.1" 404', log) and '"GET /[bold]x[/bold] HTTP/1.1" 404' in log


def test_the_run_list_shows_a_running_run_without_a_driver_as_interrupted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with st.open_store(url) as opened:  # recorded as running, and nobody holds its lease (killed with -9)
        stale = st.start_run(opened, task="ioi", model="m", agent="scripted")
        live = st.start_run(opened, task="ioi", model="m", agent="scripted")
        with st.hold_lease(opened, live), open_readonly(url) as store:
            rows = {row["id"]: row for row in run_rows(store, {})}
    assert rows[stale]["status"] == "interrupted" and rows[live]["status"] == "running"
