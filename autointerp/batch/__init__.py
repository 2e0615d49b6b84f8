"""Batch analysis: run many (task x model x agent x seed) jobs and record them.

``autointerp batch SPEC.yaml`` reads a spec (:mod:`autointerp.batch.spec`),
skips jobs that already finished in the database, runs the rest with
bounded concurrency on a ``local`` executor (threads or worker processes,
:mod:`autointerp.batch.local`) or a ``ray`` executor (actors that keep their
model loaded, :mod:`autointerp.batch.ray_executor`), and writes each job's
run to the database from the driver alone (:mod:`autointerp.batch.driver`,
:mod:`autointerp.batch.importer`).
"""

from autointerp.batch.driver import JobState, plan, run_batch
from autointerp.batch.importer import import_run
from autointerp.batch.local import LocalExecutor
from autointerp.batch.ray_executor import BatchError, RayExecutor
from autointerp.batch.spec import BatchSpec, Job, SpecError, load_spec
from autointerp.batch.worker import JobFn, execute, explain_job

__all__ = [
    "BatchError",
    "BatchSpec",
    "Job",
    "JobFn",
    "JobState",
    "LocalExecutor",
    "RayExecutor",
    "SpecError",
    "execute",
    "explain_job",
    "import_run",
    "load_spec",
    "plan",
    "run_batch",
]
