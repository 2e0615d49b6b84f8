"""A run's trace reads the same in every database (issue 18).

Evidence ids are run-local (E1..En, the store's per-run ``seq``): the same
run stored in a fresh database and in one that already holds another run has
identical explanation text, and every E number cited resolves to an
experiment of that run. The API's outcome reports the store's stop reason and
the run records which code ran; re-evaluating adds a numbered, labelled
version rather than an unlabelled duplicate.
"""

from __future__ import annotations

import re

import pytest

import autointerp
from agents.evaluate_run import evaluate_stored_run
from agents.provenance import code_version
from engine.models.loading import load_model
from store import (
    current_evaluations,
    evaluation_version,
    get_run,
    list_evaluations,
    load_run_for_audit,
    open_store,
)


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny-gpt2")


def _explain(db: str, tiny, seed: int = 0):
    return autointerp.explain(task="ioi", model="tiny-gpt2", n=6, max_steps=24, evaluate=False, db=db,
                              seed=seed, target=tiny)


def _texts(explanation: dict) -> list[str]:
    return [explanation["summary"]] + [c["description"] for c in explanation["components"]]


def test_same_run_in_two_databases_has_identical_explanation_text(tmp_path, tiny):
    busy, fresh = f"sqlite:///{tmp_path / 'busy.db'}", f"sqlite:///{tmp_path / 'fresh.db'}"
    earlier = _explain(busy, tiny, seed=1)  # occupies the first experiment rows of the busy database
    in_busy = _explain(busy, tiny)
    in_fresh = _explain(fresh, tiny)
    with open_store(busy) as st:
        audit = load_run_for_audit(st, in_busy.run_id)
        first = load_run_for_audit(st, earlier.run_id)
    # the database row ids of the second run really are shifted by the first run's experiments
    assert min(e["id"] for e in audit["experiments"]) > max(e["id"] for e in first["experiments"])
    assert _texts(in_busy.explanation) == _texts(in_fresh.explanation)
    assert [c["evidence"] for c in in_busy.explanation["components"]] == \
        [c["evidence"] for c in in_fresh.explanation["components"]]
    numbers = {e["seq"] for e in audit["experiments"]}
    assert numbers == set(range(1, len(audit["experiments"]) + 1))
    cited = {int(x) for text in _texts(audit["explanation"]) for x in re.findall(r"\bE(\d+)\b", text)}
    assert cited and cited <= numbers
    for comp in audit["explanation"]["components"]:
        assert set(comp["evidence"]) <= numbers


def test_outcome_stop_reason_and_code_version_match_the_store(tmp_path, tiny):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    out = _explain(db, tiny)
    with open_store(db) as st:
        run = get_run(st, out.run_id)
    assert run.stop_reason and out.stop_reason == run.stop_reason
    assert run.code_version == code_version() and run.code_version.startswith(("git:", "autointerp "))


def test_verdicts_and_the_experiments_they_cite_agree_in_sign(tmp_path, tiny):
    db = f"sqlite:///{tmp_path / 's.db'}"
    out = _explain(db, tiny)
    with open_store(db) as st:
        audit = load_run_for_audit(st, out.run_id)
    by_row = {e["id"]: e for e in audit["experiments"]}
    checked = 0
    for hyp in audit["hypotheses"]:
        for change in hyp["status_history"]:
            found = re.search(r"direct path (\w+) ([+-]\d+\.\d+)", change["reason"] or "")
            if not found or change["experiment_id"] is None:
                continue
            exp = by_row[change["experiment_id"]]
            assert exp["tool"] == "path_patching" and exp["args"]["receivers"] == ["logits"]
            # the verdict names a contribution (= minus the noising effect the summary reports)
            assert found.group(1) == "contribution"
            assert float(found.group(2)) == pytest.approx(-exp["result"]["effect"], abs=1.5e-3)
            assert f"effect {exp['result']['effect']:+.3f}" in exp["summary"]
            checked += 1
    assert checked >= 3


def test_re_evaluating_adds_a_labelled_version_not_a_duplicate(tmp_path, tiny):
    db = f"sqlite:///{tmp_path / 'e.db'}"
    out = autointerp.explain(task="ioi", model="tiny-gpt2", n=6, max_steps=24, db=db, null_draws=200, target=tiny)
    with open_store(db) as st:
        again = evaluate_stored_run(st, out.run_id)
        stored = list_evaluations(st, out.run_id)
    assert again["version"] == 2
    by_version: dict[int, set[str]] = {}
    for ev in stored:
        by_version.setdefault(evaluation_version(ev), set()).add(ev["kind"])
        label = ev["params"]["label"]
        assert label.startswith(f"evaluation {evaluation_version(ev)} (")
        assert ("explain" in label) == (evaluation_version(ev) == 1) and "200 null draws" in label
        assert ev["params"]["code_version"] == code_version()
    assert by_version == {1: {"interchangeability", "faithfulness"}, 2: {"interchangeability", "faithfulness"}}
    current = current_evaluations(stored)
    assert {evaluation_version(e) for e in current} == {2} and len(current) == 2
