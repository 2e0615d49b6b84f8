"""The scripted researcher on tasks it has never seen: a custom JSONL file and induction.

It must produce an evidence-based explanation on any task: hypotheses decided
by experiments, descriptions citing experiments of the run, roles from the
evidence. (The smollm2 checks are ``slow``.)
"""

from __future__ import annotations

import itertools
import json
import re

import pytest

from autointerp import api
from store import load_run_for_audit, open_store

CAPITALS = [("France", "Paris"), ("England", "London"), ("Germany", "Berlin"), ("Italy", "Rome"),
            ("Spain", "Madrid"), ("Japan", "Tokyo"), ("Russia", "Moscow"), ("Greece", "Athens"),
            ("Egypt", "Cairo"), ("Portugal", "Lisbon"), ("Austria", "Vienna")]


def write_capitals(path, n: int = 12) -> str:
    """A custom task file: 'The capital of X is' -> capital of X rather than of the corrupt country."""
    lines = []
    for (c1, a1), (c2, a2) in itertools.islice(itertools.permutations(CAPITALS, 2), 0, 7 * n, 7):
        lines.append(json.dumps({"clean": f"The capital of {c1} is", "corrupt": f"The capital of {c2} is",
                                 "answer": f" {a1}", "distractor": f" {a2}",
                                 "roles": {"COUNTRY": len("The capital of ")}}))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def check_evidence_based(db: str, run) -> dict:
    """Assertions every explanation must pass; returns the audit."""
    with open_store(db) as st:
        audit = load_run_for_audit(st, run.run_id)
    exp_ids = {e["seq"] for e in audit["experiments"]}  # evidence cites run-local numbers (E<seq>)
    assert run.status == "finished" and run.circuit
    comps = run.explanation["components"]
    assert {c["id"] for c in comps} == set(run.circuit)
    for c in comps:
        assert c["evidence"] and set(c["evidence"]) <= exp_ids
        cited = {int(x) for x in re.findall(r"E(\d+)", c["description"])}
        assert cited and cited <= exp_ids, c["description"]
        assert c["role"]
    assert {m for cl in run.explanation["clusters"] for m in cl["members"]} == set(run.circuit)
    by_comp: dict[str, list[dict]] = {}
    for h in audit["hypotheses"]:
        by_comp.setdefault(h["component"], []).append(h)
    for cid in run.circuit:
        hyps = by_comp[cid]
        # 3-5 competing hypotheses from the first evidence; Q/K/V-composition (three) only once the component
        # was found to act through later circuit heads
        composition = [h for h in hyps if "-composition)" in h["text"]]
        first = [h for h in hyps if h not in composition]
        assert 3 <= len(first) <= 5 and len(composition) in (0, 3), [h["text"] for h in hyps]
        indirect = [h for h in first if "acts by changing the inputs of downstream" in h["text"]]
        assert not composition or (indirect and indirect[0]["status"] == "supported")
        assert all(h["status"] in ("supported", "refuted", "inconclusive") for h in hyps)
    assert {h["status"] for h in audit["hypotheses"]} - {"inconclusive"}  # experiments decided some
    assert re.search(r"\[E\d+", run.explanation["summary"])
    return audit


def test_custom_jsonl_task_on_a_tiny_model(tmp_path, db, load):
    task = write_capitals(tmp_path / "capitals.jsonl")
    run = api.explain(task=task, model="tiny-llama", db=db, evaluate=False, target=load("tiny-llama"))
    check_evidence_based(db, run)


def test_induction_on_a_tiny_model(db, load):
    run = api.explain(task="induction", model="tiny-neox", db=db, n=8, evaluate=False, target=load("tiny-neox"))
    check_evidence_based(db, run)



@pytest.mark.slow
def test_custom_jsonl_on_smollm2(tmp_path, db, smollm):
    task = write_capitals(tmp_path / "capitals.jsonl", n=10)
    run = api.explain(task=task, model="smollm2-135m", db=db, evaluate=False, target=smollm,
                      params={"max_circuit": 5})
    check_evidence_based(db, run)
