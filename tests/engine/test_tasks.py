"""Tasks: deterministic generation, validation that names the line, roles on the right tokens."""

from __future__ import annotations

import json

import pytest
import torch

from engine.catalog import PLANTED_MODELS
from engine.errors import TaskFormatError, UnknownTaskError
from engine.task_check import check_task
from engine.tasks import BUILTIN_TASKS, build_task, load_task, logit_diff

#: each built-in task with the model it is written for (a planted task runs only on its planted model)
TASK_MODELS = [
    pytest.param(name, name, marks=pytest.mark.planted) if name in PLANTED_MODELS else (name, "smollm2-135m")
    for name in BUILTIN_TASKS
]


@pytest.mark.parametrize(("name", "model"), TASK_MODELS)
def test_generation_is_seeded_and_deterministic(name, model, load):
    tokenizer = load(model).tokenizer
    a = build_task(name, tokenizer, n=10, seed=3)
    b = build_task(name, tokenizer, n=10, seed=3)
    c = build_task(name, tokenizer, n=10, seed=4)
    assert a.pairs == b.pairs and a.pairs != c.pairs


@pytest.mark.parametrize(("name", "model"), TASK_MODELS)
def test_roles_point_at_their_words(name, model, load):
    target = load(model)
    data = load_task(name, target, n=12)
    tok = target.tokenizer
    for bucket in data.buckets:
        assert bucket.clean.shape == bucket.corrupt.shape
        for row, index in enumerate(bucket.pair_index):
            pair = data.task.pairs[index]
            assert bucket.roles["END"][row] == bucket.seq_len - 1
            for role, char in pair.roles.items():
                token = tok.decode([int(bucket.clean[row, bucket.roles[role][row]])]).strip()
                word = pair.clean[char:].split()[0].strip(",.")
                assert word.startswith(token) and token, (name, role, token, word)


def test_ioi_roles_are_consistent(smollm):
    data = load_task("ioi", smollm, n=12)
    for bucket in data.buckets:
        io, s1, s2 = (bucket.clean[torch.arange(bucket.n), bucket.roles[r]] for r in ("IO", "S1", "S2"))
        assert torch.equal(io, bucket.answer) and torch.equal(s1, bucket.distractor)
        assert torch.equal(s1, s2) and not torch.any(io == s1)


def test_tiny_llama_gets_a_bos_token_and_roles_shift(load):
    llama, gpt2 = load("tiny-llama"), load("tiny-gpt2")
    a, b = load_task("ioi", llama, n=4), load_task("ioi", gpt2, n=4)
    assert torch.all(a.buckets[0].clean[:, 0] == llama.tokenizer.bos_token_id)
    assert a.buckets[0].seq_len == b.buckets[0].seq_len + 1
    assert torch.equal(a.buckets[0].roles["IO"], b.buckets[0].roles["IO"] + 1)


def test_logit_diff_reads_the_last_position():
    logits = torch.zeros(2, 3, 5)
    logits[0, -1, 1], logits[0, -1, 2] = 3.0, 1.0
    logits[1, -1, 4] = -2.0
    logits[:, 0, :] = 100.0  # earlier positions must not matter
    out = logit_diff(logits, torch.tensor([1, 4]), torch.tensor([2, 0]))
    assert out.tolist() == [2.0, -2.0]


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


GOOD = {
    "clean": "When Mary and John went to the store, John gave a drink to",
    "corrupt": "When Tom and Jack went to the store, Bob gave a drink to",
    "answer": " Mary",
    "distractor": " John",
}


def test_custom_jsonl_task_loads_and_adds_the_leading_space(tmp_path, smollm):
    path = write_jsonl(tmp_path / "ok.jsonl", [GOOD, {**GOOD, "answer": "Mary", "distractor": "John"}, ""])
    data = load_task(path, smollm)
    assert data.n_pairs == 2
    bucket = data.buckets[0]
    assert bucket.answer[0] == bucket.answer[1] and bucket.distractor[0] == bucket.distractor[1]


