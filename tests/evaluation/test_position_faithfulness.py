"""Members kept only at their roles' positions: checked against a plain-hook loop written from the definition.

The reference computes each component's template mean by hand (``mean_by_template``)
and writes the kept positions row by row from the pairs' role offsets; it shares
no code with ``engine.evaluation.position_faithfulness`` but the hook registry.
"""

from __future__ import annotations

import pytest
import torch

from engine import runner
from engine.evaluation.position_faithfulness import position_faithfulness
from engine.hooks import trace
from engine.tasks import load_task, logit_diff
from tests.evaluation.ablation_reference import (
    every_component,
    mean_by_template,
    mean_prompts,
    plain_metric,
)


@pytest.fixture(scope="module")
def llama(load):
    return load("tiny-llama")


@torch.no_grad()
def _reference_metric(target, data, keep: dict[str, list[str] | None]) -> float:
    universe = every_component(target)
    total = 0.0
    for bucket in data.buckets:
        prompts, names = mean_prompts(bucket, data.task, target.tokenizer, target.prepend_bos)
        with trace(target.adapter, read=universe) as acts:
            runner.forward(target.adapter, prompts)
        edits = {}
        for cid in universe:
            mean = mean_by_template(acts[cid], names, bucket.n)

            def edit(current, cid=cid, mean=mean, bucket=bucket):
                out = mean.clone()
                if cid in keep:
                    for row in range(bucket.n):
                        if keep[cid] is None:
                            out[row] = current[row]
                            continue
                        for role in keep[cid]:
                            pos = int(bucket.roles[role][row])
                            out[row, pos] = current[row, pos]
                return out

            edits[cid] = edit
        with trace(target.adapter, edit=edits):
            logits = runner.forward(target.adapter, bucket.clean)
        total += float(logit_diff(logits, bucket.answer, bucket.distractor).sum())
    return total / data.n_pairs


def test_positional_faithfulness_matches_a_plain_hook_loop(llama):
    data = load_task("ioi", llama, n=12)
    keep = {"L2.H1": ["END"], "L1.H0": ["S2", "END"], "L0.MLP": None, "L1.MLP": ["IO", "S1", "S2"]}
    out = position_faithfulness(llama, data, keep)
    full, empty = plain_metric(llama, data, []), plain_metric(llama, data, every_component(llama))
    expected = (_reference_metric(llama, data, keep) - empty) / (full - empty)
    assert out["normalized"] == pytest.approx(expected, abs=1e-4)
    everywhere = {c: None for c in keep}
    assert out["all_positions"] == pytest.approx(
        (_reference_metric(llama, data, everywhere) - empty) / (full - empty), abs=1e-4)
    assert abs(out["normalized"] - out["all_positions"]) > 1e-3  # the restriction is not a no-op here
    assert out["restricted"] == 3 and out["controlled"] == 3 and out["kept"]["L2.H1"] == ["END"]
    # the control: each restricted member at as many roles it does not name, first in task order
    moved = {"L2.H1": ["IO"], "L1.H0": ["IO", "S1"], "L0.MLP": None, "L1.MLP": ["END"]}
    assert out["elsewhere"] == pytest.approx((_reference_metric(llama, data, moved) - empty) / (full - empty), abs=1e-4)
    heads_only = {"L2.H1": ["END"], "L1.H0": ["S2", "END"], "L0.MLP": None, "L1.MLP": None}
    mlps_only = {"L2.H1": None, "L1.H0": None, "L0.MLP": None, "L1.MLP": ["IO", "S1", "S2"]}
    for kind, keep_kind in (("head", heads_only), ("mlp", mlps_only)):
        assert out["by_kind"][kind] == pytest.approx(
            (_reference_metric(llama, data, keep_kind) - empty) / (full - empty), abs=1e-4)


def test_an_unknown_role_is_refused(llama):
    data = load_task("ioi", llama, n=4)
    with pytest.raises(ValueError, match="Unknown task role"):
        position_faithfulness(llama, data, {"L1.H0": ["XX"]})
