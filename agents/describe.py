"""Descriptions generated from measured evidence, every claim citing its experiments.

Why generated text: the scripted agent's explanation must be checkable
against the store -- each sentence states a number and the experiment id
(``[E12]``) that measured it, so an auditor can open the experiment and see
the same number. Nothing here knows which task is being explained.
"""

from __future__ import annotations

from agents.edges import (
    Edge,
    attention_sides,
    attention_sources,
    edges_of,
    moves,
    strongest_edges,
)
from agents.evidence import (
    ComponentEvidence,
    Finding,
    HypothesisRecord,
    Localisation,
    Role,
    finite_or,
)
from agents.grouping import GROUPING_RULE, signature
from agents.reads import inputs_sentence, pct, reads_sentence, senders_sentence
from agents.scripted import INPUT_NAMES, PATH_OF, STRONG
from agents.signatures import (
    KIND_NOUNS,
    composition,
    direct_share,
    downstream_total,
    pathway_shares,
    role_phrase,
    top_role,
)
from engine.components import parse_component

#: share of the final position's attention that makes a task role "the attended role" in a description
ATTENDS_MIN = 0.3


def order_ids(ids: list[str]) -> list[str]:
    """Component ids in layer order (heads before the MLP of the same layer)."""
    return sorted(ids, key=lambda c: (parse_component(c).layer, parse_component(c).head is None, c))


def measured_sentences(cid: str, ev: ComponentEvidence) -> list[str]:
    """One sentence per measurement, each citing the experiment behind it."""
    scale = max(finite_or(ev.scale, 1.0), 1e-6)
    out = []
    exact = ev.value("exact")
    if exact is not None:
        out.append(f"Patching {cid} with its corrupt-run activation changes the logit difference by "
                   f"{-exact:+.3f} (contribution {exact:+.3f}, {pct(abs(exact) / scale)} of the "
                   f"clean-corrupt gap){ev.cite('exact')}.")
    attn = ev.value("attention")
    if attn:
        ranked = sorted(attn.items(), key=lambda kv: -finite_or(kv[1]))[:3]
        parts = ", ".join(f"{r} {pct(finite_or(v))}" for r, v in ranked)
        out.append(f"From the final position it attends to {parts}{ev.cite('attention')}.")
    dla = ev.value("dla")
    if dla is not None:
        sign = "towards the answer" if dla > 0 else "towards the distractor"
        out.append(f"Its direct logit attribution is {dla:+.3f} ({sign}){ev.cite('dla')}.")
    direct = ev.value("path_logits")
    if direct is not None:
        share = direct_share(ev)
        share_txt = f", {pct(share)} of its effect" if share is not None else ""
        out.append(f"Path patching into the logits only: contribution {direct:+.3f}{share_txt}"
                   f"{ev.cite('path_logits')}.")
    if ev.value("path_downstream") is not None:
        receivers = ev.downstream
        shown = ", ".join(receivers[:6]) + (" ..." if len(receivers) > 6 else "")
        out.append(f"Path patching into the later circuit heads only ({shown}): contribution "
                   f"{downstream_total(ev):+.3f}{ev.cite('path_downstream')}.")
    if (shares := composition(ev)) is not None:
        paths = ", ".join(f"{INPUT_NAMES[x]} {ev.number(PATH_OF[x]):+.3f} ({pct(shares[x])})" for x in "qkv")
        out.append(f"Into only their queries, keys or values: {paths}{ev.cite('path_q', 'path_k', 'path_v')}.")
    edges = sorted(edges_of(cid, ev), key=lambda e: -abs(e.contribution))
    if edges:
        shown_edges = ", ".join(_edge(e) for e in edges[:4])
        out.append(f"Into one later circuit head's query, key or value at a time, its largest paths are "
                   f"{shown_edges} (of {len(edges)}){ev.cite('path_edges')}.")
    copy = ev.value("copy_score")
    if copy is not None:
        role, _ = top_role(ev)
        what = f"the {role} token" if role else "the attended token"
        verb = "raises" if copy > 0 else "lowers"
        out.append(f"Its direct output {verb} the logit of {what}, the token it attends to most (copy score "
                   f"{copy:+.2f}){ev.cite('attention', 'dla')}.")
    corrupt = ev.value("attention_corrupt")
    role, _ = top_role(ev)
    sides = attention_sides(ev, role) if role is not None else []
    if role is not None and sides:
        out.append(f"{inputs_sentence(role, sides)}{ev.cite('attention_inputs')}.")
    if corrupt is not None and role in corrupt:
        out.append(f"On the corrupt prompts its attention to {role} is {pct(finite_or(corrupt[role]))}"
                   f"{ev.cite('attention_corrupt')}.")
    at_shares = ev.position_shares()
    if at_shares:
        ranked = sorted(ev.at_position.items(), key=lambda kv: -abs(finite_or(kv[1].value)))
        parts = ", ".join(f"{role} {finite_or(m.value):+.3f} ({pct(at_shares.get(role, 0.0))})"
                          for role, m in ranked)
        out.append(f"Patched at one task role's position at a time, its contribution is {parts} of the "
                   f"all-position one{ev.cite_positions()}.")
    res = ev.value("ablation_resample")
    if res is not None:
        out.append(f"Resample-ablating it changes the logit difference by {-res:+.3f}{ev.cite('ablation_resample')}.")
    abl = ev.value("ablation")
    if abl is not None:
        out.append(f"{ev.ablation_kind.capitalize()}-ablating it changes the logit difference by {-abl:+.3f} "
                   f"({pct(abs(abl) / scale)} of the gap){ev.cite('ablation')}.")
    return out


