"""Open the store for reading only, and read what the pages show.

Why read-only at the connection level: the viewer must never change the
database it shows (an audit tool that writes is no audit tool). A SQLite file
is opened through a ``file:...?mode=ro`` URI, so SQLite itself refuses every
write; a PostgreSQL connection starts with ``default_transaction_read_only``.
And only the store's read functions are ever called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import store as st
from engine.errors import AutointerpError

RUN_LIST_LIMIT = 500
"""Most runs listed on one page of the viewer."""


class ReportError(AutointerpError):
    """The database or run cannot be shown (no such file, no such run)."""


def readonly_url(url: str) -> tuple[str, Path | None]:
    """A read-only variant of a database URL, and the SQLite file behind it (if any).

    Raises:
        ReportError: For an in-memory SQLite URL or a SQLite file that does not exist.
    """
    parsed = st.parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        existing = parsed.query.get("options") or ""
        existing = existing if isinstance(existing, str) else " ".join(existing)
        options = existing + " -c default_transaction_read_only=on"
        return parsed.update_query_dict({"options": options.strip()}).render_as_string(False), None
    found = st.sqlite_file(parsed)
    if found is None:
        raise ReportError("An in-memory database cannot be shown; give the URL of a database file.")
    if (parsed.database or "").startswith("file:"):  # already a URI: keep its options
        return parsed.render_as_string(False), found
    path = found.resolve()
    if not path.is_file():
        raise ReportError(f"There is no database file at {path}.")
    return f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true", path


def open_readonly(url: str | None = None) -> Any:
    """Open the store at ``url`` (default: the usual store URL) so that it cannot be written.

    Returns:
        An open ``store.Store``.

    Raises:
        ReportError: No such database file.
        store.StoreError: The database cannot be opened or has no autointerp tables.
        store.SchemaNeedsUpgrade: An older database that a writing command must upgrade first.
    """

    ro_url, path = readonly_url(url or st.default_url())
    artifact_dir = path.parent / "artifacts" if path is not None else None
    try:
        return st.open_store(ro_url, artifact_dir=artifact_dir)
    except st.SchemaNeedsUpgrade:  # said with the URL the user gave, not the read-only one
        given = st.mask_url(url or st.default_url())
        raise st.SchemaNeedsUpgrade(
            f"The database at {given} was written by an older autointerp and the viewer never writes; "
            f"upgrade it in place once with `autointerp runs --db {given}`, then serve it."
        ) from None
    except st.StoreError as exc:
        if "readonly" in str(exc) or "read-only" in str(exc):
            where = str(path) if path else st.mask_url(url or st.default_url())
            raise ReportError(f"The database at {where} has no autointerp runs (no store tables).") from None
        raise


def load_audit(store: Any, run_id: str) -> dict[str, Any]:
    """The audit dict of one run.

    Raises:
        store.RunNotFound: No such run.
    """

    return st.load_run_for_audit(store, run_id)


def run_rows(store: Any, filters: dict[str, str | None], limit: int = RUN_LIST_LIMIT) -> list[dict[str, Any]]:
    """Runs (newest first) as plain dicts, with circuit size and headline scores."""

    rows = []
    runs = st.list_runs(store, limit=limit, **{k: v for k, v in filters.items() if v})
    activity = st.run_activity(store, runs)  # a "running" run whose process is gone shows as interrupted
    for run in runs:
        row = st.run_to_dict(run)
        row["status"] = activity[run.id].status
        expl = st.get_explanation(store, run.id) or {}
        row["circuit_size"] = len(expl.get("circuit") or expl.get("components") or []) if expl else None
        for ev in st.list_evaluations(store, run.id):
            scores = ev.get("scores") or {}
            if ev.get("kind") == "interchangeability":
                row["z"] = scores.get("z")
            elif ev.get("kind") == "faithfulness":
                row["faithfulness"] = scores.get("normalized")
        rows.append(row)
    return rows


def facets(store: Any) -> dict[str, list[str]]:
    """Distinct tasks, models, agents and statuses (for the filter menus)."""

    runs = st.list_runs(store, limit=5000)
    return {name: sorted({str(getattr(r, name)) for r in runs}) for name in ("task", "model", "agent", "status")}
