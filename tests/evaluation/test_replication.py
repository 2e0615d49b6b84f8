"""Replication scoring: hand-computed agreement figures, the judge and the blind baseline with fake LLMs,
and `autointerp replicate` end to end on a planted model whose truth is known."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from langchain_core.messages import AIMessage

import autointerp
from agents.context import LLMHandle
from agents.judge import JudgeError, judge_descriptions
from agents.replication import score_against
from engine.planted import planted_truth
from engine.planted.reference import Reference, reference_from_truth
from engine.references import resolve_reference
from store import list_evaluations, open_store
from tests.agents.fakes import ToolCallingFake

REF = Reference.model_validate({
    "task": "t", "model": "m", "source": "hand",
    "components": {c: {"role": r, "description": f"{r} job"} for c, r in
                   (("L0.H0", "x"), ("L0.H1", "x"), ("L1.H0", "y"), ("L1.H1", "y"))},
})


def _expl(labels: dict[str, str], descriptions: dict[str, str] | None = None) -> dict:
    return {"components": [{"id": c, "role": r, "description": (descriptions or {}).get(c, "?"), "evidence": []}
                           for c, r in labels.items()], "clusters": []}


def _fake(*replies: str) -> LLMHandle:
    return LLMHandle(chat=ToolCallingFake(responses=[AIMessage(r) for r in replies]), provider="fake", model="judge")


def test_agreement_figures_match_a_hand_count():
    # found: L0.H0, L0.H1, L1.H0 together (p), L1.H1 alone (q), plus L2.H0 not in the reference
    found = _expl({"L0.H0": "p", "L0.H1": "p", "L1.H0": "p", "L1.H1": "q", "L2.H0": "p"})
    s = score_against(found, REF, "hand", "run", "m")
    assert (s.precision, s.recall, s.common) == (4 / 5, 1.0, 4)
    # on the 4 shared components: pairs together in both = 1 (L0.H0-L0.H1); expected 2*3/6 = 1; max 2.5 -> 0
    assert s.ari == pytest.approx(0.0)
    assert s.assignment_accuracy == pytest.approx(3 / 4)  # x->p (2 right), y->q (1 right)
    perfect = score_against(_expl({"L0.H0": "a", "L0.H1": "a", "L1.H0": "b", "L1.H1": "b"}), REF, "hand", "run", "m")
    assert (perfect.ari, perfect.assignment_accuracy, perfect.precision) == (1.0, 1.0, 1.0)


def test_a_permuted_run_is_mapped_back_before_comparing():
    perm = {"L0.H0": "L0.H1", "L0.H1": "L0.H0", "L1.H0": "L1.H1", "L1.H1": "L1.H0"}
    # the permuted run names the images; mapped back they are the reference's own grouping
    found = _expl({"L0.H1": "a", "L0.H0": "a", "L1.H1": "b", "L1.H0": "b"})
    assert score_against(found, REF, "hand", "run", "m+headperm1", perm).ari == 1.0
    mixed = _expl({"L0.H1": "a", "L1.H1": "a", "L0.H0": "b", "L1.H0": "b"})
    s = score_against(mixed, REF, "hand", "run", "m+headperm1", perm)
    assert s.mapped_back and s.model_matches and s.ari == pytest.approx(-0.5)


def test_judge_verdicts_missing_components_and_retry():
    descriptions = {"L0.H0": "does x", "L1.H0": "does y", "L1.H1": "something else"}
    good = json.dumps({"verdicts": [{"component": "L0.H0", "score": 2, "reason": "same"},
                                    {"component": "L1.H0", "score": 1, "reason": "partly"},
                                    {"component": "L1.H1", "score": 0, "reason": "different"}]})
    record = judge_descriptions(_fake("not json at all", good), REF, descriptions)
    assert [v.score for v in record.verdicts] == [2, 0, 1, 0]  # L0.H1 was not described: 0, not asked
    assert not record.verdicts[1].described and record.mean == pytest.approx(3 / 8)
    assert "not json at all" in record.raw and "x job" in record.prompt and "L0.H1" not in record.prompt
    with pytest.raises(JudgeError, match="no verdict for"):
        judge_descriptions(_fake(json.dumps({"verdicts": []})), REF, descriptions)


def test_shipped_ioi_reference():
    ref, source = resolve_reference("ioi-gpt2-small")
    assert source == "shipped:ioi-gpt2-small" and ref.model == "gpt2"
    assert ref.labels()["L9.H9"] == "name-mover" and ref.labels()["L11.H10"] == "negative-name-mover"
    assert len(ref.components) == 24 and sorted(c.name for c in ref.clusters)[0] == "backup-name-mover"
    planted, where = resolve_reference("planted-induction")  # shipped by engine.planted, found by name too
    assert where == "shipped:planted-induction" and planted.labels() == reference_from_truth(
        planted_truth("planted-induction")).labels()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A scripted run on the planted induction model, and its truth as a reference file."""
    tmp = tmp_path_factory.mktemp("replicate")
    url = f"sqlite:///{tmp / 'runs.db'}"
    ref = reference_from_truth(planted_truth("planted-induction"))
    path = tmp / "planted-induction.json"
    path.write_text(ref.model_dump_json())
    run = autointerp.explain(task="planted-induction", model="planted-induction", n=16, db=url, evaluate=False)
    return url, run, ref, path


