"""Fuzzing the tool registry: malformed calls become structured errors, never exceptions or memory blow-ups.

An LLM (or a hostile user) can send any name and any JSON as a tool call.
A seeded generator mutates a valid call of every registered tool -- wrong
types, missing and extra keys, huge and negative numbers, NaN, empty and
enormous strings, NUL and control characters, deep nesting, out-of-range and
malformed component ids, unknown role names, non-object arguments -- and also
invents tool names. Every call must come back as a ``ToolResult`` (with
``error`` set when the call was invalid) or a ``ToolError`` for an unknown
name; the resident memory after the calls must stay within a fixed bound of
what it was after a warm-up.
"""

from __future__ import annotations

import gc
import math
import random
import resource
from pathlib import Path
from typing import Any

import pytest

from engine.tasks import load_task
from tools.base import ToolContext, ToolError, ToolResult, run_tool
from tools.registry import TOOLS, get_tool

SEED = 20240515
N_CALLS = 1200
WARMUP = 150
RSS_BOUND_MB = 300  # growth allowed after the warm-up: caches of a few tensors, not an unbounded leak

VALID: dict[str, dict[str, Any]] = {
    "read_activations": {"components": ["L0.H0", "L1.MLP"], "positions": ["END"]},
    "logit_lens": {"components": ["L1.H0", "L2.RESID"], "top_k": 3},
    "attention_pattern": {"heads": ["L1.H1"], "query": "END", "example_pair": 0},
    "activation_patching": {"components": ["L0.H0", "L2.MLP"], "positions": "all"},
    "path_patching": {"sender": "L0.H1", "receivers": ["logits"]},
    "attention_inputs": {"head": "L2.H1", "senders": ["L0.H1", "L1.MLP"]},
    "ablation": {"components": ["L1.H2"], "kind": "mean"},
    "attribution_patching": {"components": "heads", "top_k": 3, "method": "ig", "ig_steps": 2},
    "probe": {"component": "L1.RESID", "label": "clean_vs_corrupt", "n_controls": 1},
    "weight_swap": {"target": "L1.H0", "source": "L1.H1", "n": 2},
    "faithfulness": {"components": ["L2.H0", "L1.MLP"], "target_f": 0.5},
}

JUNK: list[Any] = [
    None, True, False, 0, -1, 1, 2**31, -(2**63), 10**30, 1e308, -1e-308, math.nan, math.inf, -math.inf,
    "", " ", "all", "END", "nope", "L0.H0", "L99.H0", "L0.H99", "L-1.H0", "L0.H00000000000000000000001",
    "L999999999999999999999.MLP", "L1.RESID", "L3.RESID", "L4.RESID", "L0.ATTN", "l0.h0", "L0.H0\x00",
    "\x1b[31m", "\u2028", "é" * 3, "x" * 100_000, "[]", "{}", "heads", "mlps", "resid", "attn", "logits",
    [], [None], ["L0.H0"] * 500, ["L0.H0", 5], [[["L0.H0"]]], list(range(300)), ["END", -1, 999, -999],
    {}, {"a": 1}, {"components": ["L0.H0"]},
]


def _deep(depth: int) -> Any:
    value: Any = "L0.H0"
    for _ in range(depth):
        value = [value] if depth % 2 else {"x": value}
    return value


def malformed_call(rng: random.Random) -> tuple[str, Any]:
    """One tool name and one argument value, most of them invalid in some way."""
    roll = rng.random()
    if roll < 0.08:
        name = rng.choice(["", "nope", "logit_lens ", "LOGIT_LENS", "probe\x00", "x" * 5000, "__init__",
                           "conclude", "tools.base", "../../etc/passwd"])
        return name, dict(VALID["logit_lens"])
    name = rng.choice(sorted(VALID))
    if roll < 0.14:  # not a JSON object at all
        return name, rng.choice([None, [], ["components"], "components=L0.H0", 7, 3.5, True, _deep(60)])
    args = dict(VALID[name])
    for _ in range(rng.randint(1, 3)):
        action = rng.random()
        keys = sorted(args)
        if action < 0.2 and keys:
            args.pop(rng.choice(keys))
        elif action < 0.35:
            args[rng.choice(["bogus", "component", "Components", "", "\x00", "top_k ", "n" * 300])] = rng.choice(JUNK)
        elif keys:
            key = rng.choice(keys)
            args[key] = _deep(rng.randint(2, 40)) if rng.random() < 0.05 else rng.choice(JUNK)
    return name, args


def rss_mb() -> float:
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * resource.getpagesize() / 2**20


@pytest.mark.parametrize("model", ["tiny-gpt2", "tiny-llama"])
def test_fuzzed_tool_calls_are_structured_errors_within_bounded_memory(load, tmp_path, model):
    target = load(model)
    ctx = ToolContext(target, load_task("ioi", target, n=4, seed=1), seed=0, artifact_dir=str(tmp_path / "art"))
    rng = random.Random(SEED)
    counts = {"calls": 0, "structured_errors": 0, "ok": 0, "unknown_tool": 0}
    uncaught: list[str] = []
    baseline = None
    for i in range(N_CALLS):
        if i == WARMUP:
            gc.collect()
            baseline = rss_mb()
        name, args = malformed_call(rng)
        counts["calls"] += 1
        try:
            spec = get_tool(name)
        except ToolError as exc:
            assert "Unknown tool" in str(exc) and "\n" not in str(exc)
            counts["unknown_tool"] += 1
            counts["structured_errors"] += 1
            continue
        try:
            out = run_tool(spec, ctx, args)
        except Exception as exc:  # noqa: BLE001 - what the test counts
            uncaught.append(f"{name}({str(args)[:200]}): {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if not isinstance(out, ToolResult) or out.tool != name:
            uncaught.append(f"{name}: returned {type(out).__name__}")
        elif out.error is not None:
            if out.result is not None or not out.error.strip() or len(out.error) > 2_000:
                uncaught.append(f"{name}({str(args)[:200]}): malformed error {out.error[:300]!r}")
            counts["structured_errors"] += 1
        elif out.result is None:
            uncaught.append(f"{name}({str(args)[:200]}): neither a result nor an error")
        else:
            counts["ok"] += 1
    gc.collect()
    growth = rss_mb() - (baseline or 0.0)
    print(f"\nfuzz {model}: {counts}, uncaught {len(uncaught)}, RSS growth after warm-up {growth:.0f} MB")
    assert not uncaught, "\n".join(uncaught[:20])
    assert counts["calls"] == N_CALLS and counts["structured_errors"] >= N_CALLS // 2
    assert counts["ok"] > 0  # the generator also produced valid calls, so real experiments ran too
    assert set(TOOLS) == set(VALID)  # every registered tool is fuzzed
    assert growth < RSS_BOUND_MB
