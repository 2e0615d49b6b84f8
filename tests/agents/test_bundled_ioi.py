"""The scripted agent on IOI with the bundled model: one run, read by every test that needs such a run.

Why one file: the run is the suite's most expensive fixture (a full explain on the 135M model), and
``make test`` hands whole files to its pytest-xdist workers, so a run shared across files would be
made once per worker. Here it is made once: the scripted agent's findings are checked on it, and it is
the plain run the memorisation control's head-permuted run is compared with.
"""

from __future__ import annotations

import pytest

import autointerp
from agents.evaluate_run import evaluate_stored_run
from engine.tasks import load_task
from store import load_run_for_audit, open_store
from tests.agents.test_scripted_tasks import check_evidence_based
from tests.evaluation.ablation_reference import plain_f
from tools.results import FaithfulnessResult

IOI_TEST_N = 16
IOI_TEST_PARAMS = {"max_circuit": 10, "shortlist": 4, "n_candidates": 32}
"""Smaller than the defaults (20 components, 8 measured additions a greedy step, 48 exact-patched candidates,
32 pairs: measured by `make demo` and the README), so the two runs take about half the time they would."""
PERMUTATION_SEED = 3


@pytest.fixture(scope="module")
def ioi_smollm_run(tmp_path_factory, smollm):
    """One scripted IOI run on the bundled model (``IOI_TEST_N`` pairs, seed 0, ``IOI_TEST_PARAMS``, not
    evaluated) and its store's URL."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ioi_smollm') / 'runs.db'}"
    return url, autointerp.explain(task="ioi", model="smollm2-135m", n=IOI_TEST_N, db=url, evaluate=False,
                                   target=smollm, params=IOI_TEST_PARAMS)


@pytest.mark.slow
def test_ioi_on_smollm2_finds_the_top_heads_and_separates_roles(ioi_smollm_run, smollm):
    db, run = ioi_smollm_run
    audit = check_evidence_based(db, run)
    # the head with the largest exact patching effect (a full exact sweep of all 270 heads on these
    # prompts: L23.H3 -2.77, then L20.H0 -1.81, L29.H1 -1.46, L17.H4 -1.38) is in the circuit and writes to the
    # logits directly
    assert "L23.H3" in run.circuit
    role = {c["id"]: c["role"] for c in run.explanation["components"]}
    assert role["L23.H3"].endswith("writing directly to the logits")
    # the roles come from the agent's own experiments: the evaluator's weight swaps are not its input
    assert not any(e["tool"] == "weight_swap" for e in audit["experiments"])
    head_roles = {role[c] for c in run.circuit if ".H" in c}
    assert len(head_roles) >= 2
    assert len(audit["experiments"]) >= 5 + 2 * len(run.circuit) - 4
    # the f greedy selection reports for the chosen core is what one plain hooked forward per ablation set
    # gives on the research prompts (every other head and MLP mean-ablated)
    chosen = FaithfulnessResult.model_validate(run.localisation["faithfulness"])
    core = chosen.order[:chosen.chosen_size]
    reported = {p.size: p.f for p in chosen.curve}[chosen.chosen_size]
    research = load_task("ioi", smollm, n=IOI_TEST_N, seed=0)
    assert reported == pytest.approx(plain_f(smollm, research, core), abs=2e-3)
    assert set(core) <= set(run.circuit)


@pytest.mark.slow
def test_scripted_agent_passes_the_control_on_ioi_with_the_bundled_model(ioi_smollm_run, smollm):
    """IOI on SmolLM2-135M: the honest scripted agent's permuted run maps back (figures printed with -s -p no:xdist)."""
    url, original = ioi_smollm_run
    permuted = autointerp.explain(task="ioi", model="smollm2-135m", n=IOI_TEST_N, db=url, evaluate=False,
                                  permute_heads=PERMUTATION_SEED, target=smollm, params=IOI_TEST_PARAMS)
    with open_store(url) as st:
        perm = evaluate_stored_run(st, permuted.run_id)["permutation"]
        process = load_run_for_audit(st, original.run_id)["process"]
    print("\noriginal circuit:", original.circuit, "\npermuted circuit:", permuted.circuit)
    print({k: perm[k] for k in ("mapped_matches", "literal_matches", "n_moved", "circuit_chance", "ari",
                                "description_similarity", "description_null", "passed")})
    print("component  calls failed iter hyp sup ref inc open exp_s cited_own")
    for c in process["components"]:
        print(f"{c['component']:<10} {c['tool_calls']:>5} {c['failed_calls']:>6} {c['iterations']:>4} "
              f"{c['hypotheses']:>3} {c['supported']:>3} {c['refuted']:>3} {c['inconclusive']:>3} {c['open']:>4} "
              f"{c['experiment_time_s']:>5.1f} {c['cited_own']:>9}")
    print({k: v for k, v in process.items() if k != "components"})
    assert perm["n_moved"] > 0
    assert perm["circuit_ok"] and perm["roles_ok"] and perm["descriptions_ok"] and perm["passed"]
