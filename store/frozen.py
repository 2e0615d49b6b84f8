"""Frozen roles: what the evaluation may score, fixed before it measures anything.

Why: an explanation graded by the measurement it was fitted to is no evidence
(DESIGN §7). The agent's roles are therefore frozen in the store -- with a
content hash, the time and how they were chosen (``roles_source``) -- before
the evaluator runs a single swap, and the evaluator reads them only through
``frozen_roles``, which checks the hash. Once frozen, ``save_explanation``
refuses to change the roles (it may still rewrite the prose), and a row whose
roles were changed behind the store's back is refused for scoring with one
sentence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from store.engine import Store, read_session, write_session
from store.errors import RolesChanged, RolesNotFrozen
from store.lookup import require_run
from store.plain import canonical_json, utcnow
from store.tables import Explanation


@dataclass(frozen=True)
class FrozenRoles:
    """A run's roles as frozen: the clusters, their hash, when, and how they were chosen."""

    run_id: str
    clusters: list[dict[str, Any]]
    roles_hash: str
    frozen_at: dt.datetime
    roles_source: str


def roles_hash(clusters: list[dict[str, Any]]) -> str:
    """sha256 of the roles' canonical JSON: every role's name, description and members, in order."""
    roles = [{"name": c.get("name"), "description": c.get("description", ""), "members": list(c.get("members") or [])}
             for c in clusters]
    return hashlib.sha256(canonical_json(roles).encode("utf-8")).hexdigest()


def _checked(row: Explanation, run_id: str) -> FrozenRoles:
    if row.roles_hash is None or row.frozen_at is None:
        raise RolesNotFrozen(f"Run '{run_id}' has no frozen roles: its explanation was never finished, so it "
                             "cannot be scored.")
    current = roles_hash(list(row.clusters or []))
    if current != row.roles_hash:
        raise RolesChanged(f"The roles of run '{run_id}' were changed after they were frozen at "
                           f"{row.frozen_at.isoformat()}; they cannot be scored.")
    return FrozenRoles(run_id, list(row.clusters or []), row.roles_hash, row.frozen_at, row.roles_source or "unknown")


def freeze_roles(store: Store, run_id: str, roles_source: str) -> FrozenRoles:
    """Freeze the run's current roles (idempotent for the same roles).

    Raises:
        RunNotFound: no such run.
        RolesNotFrozen: the run has no explanation to freeze.
        RolesChanged: the roles were frozen before and differ now.
    """
    with write_session(store) as session:
        require_run(session, store, run_id, lock=True)
        row = session.get(Explanation, run_id)
        if row is None:
            raise RolesNotFrozen(f"Run '{run_id}' has no explanation whose roles could be frozen.")
        if row.roles_hash is not None:
            return _checked(row, run_id)
        row.roles_hash = roles_hash(list(row.clusters or []))
        row.frozen_at = utcnow()
        row.roles_source = roles_source
        session.add(row)
        session.flush()
        return _checked(row, run_id)


def frozen_roles(store: Store, run_id: str) -> FrozenRoles:
    """The run's frozen roles, checked against their hash.

    Raises:
        RunNotFound: no such run.
        RolesNotFrozen: the roles were never frozen.
        RolesChanged: the stored roles no longer match the hash frozen with them.
    """
    with read_session(store) as session:
        require_run(session, store, run_id)
        row = session.get(Explanation, run_id)
        if row is None:
            raise RolesNotFrozen(f"Run '{run_id}' has no explanation, so it has no roles to score.")
        return _checked(row, run_id)
