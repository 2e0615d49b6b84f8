"""autointerp's store: SQL records of runs, hypotheses, experiments and more.

Why: every claim an agent makes must be traceable to the experiments behind
it, across processes, crashes and resumptions, in SQLite or PostgreSQL. This
package holds the SQLModel schema and the functions that write and query it;
it imports nothing else of autointerp (DESIGN §2).

Usage::

    from store import open_store, start_run, add_experiment, load_run_for_audit

    with open_store() as st:                 # $AUTOINTERP_DB or a user-data SQLite file
        run_id = start_run(st, task="ioi", model="smollm2-135m", agent="scripted")
        exp_id = add_experiment(st, run_id, "logit_lens", {"layer": 3}, "…", {...},
                                idempotency_key="step-1")
        audit = load_run_for_audit(st, run_id)
"""

from store.artifacts import load_array, save_array
from store.audit import load_run_for_audit, run_to_dict
from store.connect import open_store
from store.engine import Store
from store.errors import (
    RolesChanged,
    RolesNotFrozen,
    RunNotFound,
    SchemaNeedsUpgrade,
    SchemaTooNew,
    StoreError,
)
from store.frozen import FrozenRoles, freeze_roles, frozen_roles, roles_hash
from store.lease import RunActivity, RunBusy, acquire_lease, hold_lease, release_lease, run_activity
from store.process import ComponentProcess, RunProcess, process_metrics
from store.read import (
    count_experiments,
    current_evaluations,
    evaluation_version,
    find_experiment,
    get_experiment,
    get_explanation,
    get_run,
    get_run_experiment,
    list_evaluations,
    list_runs,
    next_evaluation_version,
)
from store.redact import REDACTED, redact
from store.schema import schema_version
from store.tables import SCHEMA_VERSION, Run
from store.urls import default_url, is_sqlite_memory, mask_url, parse_url, sqlite_file
from store.write_messages import add_message
from store.write_research import (
    add_experiment,
    add_hypothesis,
    link_evidence,
    update_hypothesis,
)
from store.write_results import save_evaluation, save_explanation
from store.write_runs import (
    add_tokens,
    finish_run,
    new_run_id,
    resume_run,
    start_run,
    update_run_meta,
)

__all__ = [
    "REDACTED",
    "ComponentProcess",
    "RunProcess",
    "process_metrics",
    "FrozenRoles",
    "RolesChanged",
    "RolesNotFrozen",
    "SCHEMA_VERSION",
    "Run",
    "RunActivity",
    "RunBusy",
    "RunNotFound",
    "SchemaNeedsUpgrade",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "acquire_lease",
    "add_experiment",
    "add_hypothesis",
    "add_message",
    "add_tokens",
    "count_experiments",
    "current_evaluations",
    "evaluation_version",
    "default_url",
    "find_experiment",
    "finish_run",
    "freeze_roles",
    "frozen_roles",
    "is_sqlite_memory",
    "get_experiment",
    "get_run_experiment",
    "get_explanation",
    "get_run",
    "hold_lease",
    "link_evidence",
    "list_evaluations",
    "list_runs",
    "next_evaluation_version",
    "load_array",
    "load_run_for_audit",
    "mask_url",
    "new_run_id",
    "open_store",
    "parse_url",
    "redact",
    "release_lease",
    "resume_run",
    "roles_hash",
    "run_activity",
    "run_to_dict",
    "save_array",
    "save_evaluation",
    "save_explanation",
    "schema_version",
    "sqlite_file",
    "start_run",
    "update_hypothesis",
    "update_run_meta",
]
