"""`autointerp eval RUN`: re-scoring a stored run, and the head-permutation memorisation control.

The control must pass for the evidence-following scripted agent and fail for
a "reciting" run that names the original head ids on the permuted model.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import autointerp
from agents.evaluate_run import _effects, evaluate_stored_run
from store import frozen_roles, list_evaluations, load_run_for_audit, open_store

MODEL, TASK = "tiny-llama", "ioi"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('eval') / 'runs.db'}"
    original = autointerp.explain(task=TASK, model=MODEL, n=8, db=url, evaluate=False)
    permuted = autointerp.explain(task=TASK, model=MODEL, n=8, db=url, evaluate=False, permute_heads=3)
    return url, original, permuted


def test_eval_scores_and_stores(runs):
    url, original, _ = runs
    with open_store(url) as st:
        out = evaluate_stored_run(st, original.run_id)
        stored = list_evaluations(st, original.run_id)
        frozen = frozen_roles(st, original.run_id)
    assert {e["kind"] for e in stored} >= {"interchangeability", "faithfulness"}
    assert all(e["params"]["roles_hash"] == frozen.roles_hash for e in stored)
    inter = out["interchangeability"]
    assert inter["roles_source"] == frozen.roles_source == "evidence"
    assert inter["components"] == [m for c in frozen.clusters for m in c["members"] if ".H" in m]
    assert set(out["faithfulness"]) >= {"normalized", "circuit_size", "ablation"}
    assert "permutation" not in out


def test_evidence_following_agent_passes_the_permutation_control(runs):
    url, original, permuted = runs
    with open_store(url) as st:
        out = evaluate_stored_run(st, permuted.run_id)
    perm = out["permutation"]
    assert perm["original_run"] == original.run_id
    assert perm["n_moved"] > 0  # the control is only informative if the circuit's heads moved
    assert perm["mapped_matches"] == 1.0 and not perm["literal_matches"] and perm["passed"]
    # roles and descriptions map back too (the scripted agent's are computed from function-identical evidence)
    assert perm["circuit_ok"] and perm["roles_ok"] and perm["ari"] == 1.0
    assert perm["descriptions_ok"] and perm["description_similarity"] > perm["description_null"]


def test_reciting_the_original_ids_fails_the_control(runs):
    url, original, _ = runs
    heads = [c for c in original.circuit if ".H" in c]
    recited = autointerp.explain(task=TASK, model=MODEL, n=8, db=url, evaluate=False, permute_heads=3,
                                 circuit=heads)
    with open_store(url) as st:
        perm = evaluate_stored_run(st, recited.run_id, original=original.run_id)["permutation"]
    assert perm["literal_matches"] and not perm["passed"]


def test_eval_cli_json_and_unknown_run(runs):
    url, original, _ = runs
    proc = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "eval", original.run_id, "--db", url,
                           "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["run_id"] == original.run_id and "interchangeability" in out and "faithfulness" in out
    bad = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "eval", "run-nope", "--db", url],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "No run with id 'run-nope'" in bad.stderr


def test_the_faithfulness_curve_ranks_every_component(tmp_path, load):
    """Exact noising effects where the run measured them, attribution estimates for every other component;
    the run's denoising sweep (another quantity) never enters the ranking."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    run = autointerp.explain(task=TASK, model=MODEL, n=8, db=url, evaluate=False, params={"n_candidates": 4})
    with open_store(url) as st:
        experiments = load_run_for_audit(st, run.run_id)["experiments"]
        ranking = _effects(st, run.run_id)
    by_kind: dict[tuple[str, str], dict[str, float]] = {}
    for e in experiments:  # in run order: a later sweep of a component overrides an earlier one
        if e["tool"] in {"attribution_patching", "activation_patching"} and e["args"].get("positions") == "all":
            by_kind.setdefault((e["tool"], e["args"]["direction"]), {}).update(e["result"]["effects"])
    exact, estimates = by_kind[("activation_patching", "noising")], by_kind[("attribution_patching", "noising")]
    restoring = by_kind[("activation_patching", "denoising")]
    target = load(MODEL)
    # the 4 candidates, plus any MLP greedy selection took in without an exact effect (patched afterwards)
    assert 4 <= len(exact) < len(estimates) and set(ranking) == set(estimates)
    assert len(ranking) == target.n_layers * (target.n_heads + 1)  # every head and MLP
    assert all(ranking[c] == exact[c] for c in exact)
    assert restoring and all(ranking[c] != restoring[c] for c in restoring)
    assert all(ranking[c] == estimates[c] for c in set(estimates) - set(exact))
