"""Mean ablation averages within a template: checked against a hand loop over the pairs' own templates.

Why it matters: two IOI templates of one token length put different words at
one position ("store" / "park"); a mean across them would erase the template's
words too. The reference groups rows by the template *string* of each pair and
averages the corrupt activations with a Python loop, sharing nothing with
``engine.ablation.template_means`` but the cached activations.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.ablation import ablation_edits, corrupt_activations, template_means
from engine.tasks import build_task, tokenize_for


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
    corrupt = corrupt_activations(llama, bucket, [comp])[comp]
    expected = torch.stack([
        corrupt[[j for j, other in enumerate(bucket.pair_index)
                 if task.pairs[other].template == task.pairs[i].template]].mean(dim=0)
        for i in bucket.pair_index
    ])
    edit = ablation_edits(llama, bucket, [comp], kind="mean")[comp]
    got = edit(torch.zeros_like(corrupt))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # not the bucket-wide mean: the templates differ at some position
    assert (got - corrupt.mean(dim=0, keepdim=True)).abs().max() > 1e-3


def test_pairs_naming_no_template_share_the_bucket_mean(llama):
    task = build_task("ioi", llama.tokenizer, n=12, seed=3)
    plain = dataclasses.replace(task, pairs=[dataclasses.replace(p, template="") for p in task.pairs])
    bucket = tokenize_for(plain, llama).buckets[0]
    corrupt = corrupt_activations(llama, bucket, ["L0.H1"])["L0.H1"]
    got = ablation_edits(llama, bucket, ["L0.H1"], kind="mean")["L0.H1"](torch.zeros_like(corrupt))
    torch.testing.assert_close(got, corrupt.mean(dim=0, keepdim=True).expand_as(corrupt), rtol=1e-5, atol=1e-6)
