"""attention_inputs: what makes a head attend where it does -- its query side or its key side.

Why: path patching asks a *sender's* question (what does A's output do to B?).
A head's description also needs the *receiver's*: is where it looks set by its
query (what the final position asks for) or by its keys (what each earlier
position offers), and how much of that do the circuit's own earlier members
carry? In IOI the name movers' queries come from the S-inhibition heads; an
induction head's keys come from a previous-token head. One sender at a time
can miss it when several share the work, so this tool changes the head's
whole query or key input at once, two ways, every other input held at the
input run (clean prompts when noising):

* ``upstream``: the input is recomputed from the *source* run's residual
  stream at the head's layer -- everything before the head changed. This is the
  ceiling: how far the corruption can move the head's attention through that
  side at all. Query and key together give the head's own source-run pattern.
* ``senders``: the input is recomputed from the input run's residual stream
  plus the chosen earlier components' summed change
  ``sum_s out(s on source) - out(s on input)`` -- what path patching sends
  from one sender (Wang et al.'s run 2), from all of them at once, reaching the
  head directly; every other component's write stays at the input run's. Each
  sender's change is its whole source-run change, so it includes whatever
  reached that sender from upstream, senders or not. The share of the
  upstream change this reaches is what the senders' outputs carry.

For each swap the result gives the head's mean attention from the query
position (default ``END``) to each task role and the first token, and the
change in the metric when the head's output alone takes the swapped value
(later layers recomputed). Values are never swapped: they cannot move where
the head looks. Under grouped-query attention the key input changes for this
query head only.
"""

from __future__ import annotations

import torch
from pydantic import Field

from engine import runner
from engine.adapters.base import compute_head
from engine.attribution import component_output
from engine.components import Component
from engine.patching import input_run, run_jobs, sides
from tools.base import ToolArgs, ToolContext, ToolError, ToolSpec
from tools.common import (
    Direction,
    Position,
    RoleAttention,
    post_norm_refusal,
    rounded,
    single_position,
    truncate,
)
from tools.results import AttentionInputsResult, AttentionSwap

#: (source, input) of every swap, in the order reported
SWAPS = (("upstream", "q"), ("upstream", "k"), ("upstream", "qk"), ("senders", "q"), ("senders", "k"), ("senders", "qk"))


class AttentionInputsArgs(ToolArgs):
    head: str = Field(..., description="The head whose attention is explained, e.g. 'L9.H6'.")
    senders: list[str] = Field(
        default_factory=list,
        description="Earlier heads, ATTN or MLP components whose summed change is sent into the head's query or key "
                    "(e.g. the circuit's earlier members; a head inside a listed ATTN counts once, in the layer); "
                    "empty: only the whole-upstream swaps.",
    )
    direction: Direction = Field("noising", description="'noising': clean prompts, inputs from the corrupt run; 'denoising': the reverse.")
    query: Position = Field("END", description="Query position whose attention is reported: a role name (default 'END') or an integer.")


def _check_senders(ctx: ToolContext, head: Component, names: list[str]) -> list[Component]:
    """The senders, each once; a head inside a listed ATTN is dropped (its change is in the layer's)."""
    if not names:
        return []
    if ctx.target.adapter.post_norms:
        raise ToolError(post_norm_refusal(ctx.target.adapter.family, "Sending the senders' change"))
    senders = [ctx.component(name) for name in names]
    for s in senders:
        if s.kind not in ("head", "attn", "mlp"):
            raise ToolError(f"Sender {s.id} must be a head, ATTN or MLP component, not a residual stream.")
        if s.layer >= head.layer:
            earlier = f"layers 0..{head.layer - 1}" if head.layer else "none: it is in layer 0"
            raise ToolError(f"Sender {s.id} must be in an earlier layer than the head {head.id} ({earlier}).")
    whole = {s.layer for s in senders if s.kind == "attn"}
    return [s for s in dict.fromkeys(senders) if not (s.kind == "head" and s.layer in whole)]


