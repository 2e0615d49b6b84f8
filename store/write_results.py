"""Write side, conclusions: the explanation and its evaluations.

Why: the explanation is what the evaluation scores and what a reader of an
audit checks against the evidence, so its shape is fixed here once
(components with id/role/description/evidence, clusters with
name/description/members, the circuit) and its evidence must point at real
experiments of the same run. It is replaced whole, in one transaction, so a
reader never sees half of an old and half of a new explanation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import select

from store.engine import Store, write_session
from store.errors import RolesChanged
from store.frozen import roles_hash
from store.lookup import require_run
from store.plain import clean, clean_text, utcnow
from store.redact import secret_values
from store.tables import Evaluation, Experiment, Explanation


def normalize_components(components: Sequence[Any]) -> list[dict[str, Any]]:
    """Bring explanation components into the stored shape.

    Each becomes ``{"id", "role", "description", "evidence": [int, ...]}``
    (extra keys are kept). Pydantic models and dicts are accepted.

    Raises:
        ValueError: If a component has no ``id`` or non-integer evidence.
    """
    out = []
    for item in clean(list(components)):
        if not isinstance(item, dict) or not item.get("id"):
            raise ValueError(f"Every explanation component needs an 'id'; got {item!r}.")
        try:
            evidence = [int(e) for e in item.get("evidence") or []]
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Evidence of component {item['id']!r} must be experiment ids (integers)."
            ) from exc
        out.append(
            {
                **item,
                "id": str(item["id"]),
                "role": item.get("role"),
                "description": item.get("description") or "",
                "evidence": evidence,
            }
        )
    return out


def normalize_clusters(clusters: Sequence[Any]) -> list[dict[str, Any]]:
    """Bring role clusters into the stored shape ``{"name","description","members"}``.

    Raises:
        ValueError: If a cluster has no ``name``.
    """
    out = []
    for item in clean(list(clusters)):
        if not isinstance(item, dict) or not item.get("name"):
            raise ValueError(f"Every cluster needs a 'name'; got {item!r}.")
        out.append(
            {
                **item,
                "name": str(item["name"]),
                "description": item.get("description") or "",
                "members": [str(m) for m in item.get("members") or []],
            }
        )
    return out


def save_explanation(
    store: Store,
    run_id: str,
    summary: str,
    components: Sequence[Any],
    clusters: Sequence[Any] = (),
    circuit: Sequence[Any] = (),
) -> None:
    """Save (or replace) a run's explanation in one transaction.

    Args:
        store: The open store.
        run_id: The run.
        summary: Prose explanation (stored redacted).
        components: ``[{"id", "role", "description", "evidence": [experiment
            ids]}]`` (dicts or pydantic models).
        clusters: ``[{"name", "description", "members": [component ids]}]``.
        circuit: The circuit, usually a list of component ids.

    Raises:
        RunNotFound: If the run does not exist.
        ValueError: Malformed components or clusters, or evidence naming
            experiments that are not experiments of this run.
        RolesChanged: The run's roles are frozen and ``clusters`` differ from them.
    """
    secret = secret_values()
    comps = normalize_components(components)
    clus = normalize_clusters(clusters)
    circ = clean(list(circuit), secret)
    cited = {e for c in comps for e in c["evidence"]}
    with write_session(store) as session:
        require_run(session, store, run_id, lock=True)
        if cited:
            known = set(
                session.exec(
                    select(Experiment.id).where(
                        Experiment.run_id == run_id,
                        Experiment.id.in_(sorted(cited)),  # type: ignore[union-attr]
                    )
                ).all()
            )
            missing = sorted(cited - known)
            if missing:
                raise ValueError(
                    f"The explanation cites experiments {missing} that are not "
                    f"experiments of run '{run_id}'."
                )
        row = session.get(Explanation, run_id) or Explanation(run_id=run_id)
        if row.roles_hash is not None and roles_hash(clus) != row.roles_hash:
            raise RolesChanged(f"The roles of run '{run_id}' were frozen at {row.frozen_at}; they cannot be "
                               "changed any more (the evaluation scores the frozen ones).")
        row.summary = clean_text(summary, secret) or ""
        row.components = comps
        row.clusters = clus
        row.circuit = circ
        row.created_at = utcnow()
        session.add(row)


def save_evaluation(store: Store, run_id: str, kind: str, scores: Any, params: Any = None) -> int:
    """Record one evaluation of a run.

    Args:
        store: The open store.
        run_id: The run.
        kind: e.g. ``interchangeability``, ``faithfulness``, ``permutation``.
        scores: The scores (dict; plain JSON, non-finite floats become null).
        params: The parameters the scores were computed with.

    Returns:
        The evaluation id.

    Raises:
        RunNotFound: If the run does not exist.
    """
    secret = secret_values()
    row = Evaluation(
        run_id=run_id,
        kind=clean_text(kind, secret) or "",
        scores=clean({} if scores is None else scores, secret),
        params=clean({} if params is None else params, secret),
    )
    with write_session(store) as session:
        require_run(session, store, run_id)
        session.add(row)
        session.flush()
        return int(row.id)  # type: ignore[arg-type]
