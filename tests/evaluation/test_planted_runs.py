"""The planted family end to end: listed, explained by the scripted agent, graded against the truth.

Also: the shipped reference files are the established truth of the cached
models, and a planted task refuses another model's vocabulary in one sentence.
"""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import combinations

import pytest

from engine.planted import PLANTED, load_planted, load_reference, reference_path

pytestmark = pytest.mark.planted


def autointerp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autointerp.cli.app", *args], capture_output=True, text=True,
                          timeout=600)


def test_planted_models_and_tasks_are_listed():
    models = {m["name"] for m in json.loads(autointerp("models", "--json").stdout)["models"]}
    tasks = {t["name"] for t in json.loads(autointerp("tasks", "--json").stdout)["tasks"]}
    assert set(PLANTED) == {"planted-induction", "planted-recall"}
    assert set(PLANTED) <= models and set(PLANTED) <= tasks


def test_planted_task_on_another_model_is_refused_in_one_sentence():
    proc = autointerp("task", "check", "planted-induction", "--model", "tiny-gpt2")
    assert proc.returncode == 2 and "--model planted-induction" in proc.stderr and "Traceback" not in proc.stderr


def _pair_agreement(a: dict[str, str], b: dict[str, str]) -> float:
    """Plain ARI by pair counting over the heads both label (independent of engine.evaluation.agreement)."""
    keys = sorted(set(a) & set(b))
    pairs = list(combinations(keys, 2))
    both = sum(a[x] == a[y] and b[x] == b[y] for x, y in pairs)
    in_a = sum(a[x] == a[y] for x, y in pairs)
    in_b = sum(b[x] == b[y] for x, y in pairs)
    expected = in_a * in_b / len(pairs)
    return (both - expected) / ((in_a + in_b) / 2 - expected)


def test_explain_then_eval_grades_the_run_against_the_truth(tmp_path):
    name = "planted-recall"
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    explained = autointerp("explain", "--task", name, "--model", name, "--db", db, "--no-eval", "--json")
    assert explained.returncode == 0, explained.stderr
    run = json.loads(explained.stdout)
    evaluated = autointerp("eval", run["run_id"], "--db", db, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    planted = json.loads(evaluated.stdout)["planted"]
    truth = load_planted(name).truth
    assert planted["truth"] == truth.roles
    agent = {m: c["name"] for c in run["explanation"]["clusters"] for m in c["members"]}
    true = {m: role for role, members in truth.roles.items() for m in members}
    assert planted["ari"] == pytest.approx(_pair_agreement(agent, true))
    found = {c["id"] for c in run["explanation"]["components"]}
    assert planted["circuit_recall"] == pytest.approx(len(found & set(truth.circuit)) / len(truth.circuit))
    assert planted["missed"] == sorted(set(truth.circuit) - found)
    # the acceptance figures (ARI >= 0.8, recall >= 0.9 over 3 seeds per model) are measured by bench/planted.py


@pytest.mark.parametrize("name", PLANTED)
def test_shipped_reference_is_the_established_truth(name):
    reference = load_reference(reference_path(name))
    truth = load_planted(name).truth
    assert reference.fingerprint == truth.fingerprint
    assert {c.name: sorted(c.members) for c in reference.clusters} == {r: sorted(m) for r, m in truth.roles.items()}
    assert reference.labels() == truth.labels()
    assert sorted(reference.outside) == sorted(h.head for h in truth.heads if not h.in_circuit)
    assert set(truth.decoys) <= set(reference.outside)
