"""Scoring a model on a task: clean and corrupt metric, accuracy (``task check``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch

from engine import runner
from engine.models import TargetModel
from engine.tasks import Bucket, TaskData, logit_diff


@dataclass
class TaskCheck:
    task: str
    model: str
    n_pairs: int
    clean_metric: float
    corrupt_metric: float
    accuracy: float
    corrupt_accuracy: float

    def to_dict(self) -> dict:
        return asdict(self)


def bucket_logit_diffs(
    target: TargetModel, bucket: Bucket, which: str = "clean"
) -> torch.Tensor:
    """Per-pair logit differences [n] of an unpatched forward on the clean or corrupt prompts."""
    with torch.no_grad():
        logits = runner.forward(target.adapter, getattr(bucket, which))
    return logit_diff(logits, bucket.answer, bucket.distractor)


def iter_buckets(data: TaskData, on_step: Callable[[int], None] | None = None) -> Iterator[Bucket]:
    for bucket in data.buckets:
        yield bucket
        if on_step:
            on_step(bucket.n)


def check_task(target: TargetModel, data: TaskData, on_step: Callable[[int], None] | None = None) -> TaskCheck:
    """Mean clean/corrupt logit difference and accuracy (answer beats distractor) over all pairs."""
    clean, corrupt = [], []
    for bucket in iter_buckets(data, on_step):
        clean.append(bucket_logit_diffs(target, bucket, "clean"))
        corrupt.append(bucket_logit_diffs(target, bucket, "corrupt"))
    c, k = torch.cat(clean), torch.cat(corrupt)
    return TaskCheck(
        task=data.task.name, model=target.name, n_pairs=int(c.numel()),
        clean_metric=float(c.mean()), corrupt_metric=float(k.mean()),
        accuracy=float((c > 0).float().mean()), corrupt_accuracy=float((k > 0).float().mean()),
    )