def test_replicate_cli_on_a_planted_run(planted):
    url, run, ref, path = planted
    proc = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "replicate", run.run_id, "--reference",
                           str(path), "--db", url, "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)["run"]
    truth, found = set(ref.components), set(run.circuit)
    assert out["precision"] == pytest.approx(len(truth & found) / len(found))
    assert out["recall"] == pytest.approx(len(truth & found) / len(truth))
    assert out["ari"] is not None and out["assignment_accuracy"] is not None
    with open_store(url) as st:
        stored = list_evaluations(st, run.run_id, kind="replication")
    assert stored[-1]["scores"]["ari"] == out["ari"] and stored[-1]["params"]["reference"] == str(path)
    bad = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "replicate", run.run_id, "--reference",
                          "no-such-ref", "--db", url], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no shipped reference of that name" in bad.stderr


def test_replicate_with_fake_judge_and_blind_baseline_stores_verdicts(planted):
    url, run, ref, path = planted
    circuit = list(run.explanation["circuit"])
    # the judge rates every described reference component 2; the blind baseline puts everything in one role
    verdicts = json.dumps({"verdicts": [{"component": c, "score": 2, "reason": "ok"} for c in ref.components]})
    judge_chat = ToolCallingFake(responses=[AIMessage(verdicts)])
    blind_answer = json.dumps({"components": [{"id": c, "role": "all", "description": "guess", "evidence": []}
                                              for c in circuit],
                               "clusters": [{"name": "all", "description": "", "members": circuit}],
                               "summary": "a guess"})
    blind_chat = ToolCallingFake(responses=[AIMessage(blind_answer)])
    out = autointerp.replicate(run.run_id, str(path), judge="openai:judge-x", blind="openai:blind-x", db=url,
                               judge_chat_model=judge_chat, blind_chat_model=blind_chat)
    described = {c["id"] for c in run.explanation["components"]} & set(ref.components)
    assert out["run"]["judge_mean"] == pytest.approx(len(described) / len(ref.components))
    blind = out["baselines"]["blind"]
    assert blind["explainer"] == "blind"
    # one role for everything agrees with a two-role truth only by chance: ARI 0 on >= 2 shared heads
    shared = set(circuit) & set(ref.components)
    sizes = [sum(1 for c in shared if ref.labels()[c] == role) for role in {ref.labels()[c] for c in shared}]
    assert len(sizes) == 2  # the run found heads of both planted roles, so one role for all is a real guess
    assert blind["ari"] == pytest.approx(0.0) and blind["assignment_accuracy"] == pytest.approx(max(sizes) / len(shared))
    with open_store(url) as st:
        rows = {e["kind"]: e for e in list_evaluations(st, run.run_id)}
    assert rows["replication"]["params"]["judge"] == "openai:judge-x"
    assert verdicts in rows["replication"]["params"]["judge_raw"]
    assert "No experiment results are available" in rows["replication:blind"]["params"]["prompt"]
    assert rows["replication:blind"]["params"]["explanation"]["clusters"][0]["members"] == circuit
    # the blind prompt carries the component ids and no measurement
    assert "E1" not in rows["replication:blind"]["params"]["prompt"]


def test_eval_json_shows_replication_beside_intrinsic_scores(planted):
    url, run, _, path = planted
    autointerp.replicate(run.run_id, str(path), db=url)
    proc = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "eval", run.run_id, "--db", url, "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "interchangeability" in out and out["replication"][0]["explainer"] == "run"
    assert "memory" in out["replication"][0]["caveat"]
    assert out["process"]["tool_calls"] > 0
    text = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "replicate", run.run_id, "--reference",
                           str(path), "--db", url], capture_output=True, text=True, timeout=300).stdout
    assert "intrinsic  interchangeability silhouette" in text and "can come from memory" in text


def test_replicate_judge_without_a_key_is_one_sentence(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "replicate", "run-x", "--reference",
                           "ioi-gpt2-small", "--judge", "openai:gpt-4o", "--db", f"sqlite:///{tmp_path / 'x.db'}"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2 and "set OPENAI_API_KEY" in proc.stderr and "Traceback" not in proc.stderr
    scripted = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "replicate", "run-x", "--reference",
                               "ioi-gpt2-small", "--judge", "scripted", "--db", f"sqlite:///{tmp_path / 'x.db'}"],
                              capture_output=True, text=True, timeout=300, env=env)
    assert scripted.returncode == 2 and "is not an LLM provider" in scripted.stderr
