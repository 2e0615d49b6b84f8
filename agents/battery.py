"""The standard experiments, each turned into one number (or table) of evidence.

Why here: the scripted researcher and the one-shot baseline run the same
battery through the ordinary tools, so every measurement is a recorded
experiment. It has two parts:

* a *survey* of the whole circuit in a few batched calls -- attention from the
  final position to the task's token roles (``attention_pattern``, up to 12
  heads a call), direct logit attribution (``logit_lens``), mean-ablation
  effects (``ablation`` sweep) and, per task role, exact patching of every
  component's output at that role's position only (which query position its
  effect is computed at) -- cheap because one forward serves every component;
* *per-component* tests -- path patching into the logits only and into the
  downstream circuit heads only (``path_patching``; the same experiment
  patches each later circuit head's query, key and value on its own: whom
  it talks to, and where each receiver then looks), then into only their
  queries, keys or values together (which input the component composes
  with), resample ablation;
* for a head, what makes it attend where it does (``attention_inputs``): its
  query or key input from the corrupt run, and with only the earlier circuit
  members' change.

Copy/suppression is read from two surveyed measurements and the task's
tokens: a head that attends to a position whose token is the answer (or the
distractor) and moves the logit difference towards that same token copies it;
moving it away suppresses it. Everything is converted to *contribution*
orientation (positive = the component's clean activation pushes the metric
towards the answer): for noising effects that is ``-effect``.
"""

from __future__ import annotations

from agents.evidence import COMPOSITION, ComponentEvidence, Measured, MeasureName
from agents.nodes.common import Lab
from agents.recorder import Experiment
from engine.tasks import TaskData
from tools.results import (
    AblationResult,
    ActivationPatchingResult,
    AttentionInputsResult,
    AttentionPatternResult,
    HeadAttention,
    LogitLensResult,
    PathPatchingResult,
)

MAX_HEADS_PER_CALL = 12
TOKEN_MATCH = 0.8  # share of pairs whose role token must be the answer (distractor) to call it so


def role_tokens(data: TaskData) -> dict[str, str]:
    """Role -> ``answer`` / ``distractor`` when that role's clean token is it in most pairs."""
    counts: dict[str, list[int]] = {}
    for bucket in data.buckets:
        rows = range(bucket.n)
        for role, pos in bucket.roles.items():
            c = counts.setdefault(role, [0, 0, 0])
            for i in rows:
                token = int(bucket.clean[i, int(pos[i])])
                c[0] += token == int(bucket.answer[i])
                c[1] += token == int(bucket.distractor[i])
                c[2] += 1
    out = {}
    for role, (ans, dis, total) in counts.items():
        if total and ans / total >= TOKEN_MATCH:
            out[role] = "answer"
        elif total and dis / total >= TOKEN_MATCH:
            out[role] = "distractor"
    return out


def _role_attention(entry: HeadAttention | None) -> dict[str, float] | None:
    """Attention by role from one head's entry, with the first position as the role ``first token``."""
    if entry is None:
        return None
    roles = dict(entry.to_role)
    roles.setdefault("first token", entry.to_first_position)
    return roles


def survey(
    lab: Lab, circuit: list[str], evidence: dict[str, ComponentEvidence], roles: tuple[str, ...] = (),
) -> None:
    """Attention, direct logit attribution, mean ablation and, for each task role in ``roles``, patching at that
    role's position only, of every circuit component (batched: one experiment per measure or role)."""
    heads = [c for c in circuit if evidence[c].kind == "head"]
    for start in range(0, len(heads), MAX_HEADS_PER_CALL):
        chunk = heads[start:start + MAX_HEADS_PER_CALL]
        out = lab.run("attention_pattern", {"heads": chunk, "query": "END"})
        table = out.result.heads if out and isinstance(out.result, AttentionPatternResult) else {}
        for cid in chunk:
            evidence[cid].record("attention", _role_attention(table.get(cid)), out.id if out else None)
    out = lab.run("logit_lens", {"components": circuit, "top_k": 5})
    lens = out.result.components if out and isinstance(out.result, LogitLensResult) else {}
    for cid in circuit:
        entry = lens.get(cid)
        evidence[cid].record("dla", None if entry is None else entry.direct_effect, out.id if out else None)
        if entry is not None and entry.promoted:
            evidence[cid].promoted = [token for token, _ in entry.promoted[:5]]
    out = lab.run("ablation", {"components": circuit, "kind": "mean"})
    effects = out.result.effects if out and isinstance(out.result, AblationResult) else {}
    for cid in circuit:
        eff = effects.get(cid)
        evidence[cid].record("ablation", None if eff is None else -eff, out.id if out else None)
        evidence[cid].ablation_kind = "mean"
    # which query position each component's effect is computed at: patch its output at one role's position only
    for role in roles:
        out = lab.run("activation_patching", {"components": circuit, "positions": [role]})
        if out is None or not isinstance(out.result, ActivationPatchingResult):
            continue
        for cid in circuit:
            eff = out.result.effects.get(cid)
            if eff is not None:
                evidence[cid].at_position[role] = Measured(value=-eff, exp=out.id)


