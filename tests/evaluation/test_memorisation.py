"""The memorisation control can fail: an LLM that recites a circuit by literal ids fails it.

The reciting fake chat model chooses the same literal head ids, roles and
descriptions on the original and on the head-permuted model, whatever the
localisation showed it; the control must fail it without ``--circuit``. An
LLM stand-in that answers only from what the run showed it passes, and so
does the scripted agent (tests/evaluation/test_eval_run.py; IOI on the
bundled model in tests/agents/test_bundled_ioi.py, slow).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

import autointerp
from agents.evaluate_run import evaluate_stored_run
from agents.memorisation import disguise_verdict, similarity, verdict
from agents.nodes.choose import validate_choice
from autointerp.cli.scores import disguise_line
from engine.evaluation.permutation import permutation_consistency, permute_heads
from store import load_run_for_audit, open_store
from tests.agents.fakes import ToolCallingFake

MODEL, TASK, SEED = "tiny-llama", "ioi", 3


def _recited(mapping: dict[str, str]) -> list[str]:
    """Two moved heads whose images are outside the pair (so reciting them cannot hit an image by luck)."""
    moved = [h for h, image in mapping.items() if image != h]
    for a in moved:
        for b in moved:
            if a < b and {mapping[a], mapping[b]}.isdisjoint({a, b}):
                return sorted([a, b])
    raise AssertionError("the permutation moves too few heads for this test")


def _reciter(heads: list[str]) -> ToolCallingFake:
    """Chooses ``heads``, describes each from memory with no experiment, groups them into fixed roles."""
    turns = [AIMessage(json.dumps({"circuit": heads, "reason": "these are the name mover heads I know"}))]
    turns += [AIMessage(f"Name mover head: attends to the indirect object and copies its name ({i}).")
              for i, _ in enumerate(heads)]
    turns.append(AIMessage(json.dumps({"clusters": [
        {"name": "name movers", "description": "copy the IO name", "members": heads[:1]},
        {"name": "backup name movers", "description": "back up the name movers", "members": heads[1:]}]})))
    turns.append(AIMessage("The name movers copy the indirect object."))
    return ToolCallingFake(responses=turns)


def test_validate_choice_checks_the_model_shape():
    assert validate_choice(["L1.H0", "L0.MLP"], 2, 4, 5) == ["L0.MLP", "L1.H0"]
    for bad, why in ((["L2.H0"], "not an attention head"), (["L0.H4"], "not an attention head"),
                     ([], "non-empty"), (["x"], None), (["L0.H0"] * 6, "at most 5")):
        with pytest.raises(ValueError, match=why):
            validate_choice(bad, 2, 4, 5)


def test_description_rule_needs_the_matching_component():
    # hand-made: the permuted run swaps the two descriptions between the images -> similar text, wrong component
    mapping = {"L0.H0": "L0.H1", "L0.H1": "L0.H0"}
    a, b = "attends to the previous token and copies it", "writes the answer name to the logits directly"
    assert similarity("L0.H1 attends [E3]", "L0.H0 attends [E9]") == 1.0  # ids are not evidence of anything
    circuit = permutation_consistency(["L0.H0", "L0.H1"], ["L0.H1", "L0.H0"], mapping)
    same = verdict(circuit, mapping, {"L0.H0": "p", "L0.H1": "q"}, {"L0.H1": "p", "L0.H0": "q"},
                   {"L0.H0": a, "L0.H1": b}, {"L0.H1": a, "L0.H0": b})
    swapped = verdict(circuit, mapping, {"L0.H0": "p", "L0.H1": "q"}, {"L0.H1": "p", "L0.H0": "q"},
                      {"L0.H0": a, "L0.H1": b}, {"L0.H1": b, "L0.H0": a})
    assert same.descriptions_ok and same.passed and same.description_similarity == 1.0
    assert not swapped.descriptions_ok and not swapped.passed and swapped.description_null == 1.0


def test_reciting_llm_fails_the_control_without_circuit(tmp_path, load):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _, mapping = permute_heads(load(MODEL), seed=SEED)
    heads = _recited(mapping)
    original = autointerp.explain(task=TASK, model=MODEL, agent="openai:reciter", n=8, db=url, evaluate=False,
                                  chat_model=_reciter(heads))
    permuted = autointerp.explain(task=TASK, model=MODEL, agent="openai:reciter", n=8, db=url, evaluate=False,
                                  permute_heads=SEED, chat_model=_reciter(heads))
    # the LLM chose its circuit (no --circuit): the literal ids, on both models
    assert original.circuit == permuted.circuit == heads
    with open_store(url) as st:
        audit = load_run_for_audit(st, permuted.run_id)
        perm = evaluate_stored_run(st, permuted.run_id)["permutation"]
    assert any(m["content"].startswith("The LLM chose") for m in audit["messages"])
    assert perm["original_run"] == original.run_id
    assert perm["literal_matches"] == 1.0 and perm["mapped_matches"] == 0.0
    assert not perm["circuit_ok"] and not perm["passed"]
    # with no image reported, neither roles nor descriptions can be compared: they cannot pass either
    assert perm["ari"] is None and perm["description_similarity"] is None


class EvidenceFollower(ToolCallingFake):
    """An LLM stand-in that answers only from what the run showed it (no memory of any paper).

    It keeps the threshold rule's components, describes each by the exact effect the brief reports, groups
    them by the sign of that effect and writes a one-line explanation.
    """

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        text = str(messages[-1].content)
        if "A threshold rule keeps:" in text:
            kept = text.split("A threshold rule keeps:")[1].split("\n")[0].strip().rstrip(".").split(", ")
            answer = json.dumps({"circuit": kept, "reason": "the threshold rule's components"})
        elif "Component to study now:" in text:
            evidence = json.loads(text.split("Localisation evidence:")[1].split("\n")[0])
            effect = evidence["exact_effect"]
            answer = (f"Patching it moves the metric by {effect:+.2f}, so it "
                      f"{'raises' if effect > 0 else 'lowers'} the answer's logit difference.")
        elif '"clusters"' in text:
            lines = [ln[2:] for ln in text.splitlines() if ln.startswith("- L")]
            ups = [ln.split(":")[0] for ln in lines if "raises" in ln]
            downs = [ln.split(":")[0] for ln in lines if "raises" not in ln]
            answer = json.dumps({"clusters": [
                {"name": name, "description": name, "members": members}
                for name, members in (("raisers", ups), ("lowerers", downs)) if members]})
        else:
            answer = "Some components raise the logit difference and some lower it."
        message = AIMessage(answer, usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15})
        return ChatResult(generations=[ChatGeneration(message=message)])


def test_an_llm_that_follows_the_evidence_passes_the_control(tmp_path, load):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    original = autointerp.explain(task=TASK, model=MODEL, agent="openai:follower", n=8, db=url, evaluate=False,
                                  chat_model=EvidenceFollower(responses=[AIMessage("")]))
    permuted = autointerp.explain(task=TASK, model=MODEL, agent="openai:follower", n=8, db=url, evaluate=False,
                                  permute_heads=SEED, chat_model=EvidenceFollower(responses=[AIMessage("")]))
    with open_store(url) as st:
        perm = evaluate_stored_run(st, permuted.run_id)["permutation"]
    assert perm["original_run"] == original.run_id
    assert perm["n_moved"] > 0 and perm["mapped_matches"] == 1.0 and not perm["literal_matches"]
    assert perm["ari"] == 1.0 and perm["description_similarity"] > perm["description_null"]
    assert perm["passed"]


PLANTED = "planted-recall"
RECITED = ["L0.H1", "L1.H5"]  # the planted model's decoy heads: outside its circuit by construction


class RecognisingReciter(EvidenceFollower):
    """Recites a remembered circuit when it recognises the task by its name; follows the evidence otherwise.

    On the plain task it reads "associative recall" in its prompt and answers from memory (the decoy heads, one
    remembered role each); on the disguised task nothing names the task, so it can only follow the evidence.
    """

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        if "associative recall" not in " ".join(str(m.content) for m in messages):
            return super()._generate(messages, stop, run_manager, **kwargs)
        text = str(messages[-1].content)
        if "A threshold rule keeps:" in text:
            answer = json.dumps({"circuit": RECITED, "reason": "the retrieval heads I remember"})
        elif "Component to study now:" in text:
            answer = "A retrieval head: it attends to the stored value and copies it, as I remember."
        elif '"clusters"' in text:
            answer = json.dumps({"clusters": [{"name": "retrieval", "description": "copy the value",
                                               "members": RECITED}]})
        else:
            answer = "The retrieval heads copy the stored value."
        message = AIMessage(answer, usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15})
        return ChatResult(generations=[ChatGeneration(message=message)])


def _disguise_check(url: str, agent: str, make_llm) -> tuple[Any, Any, dict[str, Any]]:
    kwargs = {"task": PLANTED, "model": PLANTED, "agent": agent, "n": 16, "db": url, "evaluate": False}
    plain = autointerp.explain(**kwargs, chat_model=make_llm())
    disguised = autointerp.explain(**kwargs, disguise=4, chat_model=make_llm())
    with open_store(url) as st:
        check = evaluate_stored_run(st, disguised.run_id)["disguise"]
    assert check["original_run"] == plain.run_id
    # the renaming keeps the behaviour, so the comparison is about the agent, not a broken task
    assert check["applicable"] and check["behaviour_kept"] >= 0.5
    return plain, disguised, check


@pytest.mark.planted
def test_a_reciting_llm_fails_the_disguised_task_check(tmp_path):
    plain, disguised, check = _disguise_check(f"sqlite:///{tmp_path / 'runs.db'}", "openai:reciter",
                                              lambda: RecognisingReciter(responses=[AIMessage("")]))
    assert plain.circuit == RECITED and not set(RECITED) & set(disguised.circuit)
    assert check["circuit_recall"] == 0.0 and not check["circuit_ok"] and not check["passed"]


@pytest.mark.planted
def test_the_scripted_agent_passes_the_disguised_task_check(tmp_path):
    """The scripted agent's findings survive the renaming (its roles come from a fixed rule over noising,
    denoising and path patching). A naive LLM stand-in that groups by the sign of one noisy effect does not
    always: on 16 pairs a redundant head's small effect can change sign between the two prompt sets, and the
    check cannot tell that instability from recitation -- it fails both."""
    _, _, check = _disguise_check(f"sqlite:///{tmp_path / 'runs.db'}", "scripted", lambda: None)
    assert check["circuit_recall"] >= 0.9 and check["circuit_precision"] >= 0.9
    assert check["ari"] >= 0.5 and check["description_similarity"] > check["description_null"]
    assert check["passed"]


def test_a_disguise_that_loses_the_behaviour_neither_passes_nor_fails():
    roles = {"L0.H0": "a", "L0.H1": "b"}
    texts = {"L0.H0": "attends to the previous token and copies it", "L0.H1": "writes the answer to the logits"}
    kept = disguise_verdict(list(roles), list(roles), 10, roles, roles, texts, texts, behaviour_kept=0.9)
    lost = disguise_verdict(list(roles), list(roles), 10, roles, roles, texts, texts, behaviour_kept=0.3)
    assert kept.passed is True and kept.applicable
    assert lost.passed is None and not lost.applicable and lost.circuit_ok and lost.roles_ok
    assert disguise_line({**lost.model_dump(), "original_run": "run-a"}).endswith("-> not applicable")
