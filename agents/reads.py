"""What makes a head attend where it does, in words: the receiver-side QK sentences of a description.

Why a module of its own: a head's description answers "what does it read?" from
two experiments -- its whole query or key input changed at once
(``attention_inputs``, read by ``agents.edges.attention_sides``) and each earlier
member's single query or key path (``path_patching`` edges, read by
``agents.edges.attention_sources``). The wording rules (which side it
"follows", when a share is worth stating) live here, beside each other, so
both sentences use the same threshold and the same numbers as the evidence.
"""

from __future__ import annotations

from agents.edges import ATTENTION_SHIFT, AttentionSide, AttentionSource, moves_attention
from agents.evidence import finite_or
from agents.scripted import INPUT_NAMES

#: the side names a sentence uses, ``qk`` being both at once
SIDE_NAMES = {**INPUT_NAMES, "qk": "queries and keys"}


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _share(s: AttentionSide) -> str | None:
    """``12% through its keys (92% of that change)``; the other way when the members push against it."""
    share = s.circuit_share  # None when the members' change was not measured
    if share is None:
        return None
    name = SIDE_NAMES[s.input]
    if share < 0:
        return f"{pct(finite_or(s.circuit))} through its {name} (the other way)"
    return f"{pct(finite_or(s.circuit))} through its {name} ({pct(share)} of that change)"


def _members(sides: list[AttentionSide]) -> str:
    parts = [text for s in sides if (text := _share(s)) is not None]
    return "; the earlier circuit members' outputs alone take it to " + " and ".join(parts) if parts else ""


def reads_sentence(sides: list[AttentionSide]) -> str:
    """``that attention follows its keys: with the corrupt run's keys it falls to 4% (with its queries 98%);
    the earlier circuit members' outputs alone take it to 12% through its keys (92% of that change)``.

    A side "moves" the attention when it changes it by >= ``ATTENTION_SHIFT``; when neither alone does but both
    together do, the sentence says so."""
    one = [s for s in sides if s.input != "qk"]
    both = next((s for s in sides if s.input == "qk"), None)
    moved = sorted((s for s in one if moves_attention(s.shift)), key=lambda s: -abs(s.shift))
    points = round(100 * ATTENTION_SHIFT)
    each = ", ".join(f"{pct(s.upstream)} with its {SIDE_NAMES[s.input]}" for s in one)
    if not moved:
        if both is not None and moves_attention(both.shift):
            verb = "falls" if both.shift < 0 else "rises"
            return (f"neither the corrupt run's queries nor its keys alone move that attention by {points} points "
                    f"({each}), but with both it {verb} to {pct(both.upstream)}" + _members([both]))
        return f"the corrupt run's queries or keys leave that attention within {points} points ({each})"
    parts = []
    for i, s in enumerate(moved):
        verb = "falls" if s.shift < 0 else "rises"
        if i == 0:
            parts.append(f"with the corrupt run's {SIDE_NAMES[s.input]} it {verb} to {pct(s.upstream)}")
        else:
            same = (moved[0].shift < 0) == (s.shift < 0)
            parts.append(f"with its {SIDE_NAMES[s.input]} {'' if same else verb + ' '}to {pct(s.upstream)}")
    still = "".join(f" (with its {SIDE_NAMES[s.input]} {pct(s.upstream)})" for s in one if s not in moved)
    names = " and ".join(SIDE_NAMES[s.input] for s in moved)
    return f"that attention follows its {names}: " + " and ".join(parts) + still + _members(moved)


def senders_sentence(measured: list[AttentionSource], shown: list[AttentionSource]) -> str:
    """One sender at a time: ``singly, that attention falls to 31% when L8.H1's corrupt-run output reaches only
    its keys ...`` for the ``shown`` movers, else the largest single change of the ``measured`` ones."""
    if shown:
        parts = []
        for i, s in enumerate(shown):
            verb = "falls" if s.shift < 0 else "rises"
            same = i > 0 and (shown[i - 1].shift < 0) == (s.shift < 0)
            what = "corrupt-run output" if i == 0 else "output"
            parts.append(f"{'' if same else verb + ' '}to {pct(s.after)} when {s.sender}'s {what} reaches only its "
                         f"{INPUT_NAMES[s.input]}")
        return "singly, that attention " + " and ".join(parts)
    if not measured:
        return ""
    top = measured[0]
    return (f"no single earlier member's query or key path moves it by {round(100 * ATTENTION_SHIFT)} points or more "
            f"(largest of {len(measured)}: {top.sender}'s into its {INPUT_NAMES[top.input]}, {pct(top.before)} to "
            f"{pct(top.after)})")


def inputs_sentence(role: str, sides: list[AttentionSide]) -> str:
    """The finding's sentence: ``Its attention to B is 98%; with the corrupt run's queries 98%, with its keys 4%,
    with both 4%; with only the earlier circuit members' change: queries 98%, keys 4%, both 4%``."""
    names = {"q": "queries", "k": "keys", "qk": "both"}
    parts = []
    for i, s in enumerate(sides):
        whose = "the corrupt run's " if i == 0 else "" if s.input == "qk" else "its "
        parts.append(f"with {whose}{names[s.input]} {pct(s.upstream)}")
    upstream = ", ".join(parts)
    members = ", ".join(f"{names[s.input]} {pct(s.circuit)}" for s in sides if s.circuit is not None)
    text = f"Its attention to {role} is {pct(sides[0].before)}; {upstream}"
    return text + (f"; with only the earlier circuit members' change: {members}" if members else "")
