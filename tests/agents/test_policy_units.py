"""Unit tests of the scripted policy's pieces: threshold rule, hypothesis judges, roles, text."""

from __future__ import annotations

import re
from pathlib import Path

from agents.describe import describe_component
from agents.evidence import ComponentEvidence, Finding, HypothesisRecord, Measured
from agents.grouping import Signature, signature
from agents.nodes.localise import choose_circuit, order_components
from agents.nodes.synthesis import evidence_clusters
from agents.scripted import propose

AGENTS = Path(__file__).resolve().parents[2] / "agents"


def _ev(kind="head", exact=1.0, attn=None, dla=0.5, direct=0.8, down=None, copy=None, abl=0.9):
    ev = ComponentEvidence(kind=kind, scale=2.0, exact=Measured(value=exact, exp=1), dla=Measured(value=dla, exp=3),
                           path_logits=Measured(value=direct, exp=4), ablation=Measured(value=abl, exp=7))
    if attn is not None:
        ev.record("attention", attn, 2)
    if down is not None:
        ev.record("path_downstream", down, 5)
        ev.downstream = ["L5.H0"]
    if copy is not None:
        ev.record("copy_score", copy, 6)
    return ev


def test_threshold_rule_keeps_the_largest_and_explains_every_candidate():
    exact = {"L3.H1": -1.0, "L2.H0": -0.5, "L1.MLP": 0.3, "L0.H2": -0.1, "L0.H3": 0.05}
    atp = {**exact, "L2.H2": 0.01}
    circuit, reasons, threshold = choose_circuit(exact, atp, list(exact), {
        "threshold_frac": 0.2, "max_circuit": 3, "min_circuit": 2})
    assert threshold == 0.2
    assert circuit == ["L1.MLP", "L2.H0", "L3.H1"]
    assert reasons["L3.H1"].startswith("in:") and reasons["L0.H2"].startswith("out:")
    assert "attribution estimate" in reasons["L2.H2"]
    capped, reasons, _ = choose_circuit(exact, atp, list(exact), {"threshold_frac": 0.05, "max_circuit": 2, "min_circuit": 1})
    assert capped == ["L2.H0", "L3.H1"] and "capped" in reasons["L1.MLP"]
    assert order_components(["L10.H1", "L2.MLP", "L2.H3"]) == ["L2.H3", "L2.MLP", "L10.H1"]


def test_hypotheses_are_judged_by_the_measured_numbers():
    direct = _ev(attn={"IO": 0.7, "END": 0.3}, direct=0.9, down=0.05, copy=2.0)
    tokens = {"IO": "answer", "S": "distractor"}
    hyps = {h.key: h for h in propose("L3.H1", direct, ["L5.H0"], tokens)}
    assert 3 <= len(hyps) <= 5 and "IO" in hyps["copy"].text
    verdicts = {k: h.judge(direct)[0] for k, h in hyps.items()}
    assert verdicts == {"direct": "supported", "indirect": "refuted", "copy": "supported",
                        "suppress": "refuted", "structural": "inconclusive"}  # not yet measured
    direct.record("attention_corrupt", {"IO": 0.1}, 9)
    assert hyps["structural"].judge(direct)[0] == "refuted"
    indirect = _ev(direct=0.05, down=0.7, abl=0.3, attn={"S": 0.9})
    verdicts = {h.key: h.judge(indirect)[0] for h in propose("L1.H0", indirect, [], tokens)}
    assert verdicts["direct"] == "refuted" and verdicts["necessary"] == "inconclusive"
    assert verdicts["copy"] == "inconclusive"
    untestable = {h.key for h in propose("L1.H0", _ev(attn={"END": 0.9}), [], tokens)}
    assert untestable == {"direct", "structural", "necessary"}  # END's token is neither answer nor distractor
    diffuse = {h.key for h in propose("L1.H0", _ev(attn={"END": 0.2, "S": 0.2}), [], tokens)}
    assert diffuse == {"direct", "polarity", "necessary"}
    mlp = {h.key for h in propose("L1.MLP", _ev(kind="mlp"), [], tokens)}
    assert mlp == {"direct", "polarity", "necessary"}


