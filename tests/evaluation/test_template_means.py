"""Mean ablation averages within a template, over the bucket's and the reference draw's corrupt prompts.

Why it matters: two IOI templates of one token length put different words at
one position ("store" / "park"); a mean across them would erase the template's
words too. And a run's 2-3 corrupt prompts per template average to little more
than one resample, so built-in tasks carry a reference draw whose corrupt
prompts join the mean. The references re-encode the task's prompts, group rows
by the template *string* and average with a Python loop, sharing nothing with
``engine.ablation`` but the hooks that read activations.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine import runner
from engine.ablation import ablation_edits, corrupt_activations, template_means
from engine.hooks import trace
from engine.tasks import REFERENCE_PAIRS, REFERENCE_SEED, build_task, tokenize_for
from tests.evaluation.ablation_reference import mean_by_template, mean_prompts


def test_template_means_by_hand():
    acts = torch.tensor([[1.0, 2.0], [3.0, 6.0], [10.0, 20.0], [5.0, 4.0]]).unsqueeze(-1)  # [n=4, pos=2, 1]
    out = template_means(acts, torch.tensor([0, 1, 0, 1]))
    assert out[:, :, 0].tolist() == [[5.5, 11.0], [4.0, 5.0], [5.5, 11.0], [4.0, 5.0]]


@pytest.fixture(scope="module")
def llama(load):
    return load("tiny-llama")


def test_mean_ablation_averages_each_pair_within_its_template(llama):
    task = build_task("ioi", llama.tokenizer, n=24, seed=3)
    data = tokenize_for(task, llama)
    mixed = [b for b in data.buckets if len({task.pairs[i].template for i in b.pair_index}) > 1]
    assert mixed, "the test needs a bucket holding two templates of one token length"
    bucket = mixed[0]
    comp = "L1.MLP"
    prompts, names = mean_prompts(bucket, task, llama.tokenizer, llama.prepend_bos)
    assert len(names) >= bucket.n + 2 * len(set(names)), "the reference adds prompts to every template"
    with torch.no_grad(), trace(llama.adapter, read=[comp]) as cache:
        runner.forward(llama.adapter, prompts)
    expected = mean_by_template(cache[comp], names, bucket.n)
    corrupt = corrupt_activations(llama, bucket, [comp])[comp]
    edit = ablation_edits(llama, bucket, [comp], kind="mean")[comp]
    got = edit(torch.zeros_like(corrupt))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # not the bucket-wide mean: the templates differ at some position
    assert (got - corrupt.mean(dim=0, keepdim=True)).abs().max() > 1e-3
    # not the mean of the bucket's own prompts alone: the reference moved it
    own = torch.stack([corrupt[[j for j, other in enumerate(bucket.pair_index)
                                if task.pairs[other].template == task.pairs[i].template]].mean(dim=0)
                       for i in bucket.pair_index])
    assert (got - own).abs().max() > 1e-3


def test_pairs_naming_no_template_share_the_bucket_mean(llama):
    task = build_task("ioi", llama.tokenizer, n=12, seed=3)
    plain = dataclasses.replace(task, pairs=[dataclasses.replace(p, template="") for p in task.pairs], reference=[])
    bucket = tokenize_for(plain, llama).buckets[0]
    corrupt = corrupt_activations(llama, bucket, ["L0.H1"])["L0.H1"]
    got = ablation_edits(llama, bucket, ["L0.H1"], kind="mean")["L0.H1"](torch.zeros_like(corrupt))
    torch.testing.assert_close(got, corrupt.mean(dim=0, keepdim=True).expand_as(corrupt), rtol=1e-5, atol=1e-6)


def test_the_reference_is_a_separate_draw_and_a_jsonl_task_has_none(llama, tmp_path):
    task = build_task("ioi", llama.tokenizer, n=12, seed=3)
    assert len(task.reference) == REFERENCE_PAIRS and task.reference_seed == 3 + REFERENCE_SEED
    assert [p.clean for p in build_task("ioi", llama.tokenizer, n=12, seed=4).reference] != \
        [p.clean for p in task.reference]
    line = '{"clean": "When Mary and John went out, John gave it to", "corrupt": "When Anna and Tom went out, Dan ' \
        'gave it to", "answer": " Mary", "distractor": " John"}'
    path = tmp_path / "t.jsonl"
    path.write_text(line + "\n")
    bucket = tokenize_for(build_task(str(path), llama.tokenizer), llama).buckets[0]
    assert bucket.reference.shape == (0, bucket.seq_len)
