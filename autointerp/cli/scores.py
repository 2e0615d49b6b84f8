"""Score lines for the console: the interchangeability score with its nulls and ceiling, faithfulness.

Why one module: ``explain`` and ``eval`` print the same scores, and a score
is not printed without its nulls, its ceiling and where the roles came from
(DESIGN §7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _num(value: Any, fmt: str = ".3f") -> str:
    return "undefined" if value is None else format(value, fmt)


def _null_line(name: str, null: Mapping[str, Any] | None) -> str:
    if not null:
        return f"  {name:<26} undefined"
    if null.get("degenerate"):
        return f"  {name:<26} cannot move: no layer holds heads of two roles"
    z = "no spread" if null.get("z") is None else f"z {null['z']:+.2f}"
    return (f"  {name:<26} mean {_num(null.get('mean'))} ± {_num(null.get('std'))}   {z}   "
            f"p {_num(null.get('p_value'), '.3g')}")


def interchangeability_lines(inter: Mapping[str, Any]) -> list[str]:
    """The interchangeability block: roles' origin, silhouette, ceiling, every null, the verdict."""
    source = inter.get("roles_source") or "unknown"
    head = (f"interchangeability  roles from {source}"
            + (" (FITTED TO SWAPS: compare with the selection-aware null only)" if source == "fitted_to_swaps" else "")
            + f" · {inter.get('n_components')} heads, {inter.get('n_clusters')} roles, "
            f"{inter.get('n_singletons')} singletons · {inter.get('distance')} distances")
    lines = [head]
    ceiling = inter.get("ceiling") or {}
    lines.append(f"  silhouette {_num(inter.get('silhouette'))}   ceiling {_num(ceiling.get('silhouette'))}"
                 + (f" ({ceiling['method']})" if ceiling.get("method") else ""))
    if inter.get("silhouette") is None:
        lines.append(f"  {inter.get('note') or 'undefined'}")
        return lines
    lines.append(_null_line("vs random relabelling", {"mean": inter.get("random_mean"), "std": inter.get("random_std"),
                                                      "z": inter.get("z"), "p_value": inter.get("p_value")}))
    lines.append(_null_line("vs layer-matched", inter.get("layer_matched")))
    if inter.get("selection_aware"):
        lines.append(_null_line("vs fitting shuffled swaps", inter["selection_aware"]))
    lines.append(f"  -> {inter.get('verdict')}")
    for name, other in (inter.get("by_distance") or {}).items():
        if name != inter.get("distance") and other.get("silhouette") is not None:
            layer = other.get("layer_matched") or {}
            lines.append(f"  ({name} distances: silhouette {_num(other['silhouette'])}, z {_num(other.get('z'), '+.2f')}, "
                         f"p {_num(other.get('p_value'), '.3g')}; layer-matched p {_num(layer.get('p_value'), '.3g')})")
    return lines


def faithfulness_line(faith: Mapping[str, Any]) -> str:
    return (f"faithfulness  f={_num(faith.get('normalized'))} ({faith.get('circuit_size')} components, "
            f"{faith.get('ablation')} ablation of {faith.get('ablated')}) CPR={_num(faith.get('cpr'))} "
            f"CMD={_num(faith.get('cmd'))}" + _parts(faith.get("parts")) + _positions(faith.get("positions")))


def _positions(pos: Any) -> str:
    """The core's f with each member kept only at the positions the explanation names."""
    if not isinstance(pos, Mapping):
        return ""
    if "normalized" not in pos:
        return f"\n              stated positions not measured: {pos.get('note')}"
    return (f"\n              core kept only at its stated positions ({pos.get('restricted')} members restricted): "
            f"f={_num(pos.get('normalized'))} (at every position {_num(pos.get('all_positions'))}; "
            f"control, each at as many other roles: {_num(pos.get('elsewhere'))}"
            + "".join(f"; only the {kind}s restricted: {_num(f)}" for kind, f in (pos.get("by_kind") or {}).items())
            + ")")


def _parts(parts: Any) -> str:
    """The circuit's f with heads and MLPs ablated, and without its answer-opposing part."""
    if not isinstance(parts, Mapping) or not isinstance(parts.get("heads_and_mlps"), Mapping):
        return ""
    both, heads = parts["heads_and_mlps"], parts["heads"]
    text = f"\n              heads and MLPs ablated: f={_num(both.get('with_opposing'))}"
    if parts.get("opposing"):
        text += (f"; without the answer-opposing part ({', '.join(parts['opposing'])}): "
                 f"f={_num(both.get('without_opposing'))} (heads only: {_num(heads.get('without_opposing'))})")
    return text


