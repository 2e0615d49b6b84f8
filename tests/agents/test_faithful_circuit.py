"""The scripted agent chooses its circuit by faithfulness on its own prompts, and the evaluator re-scores it.

Checked against the stored experiments themselves: greedy selection starts
from the top two exact patching effects sorted by hand, each later member is
the best addition by plain mean ablation, the core is the size the
faithfulness experiment chose, the opposing part is what pushes away from the answer, and
the evaluation's f with heads and MLPs ablated is recomputed with plain
mean ablation on the evaluation prompts.
"""

from __future__ import annotations

import pytest

from agents.evaluate_run import evaluate_stored_run
from agents.session import ExplainConfig, evaluation_data
from autointerp import api
from engine.tasks import load_task
from store import list_evaluations, load_run_for_audit, open_store
from tests.evaluation.ablation_reference import plain_f


@pytest.mark.parametrize("cap", [20, 5])
def test_core_is_grown_greedily_by_faithfulness_and_opposing_is_reported_apart(db, load, cap):
    target = load("tiny-llama")
    run = api.explain(task="ioi", model="tiny-llama", db=db, n=8, target=target, params={"max_circuit": cap})
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
        evaluations = {e["kind"]: e["scores"] for e in list_evaluations(st, run.run_id)}
    exps = audit["experiments"]
    patching = [e for e in exps if e["tool"] == "activation_patching"]
    exact = patching[0]["result"]["effects"]
    assert patching[1]["args"]["direction"] == "denoising"
    restoring = patching[1]["result"]["effects"]
    faith, *check = [e["result"] for e in exps if e["tool"] == "faithfulness"]
    promoting = sorted((c for c, v in exact.items() if v < 0), key=lambda c: exact[c])
    assert faith["start"] == promoting[:2] and faith["order"][:2] == promoting[:2] and len(faith["order"]) > 2
    # every later member is the best measured addition by plain mean ablation on the research prompts
    # (the 8 of largest restoration gradient are measured each step, from every head and MLP)
    assert faith["shortlist"] == 8 and len(faith["candidates"]) == target.n_layers * (target.n_heads + 1)
    research = load_task("ioi", target, n=8, seed=0)
    for k, cid in enumerate(faith["order"][2:], start=2):
        measured = faith["measured"][k - 2]
        assert len(measured) == 8 and not set(measured) & set(faith["order"][:k])
        options = {c: plain_f(target, research, faith["order"][:k] + [c]) for c in measured}
        assert options[cid] == pytest.approx(max(options.values()), abs=1e-4)
        assert faith["curve"][k - 1]["f"] == pytest.approx(options[cid], abs=1e-3)
    # selection asks the research prompts for the held-out aim (0.8) plus the margin (0.05), and may fill the cap
    faith_args = next(e["args"] for e in exps if e["tool"] == "faithfulness")
    assert faith["target_f"] == pytest.approx(0.85) and faith_args["max_size"] == cap
    reached = [p["size"] for p in faith["curve"] if p["f"] is not None and p["f"] >= faith["target_f"]]
    best = max((p for p in faith["curve"] if p["f"] is not None), key=lambda p: (round(p["f"], 6), -p["size"]))
    assert faith["chosen_size"] == (min(reached) if reached else best["size"])
    # the circuit by hand: the greedy core and the opposing part
    frac = 0.05
    threshold = frac * max(abs(v) for v in exact.values())
    opposing = [c for c in sorted(exact, key=lambda c: -exact[c])
                if exact[c] > 0 and exact[c] >= threshold and -exact[c] + restoring.get(c, 0.0) < 0][: cap // 4]
    core = faith["order"][: max(faith["chosen_size"], 2)]
    opposing = [c for c in opposing if c not in core]  # greedy may need a noising-opposing component
    crowded, opposing = opposing[cap - len(core):], opposing[: cap - len(core)]  # only in the room the core leaves
    assert bool(crowded) == (cap == 5), "the small cap is there to crowd the opposing part out"
    assert all("leaves no room" in run.localisation["reasons"][c] for c in crowded)
    needed = frac * max(abs(v) for v in restoring.values())
    extra = [c for c in sorted(restoring, key=lambda c: -restoring[c])
             if restoring[c] > 0 and restoring[c] >= needed and c not in core and c not in opposing]
    extra = extra[: cap - len(core) - len(opposing)]
    # the sufficient ones join only if they do not lower the core's f (by plain mean ablation, research prompts)
    assert len(check) == (1 if extra else 0)
    if extra:
        assert check[0]["start"] == core + extra
        f_with, f_core = plain_f(target, research, core + extra), plain_f(target, research, core)
        assert check[0]["curve"][0]["f"] == pytest.approx(f_with, abs=1e-3)
        core += extra if f_with >= f_core else []
    assert sorted(run.circuit) == sorted(core + opposing)
    # the evaluator re-measures on held-out prompts: f of the core with heads and MLPs ablated, by plain hooks
    parts = evaluations["faithfulness"]["parts"]
    assert sorted(parts["core"]) == sorted(core) and sorted(parts["opposing"]) == sorted(opposing)
    config = ExplainConfig(task="ioi", model="tiny-llama", n=8)
    data, prompts = evaluation_data(config, target, load_task("ioi", target, n=8, seed=config.seed))
    assert prompts["prompts"] == "held-out"
    assert parts["heads_and_mlps"]["without_opposing"] == pytest.approx(plain_f(target, data, core), abs=1e-3)
    # `autointerp eval` later reads the same parts from the stored explanation (not from the later sweeps)
    assert {c["id"]: c["part"] for c in run.explanation["components"]} == {
        c: "opposing" if c in opposing else "core" for c in run.circuit}
    with open_store(db) as st:
        again = evaluate_stored_run(st, run.run_id)
    assert sorted(again["faithfulness"]["parts"]["opposing"]) == sorted(opposing)
    assert again["faithfulness"]["parts"]["heads_and_mlps"]["without_opposing"] == pytest.approx(
        parts["heads_and_mlps"]["without_opposing"], abs=1e-6)