def acts_at(ev: ComponentEvidence) -> tuple[str, float] | None:
    """The task role whose position alone carries >= half of the component's contribution, and the share."""
    shares = ev.position_shares()
    if not shares:
        return None
    role = max(sorted(shares), key=lambda r: shares[r])
    return (role, shares[role]) if shares[role] >= 0.5 else None


#: the share of a component's all-position contribution its stated positions must carry together
POSITION_COVER = 0.8


def claimed_positions(ev: ComponentEvidence) -> list[str] | None:
    """The fewest task roles, largest share first, whose positions together carry >= ``POSITION_COVER``
    of the component's contribution; None (every position) when unmeasured or no such set exists.

    The explanation stores them per component; the evaluator keeps each member only at these positions
    on held-out prompts (``engine.evaluation.position_faithfulness``), so the claim is tested, not restated.
    """
    shares = ev.position_shares()
    if not shares:
        return None
    chosen: list[str] = []
    for role in sorted(shares, key=lambda r: -shares[r]):
        if shares[role] <= 0:
            break
        chosen.append(role)
        if sum(shares[r] for r in chosen) >= POSITION_COVER - 1e-9:  # 0.5 + 0.2 + 0.1 is 0.7999... in floats
            return chosen
    return None


def composes_through(ev: ComponentEvidence) -> str | None:
    """``keys`` when one input of the later circuit heads carries the share its composition hypothesis needs
    (``STRONG``, the rule that marks it supported) of the three single-input paths."""
    shares = composition(ev)
    if shares is None:
        return None
    best = max("qkv", key=lambda x: shares[x])
    return INPUT_NAMES[best] if shares[best] >= STRONG else None


def headline(cid: str, ev: ComponentEvidence, hypotheses: list[HypothesisRecord]) -> str:
    """A one-sentence functional summary from the signature and the supported hypotheses."""
    p = role_phrase(ev)
    kind = KIND_NOUNS.get(ev.kind, ("component", "components"))[0]
    article = "an" if p["polarity"][0] in "aeiou" else "a"
    bits = [f"{cid} is {article} {p['polarity']} {kind}"]
    if p["attends"]:
        bits.append(p["attends"].replace("attending", "that attends"))
    if p["behaviour"]:
        role, _ = top_role(ev)
        verb = "copies" if p["behaviour"] == "copying" else "suppresses"
        bits.append(f"that {verb} the {role} token it attends to most" if not p["attends"]
                    else f"and {verb} that token")
    if p["mode"] == "direct":
        bits.append("acting directly on the logits")
    elif p["mode"] == "circuit-mediated":
        through = composes_through(ev)
        bits.append(f"acting through the later circuit heads' {through}" if through
                    else "acting through the later circuit heads")
    elif p["mode"] == "indirect":
        bits.append("acting mostly through components outside the circuit")
    supported = [h for h in hypotheses if h.status == "supported"]
    tail = ""
    if supported:
        tail = " Supported hypotheses: " + "; ".join(
            f"{h.text}{' [' + ', '.join(f'E{e}' for e in h.evidence) + ']' if h.evidence else ''}"
            for h in supported) + "."
    return ", ".join([" ".join(bits[:2]).strip(), *bits[2:]]).replace("  ", " ") + "." + tail