def attention_inputs(ctx: ToolContext, args: AttentionInputsArgs) -> tuple[AttentionInputsResult, str]:
    head = ctx.component(args.head)
    if head.kind != "head" or head.head is None:
        raise ToolError(f"{head.id} is not an attention head; give a head id such as 'L9.H6'.")
    senders = _check_senders(ctx, head, args.senders)
    target, adapter = ctx.target, ctx.target.adapter
    for bucket in ctx.data.buckets:  # an unknown query role is refused before any forward
        single_position(bucket, args.query)
    input_side, source_side = sides(args.direction)
    swaps = [s for s in SWAPS if senders or s[0] == "upstream"]
    before = RoleAttention(args.query)
    after = {s: RoleAttention(args.query) for s in swaps}
    effect = dict.fromkeys(swaps, 0.0)
    params = adapter.head_params(head.layer, head.head)
    with torch.no_grad():
        for bucket in ctx.data.buckets:
            run = input_run(target, bucket, input_side, [head, *senders])
            source = input_run(target, bucket, source_side, senders)
            block = adapter.block_context(run.resids[0])
            x_in, _ = runner.attention_input(adapter, head.layer, run.resids[head.layer], block)
            changed = {"upstream": runner.attention_input(adapter, head.layer, source.resids[head.layer], block)[0]}
            if senders:
                resid = run.resids[head.layer]
                delta = torch.stack([component_output(adapter, s, source.acts[s.id] - run.acts[s.id]).float()
                                     for s in senders]).sum(0).to(resid.dtype)  # summed in float32 (bf16 models)
                changed["senders"] = runner.attention_input(adapter, head.layer, resid + delta, block)[0]
            base, pattern = compute_head(adapter, head.layer, params, x_in, block)
            before.add(bucket, pattern)
            for swap in swaps:
                where, which = swap
                xq = changed[where] if "q" in which else x_in
                xk = changed[where] if "k" in which else x_in
                z, pattern = compute_head(adapter, head.layer, params, xq, block, xk=xk, xv=x_in)
                after[swap].add(bucket, pattern)
                new_z = {head.id: run.acts[head.id] + (z - base)}
                effect[swap] += float(run_jobs(target, bucket, run, new_z, [[head]])[head.id].double().sum())
    n = ctx.data.n_pairs
    result = AttentionInputsResult(
        head=head.id, senders=[s.id for s in senders], direction=args.direction, query=args.query, n_pairs=n,
        attention=before.means(),
        swaps=[AttentionSwap(source=w, input=x, attention=after[(w, x)].means(), effect=rounded(effect[(w, x)] / n))
               for w, x in swaps],
    )
    return result, truncate(_summary(result))


def _summary(result: AttentionInputsResult) -> str:
    """``L2.H5's attention from END to S2 is 12% (clean run). With its input from the corrupt run: query 19%
    (effect -0.106), key 0% (+0.100), both 18% (-0.000); with only the senders' change: ...``"""
    ranked = sorted((r for r in result.attention if r != "first token"), key=lambda r: -result.attention[r])
    role = ranked[0] if ranked else "first token"
    names = {"q": "query", "k": "key", "qk": "both"}
    input_side, source_side = ("clean", "corrupt") if result.direction == "noising" else ("corrupt", "clean")
    text = f"{result.head}'s attention from {result.query} to {role} is {100 * result.attention[role]:.0f}% ({input_side} run)."
    for source, label in (("upstream", f"its input from the {source_side} run"), ("senders", "only the senders' change")):
        rows = [s for s in result.swaps if s.source == source]
        if rows:
            text += f" With {label}: " + ", ".join(
                f"{names[s.input]} {100 * s.attention[role]:.0f}% (effect {s.effect:+.3f})" for s in rows) + "."
    return text


SPEC = ToolSpec(
    name="attention_inputs",
    description="What makes a head attend where it does: its query or key input from the source run (the whole upstream) "
                "or with only chosen earlier senders' change, with the attention by task role and the effect.",
    args_model=AttentionInputsArgs,
    result_model=AttentionInputsResult,
    fn=attention_inputs,
)
