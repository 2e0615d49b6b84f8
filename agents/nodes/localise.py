"""``localise``: find the components that carry the task metric.

Why three stages: attribution patching (AtP, a first-order estimate from one
forward and one backward pass) ranks every head and MLP cheaply but can be
wrong for components with non-linear effects; exact activation patching of
the top candidates confirms them; and a set of important components is not
yet a circuit -- the circuit is grown by greedy selection on faithfulness
(the ``faithfulness`` tool): starting from the top ``min_circuit``
answer-promoting components by exact effect, each step adds the candidate
(any head or MLP of the model; the ``shortlist`` of largest restoration
gradient are measured exactly) whose addition gives the largest f on the
research prompts with every other head and MLP mean-ablated, until f
reaches ``target_f`` + ``selection_margin`` or the core fills ``max_circuit``
(the most faithful step when f never reaches it). Why the margin: the aim
is f >= ``target_f`` on held-out prompts, and each step keeps the best of
several additions measured on the research prompts, so the research f of
the chosen set is flattered by the noise that made it the best (on IOI the
held-out f fell 0.02-0.03 below it); the selection never sees the held-out
prompts, so it asks the research prompts for more instead. A prefix by single-component
effect misses components that matter only together (an early MLP every head
needs, many MLPs each carrying a little). Then the components that alone
restore the behaviour when patched into the corrupt run (denoising) though
ablation never needs them -- redundant components the others cover for, such
as several heads doing one job -- join when there is room and only if
together they do not lower the core's f on the research prompts (adding
heads can lower f in the ablated model). The
answer-opposing components whose effect passes the threshold rule
(``threshold_frac`` of the largest effect) are kept as their own part of the
circuit, largest first, at most a quarter of ``max_circuit`` and only in the
room the core leaves (the core is what must carry the behaviour; unless
greedy selection found one needed in the core: noising and mean ablation can disagree); the evaluator reports f with
and without them on held-out prompts. When the faithfulness experiment
cannot run, the threshold rule alone chooses, and the run says so. The reason
for each candidate's inclusion or exclusion is recorded with the numbers
behind it. With ``--circuit`` the given components are used as they are
(still measured by exact patching, so later steps have their effects).
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents.context import RunContext
from agents.evidence import Localisation
from agents.nodes.common import Lab
from agents.recorder import Experiment
from agents.state import ResearchState
from engine.attribution import DEFAULT_METHOD
from engine.components import all_heads, all_mlps, parse_component
from engine.evaluation.circuit_choice import DEFAULT_SHORTLIST
from tools.results import FaithfulnessResult, SweepResult

DEFAULT_PARAMS: dict[str, Any] = {
    "n_candidates": 48,
    "threshold_frac": 0.05,
    "max_circuit": 20,
    "min_circuit": 2,
    "target_f": 0.8,
    "selection_margin": 0.05,
    "shortlist": DEFAULT_SHORTLIST,
}


def _layer_key(cid: str) -> tuple[int, int]:
    comp = parse_component(cid)
    return comp.layer, (comp.head if comp.head is not None else 10_000)


def order_components(ids: list[str]) -> list[str]:
    """Components in layer order (heads before the MLP of the same layer)."""
    return sorted(dict.fromkeys(ids), key=_layer_key)


def choose_circuit(
    exact: dict[str, float], atp: dict[str, float], candidates: list[str], params: dict[str, Any]
) -> tuple[list[str], dict[str, str], float]:
    """Apply the threshold rule; returns (circuit, reason per component, threshold)."""
    frac = float(params["threshold_frac"])
    top = max((abs(v) for v in exact.values()), default=0.0)
    threshold = frac * top
    ranked = sorted(exact, key=lambda c: -abs(exact[c]))
    kept: list[str] = []
    reasons: dict[str, str] = {}
    for rank, cid in enumerate(ranked):
        value = exact[cid]
        if abs(value) >= threshold and len(kept) < int(params["max_circuit"]) or rank < int(params["min_circuit"]):
            kept.append(cid)
            reasons[cid] = (f"in: exact patching effect {value:+.3f}, |effect| >= threshold {threshold:.3f} "
                            f"({frac:.0%} of the largest, {top:.3f}); rank {rank + 1}")
        elif abs(value) >= threshold:
            reasons[cid] = (f"out: exact effect {value:+.3f} passes the threshold but the circuit is capped "
                            f"at {params['max_circuit']} components; rank {rank + 1}")
        else:
            reasons[cid] = f"out: exact effect {value:+.3f}, |effect| < threshold {threshold:.3f}; rank {rank + 1}"
    cutoff = min((abs(atp[c]) for c in candidates if c in atp), default=0.0)
    for cid, value in sorted(atp.items(), key=lambda kv: -abs(kv[1])):
        if cid not in reasons and len(reasons) < len(candidates) + 10:
            reasons[cid] = (f"out: attribution estimate {value:+.3f} below the top-{len(candidates)} "
                            f"cut-off |{cutoff:.3f}|, not confirmed by exact patching")
    return order_components(kept), reasons, threshold


def split_by_sign(exact: dict[str, float], threshold: float) -> tuple[list[str], list[str]]:
    """Answer-promoting components (patching to corrupt lowers the metric), best first, and the
    answer-opposing ones whose |effect| passes ``threshold``, largest first."""
    promoting = sorted((c for c, v in exact.items() if v < 0), key=lambda c: exact[c])
    opposing = sorted((c for c, v in exact.items() if v > 0 and v >= threshold), key=lambda c: -exact[c])
    return promoting, opposing


def faithful_circuit(
    lab: Lab, exact: dict[str, float], threshold: float, params: dict[str, Any],
    restoring: dict[str, float] | None = None,
) -> tuple[list[str], list[str], dict[str, str], FaithfulnessResult] | None:
    """Core (grown greedily by faithfulness) and opposing part.

    Args:
        lab: the localise node's lab.
        exact: noising effects (clean run, corrupt activation patched in) of the candidates.
        threshold: the threshold rule's |effect| for the opposing part.
        params: localisation settings.
        restoring: denoising effects (corrupt run, clean activation patched in); an opposing
            component is kept only when noising and denoising agree on its sign.

    Returns:
        ``(core, opposing, reasons, faithfulness result)``, or None if the experiment failed.
    """
    cap = int(params["max_circuit"])
    restoring = restoring or {}
    promoting, opposing = split_by_sign(exact, threshold)
    # opposing only when noising and denoising together say so (a redundant component's noising sign is noise)
    opposing = [c for c in opposing if -exact[c] + restoring.get(c, 0.0) < 0][: cap // 4]
    if not promoting:
        return None
    start = promoting[: int(params["min_circuit"])]
    # candidates: every head and MLP (mean ablation of a component can matter where corrupt patching hardly
    # does), the promoters by effect first, then the rest of the patched ones (the tie order); a component
    # whose noising effect opposes the answer may still be needed once the others are ablated, so it may join
    target = lab.ctx.target
    others = sorted((c for c in exact if c not in promoting), key=lambda c: -abs(exact[c]))
    every = [c.id for c in all_heads(target.n_layers, target.n_heads) + all_mlps(target.n_layers)]
    pool = list(dict.fromkeys(promoting + others + every))
    out = lab.run("faithfulness", {"components": pool, "start": start, "target_f": selection_aim(params),
                                   "max_size": max(cap, len(start)), "shortlist": params["shortlist"]})
    res = out.result if out is not None and isinstance(out.result, FaithfulnessResult) else None
    if res is None:
        return None
    size = max(res.chosen_size, min(int(params["min_circuit"]), len(res.order)))
    core = res.order[:size]
    opposing = [c for c in opposing if c not in core]
    room = max(cap - len(core), 0)
    crowded, opposing = opposing[room:], opposing[:room]
    f_at = {p.size: p.f for p in res.curve}
    reasons: dict[str, str] = {}
    for cid in dict.fromkeys([*exact, *res.order]):
        effect = f"exact patching effect {exact[cid]:+.3f}" if cid in exact else "not exact-patched"
        if cid in start:
            reasons[cid] = (f"in (core): {effect}, among the top {len(start)} answer-promoting components the "
                            f"greedy faithfulness selection starts from (f {_f(f_at.get(len(start)))} together); "
                            f"{res.reason} [E{out.id}]")
        elif cid in core:
            step = res.order.index(cid) + 1
            reasons[cid] = (f"in (core): {effect}; added at size {step} by greedy faithfulness selection, the "
                            f"measured candidate raising f most (to {_f(f_at.get(step))}); {res.reason} [E{out.id}]")
        elif cid in res.order:
            step = res.order.index(cid) + 1
            reasons[cid] = (f"out: {effect}; added at size {step} (f {_f(f_at.get(step))}) but the chosen size "
                            f"is {size} [E{out.id}]")
        elif cid in exact:
            reasons[cid] = f"out: {effect}; never the best addition in greedy faithfulness selection [E{out.id}]"
    core += _sufficient(lab, core, opposing, f_at.get(size), restoring, params, reasons)
    for cid in opposing:
        reasons[cid] = (f"in (opposing part): exact patching effect {exact[cid]:+.3f} pushes away from the answer, "
                        f"|effect| >= threshold {threshold:.3f}; reported beside the core")
    for cid in crowded:
        reasons[cid] = (f"out: exact patching effect {exact[cid]:+.3f} pushes away from the answer, |effect| >= "
                        f"threshold {threshold:.3f}, but the core of {len(core)} leaves no room for it in the cap of "
                        f"{cap} (the opposing part keeps the largest)")
    return core, opposing, reasons, res


def selection_aim(params: dict[str, Any]) -> float:
    """The research-prompt f greedy selection grows to: ``target_f`` + ``selection_margin``, at most 1."""
    return min(float(params["target_f"]) + float(params["selection_margin"]), 1.0)


def _sufficient(
    lab: Lab, core: list[str], opposing: list[str], f_core: float | None, restoring: dict[str, float],
    params: dict[str, Any], reasons: dict[str, str],
) -> list[str]:
    """Components that alone restore the behaviour (denoising) though ablation does not need them.

    Redundant components that the others cover for (e.g. several heads doing one job) are
    invisible to ablation; they join the core when the room allows and only if, together, they do not
    lower the core's faithfulness on the research prompts (one more ``faithfulness`` experiment).
    """
    cap = int(params["max_circuit"])
    needed = float(params["threshold_frac"]) * max((abs(v) for v in restoring.values()), default=0.0)
    ranked = [c for c in sorted(restoring, key=lambda c: -restoring[c])
              if restoring[c] > 0 and restoring[c] >= needed and c not in core and c not in opposing]
    extra = ranked[: max(cap - len(core) - len(opposing), 0)]
    if not extra or f_core is None:
        return []
    out = lab.run("faithfulness", {"components": extra, "start": core + extra, "target_f": float(params["target_f"]),
                                   "max_size": len(core) + len(extra)})
    res = out.result if out is not None and isinstance(out.result, FaithfulnessResult) else None
    f_with = res.curve[0].f if res is not None and res.curve else None
    kept = f_with is not None and f_with >= f_core
    for cid in extra:
        restores = (f"patching its clean activation into the corrupt run restores {restoring[cid]:+.3f} of the "
                    f"logit difference (>= {needed:.3f}, {float(params['threshold_frac']):.0%} of the largest "
                    "restoration), though ablation alone does not require it (others cover for it)")
        reasons[cid] = (f"in (sufficient): {restores}; with them the core's f is {_f(f_with)} (without "
                        f"{_f(f_core)}) [E{out.id if out is not None else '?'}]" if kept else
                        f"out: {restores}, but adding the sufficient components lowers the core's f from "
                        f"{_f(f_core)} to {_f(f_with)} [E{out.id if out is not None else '?'}]")
    return extra if kept else []


def _f(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def _scale(out: Experiment | None) -> float:
    """The metric's clean - corrupt gap reported by a patching result (1.0 when unknown)."""
    res = out.result if out is not None else None
    if isinstance(res, SweepResult) and abs(res.clean_metric - res.corrupt_metric) > 1e-6:
        return abs(res.clean_metric - res.corrupt_metric)
    return 1.0


