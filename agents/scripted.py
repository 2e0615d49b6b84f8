"""The scripted researcher: hypotheses proposed from evidence and tested by experiment.

Why not a lookup table: this agent knows no task and no circuit. For each
component it (1) looks at the evidence so far (its localisation effect,
where it attends from the final position, its direct logit attribution),
(2) proposes 3-5 competing hypotheses about its function from that
evidence, (3) chooses the experiment that decides each one (path patching
into the logits or into downstream circuit components, a copy/suppression
test of its output, ablation), (4) marks each hypothesis supported, refuted
or inconclusive by a stated rule, and (5) follows up inconclusive ones with a
different experiment while the component's step budget lasts. Thresholds are
relative to the component's own patching effect, so the same rules work on
any task and model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agents.evidence import ComponentEvidence, HypothesisRecord, MeasureName, finite_or
from agents.signatures import composition, downstream_total, top_role

Verdict = tuple[str, str]  # (status, reason)

STRONG = 0.5  # share of the component's own effect that counts as "carries it"
WEAK = 0.2  # below this share a pathway "does not carry it"
SUFFICIENT = 0.9  # a direct share this large leaves no room for an indirect path worth testing
COPY = 0.5  # copy score beyond which the output copies / suppresses the attended token
#: what the receivers' inputs are called in hypotheses and descriptions
INPUT_NAMES = {"q": "queries", "k": "keys", "v": "values"}
#: the measure that patches only that input of the receivers
PATH_OF: dict[str, MeasureName] = {"q": "path_q", "k": "path_k", "v": "path_v"}


@dataclass
class Hypothesis:
    """A claim about one component, the measure that tests it and the rule that judges it."""

    key: str
    text: str
    test: MeasureName
    judge: Callable[[ComponentEvidence], Verdict]
    #: decides the hypothesis from evidence already in hand, when that suffices (None = run the test)
    shortcut: Callable[[ComponentEvidence], Verdict | None] | None = None
    #: (measure, rule) pairs tried in order while the hypothesis stays inconclusive
    followups: tuple[tuple[MeasureName, Callable[[ComponentEvidence], Verdict]], ...] = ()
    id: int | None = None
    status: str = "proposed"
    reason: str = ""
    evidence: list[int] = field(default_factory=list)

    def record(self) -> HypothesisRecord:
        return HypothesisRecord(id=self.id, key=self.key, text=self.text, status=self.status,
                                reason=self.reason, evidence=list(self.evidence))


def _share_rule(measure: MeasureName, label: str) -> Callable[[ComponentEvidence], Verdict]:
    """Judge 'pathway ``measure`` carries the component's effect' relative to its exact effect.

    Sign convention of every verdict: values are *contributions*, the negated
    noising effect (``-(metric(patched) - metric(clean))``): positive means the
    component's clean activation pushes towards the answer. Tool summaries
    report the raw ``effect``; the verdict text therefore never calls a
    contribution an effect.
    """

    def judge(ev: ComponentEvidence) -> Verdict:
        if ev.value(measure) is None:
            return "inconclusive", f"{label} could not be measured"
        got = downstream_total(ev) if measure == "path_downstream" else ev.number(measure)
        ref = ev.number("exact")
        if abs(ref) < 1e-9:
            return "inconclusive", "the component's own effect is zero, so no share can be computed"
        share = got / ref
        text = f"{label} {got:+.3f} = {share:.0%} of its patching contribution {ref:+.3f}"
        if share >= STRONG:
            return "supported", f"{text} (>= {STRONG:.0%})"
        if abs(share) < WEAK:
            return "refuted", f"{text} (|share| < {WEAK:.0%})"
        if share <= -STRONG:
            return "refuted", f"{text} (opposite sign)"
        return "inconclusive", f"{text} (between {WEAK:.0%} and {STRONG:.0%})"

    return judge


def _rest_is_small(ev: ComponentEvidence) -> Verdict | None:
    """Refute 'acts through downstream components' when the direct path already carries ~all of it."""
    direct, ref = ev.value("path_logits"), ev.number("exact")
    if direct is None or abs(ref) < 1e-9:
        return None
    rest = 1.0 - direct / ref
    if abs(rest) <= 1.0 - SUFFICIENT:
        return "refuted", (f"the direct path alone carries {direct / ref:.0%} of its patching contribution "
                           f"{ref:+.3f}, leaving at most {abs(rest):.0%} for any indirect path")
    return None


def _copy_rule(sign: int) -> Callable[[ComponentEvidence], Verdict]:
    def judge(ev: ComponentEvidence) -> Verdict:
        copy = ev.value("copy_score")
        if copy is None:
            return "inconclusive", ("the most-attended position holds neither the answer nor the distractor "
                                    "token, so copying cannot be read from the logit difference")
        score = sign * ev.number("copy_score")
        text = f"copy score {ev.number('copy_score'):+.2f}"
        if score >= COPY:
            return "supported", f"{text} (beyond {sign * COPY:+.1f})"
        if score <= -COPY:
            return "refuted", f"{text} (the opposite behaviour)"
        return "inconclusive", f"{text} (within +/-{COPY})"

    return judge


def _polarity_rule(ev: ComponentEvidence) -> Verdict:
    if ev.value("dla") is None:
        return "inconclusive", "direct logit attribution could not be measured"
    dla, ref = ev.number("dla"), ev.number("exact")
    if abs(dla) < WEAK * abs(ref):
        return "refuted", f"direct logit attribution {dla:+.3f} is under {WEAK:.0%} of its effect {ref:+.3f}"
    if dla > 0:
        return "supported", f"direct logit attribution {dla:+.3f} favours the answer"
    return "refuted", f"direct logit attribution {dla:+.3f} favours the distractor"


def _structural_rule(role: str) -> Callable[[ComponentEvidence], Verdict]:
    def judge(ev: ComponentEvidence) -> Verdict:
        clean = (ev.value("attention") or {}).get(role)
        corrupt = ev.value("attention_corrupt")
        if clean is None or corrupt is None or role not in corrupt:
            return "inconclusive", "attention on the corrupt prompts could not be measured"
        ratio = finite_or(corrupt[role]) / max(finite_or(clean), 1e-9)
        text = (f"attention to {role} is {finite_or(clean):.0%} on the clean and "
                f"{finite_or(corrupt[role]):.0%} on the corrupt prompts")
        if ratio >= 0.7:
            return "supported", f"{text} (kept {ratio:.0%})"
        if ratio <= 0.4:
            return "refuted", f"{text} (kept only {ratio:.0%}: it depends on what the clean tokens are)"
        return "inconclusive", f"{text} (kept {ratio:.0%}, between 40% and 70%)"

    return judge


def propose(cid: str, ev: ComponentEvidence, downstream: list[str], tokens: dict[str, str]) -> list[Hypothesis]:
    """3-5 competing hypotheses about ``cid``, phrased from the evidence seen so far.

    Args:
        cid: the component.
        ev: its evidence so far (localisation effect, survey measures).
        downstream: later circuit heads it could act through.
        tokens: task roles whose token is the answer / the distractor (``battery.role_tokens``).
    """
    is_head = ev.kind == "head"
    ref = ev.number("exact")
    direction = "towards the answer" if ref >= 0 else "towards the distractor"
    hyps = [Hypothesis(
        "direct", f"{cid} moves the logit difference {direction} directly through the logits "
                  f"(at least {STRONG:.0%} of its effect survives path patching into the logits only)",
        "path_logits", _share_rule("path_logits", "direct path contribution"),
        followups=(("dla", _share_rule("dla", "direct logit attribution")),))]
    if downstream:
        shown = ", ".join(downstream[:4]) + (" ..." if len(downstream) > 4 else "")
        hyps.append(Hypothesis(
            "indirect", f"{cid} acts by changing the inputs of downstream circuit components ({shown})",
            "path_downstream", _share_rule("path_downstream", "contribution through downstream components"),
            shortcut=_rest_is_small))
    if is_head:
        role, frac = top_role(ev)
        if role in tokens:  # the attended token is the answer or the distractor: copying is testable
            what = f"the {role} token it attends to ({frac:.0%} of its final-position attention)"
            hyps.append(Hypothesis("copy", f"{cid} copies {what} into the residual stream, raising its logit",
                                   "copy_score", _copy_rule(+1)))
            hyps.append(Hypothesis("suppress", f"{cid} suppresses {what}, lowering its logit",
                                   "copy_score", _copy_rule(-1)))
        if role is not None and frac >= 0.3:
            hyps.append(Hypothesis(
                "structural", f"{cid}'s attention to {role} ({frac:.0%}) is set by the prompt's structure, not "
                              "by its particular tokens: it persists on the corrupt prompts",
                "attention_corrupt", _structural_rule(role)))
    if not is_head or len(hyps) < 2:  # too little else to test: ask which way its direct output points
        hyps.append(Hypothesis("polarity", f"{cid}'s direct output favours the answer over the distractor",
                               "dla", _polarity_rule))
    hyps.append(Hypothesis(
        "necessary", f"{cid} is necessary: mean-ablating it removes at least {STRONG:.0%} of its patching "
                     "contribution", "ablation", _share_rule("ablation", "mean-ablation contribution"),
        followups=(("ablation_resample", _share_rule("ablation_resample", "resample-ablation contribution")),)))
    return hyps[:5]


def _composition_rule(which: str) -> Callable[[ComponentEvidence], Verdict]:
    """Judge 'it acts through the receivers' ``which`` input' by that input's share of the three paths."""

    def judge(ev: ComponentEvidence) -> Verdict:
        shares = composition(ev)
        if shares is None:
            return "inconclusive", "the single-input paths could not be measured (or are all zero)"
        paths = ", ".join(f"{x} {ev.number(PATH_OF[x]):+.3f}" for x in "qkv")
        text = (f"path patching into only the later circuit heads' {INPUT_NAMES[which]} carries "
                f"{shares[which]:.0%} of the three single-input paths ({paths})")
        if shares[which] >= STRONG:
            return "supported", f"{text} (>= {STRONG:.0%})"
        if shares[which] < WEAK:
            return "refuted", f"{text} (< {WEAK:.0%})"
        return "inconclusive", f"{text} (between {WEAK:.0%} and {STRONG:.0%})"

    return judge


def propose_composition(cid: str) -> list[Hypothesis]:
    """Three competing hypotheses about *how* ``cid`` acts through the later circuit heads.

    Proposed once 'acts through downstream circuit components' is supported:
    a sender can change what a receiver looks for (its queries:
    Q-composition), where it finds it (its keys: K-composition) or what it
    moves once it attends (its values: V-composition).
    """
    return [Hypothesis(
        f"{x}-composition", f"{cid} acts on the later circuit heads through their {INPUT_NAMES[x]} "
                            f"({x.upper()}-composition): at least {STRONG:.0%} of the three single-input paths",
        PATH_OF[x], _composition_rule(x)) for x in "qkv"]
