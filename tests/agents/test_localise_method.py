"""The scripted localisation runs the attribution variant the bench chose, and records which."""

from __future__ import annotations

from autointerp import api
from engine.attribution import DEFAULT_METHOD, attribution_sweep
from engine.components import all_heads, all_mlps
from engine.tasks import load_task
from store import load_run_for_audit, open_store


def test_localisation_uses_and_records_the_chosen_variant(tmp_path, load):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    target = load("tiny-neox")
    run = api.explain(task="induction", model="tiny-neox", db=db, n=8, evaluate=False, target=target)
    assert run.localisation["attribution_method"] == DEFAULT_METHOD
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    (first,) = [e for e in audit["experiments"] if e["tool"] == "attribution_patching"][:1]
    assert first["args"]["method"] == DEFAULT_METHOD
    data = load_task("induction", target, n=8)
    comps = [c.id for c in all_heads(target.n_layers, target.n_heads) + all_mlps(target.n_layers)]
    want = attribution_sweep(target, data, comps, method=DEFAULT_METHOD).effects
    top = max(want, key=lambda c: abs(want[c]))
    assert abs(run.localisation["atp"][top] - want[top]) < 1e-3  # the tool rounds to 4 decimals
