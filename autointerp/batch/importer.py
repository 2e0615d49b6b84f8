"""Copy a run recorded elsewhere (an audit dict) into a store, through the public API.

Why: in a batch the driver is the only writer to the real database. Each
worker records its job in a private temporary SQLite store and hands back
``store.load_run_for_audit`` output (plain JSON) plus its array artifacts;
the driver replays that record here. Ids are re-assigned by the target store,
so every cross reference (hypothesis parents, evidence links, status-change
experiments) is remapped; the explanation cites experiments by their
run-local number (``seq``, E1..En), which the replay keeps. The store's writers stamp
rows with the time of import, so the source run's own timestamps are kept in
``meta["imported"]`` (the report shows them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import store as st


def _history_start(hyp: Mapping[str, Any]) -> str:
    """The status a hypothesis had before its first recorded change."""
    history = hyp.get("status_history") or []
    return str(history[0].get("old") or "proposed") if history else str(hyp.get("status") or "proposed")


def import_run(
    store: Any,
    audit: Mapping[str, Any],
    *,
    meta: Mapping[str, Any] | None = None,
    artifacts: Mapping[str, bytes] | None = None,
    status: str | None = None,
    stop_reason: str | None = None,
) -> str:
    """Write a run given as an audit dict into ``store``; return the new run id.

    The new run gets a fresh id (the source id is recorded in
    ``meta["imported"]["source_run_id"]``), so importing the same record twice
    makes two runs; the batch driver prevents that with job identities.

    Args:
        store: An open ``store.Store`` (the destination).
        audit: Output of ``store.load_run_for_audit`` (from any store).
        meta: Extra keys merged into the run's meta (e.g. the batch job).
        artifacts: ``{sha256: file bytes}`` of the run's ``.npy``/raw
            artifacts; they are stored again (content-addressed, so the hash
            is unchanged and results that cite it stay valid).
        status: Final status to record instead of the source run's.
        stop_reason: Stop reason to record instead of the source run's.

    Returns:
        The id of the imported run.

    Raises:
        store.StoreError: If the destination cannot be written.
        KeyError: If ``audit`` has no ``run``.
    """

    run = audit["run"]
    parent = run.get("parent_run_id")
    if parent is not None:
        try:
            st.get_run(store, parent)
        except st.RunNotFound:
            parent = None
    imported = {
        "source_run_id": run.get("id"),
        "created_at": run.get("created_at"),
        "finished_at": run.get("finished_at"),
        "updated_at": run.get("updated_at"),
    }
    run_id = st.start_run(
        store, task=run.get("task") or "", model=run.get("model") or "",
        agent=run.get("agent") or "", config=run.get("config") or {},
        code_version=run.get("code_version") or "", seed=run.get("seed"),
        parent_run_id=parent,
        meta={**(run.get("meta") or {}), **dict(meta or {}), "imported": imported},
    )  # fmt: skip
    try:
        _copy_records(st, store, run_id, audit, artifacts or {})
    except BaseException:
        st.finish_run(store, run_id, "failed", "import into this database did not complete")
        raise
    final = status or run.get("status") or "finished"
    if final == "running":
        final = "interrupted"
    st.finish_run(store, run_id, final, stop_reason if stop_reason is not None else run.get("stop_reason"))
    return run_id


def _events(audit: Mapping[str, Any]) -> list[tuple[str, int, str, Any]]:
    """Hypotheses, experiments, status changes and messages in their original order.

    Replaying them in this order keeps the imported run's timeline (which
    sorts by time) in the order the research happened.
    """
    rank = {"hypothesis": 0, "experiment": 1, "change": 2, "message": 3}
    events: list[tuple[str, int, str, Any]] = []
    for hyp in audit.get("hypotheses") or []:
        events.append((str(hyp.get("created_at") or ""), rank["hypothesis"], "hypothesis", hyp))
        for change in hyp.get("status_history") or []:
            events.append((str(change.get("at") or ""), rank["change"], "change", (hyp, change)))
    for exp in audit.get("experiments") or []:
        events.append((str(exp.get("created_at") or ""), rank["experiment"], "experiment", exp))
    for msg in audit.get("messages") or []:
        events.append((str(msg.get("created_at") or ""), rank["message"], "message", msg))
    # stable sort: rows of one kind keep their (id/seq) order when timestamps tie
    return sorted(events, key=lambda e: (e[0], e[1]))


def _copy_records(
    st: Any, store: Any, run_id: str, audit: Mapping[str, Any], artifacts: Mapping[str, bytes]
) -> None:
    """Replay the trace in time order, then explanation, scores, tokens and arrays."""
    run = audit["run"]
    hyp_ids: dict[int, int] = {}
    exp_ids: dict[int, int] = {}
    exp_seqs: dict[int, int] = {}
    for _, _, kind, item in _events(audit):
        if kind == "hypothesis":
            parent = item.get("parent_id")
            hyp_ids[int(item["id"])] = st.add_hypothesis(
                store, run_id, item.get("text") or "", component=item.get("component"),
                status=_history_start(item), confidence=item.get("confidence"),
                parent_id=hyp_ids.get(parent) if parent is not None else None,
                idempotency_key=item.get("idempotency_key"),
            )  # fmt: skip
        elif kind == "experiment":
            exp_ids[int(item["id"])] = st.add_experiment(
                store, run_id, item.get("tool") or "", item.get("args") or {}, item.get("summary") or "",
                item.get("result"), wall_time_s=float(item.get("wall_time_s") or 0.0),
                error=item.get("error"), idempotency_key=item.get("idempotency_key"),
                component=item.get("component"),
            )  # fmt: skip
            copied = st.get_experiment(store, exp_ids[int(item["id"])]) or {}
            exp_seqs[int(item.get("seq") or 0)] = int(copied.get("seq") or 0)
        elif kind == "change":
            hyp, change = item
            old_exp = change.get("experiment_id")
            st.update_hypothesis(
                store, hyp_ids[int(hyp["id"])], change.get("new") or "proposed",
                change.get("reason") or "", exp_ids.get(old_exp) if old_exp is not None else None,
                change.get("confidence"),
            )  # fmt: skip
        else:
            st.add_message(
                store, run_id, item.get("role") or "assistant", item.get("content") or "",
                tool_calls=item.get("tool_calls") or None, tool_call_id=item.get("tool_call_id"),
                name=item.get("name"), provider=item.get("provider"), model=item.get("model"),
                prompt_tokens=item.get("prompt_tokens"),
                completion_tokens=item.get("completion_tokens"),
                idempotency_key=item.get("idempotency_key"),
            )  # fmt: skip
    for hyp in audit.get("hypotheses") or []:
        for link in hyp.get("evidence_links") or []:
            new_exp = exp_ids.get(int(link["experiment_id"]))
            if new_exp is not None:
                st.link_evidence(store, hyp_ids[int(hyp["id"])], new_exp, link.get("relation") or "tests")
    expl = audit.get("explanation")
    if expl:
        components = [
            {**c, "evidence": [exp_seqs[int(e)] for e in c.get("evidence") or [] if int(e) in exp_seqs]}
            for c in expl.get("components") or []
        ]
        st.save_explanation(store, run_id, expl.get("summary") or "", components,
                            expl.get("clusters") or [], expl.get("circuit") or [])
    for ev in audit.get("evaluations") or []:
        st.save_evaluation(store, run_id, ev.get("kind") or "", ev.get("scores") or {}, ev.get("params") or {})
    prompt, completion = int(run.get("prompt_tokens") or 0), int(run.get("completion_tokens") or 0)
    cost = float(run.get("cost_usd") or 0.0)
    if prompt or completion or cost:
        st.add_tokens(store, run_id, prompt, completion, cost)
    kinds = {a.get("sha256"): a for a in audit.get("artifacts") or []}
    for sha, payload in artifacts.items():
        _save_artifact(st, store, run_id, payload, kinds.get(sha, {}))


def _save_artifact(st: Any, store: Any, run_id: str, payload: bytes, row: Mapping[str, Any]) -> None:
    """Store one artifact again: ``.npy`` bytes as the array (same hash), anything else as bytes."""
    if row.get("kind") != "bytes" and payload[:6] == b"\x93NUMPY":
        import io

        import numpy as np

        array = np.load(io.BytesIO(payload), allow_pickle=False)
        st.save_array(store, array, run_id=run_id, kind=row.get("kind"))
    else:
        st.save_array(store, payload, run_id=run_id, kind=row.get("kind"))
