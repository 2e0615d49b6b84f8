"""A database of sample runs and a running viewer on a free loopback port.

Shared by the HTTP-level and the browser tests of the viewer.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sample_runs import PAYLOAD, make_run


@dataclass
class SampleDb:
    """A SQLite file with an agent run (payload everywhere) and a one-shot run derived from it."""

    path: Path
    agent_run: str
    oneshot_run: str

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def fingerprint(self) -> tuple[str, int]:
        """sha256 and mtime of the database file."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest(), self.path.stat().st_mtime_ns


def make_sample_db(directory: Path) -> SampleDb:
    import store as st

    path = directory / "runs.db"
    with st.open_store(f"sqlite:///{path}") as opened:
        first = make_run(st, opened, payload=PAYLOAD)
        second = make_run(st, opened, agent="oneshot:openai", seed=1, parent=first, model="tiny-gpt2")
    return SampleDb(path, first, second)


@contextmanager
def running_viewer(db: SampleDb) -> Iterator[str]:
    """Serve ``db`` read-only on 127.0.0.1:<free port>; yields the base URL."""
    from autointerp.report import open_readonly
    from autointerp.report.server import make_server

    with open_readonly(db.url) as store:
        server = make_server(store, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            host, port = server.server_address[:2]
            yield f"http://{host}:{port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
