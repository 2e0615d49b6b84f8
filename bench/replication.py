"""Replication figures on the planted models: the scripted agent against the planted truth.

Why: the planted models' roles are known (``engine.planted.truth``), so
their truth is a reference explanation with no memory involved. This script
runs the scripted agent on each planted task, scores the run with
``autointerp replicate`` against the shipped reference of that task
(``engine/planted/references``; circuit precision/recall, ARI and role
accuracy) and prints the figures beside the run's process metrics. No
assertions: figures only.

    .venv/bin/python bench/replication.py [--n 16] [--db sqlite:///path.db]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import autointerp
from engine.catalog import PLANTED_MODELS
from engine.references import resolve_reference
from store import open_store, process_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="replication-"))
    db = args.db or f"sqlite:///{tmp / 'runs.db'}"
    for name in PLANTED_MODELS:
        ref, _ = resolve_reference(name)
        run = autointerp.explain(task=name, model=name, n=args.n, db=db, evaluate=False)
        out = autointerp.replicate(run.run_id, name, db=db)["run"]
        with open_store(db) as st:
            proc = process_metrics(st, run.run_id)
        roles = {c["name"]: c["members"] for c in run.explanation["clusters"]}
        print(f"{name}: run {run.run_id}")
        print(f"  truth    {dict((c.name, c.members) for c in ref.clusters)}")
        print(f"  found    {roles}")
        print(f"  precision {out['precision']:.3f}  recall {out['recall']:.3f}  ARI "
              f"{out['ari'] if out['ari'] is None else round(out['ari'], 3)}  role accuracy "
              f"{out['assignment_accuracy'] if out['assignment_accuracy'] is None else round(out['assignment_accuracy'], 3)}"
              f"  ({out['n_compared']} shared components)")
        print(f"  process  {proc.tool_calls} tool calls, {proc.hypotheses} hypotheses ({proc.supported} supported, "
              f"{proc.refuted} refuted, {proc.inconclusive} inconclusive), {proc.experiments_cited} of "
              f"{proc.tool_calls} experiments cited")
    print(f"store: {db}")


if __name__ == "__main__":
    main()
