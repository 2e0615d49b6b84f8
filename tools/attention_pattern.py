"""attention_pattern: where a head looks from a query position, in the task's terms.

Why: a head's attention pattern is the most direct clue to what it moves
(IOI name movers attend from END to the indirect object, S-inhibition heads
to S2, induction heads to the token after the previous occurrence). Raw
patterns differ in length across prompts, so the result summarises them by
the task's named token roles (mean attention to IO, S1, S2, END ...), by the
first position (often an attention sink) and by absolute position.

The pattern is recomputed from the attention module's actual input with the
head's own weights (``adapters.compute_head``, equal to the model's pattern to
~1e-6), which works the same for every architecture, including grouped-query
attention where several query heads share one key/value head.
"""

from __future__ import annotations

import torch
from pydantic import Field

from engine import runner
from engine.adapters.base import ArchitectureAdapter, compute_head
from engine.tasks import Bucket
from tools.base import ToolArgs, ToolContext, ToolError, ToolSpec
from tools.common import Position, Prompts, expand_components, rounded, single_position, truncate
from tools.results import AttentionExample, AttentionPatternResult, HeadAttention

MAX_HEADS = 12


class AttentionPatternArgs(ToolArgs):
    heads: list[str] | str = Field(..., description="Head ids, e.g. 'L9.H3' or ['L9.H3', 'L10.H0'] (at most 12).")
    query: Position = Field("END", description="Query position: a role name (default 'END') or an integer (negative from the end).")
    prompts: Prompts = Field("clean", description="Run the clean or the corrupt prompts.")
    top_positions: int = Field(5, ge=0, le=30, description="How many most-attended absolute key positions to list per head.")
    example_pair: int | None = Field(
        None, ge=0, description="Also return the full attention row of this pair (task pair index), with its tokens."
    )


def head_patterns(adapter: ArchitectureAdapter, ids: torch.Tensor, heads: list[tuple[int, int]]) -> dict[tuple[int, int], torch.Tensor]:
    """Attention patterns [batch, query, key] of ``(layer, head)`` pairs on token ids [batch, pos]."""
    resid = adapter.embed(ids)
    ctx = adapter.block_context(resid)
    out = {}
    layers = sorted({layer for layer, _ in heads})
    for layer in range(layers[-1] + 1):
        if layer not in layers:
            resid = adapter.run_block(layer, resid, ctx)
            continue
        x, resid = runner.attention_input(adapter, layer, resid, ctx)
        for lyr, h in heads:
            if lyr == layer:
                out[(lyr, h)] = compute_head(adapter, layer, adapter.head_params(layer, h), x, ctx)[1]
    return out


def _role_attention(bucket: Bucket, rows: torch.Tensor, attn: torch.Tensor) -> dict[str, torch.Tensor]:
    """Attention [n] from the query to each role's token (0 where the role lies after the query)."""
    return {role: attn[rows, p] for role, p in bucket.roles.items()}


def attention_pattern(ctx: ToolContext, args: AttentionPatternArgs) -> tuple[AttentionPatternResult, str]:
    comps = expand_components(ctx, args.heads, allow=("head",))
    if len(comps) > MAX_HEADS:
        raise ToolError(f"Ask for at most {MAX_HEADS} heads per call; got {len(comps)}.")
    keys = [(c.layer, c.head) for c in comps]
    adapter, tokenizer = ctx.target.adapter, ctx.target.tokenizer
    roles: dict[str, dict[str, list[torch.Tensor]]] = {c.id: {} for c in comps}
    first: dict[str, list[torch.Tensor]] = {c.id: [] for c in comps}
    by_pos: dict[str, dict[int, list[float]]] = {c.id: {} for c in comps}
    example: dict[str, AttentionExample] = {}
    for bucket in ctx.data.buckets:
        q = single_position(bucket, args.query)
        rows = torch.arange(bucket.n, device=bucket.device)
        ids = getattr(bucket, args.prompts)
        with torch.no_grad():
            patterns = head_patterns(adapter, ids, keys)
        for c in comps:
            attn = patterns[(c.layer, c.head)][rows, q]  # [n, key]
            for role, values in _role_attention(bucket, rows, attn).items():
                roles[c.id].setdefault(role, []).append(values)
            first[c.id].append(attn[:, 0])
            for k in range(attn.shape[1]):
                by_pos[c.id].setdefault(k, []).extend(attn[:, k].tolist())
            if args.example_pair is not None and args.example_pair in bucket.pair_index:
                i = bucket.pair_index.index(args.example_pair)
                toks = [tokenizer.decode([t]) for t in ids[i].tolist()]
                example[c.id] = AttentionExample(
                    pair=args.example_pair, query_position=int(q[i]), tokens=toks,
                    attention=[rounded(v, 3) for v in attn[i].tolist()],
                )
    if args.example_pair is not None and not example:
        raise ToolError(f"Pair {args.example_pair} does not exist; this task has pairs 0..{ctx.data.n_pairs - 1}.")
    result = AttentionPatternResult(query=args.query, prompts=args.prompts, heads={})
    lines = []
    for c in comps:
        role_means = {r: rounded(torch.cat(v).mean()) for r, v in roles[c.id].items()}
        role_stds = {r: rounded(torch.cat(v).std()) if torch.cat(v).numel() > 1 else 0.0 for r, v in roles[c.id].items()}
        pos_means = {k: sum(v) / len(v) for k, v in by_pos[c.id].items()}
        top = sorted(pos_means.items(), key=lambda kv: -kv[1])[: args.top_positions]
        entry = HeadAttention(
            to_role=role_means, to_role_std=role_stds, to_first_position=rounded(torch.cat(first[c.id]).mean()),
            top_positions=[(k, rounded(v)) for k, v in top], example=example.get(c.id),
        )
        result.heads[c.id] = entry
        ranked = sorted(role_means.items(), key=lambda kv: -kv[1])
        lines.append(
            f"{c.id}: " + ", ".join(f"{r} {v:.2f}" for r, v in ranked[:4])
            + f", first token {entry.to_first_position:.2f}"
        )
    summary = f"Mean attention from {args.query} ({args.prompts}) to the task roles: " + "; ".join(lines) + "."
    return result, truncate(summary)


SPEC = ToolSpec(
    name="attention_pattern",
    description="Attention of heads from a query position (default END) to the task's token roles (IO, S1, S2, ...) and positions.",
    args_model=AttentionPatternArgs,
    result_model=AttentionPatternResult,
    fn=attention_pattern,
)
