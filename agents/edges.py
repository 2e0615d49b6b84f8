"""Who talks to whom: the circuit's edges, read from per-edge path patching.

Why a module of its own: one experiment per sender (``path_patching`` with
``separately``) patches its change into each later circuit head's query, key
and value on its own. Two different questions are read from it:

* the *sender's* side -- which receivers and inputs carry its effect
  (``strongest_edges``: "L8.H1 acts on L20.H0's keys +0.41");
* the *receiver's* side -- which earlier circuit members' outputs make a head
  attend where it does (``attention_sources``: "L23.H3's attention to S2 falls
  from 66% to 31% when L8.H1's corrupt-run output reaches its keys"). This is
  the receiver's QK evidence, gathered over every sender that was measured.

One sender at a time misses work that several share, so the receiver's own
experiment (``attention_inputs``) changes its whole query or key input at once:
from the corrupt run (the ceiling) and with only the earlier circuit members'
summed change (their share). ``attention_sides`` reads it.

Both keep the experiment id, so a description cites the run that measured it.
Contributions are in the evidence's orientation: positive pushes towards the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.evidence import ComponentEvidence, finite_or
from tools.results import PathEdge

#: share of the sender's own contribution an edge must carry to be named as one of its edges
EDGE_MIN = 0.1
#: change in a receiver's attention to its main task role (absolute, 10 points) that names a sender as moving it
ATTENTION_SHIFT = 0.1


def moves_attention(shift: float) -> bool:
    """Whether a change in attention reaches ``ATTENTION_SHIFT`` (with a float tolerance: 0.5 - 0.4 is 0.0999...)."""
    return abs(shift) >= ATTENTION_SHIFT - 1e-9


@dataclass(frozen=True)
class Edge:
    """A sender's path into one input (``q``, ``k`` or ``v``) of one receiver head."""

    sender: str
    receiver: str
    input: str
    contribution: float
    exp: int | None


@dataclass(frozen=True)
class AttentionSource:
    """An earlier member whose change, sent into a head's query or key only, moves where that head looks."""

    sender: str
    input: str
    role: str
    before: float
    after: float
    exp: int | None

    @property
    def shift(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class AttentionSide:
    """A head's attention to one role with its query (``q``), key (``k``) or both (``qk``) inputs changed.

    ``upstream``: with that input from the corrupt run; ``circuit``: with only the earlier circuit
    members' summed change (None when the head has no earlier member).
    """

    input: str
    role: str
    before: float
    upstream: float
    circuit: float | None
    exp: int | None

    @property
    def shift(self) -> float:
        return self.upstream - self.before

    @property
    def circuit_share(self) -> float | None:
        """The earlier members' part of the corrupt run's change (None when either is unmeasured or the
        change is under ``ATTENTION_SHIFT``: a share of nothing is noise)."""
        if self.circuit is None or not moves_attention(self.shift):
            return None
        return (self.circuit - self.before) / self.shift


def attention_sides(ev: ComponentEvidence, role: str) -> list[AttentionSide]:
    """The head's query side, key side and both at once for ``role`` (empty when ``attention_inputs`` was not
    measured)."""
    measured = ev.attention_inputs
    if measured is None or measured.value is None or role not in measured.value.attention:
        return []
    result = measured.value
    found = {(s.source, s.input): finite_or(s.attention.get(role)) for s in result.swaps}
    return [AttentionSide(x, role, finite_or(result.attention[role]), found[("upstream", x)],
                          found.get(("senders", x)), measured.exp)
            for x in ("q", "k", "qk") if ("upstream", x) in found]


def _measured(ev: ComponentEvidence) -> tuple[list[PathEdge], int | None]:
    """The sender's measured edges as the tool reported them, and the experiment that measured them."""
    measured = ev.path_edges
    return (list(measured.value or []), measured.exp) if measured is not None else ([], None)


def edges_of(cid: str, ev: ComponentEvidence) -> list[Edge]:
    """Every measured edge of sender ``cid``, in contribution orientation."""
    edges, exp = _measured(ev)
    return [Edge(cid, e.receiver, e.input, -finite_or(e.effect), exp) for e in edges]


def strongest_edges(cid: str, ev: ComponentEvidence, k: int = 2) -> list[Edge]:
    """Up to ``k`` edges pushing the sender's way, each carrying >= ``EDGE_MIN`` of its contribution."""
    ref = ev.number("exact")
    if abs(ref) < 1e-9:
        return []
    sign = 1.0 if ref > 0 else -1.0
    kept = [e for e in edges_of(cid, ev) if sign * e.contribution >= EDGE_MIN * abs(ref)]
    return sorted(kept, key=lambda e: -abs(e.contribution))[:k]


def attention_sources(receiver: str, role: str, evidence: dict[str, ComponentEvidence]) -> list[AttentionSource]:
    """Every measured query or key edge into ``receiver``, as what it does to the attention to ``role``,
    largest change first (``moves`` keeps those that shift it by >= ``ATTENTION_SHIFT``).

    The battery's path patching is noising (the sender takes its corrupt-run value on the clean prompts),
    which is what the descriptions say ("when L8.H1's corrupt-run output reaches only its keys")."""
    found: list[AttentionSource] = []
    for sender, ev in evidence.items():
        edges, exp = _measured(ev)
        for e in edges:
            if e.receiver != receiver or e.attention is None or e.attention_before is None:
                continue
            if role in e.attention and role in e.attention_before:
                found.append(AttentionSource(sender, e.input, role, finite_or(e.attention_before[role]),
                                             finite_or(e.attention[role]), exp))
    return sorted(found, key=lambda s: (-abs(s.shift), s.sender, s.input))


def moves(sources: list[AttentionSource], k: int = 2) -> list[AttentionSource]:
    """The (up to ``k``) sources that shift the attention by >= ``ATTENTION_SHIFT``, largest first."""
    return [s for s in sources if moves_attention(s.shift)][:k]
