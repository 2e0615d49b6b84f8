"""Taking a prefix of a task's pairs without re-tokenising.

Why: evaluation tools accept "use n prompts" to trade precision for speed.
Buckets are equal-length groups, so the first n pairs (in the task's order)
are selected bucket by bucket; the buckets keep their shapes' meaning and
no prompt is padded or truncated.
"""

from __future__ import annotations

from dataclasses import replace

from engine.tasks import Bucket, TaskData


def first_pairs(data: TaskData, n: int | None) -> TaskData:
    """The task restricted to its first ``n`` pairs (all of them for None or n >= n_pairs).

    Args:
        data: tokenised task.
        n: number of pairs to keep (at least 1).

    Returns:
        A ``TaskData`` sharing tensors with ``data``; empty buckets are dropped.
    """
    if n is None or n >= data.n_pairs:
        return data
    if n < 1:
        raise ValueError(f"Need at least one prompt, got n={n}.")
    keep = set(sorted(i for b in data.buckets for i in b.pair_index)[:n])
    buckets: list[Bucket] = []
    for bucket in data.buckets:
        rows = [r for r, i in enumerate(bucket.pair_index) if i in keep]
        if rows:
            buckets.append(
                replace(
                    bucket,
                    clean=bucket.clean[rows], corrupt=bucket.corrupt[rows],
                    answer=bucket.answer[rows], distractor=bucket.distractor[rows],
                    roles={k: v[rows] for k, v in bucket.roles.items()},
                    pair_index=[bucket.pair_index[r] for r in rows], templates=bucket.templates[rows],
                )
            )
    return TaskData(data.task, buckets)