def test_jsonl_templates_group_the_mean_ablation(tmp_path, smollm):
    other = {**GOOD, "clean": "When Mary and John went to the park, John gave a ball to",
             "corrupt": "When Tom and Jack went to the park, Bob gave a ball to"}
    rows = [{**GOOD, "template": "store"}, {**other, "template": "park"}, {**GOOD, "template": "store"}, other]
    data = load_task(write_jsonl(tmp_path / "t.jsonl", rows), smollm)
    assert [p.template for p in data.task.pairs] == ["store", "park", "store", ""]
    (bucket,) = data.buckets
    assert bucket.templates.tolist() == [2, 1, 2, 0]  # "", "park", "store" sorted: the unnamed pair alone


@pytest.mark.parametrize(
    "row,message",
    [
        ({**GOOD, "template": 3}, "line 2 of bad.jsonl: template must be a string"),
        ({**GOOD, "answer": " Maryanne-Louise"}, r"line 2 of bad.jsonl: the answer .* tokens"),
        ({**GOOD, "corrupt": "When Tom and Jack went to the big store, Bob gave a drink to"},
         "line 2 of bad.jsonl: clean and corrupt prompts tokenise to different lengths"),
        ('{"clean": "x"', r"line 2 of bad.jsonl: invalid JSON"),
        ({"clean": "a", "corrupt": "b"}, "line 2 of bad.jsonl: missing key"),
        ({**GOOD, "distractor": " Mary"}, "line 2 of bad.jsonl: answer and distractor are the same token"),
    ],
)
def test_bad_jsonl_names_the_line(tmp_path, smollm, row, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [GOOD, row])
    with pytest.raises(TaskFormatError, match=message):
        load_task(path, smollm)


def test_unknown_task(smollm):
    with pytest.raises(UnknownTaskError, match="Unknown task 'nope'; use one of ioi"):
        load_task("nope", smollm)
    with pytest.raises(UnknownTaskError, match="does not exist"):
        load_task("missing.jsonl", smollm)


@pytest.mark.slow
def test_bundled_model_performs_every_builtin_task(smollm):
    """The numbers quoted in the README; thresholds well below the measured values."""
    ioi = check_task(smollm, load_task("ioi", smollm, n=24))
    assert ioi.clean_metric > 3 and abs(ioi.corrupt_metric) < 0.5 and ioi.accuracy > 0.9
    induction = check_task(smollm, load_task("induction", smollm, n=24))
    assert induction.clean_metric > 2 and induction.clean_metric - induction.corrupt_metric > 2
    for name in ("capitals", "antonyms"):
        result = check_task(smollm, load_task(name, smollm, n=20))
        assert result.accuracy > 0.9 and result.clean_metric > 3 and result.corrupt_metric < 0


@pytest.mark.planted
@pytest.mark.parametrize(("name", "first", "answer_at"), [("planted-induction", "A", "B"), ("planted-recall", "K", "V")])
def test_planted_roles_mark_the_mechanism(name, first, answer_at, load):
    """The answer's earlier occurrence is at B/V, right after the earlier occurrence (A/K) of the last token."""
    data = load_task(name, load(name), n=12)
    for bucket in data.buckets:
        rows = torch.arange(bucket.n)
        at = bucket.roles[answer_at]
        assert torch.equal(bucket.clean[rows, at], bucket.answer)
        assert torch.equal(bucket.roles[first] + 1, at)
        assert torch.equal(bucket.clean[rows, bucket.roles[first]], bucket.clean[:, -1])
        # the corrupt prompt loses the earlier occurrence of the last token, and keeps the last token
        assert not torch.any(bucket.corrupt[rows, bucket.roles[first]] == bucket.clean[:, -1])
        assert torch.equal(bucket.corrupt[:, -1], bucket.clean[:, -1])
