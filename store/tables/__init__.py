"""The store's tables, one module per concept.

Why: importing this package registers every table in the store's private
metadata (:data:`METADATA`), which is what ``create_all`` and the schema
version check work on.
"""

from store.tables.artifact import Artifact
from store.tables.base import StoreModel
from store.tables.experiment import Experiment
from store.tables.hypothesis import (
    EVIDENCE_RELATIONS,
    HYPOTHESIS_STATUSES,
    Hypothesis,
    HypothesisExperiment,
    HypothesisStatusChange,
)
from store.tables.lease import RunLease
from store.tables.message import MESSAGE_ROLES, Message
from store.tables.meta import SCHEMA_VERSION, SchemaVersion
from store.tables.result import Evaluation, Explanation
from store.tables.run import RUN_STATUSES, Run

METADATA = StoreModel.metadata
"""The SQLAlchemy metadata holding exactly the store's tables."""

__all__ = [
    "EVIDENCE_RELATIONS",
    "HYPOTHESIS_STATUSES",
    "MESSAGE_ROLES",
    "METADATA",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "Artifact",
    "Evaluation",
    "Experiment",
    "Explanation",
    "Hypothesis",
    "HypothesisExperiment",
    "HypothesisStatusChange",
    "Message",
    "Run",
    "RunLease",
    "SchemaVersion",
]
