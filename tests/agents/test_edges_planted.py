"""Whom each head talks to and what makes it attend, checked against planted models' known mechanism.

Both planted models work the way induction circuits do: a previous-token head writes the preceding
token into each position, and a later head finds its target by *keys* that hold that token
(K-composition). The truth (``engine.planted.truth``) names which heads do which job from attention
scores on fresh sequences, with no code shared with the agent. So the edge-by-edge path patching the
scripted agent records must show, for every previous-token head in its circuit, that its strongest
edge goes into a later truth head's keys; for every later truth head, that the earlier member which
moves its attention most does so through its keys, that its whole key input (not its query input)
from the corrupt run takes its attention away, with the earlier members carrying that change; and the
explanation must say so.
"""

from __future__ import annotations

import re

import pytest

import autointerp
from engine.planted import PLANTED, load_planted
from store import load_run_for_audit, open_store
from tools.results import AttentionInputsResult, PathPatchingResult

pytestmark = pytest.mark.planted


@pytest.mark.parametrize("name", PLANTED)
def test_edges_and_attention_sources_follow_the_planted_k_composition(name, tmp_path):
    truth = load_planted(name).truth
    early, late = truth.roles["previous-token"], next(m for r, m in truth.roles.items() if r != "previous-token")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    run = autointerp.explain(task=name, model=name, db=url, evaluate=False)
    with open_store(url) as st:
        audit = load_run_for_audit(st, run.run_id)
    per_edge = [PathPatchingResult.model_validate(e["result"]) for e in audit["experiments"]
                if e["tool"] == "path_patching" and e["args"].get("separately")]
    by_sender = {r.sender: r for r in per_edge}
    senders = [h for h in early if h in run.circuit]
    assert len(senders) >= 3, run.circuit
    assert set(senders) <= set(by_sender), "a previous-token head's edges were not measured"
    # the sender side: into the later truth heads, the keys carry the previous-token heads' effect, not the queries
    into = {x: sum(-e.effect for s in senders for e in by_sender[s].edges if e.input == x and e.receiver in late)
            for x in "qk"}
    assert into["k"] > 0.1 and into["k"] > 3 * abs(into["q"]), into
    # the receiver side: what moves each later head's attention to the position it attends to
    receivers = [h for h in late if h in run.circuit]
    assert len(receivers) >= 3
    largest, largest_from = {}, {}
    for receiver in receivers:
        edges = [(r.sender, e) for r in per_edge for e in r.edges if e.receiver == receiver and e.input != "v"]
        assert edges and all(e.attention is not None and e.attention_before is not None for _, e in edges)
        before = edges[0][1].attention_before
        role = max(before, key=lambda k: before[k])
        sender, edge = min(edges, key=lambda se: se[1].attention[role] - se[1].attention_before[role])
        assert sender in early and edge.input == "k", (receiver, sender, edge)
        largest[receiver] = edge.attention_before[role] - edge.attention[role]
        largest_from[receiver] = sender
        # a query edge leaves where it looks almost unchanged: the query is the current token itself
        assert all(abs(e.attention[role] - e.attention_before[role]) < 0.05 for _, e in edges if e.input == "q")
    assert max(largest.values()) >= 0.1, largest
    # the explanation says it, with the numbers measured
    late_role = next(c for c in run.explanation["clusters"] if set(c["members"]) & set(receivers))
    # (after the whole-input sentence, checked below)
    stated = re.findall(r"(L1\.H\d) attends to (\w+) \(\d+%\)[^;]*; that attention follows [^;]*;[^;]*; singly, that "
                        r"attention falls to (\d+)% when (L0\.H\d)'s corrupt-run output reaches only its keys",
                        late_role["description"])
    assert {s[0] for s in stated} == {r for r, drop in largest.items() if drop >= 0.1}, late_role["description"]
    for receiver, role, after, sender in stated:
        edge = next(e for e in by_sender[sender].edges if e.receiver == receiver and e.input == "k")
        assert int(after) == round(100 * edge.attention[role])
    # a head no single sender moves by 10 points says so, naming the largest measured change
    quiet = re.findall(r"(L1\.H\d) attends to \w+ \(\d+%\)[^;]*; that attention follows [^;]*;[^;]*; no single earlier "
                       r"member's query or key path moves it by 10 points or more \(largest of \d+: (L0\.H\d)'s into "
                       r"its keys", late_role["description"])
    assert {r for r, _ in quiet} == {r for r, drop in largest.items() if drop < 0.1}
    for receiver, sender in quiet:
        assert sender == largest_from[receiver]
    # the whole query or key input at once (attention_inputs): the keys set where each later truth head looks,
    # the queries do not, and the earlier circuit members (the previous-token heads' layer) carry the keys' change
    swaps = [AttentionInputsResult.model_validate(e["result"]) for e in audit["experiments"]
             if e["tool"] == "attention_inputs"]
    by_head = {r.head: r for r in swaps}
    for receiver in receivers:
        res = by_head[receiver]
        assert set(res.senders) == {c for c in run.circuit if c.startswith("L0.")}
        role = max(res.attention, key=lambda k: res.attention[k])
        before = res.attention[role]
        after = {(s.source, s.input): s.attention[role] for s in res.swaps}
        assert before - after[("upstream", "k")] >= 0.5, (receiver, after)
        assert abs(after[("upstream", "q")] - before) < 0.05, (receiver, after)
        share = (before - after[("senders", "k")]) / (before - after[("upstream", "k")])
        assert share >= 0.8, (receiver, share)
        said = re.search(rf"{receiver} attends to {role} \(\d+%\)[^;]*; that attention follows its keys: with the corrupt "
                         r"run's keys it falls to (\d+)% \(with its queries (\d+)%\); the earlier circuit members' outputs "
                         r"alone take it to (\d+)% through its keys \((\d+)% of that change\)", late_role["description"])
        assert said, (receiver, late_role["description"])
        assert [int(x) for x in said.groups()] == [round(100 * after[("upstream", "k")]), round(100 * after[("upstream", "q")]),
                                                   round(100 * after[("senders", "k")]), round(100 * share)]
