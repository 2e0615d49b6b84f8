"""A mechanical reference clustering: heads grouped by where the last position attends.

Why: a clustering score means more next to a baseline. This one needs no
LLM and no hypotheses: each head is labelled by the task role (e.g. IOI's
``IO``, ``S1``, ``S2``; ``rest`` for every other position) that receives
most of its attention from the final position, averaged over clean prompts.
It is the kind of grouping a first look at attention patterns suggests, so
an agent's explanation should score at least as well on interchangeability.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine import runner
from engine.adapters.base import ArchitectureAdapter, compute_head
from engine.evaluation.swap import head_component
from engine.hooks import AttentionInput, trace
from engine.models import TargetModel
from engine.tasks import TaskData


def attention_inputs(adapter: ArchitectureAdapter, layers: Sequence[int]):
    """``trace`` reading the (normalised) attention input of ``layers``; its cache maps
    ``AttentionInput(layer).id`` to [batch, pos, d_model] of the latest forward."""
    return trace(adapter, read=[AttentionInput(layer) for layer in sorted(set(layers))])


def role_attention(target: TargetModel, data: TaskData, heads: Sequence[str]) -> dict[str, dict[str, float]]:
    """Mean attention from the last position to each role position, per head.

    Returns:
        head id -> {role: mean attention mass, ..., "rest": the remainder}.
    """
    adapter = target.adapter
    comps = [head_component(adapter, h) for h in heads]
    roles = [r for r in data.task.role_names if r != "END"]
    mass = {c.id: dict.fromkeys([*roles, "rest"], 0.0) for c in comps}
    with torch.no_grad():
        for bucket in data.buckets:
            with attention_inputs(adapter, [c.layer for c in comps]) as cache:
                runner.forward(adapter, bucket.clean)
            inputs = {c.layer: cache[AttentionInput(c.layer).id] for c in comps}
            ctx = adapter.block_context(adapter.embed(bucket.clean))
            rows = torch.arange(bucket.n, device=bucket.device)
            for c in comps:
                assert c.head is not None
                _, pattern = compute_head(adapter, c.layer, adapter.head_params(c.layer, c.head), inputs[c.layer], ctx)
                last = pattern[:, -1, :]  # [n, key_pos]
                taken = torch.zeros(bucket.n, device=bucket.device)
                for role in roles:
                    if role in bucket.roles:
                        share = last[rows, bucket.roles[role]]
                        mass[c.id][role] += float(share.sum())
                        taken += share
                mass[c.id]["rest"] += float((1.0 - taken).sum())
    return {h: {r: v / data.n_pairs for r, v in m.items()} for h, m in mass.items()}


def attention_role_clusters(target: TargetModel, data: TaskData, heads: Sequence[str]) -> list[dict]:
    """Cluster heads by the role their last position attends to most.

    Returns:
        ``[{"name": "attends IO", "members": [...]}, ...]``, in role order.
    """
    attention = role_attention(target, data, heads)
    clusters: dict[str, list[str]] = {}
    for head, by_role in attention.items():
        clusters.setdefault(max(by_role, key=by_role.__getitem__), []).append(head)
    order = [*data.task.role_names, "rest"]
    return [{"name": f"attends {r}", "members": clusters[r]} for r in order if r in clusters]
