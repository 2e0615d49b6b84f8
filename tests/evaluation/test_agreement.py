"""Agreement of two explanations (ARI, assignment accuracy, circuit overlap) and the planted score.

Expected values are worked out by hand in the comments (pair counting), not
recomputed with the functions under test.
"""

from __future__ import annotations

import pytest

from engine.evaluation.agreement import adjusted_rand_index, assignment_accuracy, circuit_overlap
from engine.planted.score import score_planted
from engine.planted.truth import HeadTruth, PlantedTruth

# a: {1,2,3} {4,5,6};  b: {1,2} {3,4,5,6}. Contingency [[2,1],[0,3]]:
# together in both = C(2,2)+C(3,2) = 4; rows = 3+3 = 6; cols = 1+6 = 7; expected = 6*7/15 = 2.8;
# max = 6.5 -> ARI = (4-2.8)/(6.5-2.8) = 1.2/3.7. Best matching A->P (2), B->Q (3): 5 of 6.
A = {"h1": "A", "h2": "A", "h3": "A", "h4": "B", "h5": "B", "h6": "B"}
B = {"h1": "P", "h2": "P", "h3": "Q", "h4": "Q", "h5": "Q", "h6": "Q"}


def test_ari_and_assignment_accuracy_match_pair_counting():
    assert adjusted_rand_index(A, B) == pytest.approx(1.2 / 3.7)
    assert adjusted_rand_index(B, A) == pytest.approx(1.2 / 3.7)
    assert assignment_accuracy(A, B) == pytest.approx(5 / 6)


def test_ari_is_one_for_renamed_roles_and_zero_at_chance():
    renamed = {k: {"A": "x", "B": "y"}[v] for k, v in A.items()}
    assert adjusted_rand_index(A, renamed) == 1.0 and assignment_accuracy(A, renamed) == 1.0
    # {1,2} {3,4} vs {1,2,3} {4}: together in both 1, rows 2, cols 3, expected 2*3/6 = 1 -> ARI 0
    assert adjusted_rand_index({"1": "a", "2": "a", "3": "b", "4": "b"},
                               {"1": "p", "2": "p", "3": "p", "4": "q"}) == pytest.approx(0.0)


def test_missing_components_are_ignored_or_counted_as_singletons():
    partial = {k: v for k, v in A.items() if k != "h6"}
    assert adjusted_rand_index(partial, A) == 1.0
    # union: h6 alone on one side. a = {1,2,3}{4,5}{6}, b = {1,2,3}{4,5,6}: both 3+1 = 4,
    # rows 4, cols 6, expected 24/15 = 1.6, max 5 -> (4-1.6)/(5-1.6) = 2.4/3.4
    assert adjusted_rand_index(partial, A, missing="singleton") == pytest.approx(2.4 / 3.4)
    assert adjusted_rand_index({"h1": "A"}, {"h1": "A"}) is None


def test_circuit_overlap():
    out = circuit_overlap(["a", "b", "c", "d"], ["b", "c", "e"])
    assert (out.precision, out.recall, out.common) == (0.5, pytest.approx(2 / 3), 2)
    assert circuit_overlap([], ["a"]).precision is None


def _truth(roles: dict[str, list[str]]) -> PlantedTruth:
    circuit = [h for members in roles.values() for h in members]
    heads = [HeadTruth(head=h, role=r, in_circuit=True, decoy=False, scores={}, ablation_effect=-1.0)
             for r, members in roles.items() for h in members]
    return PlantedTruth(
        name="planted-x", fingerprint="0", roles=roles, role_descriptions={r: r for r in roles}, circuit=circuit,
        unexplained=[], decoys=["L0.H9"], heads=heads, clean_metric=1.0, ablated_metric=0.0, circuit_metric=1.0,
        faithfulness=1.0, role_knockout={r: 0.0 for r in roles}, accuracy=1.0, checks={"learned": True},
        n_sequences=1, seed=0,
    )


def test_planted_score_grades_roles_and_circuit_against_the_truth():
    truth = _truth({"prev": ["L0.H0", "L0.H1", "L0.H2"], "ind": ["L1.H0", "L1.H1", "L1.H2"]})
    # the agent misses L1.H2, adds the decoy L0.H9 and puts L0.H2 with the induction heads
    roles = {"r1": ["L0.H0", "L0.H1"], "r2": ["L0.H2", "L1.H0", "L1.H1"], "r3": ["L0.H9"]}
    score = score_planted(truth, roles)
    assert score.circuit_recall == pytest.approx(5 / 6) and score.circuit_precision == pytest.approx(5 / 6)
    assert score.missed == ["L1.H2"] and score.extra == ["L0.H9"]
    # shared heads: truth {0,1,2}{3,4} vs agent {0,1}{2,3,4} -> the A/B example above minus h6:
    # contingency [[2,1],[0,2]]: both 1+1 = 2, rows 3+1 = 4, cols 1+3 = 4, expected 16/10, max 4 -> 0.4/2.4
    assert score.ari == pytest.approx(0.4 / 2.4)
    assert score.truth == truth.roles and score.truth_verified
