"""The standard experiments, each turned into one number (or table) of evidence.

Why here: the scripted researcher and the one-shot baseline run the same
battery through the ordinary tools, so every measurement is a recorded
experiment. It has two parts:

* a *survey* of the whole circuit in a few batched calls -- attention from the
  final position to the task's token roles (``attention_pattern``, up to 12
  heads a call), direct logit attribution (``logit_lens``) and mean-ablation
  effects (``ablation`` sweep) -- cheap because one forward serves every
  component;
* *per-component* tests -- path patching into the logits only and into the
  downstream circuit heads only (``path_patching``), resample ablation.

Copy/suppression is read from two surveyed measurements and the task's
tokens: a head that attends to a position whose token is the answer (or the
distractor) and moves the logit difference towards that same token copies it;
moving it away suppresses it. Everything is converted to *contribution*
orientation (positive = the component's clean activation pushes the metric
towards the answer): for noising effects that is ``-effect``.
"""

from __future__ import annotations

from typing import Any

from agents.nodes.common import Lab, effects_of
from engine.tasks import TaskData

MAX_HEADS_PER_CALL = 12
TOKEN_MATCH = 0.8  # share of pairs whose role token must be the answer (distractor) to call it so


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) else None


def _set(ev: dict[str, Any], name: str, value: Any, out: dict[str, Any] | None) -> None:
    ev.setdefault("measures", {})[name] = {"value": value, "exp": out["experiment_id"] if out else None}


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


def survey(lab: Lab, circuit: list[str], evidence: dict[str, dict[str, Any]]) -> None:
    """Attention, direct logit attribution and mean ablation of every circuit component (batched)."""
    heads = [c for c in circuit if evidence[c]["kind"] == "head"]
    for start in range(0, len(heads), MAX_HEADS_PER_CALL):
        chunk = heads[start:start + MAX_HEADS_PER_CALL]
        out = lab.run("attention_pattern", {"heads": chunk, "query": "END"})
        table = (out["result"].get("heads") or {}) if out and not out["error"] else {}
        for cid in chunk:
            entry = table.get(cid) or {}
            roles = {str(k): float(v) for k, v in (entry.get("to_role") or {}).items() if _num(v) is not None}
            if _num(entry.get("to_first_position")) is not None:
                roles.setdefault("first token", float(entry["to_first_position"]))
            _set(evidence[cid], "attention", roles or None, out)
    out = lab.run("logit_lens", {"components": circuit, "top_k": 5})
    comps = (out["result"].get("components") or {}) if out and not out["error"] else {}
    for cid in circuit:
        entry = comps.get(cid) or {}
        _set(evidence[cid], "dla", _num(entry.get("direct_effect")), out)
        if entry.get("promoted"):
            evidence[cid]["promoted"] = [t for t, _ in entry["promoted"][:5]]
    out = lab.run("ablation", {"components": circuit, "kind": "mean"})
    effects = effects_of(out["result"]) if out and not out["error"] else {}
    for cid in circuit:
        eff = effects.get(cid)
        _set(evidence[cid], "ablation", None if eff is None else -eff, out)
        evidence[cid]["ablation_kind"] = "mean"


def copy_score(ev: dict[str, Any], tokens: dict[str, str]) -> float | None:
    """DLA towards the attended token, relative to the component's own effect (None if undefined)."""
    attn = (ev.get("measures", {}).get("attention") or {}).get("value")
    dla = (ev.get("measures", {}).get("dla") or {}).get("value")
    exact = (ev.get("measures", {}).get("exact") or {}).get("value")
    if not isinstance(attn, dict) or not attn or dla is None:
        return None
    role = max(sorted(attn), key=lambda r: attn[r])
    which = tokens.get(role)
    if which is None:
        return None
    ref = max(abs(exact or 0.0), abs(dla), 1e-6)
    return (dla if which == "answer" else -dla) / ref


def _path(lab: Lab, cid: str, receivers: list[str], hyps: list[int]) -> tuple[float | None, dict | None]:
    out = lab.run("path_patching", {"sender": cid, "receivers": receivers}, cid, hyps)
    if out is None or out["error"]:
        return None, out
    eff = _num(out["result"].get("effect"))
    return (None if eff is None else -eff), out


def measure(
    lab: Lab, name: str, cid: str, ev: dict[str, Any], downstream: list[str],
    hypothesis_ids: list[int] | None = None, tokens: dict[str, str] | None = None,
) -> None:
    """Run the experiment behind measure ``name`` on ``cid`` and store it in ``ev['measures']``.

    A failed or budget-less experiment leaves a ``None`` value (with the
    experiment id when one was recorded), so judges report "could not be measured".
    """
    hyps = [h for h in (hypothesis_ids or []) if h is not None]
    if name == "path_logits":
        value, out = _path(lab, cid, ["logits"], hyps)
        _set(ev, name, value, out)
    elif name == "path_downstream":
        heads = [d for d in downstream if ".H" in d]
        if not heads:
            _set(ev, name, None, None)
            return
        value, out = _path(lab, cid, heads, hyps)
        ev["downstream"] = heads
        _set(ev, name, None if value is None else {"total": value}, out)
    elif name == "ablation_resample":
        out = lab.run("ablation", {"components": [cid], "kind": "resample"}, cid, hyps)
        eff = effects_of(out["result"]).get(cid) if out and not out["error"] else None
        _set(ev, name, None if eff is None else -eff, out)
    elif name == "attention_corrupt":  # the same head on new prompts: the corrupt ones
        out = lab.run("attention_pattern", {"heads": [cid], "query": "END", "prompts": "corrupt"}, cid, hyps)
        entry = ((out["result"].get("heads") or {}).get(cid) or {}) if out and not out["error"] else {}
        roles = {str(k): float(v) for k, v in (entry.get("to_role") or {}).items() if _num(v) is not None}
        if _num(entry.get("to_first_position")) is not None:
            roles.setdefault("first token", float(entry["to_first_position"]))
        _set(ev, name, roles or None, out)
    elif name == "copy":
        score = copy_score(ev, tokens or {})
        dla_exp = (ev.get("measures", {}).get("dla") or {}).get("exp")
        ev.setdefault("measures", {})["copy"] = {"value": score, "exp": dla_exp}
    else:
        raise ValueError(f"unknown measure {name!r}")


PER_COMPONENT = ("path_logits", "path_downstream")
"""Per-component tests every component gets in the one-shot baseline (after the survey)."""