def test_roles_separate_different_signatures():
    findings = {}
    for i in range(3):
        findings[f"L9.H{i}"] = Finding(description="", evidence=_ev(attn={"A": 0.8, "B": 0.1, "END": 0.1},
                                                                     direct=0.9, copy=2.0))
        findings[f"L5.H{i}"] = Finding(description="", evidence=_ev(attn={"A": 0.05, "B": 0.85, "END": 0.1},
                                                                     direct=0.02, down=0.8, copy=-0.1))
    clusters = evidence_clusters(findings)
    groups = sorted(sorted(c.members) for c in clusters)
    assert groups == [["L5.H0", "L5.H1", "L5.H2"], ["L9.H0", "L9.H1", "L9.H2"]]
    names = {c.name for c in clusters}
    assert names == {"answer-promoting heads writing directly to the logits",
                     "answer-promoting heads acting through later components"}
    assert all(re.search(r"\[E\d+", c.description) for c in clusters)


def test_the_grouping_rule_reads_the_signature_by_hand():
    # exact 1.0, 0.8 of it straight to the logits: direct
    ev = _ev(attn={"A": 0.62, "B": 0.3, "END": 0.08}, down=0.1)
    assert signature(ev) == Signature(kind="head", polarity="answer-promoting", pathway="direct")
    # opposing, a tenth of the effect straight to the logits: indirect (attention is described, not grouped on)
    ev = _ev(exact=-1.0, attn={"A": 0.25, "B": 0.25, "END": 0.2}, direct=-0.1, down=0.05)
    assert signature(ev) == Signature(kind="head", polarity="answer-opposing", pathway="indirect")
    assert signature(_ev(kind="mlp", direct=0.5)).pathway == "direct"  # exactly half counts as direct
    # the same evidence always gives the same roles, whatever the order the components come in
    findings = {f"L{i}.H0": Finding(description="", evidence=_ev(attn={"A": 0.8}, exact=1.0 + i, direct=0.8 * (1 + i)))
                for i in range(4)}
    findings["L2.H1"] = Finding(description="", evidence=_ev(attn={"B": 0.8}, direct=0.1, down=0.9))
    forward = {c.name: sorted(c.members) for c in evidence_clusters(findings)}
    backward = {c.name: sorted(c.members) for c in evidence_clusters(dict(reversed(list(findings.items()))))}
    assert forward == backward
    single = [c for c in evidence_clusters(findings) if c.members == ["L2.H1"]][0]
    assert "only studied component with this signature" in single.description


def test_descriptions_cite_the_experiments_they_state():
    ev = _ev(attn={"A": 0.6, "END": 0.4}, down=0.1, copy=1.2)
    hyps = [HypothesisRecord(text="it copies", status="supported", evidence=[6])]
    out = describe_component("L3.H1", ev, hyps)
    assert out.evidence_ids == [1, 2, 3, 4, 5, 6, 7]
    for sentence in out.description.split(". ")[2:]:
        if any(ch.isdigit() for ch in sentence):
            assert "[E" in sentence, sentence


def test_no_task_specific_answers_in_the_agent():
    banned = re.compile(r"name.?mover|s.?inhibition|induction head|duplicate.?token|previous.?token|"
                        r"backup|negative name|L\d+\.H\d+ is", re.IGNORECASE)
    for path in AGENTS.rglob("*.py"):
        text = path.read_text()
        assert not banned.search(text), f"{path.name}: {banned.search(text).group(0)}"


def test_a_redundant_component_is_judged_by_noising_and_denoising_together():
    # removing it costs nothing (its twins cover for it; the noising sign is noise), adding it restores 2.0
    ev = _ev(exact=-0.02, direct=0.0, down=0.0)
    ev.record("restore", 2.0, 8)
    assert signature(ev).polarity == "answer-promoting"
    assert signature(_ev(exact=-0.02, direct=0.0, down=0.0)).polarity == "answer-opposing"  # noising alone
    ev.record("restore", -1.0, 8)  # both directions push away from the answer
    assert signature(ev).polarity == "answer-opposing"
