"""Role evidence with known answers: where a component acts and which input of later heads it changes.

Position: patching a component's output at one task role's position only says which query position its
effect is computed at. In the planted induction model the previous-token heads act at B (the token after
the first A: they write "my previous token is A" there) and the induction heads at END; in the recall
model the previous-token heads act at the stored values V and the retrieval heads at END.

Composition (Q-, K- or V-): the planted induction and recall models are built so that previous-token heads in layer 0 feed the
layer-1 heads' *keys* (an induction head looks for the position whose previous token is its current
token; a retrieval head for the value stored after its query key): the scripted agent's composition
hypotheses must find K-composition for every layer-0 head whose path through later circuit heads promotes
the answer. (A head can also hurt through another input: in planted-recall L0.H0's joint path is negative,
+0.14 through the keys and -0.24 through the values, and the agent reports V-composition for it.)
"""

from __future__ import annotations

import pytest

import autointerp
from agents.describe import acts_at, claimed_positions
from agents.evidence import ComponentEvidence, Measured
from agents.signatures import composition
from engine.evaluation.position_faithfulness import position_faithfulness
from engine.models import load_model
from engine.tasks import load_task


def test_stated_positions_are_the_fewest_roles_carrying_four_fifths():
    ev = ComponentEvidence(kind="head", scale=4.0)
    ev.record("exact", 1.0, 1)
    for role, value in (("IO", 0.5), ("S2", 0.35), ("END", 0.1), ("S1", -0.2)):
        ev.at_position[role] = Measured(value=value, exp=2)
    assert claimed_positions(ev) == ["IO", "S2"]  # 0.5 + 0.35 >= 0.8
    ev.at_position["S2"] = Measured(value=0.2, exp=2)
    assert claimed_positions(ev) == ["IO", "S2", "END"]  # 0.5 + 0.2 + 0.1 = 0.8 exactly (0.7999... in floats)
    ev.at_position["END"] = Measured(value=0.05, exp=2)
    assert claimed_positions(ev) is None  # 0.5 + 0.2 + 0.05: no set of positive shares reaches 0.8
    ev.at_position["END"] = Measured(value=0.95, exp=2)
    assert claimed_positions(ev) == ["END"]
    ev.record("exact", 0.001, 1)  # under 1% of the gap: shares mean nothing
    assert claimed_positions(ev) is None


def test_shares_count_only_paths_that_push_the_joint_path_s_way():
    ev = ComponentEvidence(kind="head")
    ev.record("path_downstream", 1.0, 1)
    for name, value in (("path_q", -0.2), ("path_k", 0.6), ("path_v", 0.2)):
        ev.record(name, value, 2)
    assert composition(ev) == pytest.approx({"q": 0.0, "k": 0.75, "v": 0.25})  # 0.6 / 0.8, 0.2 / 0.8
    ev.record("path_downstream", -1.0, 1)
    assert composition(ev) == pytest.approx({"q": 1.0, "k": 0.0, "v": 0.0})
    ev.record("path_v", None, 3)
    assert composition(ev) is None
    # a tiny path pushing the joint path's way is not "the" input when the others push against it
    ev.record("path_downstream", -0.5, 1)
    for name, value in (("path_q", 0.4), ("path_k", 0.0), ("path_v", -0.001)):
        ev.record(name, value, 2)
    assert composition(ev) is None


@pytest.fixture(scope="module")
def planted_runs(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('planted') / 'runs.db'}"
    return {name: autointerp.explain(task=name, model=name, n=16, db=url, evaluate=False)
            for name in ("planted-induction", "planted-recall")}


@pytest.mark.planted
@pytest.mark.parametrize("name, previous_token_position", [("planted-induction", "B"), ("planted-recall", "V")])
def test_each_head_acts_at_the_position_its_mechanism_uses(planted_runs, name, previous_token_position):
    run = planted_runs[name]
    evidence = {cid: ComponentEvidence.model_validate(f["evidence"]) for cid, f in run.findings.items()}
    late = [cid for cid in evidence if cid.startswith("L1.")]
    early = [cid for cid in evidence if cid.startswith("L0.") and evidence[cid].number("exact") > 0]
    assert len(late) >= 3 and len(early) >= 3
    assert all((at := acts_at(evidence[cid])) is not None and at[0] == "END" for cid in late)
    found = [cid for cid in early if (at := acts_at(evidence[cid])) is not None and at[0] == previous_token_position]
    assert len(found) >= len(early) - 1, {cid: evidence[cid].position_shares() for cid in early}
    roles = " ".join(r["description"] for r in run.explanation["clusters"])
    assert f"{found[0]} spreads its attention" in roles and f"acting at {previous_token_position}" in roles


@pytest.mark.planted
@pytest.mark.parametrize("name", ["planted-induction", "planted-recall"])
def test_previous_token_heads_compose_with_the_keys(planted_runs, name):
    run = planted_runs[name]
    composing = {}
    for cid, finding in run.findings.items():
        verdicts = {h["key"]: h["status"] for h in finding["hypotheses"]}
        promotes = ((finding["evidence"] or {}).get("path_downstream") or {}).get("value") or 0.0
        if verdicts.get("indirect") == "supported" and promotes > 0:
            composing[cid] = verdicts
    assert len(composing) >= 3 and all(cid.startswith("L0.") for cid in composing)
    for cid, verdicts in composing.items():
        assert verdicts["k-composition"] == "supported", (cid, verdicts)
        assert verdicts["q-composition"] != "supported" and verdicts["v-composition"] != "supported"
        assert "acting through the later circuit heads' keys" in run.findings[cid]["description"]


@pytest.mark.planted
def test_members_kept_only_at_their_stated_positions_carry_the_behaviour(planted_runs):
    run = planted_runs["planted-induction"]
    stated = {c["id"]: c["positions"] for c in run.explanation["components"] if c["part"] == "core"}
    assert all(stated[c] == ["END"] for c in stated if c.startswith("L1."))
    assert sum(stated[c] == ["B"] for c in stated if c.startswith("L0.")) >= 3
    target = load_model("planted-induction")
    fresh = load_task("planted-induction", target, n=16, seed=11)  # prompts the run never saw
    out = position_faithfulness(target, fresh, stated)
    assert out["restricted"] == len(stated)
    assert out["normalized"] >= 0.9 * out["all_positions"] and out["all_positions"] > 0.8
    assert out["elsewhere"] < 0.5 * out["normalized"]  # the same members at other positions carry far less
