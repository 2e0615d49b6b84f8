"""Run leases: which process is driving a run right now.

Why a row of its own: two ``resume`` commands of one run must not both drive
it (they would double its evaluation rows and interleave its trace), and a
run whose process was killed must not look alive forever. A process holds a
run's lease while it drives the run and renews it periodically; the lease
names the holder (host and pid) and expires if it is not renewed. Kept out of
the ``run`` table so that leasing never rewrites a run's record and an older
autointerp simply ignores the table.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field

from store.tables.base import StoreModel, UTCDateTime


class RunLease(StoreModel, table=True):
    """The current holder of one run's lease (at most one row per run)."""

    __tablename__ = "run_lease"

    run_id: str = Field(foreign_key="run.id", primary_key=True, ondelete="CASCADE", max_length=64)
    token: str = Field(max_length=64)
    host: str = ""
    pid: int = 0
    acquired_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
