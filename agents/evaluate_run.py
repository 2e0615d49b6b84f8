"""Scoring a stored run after the fact: ``autointerp eval RUN``.

Why here (the agents room): re-scoring needs the run's configuration from
the store, the same model and task the run used (head-permuted when the run
was), and its explanation -- exactly what ``agents.session`` rebuilds for
``resume``. The scores are written back to the store as new evaluation
records, so an audit shows every scoring of a run, with its parameters.

For a head-permuted run (``explain --permute-heads SEED``) it also runs the
memorisation control: the original run (same task, model, agent, seed and
pairs, unpermuted; or one named explicitly) is looked up, and its components,
roles and descriptions are mapped through the permutation. An
evidence-following agent names the images of the heads it named before,
groups and describes them the same way; an agent that recites published head
indices names the same literal ids and fails (rules: ``agents.memorisation``).
For a disguised run (``explain --disguise SEED``) it runs the dual check: the
plain run's circuit, roles and descriptions must come back on the task with
its entities renamed and its name and role names hidden.

For a run on a planted model (``planted-*``, roles known) it also grades the
frozen roles and the circuit against the model's established truth
(``engine.planted.score``): ARI, circuit recall and precision, and the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.evidence import stated_parts
from agents.memorisation import disguise_verdict, verdict
from agents.provenance import code_version, evaluation_label
from agents.replicate_run import stored_replication
from agents.replication import explanation_descriptions, explanation_roles
from agents.session import (
    ExplainConfig,
    _load,
    check_stored_disguise,
    evaluation_data,
    pairs_wanted,
    research_task,
    task_disguise,
    with_placement,
)
from agents.toolbox import get_spec
from engine.catalog import PLANTED_MODELS
from engine.errors import AutointerpError
from engine.evaluation import evaluate_explanation, interpretation_line, permutation_consistency
from engine.models.placement import dtype_name
from engine.patching import task_metrics
from engine.planted import planted_truth
from engine.planted.score import PlantedScore, score_planted
from engine.tasks import tokenize_for
from store import (
    Store,
    frozen_roles,
    get_explanation,
    get_run,
    list_runs,
    load_run_for_audit,
    next_evaluation_version,
    process_metrics,
    save_evaluation,
)
from tools.results import ActivationPatchingResult, AttributionPatchingResult


def _effects(store: Store, run_id: str) -> dict[str, float] | None:
    """A noising effect for every component the run measured, ranking the faithfulness curve.

    Exact noising effects over all positions where the run measured them (later experiments override
    earlier ones); for every other component, the run's attribution-patching estimate of the same quantity
    (localisation estimates every head and MLP), so the curve ranks every component, not only the ones
    exact-patched. Denoising and position-specific sweeps measure other quantities and are never used.
    """
    estimates: dict[str, float] = {}
    exact: dict[str, float] = {}
    for exp in load_run_for_audit(store, run_id)["experiments"]:
        spec = get_spec(exp["tool"])
        if spec is None or exp["error"] or exp["tool"] not in {"activation_patching", "attribution_patching"}:
            continue
        result = spec.parse_result(exp["result"])
        if (isinstance(result, AttributionPatchingResult) and result.direction == "noising"
                and result.positions == "all"):
            estimates.update(result.effects)
        elif (isinstance(result, ActivationPatchingResult) and not result.together
                and result.direction == "noising" and result.positions == "all"):
            exact.update(result.effects)
    return {**estimates, **exact} or None


def _original_run(store: Store, run: Any, config: ExplainConfig, original: str | None) -> Any:
    if original is not None:
        return get_run(store, original)
    for candidate in list_runs(store, task=run.task, model=run.model, agent=run.agent, status="finished"):
        other = ExplainConfig.model_validate(candidate.config)
        same = (other.seed, other.n, other.params) == (config.seed, config.n, config.params)
        if other.permute_heads is None and other.disguise is None and same:
            return candidate
    raise AutointerpError(
        f"No finished plain (unpermuted, undisguised) run of {run.task} on {run.model} with agent {run.agent} and seed "
        f"{config.seed} (and the same pairs and settings) to compare run '{run.id}' with; run it first or name "
        "one with --original."
    )


def permutation_check(store: Store, run: Any, config: ExplainConfig, original: str | None) -> dict[str, Any]:
    """Do the permuted run's circuit, roles and descriptions map through the permutation onto the original's?

    The verdict rules are in :mod:`agents.memorisation`.
    """

    mapping = (run.meta or {}).get("head_permutation")
    if not mapping:
        raise AutointerpError(f"Run '{run.id}' has no stored head permutation.")
    base = _original_run(store, run, config, original)
    ours, theirs = get_explanation(store, run.id), get_explanation(store, base.id)
    ours_roles, theirs_roles = explanation_roles(ours), explanation_roles(theirs)
    result = permutation_consistency(list(theirs_roles), list(ours_roles), mapping)
    found = [d for d in result["details"] if d["found"]]
    same_role = [ours_roles.get(d["expected"]) == theirs_roles.get(d["original"]) for d in found]
    judged = verdict(result, mapping, theirs_roles, ours_roles, explanation_descriptions(theirs),
                     explanation_descriptions(ours))
    result.update({
        "original_run": base.id,
        "role_agreement": sum(same_role) / len(same_role) if same_role else None,
        **judged.model_dump(),
    })
    return result


def disguise_check(store: Store, run: Any, config: ExplainConfig, original: str | None,
                   target: Any, research: Any) -> dict[str, Any]:
    """Does the disguised run report what the plain run of the same model reported?

    Ids are the same in both runs; the disguised run's descriptions are
    compared after its disguise is undone (images and neutral role names read
    back as the originals). How much of the behaviour the renaming kept is
    measured on the research prompts of both runs (``behaviour_kept``: the
    disguised clean - corrupt logit difference over the plain one; ``research``
    is the disguised run's, already tokenised). Rules:
    :func:`agents.memorisation.disguise_verdict`.
    """
    disguise = task_disguise(config, target.tokenizer)
    if disguise is None or not (run.meta or {}).get("disguise"):
        raise AutointerpError(f"Run '{run.id}' has no stored disguise.")
    base = _original_run(store, run, config, original)
    ours, theirs = get_explanation(store, run.id), get_explanation(store, base.id)
    plain = research_task(config.model_copy(update={"disguise": None}), target.tokenizer, pairs_wanted(config),
                          config.seed)
    gaps = [clean - corrupt for clean, corrupt in (task_metrics(target, tokenize_for(plain, target)),
                                                   task_metrics(target, research))]
    kept = gaps[1] / gaps[0] if gaps[0] > 0 else None
    revealed = {c: disguise.reveal(text) for c, text in explanation_descriptions(ours).items()}
    judged = disguise_verdict(
        [c["id"] for c in (theirs or {}).get("components") or []], [c["id"] for c in (ours or {}).get("components") or []],
        target.n_layers * (target.n_heads + 1), explanation_roles(theirs), explanation_roles(ours),
        explanation_descriptions(theirs), revealed, kept)
    return {"original_run": base.id, "plain_gap": gaps[0], "disguised_gap": gaps[1], "disguise": disguise.to_json(),
            **judged.model_dump()}


def planted_check(store: Store, run_id: str, clusters: list[dict[str, Any]], model: str) -> PlantedScore:
    """The frozen roles and the explanation's circuit graded against planted model ``model``'s truth."""
    explanation = get_explanation(store, run_id) or {}
    circuit = [c["id"] for c in explanation.get("components") or []]
    roles = {c["name"]: list(c["members"]) for c in clusters}
    return score_planted(planted_truth(model), roles, circuit or None)


def evaluate_stored_run(
    store: Store,
    run_id: str,
    null_draws: int = 200,
    original: str | None = None,
    progress: Callable[[str, dict[str, Any]], None] | None = None,
    device: str | None = None,
    dtype: str | None = None,
) -> dict[str, Any]:
    """Score a stored run's explanation and store the scores.

    Args:
        store: the open store holding the run.
        run_id: the run to score.
        null_draws: random relabellings of the interchangeability null (≥ 200).
        original: for a head-permuted or disguised run, the plain run to compare with
            (default: the newest finished one with the same settings).
        progress: optional ``(event, payload)`` callback.
        device, dtype: where and in what precision the model runs (None: the run's own settings).

    Returns:
        ``{"run_id", "interchangeability", "faithfulness", "interpretation",
        "process", "replication"}`` (``process``: the research-process metrics, not a
        score; ``replication``: stored replication scores, newest per explainer)
        plus ``"permutation"`` for a head-permuted run, ``"disguise"`` for a
        disguised run (``agents.memorisation.DisguiseVerdict`` and the two gaps) and ``"planted"``
        (``engine.planted.score.PlantedScore``) for an unpermuted run on a
        planted model.

    Raises:
        RunNotFound: no such run. RolesNotFrozen: the run never froze roles.
        RolesChanged: the stored roles differ from the frozen ones.
        AutointerpError: the frozen explanation has no roles.
    """
    run = get_run(store, run_id)
    if original is not None:  # checked before any model is loaded
        if (run.config or {}).get("permute_heads") is None and (run.config or {}).get("disguise") is None:
            raise AutointerpError(f"--original applies only to a memorisation-control run (explain "
                                  f"--permute-heads or --disguise); run '{run_id}' is not one.")
        get_run(store, original)
    frozen = frozen_roles(store, run_id)
    clusters = [{"name": c["name"], "members": list(c["members"])} for c in frozen.clusters]
    if not clusters:
        raise AutointerpError(f"Run '{run_id}' has no roles to evaluate (status: {run.status}).")
    config = with_placement(ExplainConfig.model_validate(run.config), device, dtype)
    say = progress or (lambda _event, _payload: None)
    target, research = _load(config, say)
    check_stored_disguise(run, config, target.tokenizer)
    data, prompts = evaluation_data(config, target, research)
    say("phase", {"name": "evaluate"})
    effects = _effects(store, run_id)
    # the answer-opposing part, as localisation split it and the explanation stored it
    opposing, positions = stated_parts((get_explanation(store, run_id) or {}).get("components") or [])
    result = evaluate_explanation(target, data, clusters=clusters, roles_source=frozen.roles_source,
                                  effects=effects, null_draws=null_draws, seed=config.seed, opposing=opposing,
                                  positions=positions)
    version = next_evaluation_version(store, run_id)
    params = {"null_draws": null_draws, "seed": config.seed, "clusters": clusters, "source": "autointerp eval",
              "prompts": prompts, "roles_source": frozen.roles_source, "roles_hash": frozen.roles_hash,
              "frozen_at": frozen.frozen_at.isoformat(), "device": str(target.device), "dtype": dtype_name(target.dtype),
              "version": version, "code_version": code_version(),
              "label": evaluation_label(version, "autointerp eval", prompts, null_draws)}
    out: dict[str, Any] = {"run_id": run_id, "version": version}
    for kind, scores in result.items():
        save_evaluation(store, run_id, kind, scores, params)
        out[kind] = scores
    if config.permute_heads is not None:
        out["permutation"] = permutation_check(store, run, config, original)
        save_evaluation(store, run_id, "permutation", out["permutation"],
                        {"original_run": original, "version": version, "label": params["label"]})
    elif config.disguise is not None:
        out["disguise"] = disguise_check(store, run, config, original, target, research)
        save_evaluation(store, run_id, "disguise", out["disguise"],
                        {"original_run": original, "version": version, "label": params["label"]})
    elif config.model in PLANTED_MODELS:
        planted = planted_check(store, run_id, clusters, config.model).model_dump()
        save_evaluation(store, run_id, "planted", planted,
                        {"source": "engine.planted.truth", "version": version, "label": params["label"]})
        out["planted"] = planted
    out["interpretation"] = interpretation_line(result)
    out["process"] = process_metrics(store, run_id).model_dump(mode="json")
    # agreement with a reference, when `autointerp replicate` scored one: shown beside, never instead
    out["replication"] = stored_replication(store, run_id)
    return out