def permutation_line(perm: Mapping[str, Any]) -> str:
    return (f"memorisation control vs {perm['original_run']}: {_num(perm['mapped_matches'])} of the original "
            f"components found at their permuted ids, literal (unmapped) ids reused: "
            f"{_num(perm['literal_matches'])}; roles ARI {_num(perm.get('ari'))}; descriptions "
            f"{_num(perm.get('description_similarity'))} vs {_num(perm.get('description_null'))} mismatched -> "
            + ("passed" if perm["passed"] else "FAILED"))


def disguise_line(check: Mapping[str, Any]) -> str:
    kept = (f"the renamed task keeps {_num(check.get('behaviour_kept'))} of the logit-difference gap"
            + ("" if check.get("applicable") else " (too little: the check does not apply)"))
    return (f"disguised-task check vs {check['original_run']}: {kept}; circuit recall "
            f"{_num(check.get('circuit_recall'))} precision {_num(check.get('circuit_precision'))}; roles ARI "
            f"{_num(check.get('ari'))}; descriptions {_num(check.get('description_similarity'))} vs "
            f"{_num(check.get('description_null'))} mismatched -> "
            + ("not applicable" if check["passed"] is None else "passed" if check["passed"] else "FAILED"))


def process_line(proc: Mapping[str, Any]) -> str:
    """One line of research-process figures (store.process.RunProcess as JSON)."""
    return (f"process  {proc.get('tool_calls')} tool calls ({proc.get('failed_calls')} failed), "
            f"{proc.get('iterations')} agent turns, {proc.get('hypotheses')} hypotheses "
            f"({proc.get('supported')} supported, {proc.get('refuted')} refuted, "
            f"{proc.get('inconclusive')} inconclusive, {proc.get('open')} open), "
            f"{int(proc.get('prompt_tokens') or 0) + int(proc.get('completion_tokens') or 0)} LLM tokens, "
            f"{proc.get('experiments_cited')} of {proc.get('tool_calls')} experiments cited")


REPLICATION_CAVEAT = ("caveat: agreement with a reference can come from memory, not experiments; compare "
                      "with the blind/one-shot baselines and the memorisation control")


def replication_lines(scored: Sequence[Mapping[str, Any]]) -> list[str]:
    """Replication scores (the run's, then baselines'), one line each, then the memory caveat."""
    if not scored:
        return []
    lines = [f"replication vs {scored[0].get('reference_source')} ({scored[0].get('reference_task')} in "
             f"{scored[0].get('reference_model')})"]
    for s in scored:
        judge = f"  judge {_num(s.get('judge_mean'))}" if s.get("judge") else ""
        lines.append(f"  {s.get('explainer', 'run'):<8} precision {_num(s.get('precision'))}  recall "
                     f"{_num(s.get('recall'))}  ARI {_num(s.get('ari'))}  role accuracy "
                     f"{_num(s.get('assignment_accuracy'))} ({s.get('n_compared')} shared){judge}")
    if not scored[0].get("model_matches", True):
        lines.append("  note: the reference was written for another model; ids may not correspond")
    lines.append(f"  {REPLICATION_CAVEAT}")
    return lines


def planted_lines(planted: Mapping[str, Any]) -> list[str]:
    """Agreement with a planted model's established truth, and the truth itself."""
    truth = "; ".join(f"{role}: {', '.join(members)}" for role, members in (planted.get("truth") or {}).items())
    lines = [f"planted truth  ARI={_num(planted.get('ari'))} (union {_num(planted.get('ari_union'))}) "
             f"circuit recall={_num(planted.get('circuit_recall'))} precision={_num(planted.get('circuit_precision'))}",
             f"  true roles: {truth}" + ("" if planted.get("truth_verified") else " (truth check NOT fully passed)")]
    if planted.get("missed"):
        lines.append(f"  missed: {', '.join(planted['missed'])}")
    if planted.get("extra"):
        lines.append(f"  outside the true circuit: {', '.join(planted['extra'])}")
    return lines


def evaluation_lines(evaluation: Mapping[str, Any]) -> list[str]:
    """Every score of an evaluation result, in print order."""
    lines: list[str] = []
    if isinstance(evaluation.get("interchangeability"), Mapping):
        lines += interchangeability_lines(evaluation["interchangeability"])
    if isinstance(evaluation.get("faithfulness"), Mapping):
        lines.append(faithfulness_line(evaluation["faithfulness"]))
    if isinstance(evaluation.get("permutation"), Mapping):
        lines.append(permutation_line(evaluation["permutation"]))
    if isinstance(evaluation.get("disguise"), Mapping):
        lines.append(disguise_line(evaluation["disguise"]))
    if isinstance(evaluation.get("planted"), Mapping):
        lines += planted_lines(evaluation["planted"])
    if isinstance(evaluation.get("replication"), Sequence) and evaluation["replication"]:
        lines += replication_lines(evaluation["replication"])
    if isinstance(evaluation.get("process"), Mapping):
        lines.append(process_line(evaluation["process"]))
    return lines