def describe_component(cid: str, ev: ComponentEvidence, hypotheses: list[HypothesisRecord]) -> Finding:
    """The component's finding: the headline plus the measured sentences, citing every experiment."""
    head = headline(cid, ev, hypotheses)
    text = head + " " + " ".join(measured_sentences(cid, ev))
    evidence = sorted(set(ev.evidence_ids()) | {e for h in hypotheses if h.status == "supported"
                                                for e in h.evidence})
    return Finding(description=text.strip(), evidence_ids=evidence, headline=head.split(" Supported")[0],
                   evidence=ev, hypotheses=hypotheses)


def _edge(e: Edge) -> str:
    """``L20.H0's keys +0.412``."""
    return f"{e.receiver}'s {INPUT_NAMES[e.input]} {e.contribution:+.3f}"


def _attends(cid: str, ev: ComponentEvidence, evidence: dict[str, ComponentEvidence]) -> tuple[str, list[int]]:
    """``L23.H3 attends to S2 (66%) and lowers that token's logit (copy score -0.84), acting at END (93% of its
    effect); that attention follows its keys: ...; singly, ...``: where it looks, then what moves that (the
    receiver-side QK evidence, whole input then one sender at a time), and the experiments behind the latter."""
    role, frac = top_role(ev)
    if role is None:
        return f"{cid}'s attention was not measured" + _where(ev), []
    if frac < ATTENDS_MIN:
        return f"{cid} spreads its attention (at most {pct(frac)} on one task role, {role})" + _where(ev), []
    text = f"{cid} attends to {role} ({pct(frac)})"
    copy = ev.value("copy_score")
    if copy is not None and abs(copy) >= 0.5:
        text += f" and {'raises' if copy > 0 else 'lowers'} that token's logit (copy score {copy:+.2f})"
    text += _where(ev)
    sides = attention_sides(ev, role)
    if sides:
        text += "; " + reads_sentence(sides)
    measured = attention_sources(cid, role, evidence)
    shown = moves(measured)
    if measured:
        text += "; " + senders_sentence(measured, shown)
    cited = {s.exp for s in sides} | {s.exp for s in (shown or measured)}
    return text, sorted(i for i in cited if i is not None)


def _where(ev: ComponentEvidence) -> str:
    """``, acting at END (93% of its effect)`` when one task role's position carries it."""
    at = acts_at(ev)
    if at is None:
        return ""
    role, share = at
    if share > 1.05:  # other positions offset part of it: the one position alone gives more than the whole
        return f", acting at {role} (patched there alone: {pct(share)} of its all-position contribution)"
    return f", acting at {role} ({pct(share)} of its effect)"


def _talks_to(cid: str, ev: ComponentEvidence) -> str:
    """``L8.H1 acts mainly on their keys, most on L20.H0's keys +0.412`` (empty when nothing to say)."""
    through = composes_through(ev)
    edges = strongest_edges(cid, ev)
    text = f"{cid} acts mainly on their {through}" if through else ""
    if edges:
        named = " and ".join(_edge(e) for e in edges)
        text = f"{text}, most on {named}" if text else f"{cid} acts most on {named}"
    return text


def describe_cluster(members: list[str], evidence: dict[str, ComponentEvidence]) -> Role:
    """One role from its members' evidence: named by their signature, described as a mechanism.

    The name is the members' shared signature (``agents.grouping``); a group
    whose members do not all share one (only in the opt-in fitted-to-swaps
    mode) is named by its most common signature and says how many share it.
    """
    evs = [evidence[m] for m in members]
    sigs = [signature(ev) for ev in evs]
    common = max(sorted(set(sigs)), key=sigs.count)
    plural = len(members) > 1
    name = common.name(plural)
    if sigs.count(common) < len(sigs):
        name = f"{name} ({sigs.count(common)} of {len(sigs)}; grouped by weight swaps)"
    scale = max(finite_or(evs[0].scale, 1.0), 1e-6)
    sentences = []
    cited: set[int] = set()
    if common.kind == "head":
        attends = [_attends(m, ev, evidence) for m, ev in zip(members, evs, strict=True)]
        cited |= {i for _, ids in attends for i in ids}
        sentences.append("From the final position " + "; ".join(text for text, _ in attends))
    shares = [sh for ev in evs if (sh := pathway_shares(ev)) is not None]
    whose = "their" if plural else "its"
    if shares:
        direct = sum(sh["direct"] for sh in shares) / len(shares)
        via = sum(sh["circuit"] for sh in shares) / len(shares)
        receivers = sorted({r for ev in evs for r in ev.downstream}, key=lambda c: (parse_component(c).layer, c))
        shown = f" ({', '.join(receivers[:6])}{' ...' if len(receivers) > 6 else ''})" if receivers else ""
        sentences.append(f"on average {pct(direct)} of {whose} effect goes straight to the logits and "
                         f"{pct(via)} through later circuit heads{shown} (path patching)")
        inputs = [_talks_to(m, ev) for m, ev in zip(members, evs, strict=True)]
        if any(inputs):
            sentences.append("into those heads " + ", ".join(t for t in inputs if t))
    total = sum(ev.number("exact") for ev in evs)
    verb = "contribute" if plural else "contributes"
    sentences.append(f"{'together they' if plural else 'it'} {verb} {total:+.3f} to the logit difference "
                     f"({pct(abs(total) / scale)} of the clean-corrupt gap)")
    ids = sorted({i for ev in evs for i in ev.evidence_ids()} | cited)
    cites = " [" + ", ".join(f"E{i}" for i in ids) + "]" if ids else ""
    text = "; ".join(sentences) + cites + "."
    text = text[0].upper() + text[1:]
    if not plural:
        text += " It is the only studied component with this signature, so it is a role of its own."
    return Role(name=name, description=text, members=list(members), evidence=ids)


