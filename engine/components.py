"""Component ids: the names every tool, hypothesis and explanation uses.

Why strings and not objects everywhere: component ids are what the LLM reads
and writes, what the store keeps and what a person types on the command line,
so they must round-trip through text losslessly. ``Component`` is the parsed,
validated form; ``parse_component`` checks it against a model's dimensions and
names the valid range when it is wrong (DESIGN.md §4).

    L{l}.H{h}   attention head h (query-head index) of layer l
    L{l}.ATTN   whole attention block output of layer l
    L{l}.MLP    MLP output of layer l
    L{l}.RESID  residual stream entering layer l (L{n_layers}.RESID = final)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from engine.errors import ComponentError

Kind = Literal["head", "attn", "mlp", "resid"]
_PATTERN = re.compile(r"^L(\d+)\.(?:H(\d+)|(ATTN|MLP|RESID))$")
_SUFFIX = {"ATTN": "attn", "MLP": "mlp", "RESID": "resid"}


@dataclass(frozen=True, order=True)
class Component:
    """A parsed component id. ``head`` is set only for ``kind == "head"``."""

    layer: int
    kind: Kind
    head: int | None = None

    @property
    def id(self) -> str:
        if self.kind == "head":
            return f"L{self.layer}.H{self.head}"
        return f"L{self.layer}.{self.kind.upper()}"

    def __str__(self) -> str:
        return self.id


def parse_component(text: str, n_layers: int | None = None, n_heads: int | None = None) -> Component:
    """Parse and (optionally) range-check a component id.

    Args:
        text: e.g. ``"L9.H3"``, ``"L4.MLP"``, ``"L30.RESID"``.
        n_layers: number of transformer layers; when given, layers are checked.
        n_heads: number of query heads per layer; when given, heads are checked.

    Raises:
        ComponentError: malformed id, or a layer/head outside the model's range.
    """
    match = _PATTERN.match(text.strip())
    if not match:
        shown = text if len(text) <= 40 else text[:40] + "..."  # the error must stay one short sentence
        raise ComponentError(
            f"{shown!r} is not a component id; use L<layer>.H<head>, L<layer>.ATTN, "
            "L<layer>.MLP or L<layer>.RESID (e.g. L9.H3)."
        )
    layer = int(match.group(1))
    if match.group(2) is not None:
        comp = Component(layer, "head", int(match.group(2)))
    else:
        comp = Component(layer, _SUFFIX[match.group(3)])  # type: ignore[arg-type]
    if n_layers is not None:
        top = n_layers if comp.kind == "resid" else n_layers - 1
        if not 0 <= layer <= top:
            raise ComponentError(
                f"Layer {layer} in '{text}' is out of range: this model has layers 0..{n_layers - 1}"
                + (f" (and L{n_layers}.RESID for the final residual stream)." if comp.kind == "resid" else ".")
            )
    if n_heads is not None and comp.head is not None and not 0 <= comp.head < n_heads:
        raise ComponentError(
            f"Head {comp.head} in '{text}' is out of range: this model has heads 0..{n_heads - 1} per layer."
        )
    return comp


def all_heads(n_layers: int, n_heads: int) -> list[Component]:
    """Every attention head, layer-major."""
    return [Component(layer, "head", head) for layer in range(n_layers) for head in range(n_heads)]


def all_mlps(n_layers: int) -> list[Component]:
    return [Component(layer, "mlp") for layer in range(n_layers)]


def all_resids(n_layers: int) -> list[Component]:
    """Residual stream entering each layer, excluding the final one."""
    return [Component(layer, "resid") for layer in range(n_layers)]
