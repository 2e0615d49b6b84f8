"""Role hypotheses tested by weight swaps (``agents.roles``) and held-out evaluation prompts.

The pure parts are checked on synthetic distance matrices with planted
groups; the node is checked end to end on a tiny model, recomputing each
verdict from the distances the run's swap experiment recorded.
"""

from __future__ import annotations

import numpy as np
import pytest

from agents.describe import describe_cluster
from agents.evidence import ComponentEvidence, Measured, Role
from agents.roles import role_fit, unique_names
from agents.session import HELD_OUT_SEED, ExplainConfig, evaluation_data
from autointerp import api
from engine.tasks import REFERENCE_PAIRS, REFERENCE_SEED, build_task, load_task
from store import load_run_for_audit, open_store


def test_role_fit_by_hand() -> None:
    d = np.array([[0, 1, 4, 5], [1, 0, 6, 7], [4, 6, 0, 2], [5, 7, 2, 0]], dtype=float)
    fit = role_fit(d, ["a", "a", "b", "b"], "a")
    # member 0: a = 1, b = (4 + 5) / 2 = 4.5; member 1: a = 1, b = 6.5
    assert fit["within"] == pytest.approx(1.0) and fit["nearest_other"] == pytest.approx(5.5)
    assert fit["silhouette"] == pytest.approx(((4.5 - 1) / 4.5 + (6.5 - 1) / 6.5) / 2)
    wrong = role_fit(d, ["a", "b", "a", "b"], "a")  # heads 0 and 2 are far apart
    assert wrong["silhouette"] < 0
    alone = role_fit(d, ["a"] * 4, "a")  # no other role: nothing to compare with
    assert np.isnan(alone["nearest_other"]) and alone["within"] == pytest.approx(d.sum() / 12)


def test_unique_names() -> None:
    names = [c.name for c in unique_names([Role(name=n, members=[]) for n in ("x", "y", "x")])]
    assert names == ["x", "y", "x (2)"]


def test_evaluation_prompts_are_held_out_for_generated_tasks(load) -> None:
    target = load("tiny-llama")
    config = ExplainConfig(task="ioi", model="tiny-llama", n=8, seed=3)
    research = load_task("ioi", target, n=8, seed=3)
    held, info = evaluation_data(config, target, research)
    assert info["prompts"] == "held-out" and info["seed"] == 3 + HELD_OUT_SEED and held.n_pairs == 8
    ours, theirs = [p.clean for p in research.task.pairs], [p.clean for p in held.task.pairs]
    assert ours != theirs and info["overlap"] == len(set(ours) & set(theirs))
    # the evaluation's mean-ablation reference is a draw of its own, not the research's
    mine, yours = [p.corrupt for p in research.task.reference], [p.corrupt for p in held.task.reference]
    assert mine and yours and mine != yours
    assert not set(yours) & {p.corrupt for p in research.task.pairs}
    assert info["reference"]["seed"] == 3 + HELD_OUT_SEED + REFERENCE_SEED
    assert info["reference"]["pairs"] == len(yours) > REFERENCE_PAIRS // 2
    # a small task's reference loses every research corrupt prompt (capitals: about 40 distinct prompts)
    config = ExplainConfig(task="capitals", model="tiny-llama", n=8, seed=3)
    research = load_task("capitals", target, n=8, seed=3)
    held, info = evaluation_data(config, target, research)
    drawn = {p.corrupt for p in build_task("capitals", target.tokenizer, n=32, seed=3 + HELD_OUT_SEED).reference}
    kept = {p.corrupt for p in held.task.reference}
    researched = {p.corrupt for p in research.task.pairs}
    assert researched & drawn and kept == drawn - researched


def test_opt_in_fitted_roles_are_tested_by_one_swap_sweep_and_labelled(db: str, load) -> None:
    run = api.explain(task="ioi", model="tiny-llama", db=db, n=8, null_draws=200, target=load("tiny-llama"),
                      fit_roles_to_swaps=True)
    assert run.explanation["roles_source"] == "fitted_to_swaps"
    inter = run.evaluation["interchangeability"]
    assert inter["roles_source"] == "fitted_to_swaps" and inter["selection_aware"] is not None
    assert inter["verdict"] in ("beats the fitting procedure on structureless matrices",
                                "no better than the fitting procedure finds in noise", "undefined")
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    [sweep] = [e for e in audit["experiments"] if e["tool"] == "weight_swap"]
    heads = sweep["args"]["among"]
    assert heads and set(heads) == {c for c in run.circuit if ".H" in c}
    d = np.array(sweep["result"]["distances"])
    role_hyps = [h for h in audit["hypotheses"] if h["component"] is None]
    assert role_hyps and all(sweep["id"] in h["evidence"] for h in role_hyps)
    final = {c["name"]: [m for m in c["members"] if m in heads] for c in run.explanation["clusters"]}
    labels = [next(n for n, ms in final.items() if h in ms) for h in heads]
    for name, members in final.items():
        if len(members) < 2:
            continue
        hyp = [h for h in role_hyps if f"'{name}' ({', '.join(members)})" in h["text"]][-1]  # the latest grouping
        expected = "supported" if role_fit(d, labels, name)["silhouette"] > 0 else "refuted"
        assert hyp["status"] == expected
        description = next(c["description"] for c in run.explanation["clusters"] if c["name"] == name)
        assert f"E{sweep['id']}" in description
    [inter] = [e for e in audit["evaluations"] if e["kind"] == "interchangeability"]
    assert inter["params"]["prompts"]["prompts"] == "held-out"
    comps, evald = inter["scores"]["components"], np.array(inter["scores"]["distance_matrix"])
    a, b = comps[0], comps[1]
    same_pair = d[heads.index(a), heads.index(b)]
    assert evald[0, 1] > 0 and evald[0, 1] != pytest.approx(same_pair, abs=1e-9)  # re-measured on other prompts


def _ev(exact: float, direct: float) -> ComponentEvidence:
    return ComponentEvidence(kind="head", exact=Measured(value=exact), path_logits=Measured(value=direct))


def test_role_names_never_mix_signs_or_say_mixed_signature() -> None:
    evidence = {"L1.H0": _ev(1.0, 0.9), "L1.H1": _ev(0.5, 0.5), "L2.H0": _ev(-0.5, -0.45)}
    same = describe_cluster(["L1.H0", "L1.H1"], evidence)
    assert same.name == "answer-promoting heads writing directly to the logits"
    fitted = describe_cluster(["L1.H0", "L1.H1", "L2.H0"], evidence)  # only the swap-fitted mode mixes signatures
    assert fitted.name.startswith("answer-promoting heads") and "(2 of 3; grouped by weight swaps)" in fitted.name
    assert "mixed" not in fitted.name and "opposing" not in fitted.name
