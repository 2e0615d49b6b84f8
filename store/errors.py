"""Errors the store raises.

Why: the CLI turns user-caused failures (an unreachable database, an unknown
run id, a database written by a newer autointerp) into one clear sentence and
a non-zero exit. Giving them their own exception types lets the CLI catch
exactly these and nothing else, while programming errors still surface as
tracebacks.
"""

from __future__ import annotations


class StoreError(Exception):
    """A store failure a user can cause; its message is one clear sentence."""


class RunNotFound(StoreError):
    """No run with the requested id exists in the store."""


class SchemaTooNew(StoreError):
    """The database was written by a newer autointerp than this one."""


class RolesNotFrozen(StoreError):
    """A run's roles were never frozen, so there is nothing the evaluation may score."""


class RolesChanged(StoreError):
    """A run's roles differ from the ones frozen before the evaluation: they cannot be scored."""