def circuit_summary(
    task: str, model: str, circuit: list[str], clusters: list[Role],
    localisation: Localisation, stop_reason: str | None = None,
) -> str:
    """The circuit-level explanation: localisation, then one paragraph per role."""
    loc_ids = localisation.experiments
    loc_cite = " [" + ", ".join(f"E{i}" for i in loc_ids) + "]" if loc_ids else ""
    lines = []
    if localisation.method == "given":
        lines.append(f"The circuit for {task} in {model} was given: {', '.join(circuit)}{loc_cite}.")
    elif localisation.faithfulness is not None:
        res = localisation.faithfulness
        # the core localisation kept: the chosen size, at least its default minimum of two
        grown = res.order[: max(res.chosen_size, min(2, len(res.order)))]
        joined = [c for c in grown if c not in res.start]
        added = [c for c in circuit if c not in localisation.opposing and c not in grown]
        start = (f"starting from the top {len(res.start)} by exact effect ({', '.join(res.start)}), "
                 if res.start else "")
        measured = ("the candidate" if res.shortlist is None or res.shortlist >= len(res.candidates) else
                    f"of the {res.shortlist} heads or MLPs with the largest restoration gradient, the one")
        lines.append(
            f"Attribution patching over every head and MLP of {model}, confirmed by exact patching of the top "
            f"{len(localisation.candidates)} candidates, ranks the answer-promoting components for {task}. The "
            f"circuit's core of {len(grown)} ({', '.join(order_ids(grown))}) was grown greedily on the research "
            f"prompts with every other head and MLP mean-ablated, {start}adding at each step "
            f"{measured} that raised faithfulness most ({', '.join(joined) or 'none needed'}, in that order): {res.reason}"
            f"{loc_cite}.")
        if localisation.target_f is not None and res.target_f > localisation.target_f:
            lines.append(f"The aim is f >= {localisation.target_f:.2f} on held-out prompts; selection asks "
                         f"{res.target_f:.2f} of the research prompts, because keeping the best of the measured "
                         "additions at each step flatters the prompts that chose them.")
        if added:
            one = len(added) == 1
            lines.append(f"{len(added)} more {'restores' if one else 'restore'} the behaviour alone when patched into "
                         f"the corrupt run, though ablation does not need {'it' if one else 'them'} (others cover "
                         f"for {'it' if one else 'them'}), without lowering the core's faithfulness: "
                         f"{', '.join(added)}.")
        if localisation.opposing:
            lines.append(f"Answer-opposing components with |effect| >= {finite_or(localisation.threshold):.3f} "
                         f"are kept as their own part: {', '.join(localisation.opposing)}.")
    else:
        lines.append(
            f"Attribution patching over every head and MLP of {model}, confirmed by exact patching of the "
            f"top {len(localisation.candidates)} candidates, keeps {len(circuit)} components for "
            f"{task} with |effect| >= {finite_or(localisation.threshold):.3f}: {', '.join(circuit)}{loc_cite}.")
    lines.append(f"They fall into {len(clusters)} functional role(s), grouped by a fixed rule: {GROUPING_RULE}")
    for c in clusters:
        lines.append(f"{c.name[:1].upper()}{c.name[1:]} ({', '.join(c.members)}): {c.description}")
    if stop_reason:
        lines.append(f"The run stopped early: {stop_reason}; unstudied components are not described.")
    return "\n".join(lines)
