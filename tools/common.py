"""Pieces shared by the experiment tools: argument types, component sets, artifacts.

Why one place: every tool takes component ids, positions and a choice of
prompts in the same shape, and must turn the core's user errors into
``ToolError`` with one sentence naming the valid range, so the agent reads
the same vocabulary and the same kind of error from every tool.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from engine.components import Component, all_heads, all_mlps, all_resids
from engine.errors import AutointerpError
from engine.patching import resolve_positions
from engine.tasks import Bucket
from tools.base import ToolContext, ToolError
from tools.results import ArtifactRef

Prompts = Literal["clean", "corrupt"]
Direction = Literal["noising", "denoising"]
ComponentSet = Literal["heads", "mlps", "attn", "resid", "all"]
Position = int | str
#: "all", one position, or a list of them
Positions = list[Position] | Position

COMPONENTS_DESCRIPTION = (
    "Component ids such as 'L9.H3' (head 3 of layer 9), 'L4.MLP', 'L4.ATTN' or 'L4.RESID' "
    "(residual stream entering layer 4), or a shortcut: 'heads', 'mlps', 'attn', 'resid', 'all'."
)
POSITIONS_DESCRIPTION = (
    "Token positions: 'all', or a list of integers (negative count from the end, -1 = last) "
    "and/or task role names such as 'END', 'IO', 'S1', 'S2'."
)


def components_field(default=..., description: str = COMPONENTS_DESCRIPTION):
    return Field(default, description=description)


def positions_field(default: object = "all", description: str = POSITIONS_DESCRIPTION):
    return Field(default, description=description)


def expand_components(ctx: ToolContext, spec: Sequence[str] | str, allow: Sequence[str] = ()) -> list[Component]:
    """Parse ids or expand a shortcut into range-checked components.

    Args:
        ctx: the tool context (model dimensions).
        spec: a list of ids, or one of ``heads, mlps, attn, resid, all``.
        allow: component kinds accepted (empty = all kinds).

    Raises:
        ToolError: an unknown id, an out-of-range layer/head, or a kind not allowed.
    """
    n_layers, n_heads = ctx.target.n_layers, ctx.target.n_heads
    if isinstance(spec, str):
        shortcuts = {
            "heads": lambda: all_heads(n_layers, n_heads),
            "mlps": lambda: all_mlps(n_layers),
            "attn": lambda: [Component(layer, "attn") for layer in range(n_layers)],
            "resid": lambda: all_resids(n_layers),
            "all": lambda: all_heads(n_layers, n_heads) + all_mlps(n_layers),
        }
        comps = shortcuts[spec]() if spec in shortcuts else [ctx.component(spec)]
    else:
        if not spec:
            raise ToolError("Give at least one component id (e.g. L9.H3) or a shortcut such as 'heads'.")
        comps = [ctx.component(s) for s in spec]
    if allow:
        bad = [c.id for c in comps if c.kind not in allow]
        if bad:
            raise ToolError(f"{', '.join(bad)} cannot be used here; this tool accepts {' and '.join(allow)} components.")
    return list(dict.fromkeys(comps))


def position_list(positions: Sequence[Position] | Position) -> list[Position] | None:
    """None for 'all', else a list (validated per bucket by ``bucket_positions``)."""
    if positions == "all":
        return None
    if isinstance(positions, int | str):
        return [positions]
    return list(positions) or None


def bucket_positions(bucket: Bucket, positions: list[Position] | None) -> list[torch.Tensor] | None:
    """Per-pair token positions in this bucket (ToolError on unknown roles / out of range)."""
    try:
        return resolve_positions(bucket, positions)
    except AutointerpError as exc:
        raise ToolError(str(exc)) from None


def single_position(bucket: Bucket, position: Position) -> torch.Tensor:
    """[n] token positions of one integer or role in this bucket."""
    resolved = bucket_positions(bucket, [position])
    assert resolved is not None
    return resolved[0]


class RoleAttention:
    """Mean attention from one query position to each task role and the first token, over buckets.

    Each role is averaged over the pairs whose bucket names it (a bucket keeps only the roles all its
    pairs share); a task role called ``first token`` keeps its own positions. Sums are float64.
    """

    def __init__(self, query: Position = "END") -> None:
        self.query = query
        self.sums: dict[str, float] = {}
        self.pairs: dict[str, int] = {}

    def add(self, bucket: Bucket, pattern: torch.Tensor) -> None:
        """Add one bucket's attention pattern [n, query, key] of one head."""
        rows = torch.arange(bucket.n, device=pattern.device)
        attn = pattern[rows, single_position(bucket, self.query)]  # [n, key]
        for role, pos in {"first token": torch.zeros_like(rows), **bucket.roles}.items():
            self.sums[role] = self.sums.get(role, 0.0) + float(attn[rows, pos].double().sum())
            self.pairs[role] = self.pairs.get(role, 0) + bucket.n

    def means(self) -> dict[str, float]:
        return {role: rounded(total / self.pairs[role]) for role, total in self.sums.items()}


def post_norm_refusal(family: str, what: str) -> str:
    """Why a sender's change cannot be sent on a family that normalises each block output (Gemma)."""
    return (f"{what} is not supported on {family}: it normalises each attention and MLP output before it enters "
            "the residual stream, so a sender's change there is not its output difference.")


def core_call(fn, *args, **kwargs):
    """Call a core function, turning its user errors into ``ToolError``."""
    try:
        return fn(*args, **kwargs)
    except ToolError:
        raise
    except AutointerpError as exc:
        raise ToolError(str(exc)) from None


def save_array(ctx: ToolContext, array: np.ndarray | torch.Tensor, what: str) -> ArtifactRef:
    """Write a raw array as a content-hashed ``.npy`` under ``ctx.artifact_dir``.

    Returns:
        The artifact's reference (what, sha256, path, shape, dtype) for the tool's result.

    Raises:
        ToolError: the context has no artifact directory.
    """
    if ctx.artifact_dir is None:
        raise ToolError("Raw output needs an artifact directory, and this session has none; ask for statistics instead.")
    if isinstance(array, torch.Tensor):
        if array.dtype == torch.bfloat16:  # numpy has no bfloat16: widen losslessly
            array = array.float()
        array = array.detach().cpu().numpy()
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    directory = Path(ctx.artifact_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{digest}.npy"
    if not path.exists():
        path.write_bytes(payload)
    return ArtifactRef(what=what, sha256=digest, path=str(path), shape=list(array.shape), dtype=str(array.dtype))


def rounded(x: float, digits: int = 6) -> float:
    """``x`` to ``digits`` significant digits: compact JSON that keeps small effects visible."""
    return float(f"{float(x):.{digits}g}")


def top_items(effects: dict[str, float], k: int) -> list[tuple[str, float]]:
    """The ``k`` entries of largest magnitude, largest first."""
    return sorted(effects.items(), key=lambda kv: -abs(kv[1]))[:k]


def format_top(effects: dict[str, float], k: int = 5) -> str:
    return ", ".join(f"{cid} {v:+.3f}" for cid, v in top_items(effects, k))


def truncate(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
