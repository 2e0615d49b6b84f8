"""The standard experiments, each turned into one number (or table) of evidence.

Why here: the scripted researcher and the one-shot baseline run the same
battery -- attention by token role, direct logit attribution, path patching
into the logits and into downstream circuit components, a copy/suppression
test of the output, ablation -- through the ordinary tools, so every
measurement is a recorded experiment. This module knows each tool's
arguments and where its result keeps the number; it converts everything to
*contribution* orientation (positive = the component's clean activation
pushes the metric towards the answer).
"""

from __future__ import annotations

from typing import Any

from agents.nodes.common import Lab, effects_of


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) else None


def _first_num(result: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        if _num(result.get(key)) is not None:
            return float(result[key])
    return None


def _attention(lab: Lab, cid: str, hyps: list[int]) -> tuple[Any, dict | None]:
    out = lab.run("attention_pattern", {"component": cid}, cid, hyps)
    if out is None or out["error"]:
        return None, out
    res = out["result"]
    table = res.get("by_role") or res.get("roles") or res.get("attention_by_role") or {}
    if isinstance(table, dict) and "END" in table and isinstance(table["END"], dict):
        table = table["END"]  # query role -> key role -> weight
    return {str(k): float(v) for k, v in table.items() if _num(v) is not None}, out


def _dla(lab: Lab, cid: str, hyps: list[int]) -> tuple[Any, dict | None]:
    out = lab.run("logit_lens", {"component": cid}, cid, hyps)
    if out is None or out["error"]:
        return None, out
    return _first_num(out["result"], "direct_logit_attribution", "dla", "logit_diff", "direct_effect"), out


def _path(lab: Lab, cid: str, receivers: Any, hyps: list[int]) -> tuple[Any, dict | None]:
    out = lab.run("path_patching", {"sender": cid, "receivers": receivers}, cid, hyps)
    if out is None or out["error"]:
        return None, out
    res = out["result"]
    per = effects_of({"effects": res.get("per_receiver") or res.get("receivers") or {}})
    total = _first_num(res, "effect", "total_effect")
    if receivers == "logits":
        return (None if total is None else -total), out
    return ({k: -v for k, v in per.items()} if per else ({"all": -total} if total is not None else None)), out


def _copy(lab: Lab, cid: str, hyps: list[int]) -> tuple[Any, dict | None]:
    out = lab.run("logit_lens", {"component": cid, "mode": "copy"}, cid, hyps)
    if out is None or out["error"]:
        return None, out
    return _first_num(out["result"], "copy_score", "copying_score"), out


def _ablation(lab: Lab, cid: str, kind: str, hyps: list[int]) -> tuple[Any, dict | None]:
    out = lab.run("ablation", {"components": [cid], "kind": kind}, cid, hyps)
    if out is None or out["error"]:
        return None, out
    eff = _first_num(out["result"], "effect", "metric_change")
    if eff is None:
        eff = effects_of(out["result"]).get(cid)
    return (None if eff is None else -eff), out


def measure(
    lab: Lab, name: str, cid: str, ev: dict[str, Any], downstream: list[str],
    hypothesis_ids: list[int] | None = None,
) -> None:
    """Run the experiment behind measure ``name`` on ``cid`` and store it in ``ev['measures']``.

    A failed or budget-less experiment leaves a ``None`` value (with the
    experiment id when one was recorded), so judges report "could not be measured".
    """
    hyps = [h for h in (hypothesis_ids or []) if h is not None]
    if name == "attention":
        value, out = _attention(lab, cid, hyps)
    elif name == "dla":
        value, out = _dla(lab, cid, hyps)
    elif name == "path_logits":
        value, out = _path(lab, cid, "logits", hyps)
    elif name == "path_downstream":
        value, out = _path(lab, cid, list(downstream), hyps) if downstream else (None, None)
    elif name == "copy":
        value, out = _copy(lab, cid, hyps)
    elif name == "ablation":
        value, out = _ablation(lab, cid, "mean", hyps)
        ev["ablation_kind"] = "mean"
    elif name == "ablation_resample":
        value, out = _ablation(lab, cid, "resample", hyps)
    else:
        raise ValueError(f"unknown measure {name!r}")
    ev.setdefault("measures", {})[name] = {"value": value, "exp": out["experiment_id"] if out else None}


STANDARD = ("attention", "dla", "path_logits", "path_downstream", "copy", "ablation")
"""The battery every component gets in the one-shot baseline (heads; MLPs skip attention/copy)."""
