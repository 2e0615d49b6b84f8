"""Named hook points on real modules, registered only while a ``trace`` is open.

Why this shape: experiments read and overwrite activations by component id
(DESIGN.md §4). Each id resolves, through the architecture adapter, to one
place in the module tree where the activation is an argument or a return
value of a real ``nn.Module``:

=============  ==========================================  ==================
component      where                                        value shape
=============  ==========================================  ==================
L{l}.H{h}      input of layer l's attention output proj,   [batch, pos, d_head]
               sliced to head h
L{l}.ATTN      output of layer l's attention output proj   [batch, pos, d_model]
L{l}.MLP       output of layer l's MLP                      [batch, pos, d_model]
L{l}.RESID     input of block l (final norm for l = n)      [batch, pos, d_model]
=============  ==========================================  ==================

One more point is not a component but a place experiments need:
``AttentionInput(l)`` is the input of layer l's attention module, i.e. the
residual stream after the block's first norm, ``[batch, pos, d_model]``
(weight swaps and attention patterns recompute a head from it).

Hooks are PyTorch forward (pre-)hooks registered when the ``trace`` context
opens and removed when it closes -- also when the body raises -- so a model is
never left with a stray hook (nnsight's and baukit's discipline). Usage::

    with trace(adapter, read=["L9.H3", "L4.MLP"], edit={"L2.H1": zero_}) as cache:
        logits = model(input_ids).logits
    z = cache["L9.H3"]            # [batch, pos, d_head]

An edit function receives the component's current activation and returns the
replacement of the same shape. The cached value is the one that flows on
downstream, i.e. after edits. Reading a value and writing it back unchanged
leaves the logits bit-identical (a test checks it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from engine.adapters.base import ArchitectureAdapter
from engine.components import Component, parse_component
from engine.errors import ComponentError

EditFn = Callable[[torch.Tensor], torch.Tensor]
Where = Literal["pre", "post"]


@dataclass(frozen=True)
class AttentionInput:
    """The (normalised) input of layer ``layer``'s attention module: a hook point, not a component."""

    layer: int

    @property
    def id(self) -> str:
        return f"L{self.layer}.ATTN_IN"


Point = Component | AttentionInput


@dataclass(frozen=True)
class HookPoint:
    """Where a component's activation lives: a module, before or after it, and a slice."""

    module: nn.Module
    where: Where
    channels: slice | None = None  # per-head slice of the last dim, None = whole tensor


def hook_point(adapter: ArchitectureAdapter, component: Point | str) -> HookPoint:
    """Resolve a component (id) or an ``AttentionInput`` to its hook point, checking the model's range."""
    if isinstance(component, AttentionInput):
        if not 0 <= component.layer < adapter.n_layers:
            raise ComponentError(
                f"Layer {component.layer} is out of range: this model has layers 0..{adapter.n_layers - 1}."
            )
        return HookPoint(adapter.attention(component.layer), "pre")
    comp = (
        component
        if isinstance(component, Component)
        else parse_component(component, adapter.n_layers, adapter.n_heads)
    )
    if comp.kind == "head":
        assert comp.head is not None
        dh = adapter.d_head
        return HookPoint(adapter.out_proj(comp.layer), "pre", slice(comp.head * dh, (comp.head + 1) * dh))
    if comp.kind == "attn":
        return HookPoint(adapter.out_proj(comp.layer), "post")
    if comp.kind == "mlp":
        return HookPoint(adapter.mlp(comp.layer), "post")
    if comp.layer == adapter.n_layers:
        return HookPoint(adapter.final_norm(), "pre")
    return HookPoint(adapter.blocks()[comp.layer], "pre")


def _resolve(adapter: ArchitectureAdapter, ids: Iterable[str | Point]) -> list[Point]:
    return [
        c if isinstance(c, Component | AttentionInput) else parse_component(c, adapter.n_layers, adapter.n_heads)
        for c in ids
    ]


def _order(point: Point) -> tuple[int, int, int]:
    """Hook registration order: by layer, an attention input before the components of its layer."""
    if isinstance(point, AttentionInput):
        return point.layer, 0, 0
    return point.layer, 1 + ("head", "attn", "mlp", "resid").index(point.kind), point.head or 0


class _Slot:
    """All components sharing one (module, where) pair, applied in one hook call."""

    def __init__(self, cache: dict[str, torch.Tensor], detach: bool):
        self.entries: list[tuple[str, slice | None, bool, EditFn | None]] = []
        self.cache = cache
        self.detach = detach

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for cid, channels, read, fn in self.entries:
            if fn is not None:
                current = out if channels is None else out[..., channels]
                new = fn(current)
                if new.shape != current.shape:
                    raise ValueError(
                        f"Edit of {cid} returned shape {tuple(new.shape)}, expected {tuple(current.shape)}."
                    )
                if channels is None:
                    out = new
                else:
                    out = out.clone() if out is x else out
                    out[..., channels] = new
            if read:
                value = out if channels is None else out[..., channels]
                self.cache[cid] = value.detach().clone() if self.detach else value
        return out


def _register(point_module: nn.Module, where: Where, slot: _Slot) -> torch.utils.hooks.RemovableHandle:
    if where == "post":
        def post(_module, _args, output):
            if isinstance(output, tuple):
                return (slot.apply(output[0]), *output[1:])
            return slot.apply(output)

        return point_module.register_forward_hook(post)

    def pre(_module, args, kwargs):
        if args:
            return (slot.apply(args[0]), *args[1:]), kwargs
        kwargs = dict(kwargs)
        kwargs["hidden_states"] = slot.apply(kwargs["hidden_states"])
        return args, kwargs

    return point_module.register_forward_pre_hook(pre, with_kwargs=True)


@contextmanager
def trace(
    adapter: ArchitectureAdapter,
    read: Iterable[str | Point] = (),
    edit: Mapping[str | Point, EditFn] | None = None,
    detach: bool = True,
) -> Iterator[dict[str, torch.Tensor]]:
    """Read and/or overwrite component activations during the forward passes in the block.

    Args:
        adapter: the model's architecture adapter.
        read: component ids (or ``AttentionInput`` points) whose activations are
            cached, keyed by id string (``"L3.ATTN_IN"`` for an attention input).
        edit: component id -> function from the current activation to its replacement.
            An edit function may read values cached earlier in the same forward
            pass (e.g. an attention input) from the yielded dict.
        detach: cache detached copies (default); False keeps the autograd graph
            (attribution patching reads gradients through cached activations).

    Yields:
        The cache dict, filled as forward passes run inside the block.
    """
    edit = dict(edit or {})
    read_comps = _resolve(adapter, read)
    edit_comps = dict(zip(_resolve(adapter, edit.keys()), edit.values(), strict=True))
    cache: dict[str, torch.Tensor] = {}
    slots: dict[tuple[int, Where], tuple[nn.Module, _Slot]] = {}
    order: dict[tuple[int, Where], list] = defaultdict(list)
    for comp in sorted(set(read_comps) | set(edit_comps), key=_order):
        point = hook_point(adapter, comp)
        key = (id(point.module), point.where)
        if key not in slots:
            slots[key] = (point.module, _Slot(cache, detach))
        order[key].append((comp.id, point.channels, comp in read_comps, edit_comps.get(comp)))
    handles = []
    try:
        for key, (module, slot) in slots.items():
            slot.entries = order[key]
            handles.append(_register(module, key[1], slot))
        yield cache
    finally:
        for handle in handles:
            handle.remove()


def count_hooks(model: nn.Module) -> int:
    """Number of forward (pre-)hooks registered anywhere in ``model`` (for leak tests)."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()
    )
