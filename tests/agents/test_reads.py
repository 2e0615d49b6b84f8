"""The receiver-side QK sentences, branch by branch, against hand-written expected text."""

from __future__ import annotations

from agents.edges import AttentionSide
from agents.reads import inputs_sentence, reads_sentence


def sides(before: float, q: float, k: float, qk: float, circuit: dict[str, float] | None = None) -> list[AttentionSide]:
    circuit = circuit or {}
    return [AttentionSide(x, "S2", before, value, circuit.get(x), 7) for x, value in (("q", q), ("k", k), ("qk", qk))]


def test_one_side_moves_with_the_members_share():
    text = reads_sentence(sides(0.98, 0.98, 0.04, 0.04, {"q": 0.98, "k": 0.12, "qk": 0.12}))
    assert text == ("that attention follows its keys: with the corrupt run's keys it falls to 4% (with its queries "
                    "98%); the earlier circuit members' outputs alone take it to 12% through its keys (91% of that "
                    "change)")  # (0.98 - 0.12) / (0.98 - 0.04) = 0.915


def test_both_sides_move_in_opposite_directions_without_members():
    text = reads_sentence(sides(0.5, 0.7, 0.2, 0.3))
    assert text == ("that attention follows its keys and queries: with the corrupt run's keys it falls to 20% and "
                    "with its queries rises to 70%")


def test_only_both_sides_together_move_it():
    text = reads_sentence(sides(0.76, 0.70, 0.72, 0.40, {"q": 0.75, "k": 0.74, "qk": 0.60}))
    assert text == ("neither the corrupt run's queries nor its keys alone move that attention by 10 points (70% with "
                    "its queries, 72% with its keys), but with both it falls to 40%; the earlier circuit members' "
                    "outputs alone take it to 60% through its queries and keys (44% of that change)")


def test_nothing_moves_it():
    assert reads_sentence(sides(0.47, 0.45, 0.49, 0.41)) == (
        "the corrupt run's queries or keys leave that attention within 10 points (45% with its queries, 49% with "
        "its keys)")


def test_members_pushing_against_the_change_are_said_to_go_the_other_way():
    text = reads_sentence(sides(0.66, 0.60, 0.46, 0.44, {"q": 0.66, "k": 0.70, "qk": 0.70}))
    assert text.endswith("the earlier circuit members' outputs alone take it to 70% through its keys (the other way)")


def test_a_change_under_ten_points_gets_no_share():
    # the keys move 10 points, the queries 6: only the keys' share is stated
    text = reads_sentence(sides(0.50, 0.44, 0.40, 0.35, {"q": 0.47, "k": 0.45, "qk": 0.42}))
    assert text.count("of that change") == 1 and "45% through its keys (50% of that change)" in text


def test_the_findings_sentence_lists_every_swap():
    assert inputs_sentence("B", sides(0.98, 0.98, 0.04, 0.04, {"q": 0.98, "k": 0.12, "qk": 0.11})) == (
        "Its attention to B is 98%; with the corrupt run's queries 98%, with its keys 4%, with both 4%; with only "
        "the earlier circuit members' change: queries 98%, keys 12%, both 11%")