def _effects(out: Experiment | None) -> dict[str, float]:
    """The effects of a sweep experiment (empty when it failed or did not run)."""
    return dict(out.result.effects) if out is not None and isinstance(out.result, SweepResult) else {}


def localise_node(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Rank all heads and MLPs with AtP, confirm the top ones with exact patching, keep a circuit."""
    ctx = runtime.context
    params = {**DEFAULT_PARAMS, **(state.get("params") or {})}
    lab = Lab(state, runtime)
    ctx.progress("phase", {"name": "localise"})
    given = list(state.get("circuit_given") or [])
    if given:
        out = lab.run("activation_patching", {"components": given})
        exact = _effects(out)
        circuit = order_components(given)
        reasons = {c: f"in: given with --circuit (exact patching effect {exact.get(c, float('nan')):+.3f})"
                   for c in circuit}
        loc = Localisation(method="given", exact=exact, reasons=reasons, scale=_scale(out),
                           exact_experiment=out.id if out is not None else None,
                           experiments=[o.id for o in lab.experiments])
        lab.note("localise", f"Circuit given by the user: {', '.join(circuit)}.")
    else:
        # the variant bench/patching.py shows tracking exact patching best per forward spent
        atp_out = lab.run("attribution_patching", {"components": "all", "method": DEFAULT_METHOD})
        atp = _effects(atp_out)
        candidates = [c for c, _ in sorted(atp.items(), key=lambda kv: -abs(kv[1]))][: int(params["n_candidates"])]
        exact_out = lab.run("activation_patching", {"components": candidates}) if candidates else None
        exact = _effects(exact_out)
        if not exact:  # exact patching failed: fall back to the estimates, and say so
            exact = {c: atp[c] for c in candidates}
            lab.note("localise:fallback", "Exact patching gave no effects; the circuit uses attribution estimates.")
        scale = _scale(exact_out) or _scale(atp_out)
        circuit, reasons, threshold = choose_circuit(exact, atp, candidates, params)
        restore_out = lab.run("activation_patching", {"components": candidates, "direction": "denoising"}) \
            if candidates else None
        restoring = _effects(restore_out)
        chosen = faithful_circuit(lab, exact, threshold, params, restoring)
        method, opposing, curve = "attribution+exact", [], None
        if chosen is not None:
            core, opposing, faithful_reasons, curve = chosen
            circuit = order_components(core + opposing)
            # MLPs beyond the candidates may join; measured like the rest, so every member has its exact effect
            extra = [c for c in circuit if c not in exact]
            extra_out = lab.run("activation_patching", {"components": extra}) if extra else None
            exact = {**exact, **_effects(extra_out)}
            reasons = {**{c: r for c, r in reasons.items() if c not in faithful_reasons}, **faithful_reasons}
            for cid in set(reasons) - set(circuit) - set(faithful_reasons):
                reasons[cid] = reasons[cid].replace("in: ", "out: outside the faithful core and the capped "
                                                    "opposing part; ", 1)
            method = "attribution+exact+faithfulness"
        else:
            lab.note("localise:threshold", "The faithfulness experiment did not run; the circuit is chosen by "
                     "the threshold rule alone.")
        loc = Localisation(method=method, attribution_method=DEFAULT_METHOD, atp=atp, candidates=candidates,
                           exact=exact,
                           threshold=threshold, threshold_frac=params["threshold_frac"], reasons=reasons,
                           scale=scale, experiments=[o.id for o in lab.experiments], opposing=opposing,
                           faithfulness=curve, target_f=float(params["target_f"]),
                           exact_experiment=exact_out.id if exact_out is not None else None,
                           restoring=restoring,
                           restoring_experiment=restore_out.id if restore_out is not None else None)
        lines = [f"{c}: {reasons[c]}" for c in sorted(reasons, key=lambda c: -abs(exact.get(c, atp.get(c, 0.0))))]
        lab.note("localise", "Localisation (attribution patching over all heads and MLPs, exact patching "
                 f"of the top {len(candidates)}, greedy selection by faithfulness): kept "
                 f"{', '.join(circuit) or 'nothing'}.\n" + "\n".join(lines))
    ctx.progress("circuit", {"circuit": circuit})
    return {**lab.updates(), "localisation": loc.model_dump(), "circuit": circuit, "queue": list(circuit),
            "params": params}