def copy_score(ev: ComponentEvidence, tokens: dict[str, str]) -> float | None:
    """DLA towards the attended token, relative to the component's own effect (None if undefined)."""
    attn, dla, exact = ev.value("attention"), ev.value("dla"), ev.value("exact")
    if not attn or dla is None:
        return None
    role = max(sorted(attn), key=lambda r: attn[r])
    which = tokens.get(role)
    if which is None:
        return None
    ref = max(abs(exact or 0.0), abs(dla), 1e-6)
    return (dla if which == "answer" else -dla) / ref


def _path(
    lab: Lab, cid: str, receivers: list[str], hyps: list[int], inputs: tuple[str, ...] = ("q", "k", "v"),
) -> tuple[float | None, Experiment | None]:
    args: dict[str, object] = {"sender": cid, "receivers": receivers}
    if tuple(inputs) != ("q", "k", "v"):
        args["receiver_input"] = list(inputs)
    out = lab.run("path_patching", args, cid, hyps)
    if out is None or not isinstance(out.result, PathPatchingResult):
        return None, out
    return -out.result.effect, out


def measure(
    lab: Lab, name: MeasureName, cid: str, ev: ComponentEvidence, downstream: list[str],
    hypothesis_ids: list[int] | None = None, tokens: dict[str, str] | None = None, upstream: list[str] | None = None,
) -> None:
    """Run the experiment behind measure ``name`` on ``cid`` and record it in ``ev``.

    ``downstream`` / ``upstream``: the circuit's components in later / earlier layers (the receivers of its
    paths; the senders into a head's query or key for ``attention_inputs``).

    A failed or budget-less experiment records a ``None`` value (with the
    experiment id when one was recorded), so judges report "could not be measured".
    """
    hyps = [h for h in (hypothesis_ids or []) if h is not None]
    if name == "path_logits":
        value, out = _path(lab, cid, ["logits"], hyps)
        ev.record(name, value, out.id if out else None)
    elif name in ("path_downstream", "path_edges", *COMPOSITION):
        heads = [d for d in downstream if ".H" in d]
        if not heads:
            ev.record(name, None, None)
            return
        ev.downstream = heads
        if name in ("path_downstream", "path_edges"):
            # one experiment: the joint path into all later circuit heads, and each head's each input alone
            out = lab.run("path_patching", {"sender": cid, "receivers": heads, "separately": True}, cid, hyps)
            result = out.result if out is not None and isinstance(out.result, PathPatchingResult) else None
            exp = out.id if out else None
            ev.record("path_downstream", None if result is None else -result.effect, exp)
            ev.record("path_edges", None if result is None else list(result.edges), exp)
            return
        # path_q / path_k / path_v: the receivers' query, key or value input only
        value, out = _path(lab, cid, heads, hyps, (name[-1],))
        ev.record(name, value, out.id if out else None)
    elif name == "ablation_resample":
        out = lab.run("ablation", {"components": [cid], "kind": "resample"}, cid, hyps)
        eff = out.result.effects.get(cid) if out and isinstance(out.result, AblationResult) else None
        ev.record(name, None if eff is None else -eff, out.id if out else None)
    elif name == "attention_corrupt":  # the same head on new prompts: the corrupt ones
        out = lab.run("attention_pattern", {"heads": [cid], "query": "END", "prompts": "corrupt"}, cid, hyps)
        table = out.result.heads if out and isinstance(out.result, AttentionPatternResult) else {}
        ev.record(name, _role_attention(table.get(cid)), out.id if out else None)
    elif name == "attention_inputs":  # what makes a head attend: its query or key input, whole or the senders'
        out = lab.run("attention_inputs", {"head": cid, "senders": upstream or []}, cid, hyps)
        result = out.result if out is not None and isinstance(out.result, AttentionInputsResult) else None
        ev.record(name, result, out.id if out else None)
    elif name == "copy_score":
        ev.record("copy_score", copy_score(ev, tokens or {}), ev.exp("dla"))
    else:
        raise ValueError(f"measure {name!r} is not run by an experiment of its own")


PER_COMPONENT: tuple[MeasureName, ...] = ("path_logits", "path_downstream")
"""Per-component tests every component gets in the one-shot baseline (after the survey)."""
