"""Disguised tasks: entities renamed (roles carried with them), identity hidden, refused where unsafe."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from agents.session import ExplainConfig, check_stored_disguise, task_disguise
from engine.errors import AutointerpError, TaskFormatError
from engine.tasks import Pair, Task, build_task, tokenize_for
from engine.tasks.disguise import DISGUISED_NAME, NOUNS, Disguise, disguise_task, make_disguise
from engine.tasks.induction import WORDS
from engine.tasks.ioi import NAMES


def test_a_hand_made_pair_is_renamed_with_its_role_offsets():
    clean = "When Ann and Bob met, Bob waved to"
    pair = Pair(clean, "When Cy and Di met, Ed waved to", " Ann", " Bob",
                {"IO": clean.index("Ann"), "S2": clean.rindex("Bob"), "W": clean.index("waved")}, origin="p1")
    task = Task("toy", "a toy", [pair], ("IO", "S2", "W"), entities=("Ann", "Bob", "Cy", "Di", "Ed"))
    disguise = Disguise(seed=0, words={"Ann": "Apple", "Bob": "Ox", "Cy": "Cat", "Di": "Dog", "Ed": "Eel"},
                        roles={"IO": "R1", "S2": "R2", "W": "R3"})
    out = disguise_task(task, disguise)
    new = out.pairs[0]
    # hand-computed: "When Apple and Ox met, Ox waved to"; Apple at 5, the second Ox at 23, "waved" at 26
    assert new.clean == "When Apple and Ox met, Ox waved to"
    assert new.corrupt == "When Cat and Dog met, Eel waved to"
    assert (new.answer, new.distractor) == (" Apple", " Ox")
    assert new.roles == {"R1": 5, "R2": 23, "R3": 26}
    assert new.clean[5:10] == "Apple" and new.clean[23:25] == "Ox" and new.clean[26:31] == "waved"
    assert (out.name, out.role_names, out.entities) == (DISGUISED_NAME, ("R1", "R2", "R3"),
                                                        ("Apple", "Ox", "Cat", "Dog", "Eel"))
    assert "toy" not in out.description
    # whole words only, and the reading back undoes names and role names
    assert disguise.reveal("R1 attends to Apple, not Oxen; R2 is Ox") == "IO attends to Ann, not Oxen; S2 is Bob"


def test_the_image_nouns_are_no_task_entity():
    nouns = set(NOUNS) | {n.capitalize() for n in NOUNS}
    assert not nouns & (set(NAMES) | set(WORDS)) and len(set(NOUNS)) == len(NOUNS)


def test_ioi_is_disguised_as_nouns_that_keep_every_role_position(load):
    target = load("tiny-llama")
    task = build_task("ioi", target.tokenizer, n=12, seed=1)
    disguise = make_disguise(task, target.tokenizer, seed=5)
    assert disguise == make_disguise(build_task("ioi", target.tokenizer, n=3, seed=9), target.tokenizer, seed=5)
    assert disguise.words != make_disguise(task, target.tokenizer, seed=6).words
    images = list(disguise.words.values())
    assert len(set(images)) == len(images) == len(task.entities)
    assert all(image.lower() in NOUNS and image[0].isupper() for image in images)
    plain, hidden = tokenize_for(task, target), tokenize_for(disguise_task(task, disguise), target)
    assert [b.pair_index for b in plain.buckets] == [b.pair_index for b in hidden.buckets]
    decode = target.tokenizer.decode
    for before, after in zip(plain.buckets, hidden.buckets, strict=True):
        for role, neutral in (("IO", "R1"), ("S1", "R2"), ("S2", "R3"), ("END", "END")):
            for row in range(before.n):
                was = decode([int(before.clean[row, int(before.roles[role][row])])]).strip()
                now = decode([int(after.clean[row, int(after.roles[neutral][row])])]).strip()
                assert now == disguise.words.get(was, was)
        assert [decode([int(t)]).strip() for t in after.answer] == \
            [disguise.words[decode([int(t)]).strip()] for t in before.answer]
        # the mean-ablation reference is renamed too: no real name reaches the disguised run's means
        assert after.reference.shape == before.reference.shape and before.reference.shape[0] > 0
        real = {w for w in disguise.words}
        assert not {decode([int(t)]).strip() for t in after.reference.flatten()} & real
        assert {decode([int(t)]).strip() for t in before.reference.flatten()} & real


def test_a_vocabulary_without_nouns_is_permuted_without_fixed_points():
    class Letters:  # a tokenizer that knows only t0..t9 (like a planted model's)
        def __call__(self, text, add_special_tokens=False):
            return type("Enc", (), {"input_ids": [1] if text.strip() in {f"t{i}" for i in range(10)} else [1, 2]})

        def decode(self, ids):
            return "t0"

    task = Task("toks", "", [], (), entities=tuple(f"t{i}" for i in range(10)))
    disguise = make_disguise(task, Letters(), seed=3)
    words = disguise.words
    assert sorted(words.values()) == sorted(words) and all(k != v for k, v in words.items())
    assert disguise.mode == "permutation"


def test_a_task_without_entities_is_refused(load):
    target = load("tiny-llama")
    with pytest.raises(TaskFormatError, match="cannot be disguised"):
        make_disguise(build_task("capitals", target.tokenizer, n=4), target.tokenizer, seed=0)


@pytest.mark.parametrize("extra, message", [
    (("--task", "capitals", "--disguise", "0"), "cannot be disguised"),
    (("--task", "ioi", "--disguise", "0", "--permute-heads", "1"), "not both"),
])
def test_the_cli_refuses_in_one_sentence(tmp_path, extra, message):
    proc = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "explain", "--model", "tiny-llama", *extra,
                           "--db", f"sqlite:///{tmp_path / 'r.db'}", "--no-eval"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_the_mode_is_recorded_and_a_changed_stored_disguise_is_refused(load):
    target = load("tiny-llama")
    config = ExplainConfig(task="ioi", model="tiny-llama", disguise=2)
    disguise = task_disguise(config, target.tokenizer)
    assert disguise is not None and disguise.mode == "nouns" and disguise.to_json()["mode"] == "nouns"
    run = SimpleNamespace(id="run-x", meta={"disguise": disguise.to_json()})
    check_stored_disguise(run, config, target.tokenizer)  # the same disguise: accepted
    tampered = {**disguise.to_json(), "words": {**disguise.words, "Mary": "Zebra"}}
    with pytest.raises(AutointerpError, match="disguised differently"):
        check_stored_disguise(SimpleNamespace(id="run-x", meta={"disguise": tampered}), config, target.tokenizer)
