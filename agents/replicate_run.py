"""``autointerp replicate RUN --reference REF``: score a stored run against a reference, with baselines.

Why here (the agents room): scoring reads the run's explanation from the
store, and the judge and the blind baseline need the LLM providers. Every
score is written back as an evaluation row of the run -- kind
``replication`` for the run itself, ``replication:blind`` and
``replication:oneshot`` for the baselines -- with what produced it in its
parameters: the reference's source, the judge's prompt and raw reply, the
blind baseline's prompt, raw reply and explanation. So ``audit``, ``eval``
and the report show them, and a later reader can re-check every verdict.
"""

from __future__ import annotations

from typing import Any

from agents.baselines import blind_baseline
from agents.context import LLMHandle
from agents.judge import judge_descriptions
from agents.providers import make_llm
from agents.replication import (
    MEMORY_CAVEAT,
    JudgeRecord,
    ReplicationScores,
    explanation_descriptions,
    map_back,
    score_against,
)
from agents.spec import AgentSpecError, parse_agent
from engine.errors import AutointerpError
from engine.planted.reference import Reference
from engine.references import resolve_reference
from store import Store, get_explanation, get_run, list_evaluations, save_evaluation

INTRINSIC = {"interchangeability": ("silhouette", "z", "p_value"), "faithfulness": ("normalized",)}


def llm_of(text: str, chat_model: Any = None) -> LLMHandle:
    """The chat model a ``--judge``/``--blind`` value names (a provider spec such as ``openai:gpt-4o``).

    Raises:
        AgentSpecError: not a provider spec. MissingKeyError: its key is not set.
    """
    spec = parse_agent(text)
    if spec.kind != "llm":
        raise AgentSpecError(f"'{text}' is not an LLM provider; use openai:<model>, anthropic:<model> or "
                             "compatible:<base_url>#<model>.")
    return make_llm(spec, chat_model=chat_model)


def _explanation(store: Store, run_id: str) -> dict[str, Any]:
    explanation = get_explanation(store, run_id)
    if not explanation or not explanation.get("components"):
        raise AutointerpError(f"Run '{run_id}' has no explanation to compare with a reference.")
    return explanation


def _judged(judge: LLMHandle | None, reference: Reference, explanation: dict[str, Any],
            permutation: dict[str, str] | None) -> JudgeRecord | None:
    if judge is None:
        return None
    return judge_descriptions(judge, reference, explanation_descriptions(map_back(explanation, permutation)))


def _params(source: str, judged: JudgeRecord | None, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"reference": source, "source": "autointerp replicate", **extra}
    if judged is not None:
        params.update({"judge": judged.judge, "judge_prompt": judged.prompt, "judge_raw": judged.raw})
    return params


def intrinsic_scores(store: Store, run_id: str) -> dict[str, Any]:
    """The newest stored intrinsic scores of a run (shown beside replication; empty when not evaluated)."""
    out: dict[str, Any] = {}
    for ev in list_evaluations(store, run_id):
        if ev["kind"] in INTRINSIC:
            out[ev["kind"]] = {k: (ev["scores"] or {}).get(k) for k in INTRINSIC[ev["kind"]]}
    return out


def stored_replication(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The newest stored replication score of each explainer (the run first, then baselines)."""
    newest: dict[str, dict[str, Any]] = {}
    for ev in list_evaluations(store, run_id):
        if ev["kind"] == "replication" or ev["kind"].startswith("replication:"):
            newest[ev["kind"]] = ev["scores"]
    return [newest[k] for k in sorted(newest, key=lambda k: (k != "replication", k))]


def replicate_stored_run(
    store: Store,
    run_id: str,
    reference: str,
    judge: LLMHandle | None = None,
    blind: LLMHandle | None = None,
    oneshot_run: str | None = None,
) -> dict[str, Any]:
    """Score a run (and its baselines) against a reference and store the scores.

    Args:
        store: the open store.
        run_id: the run to score.
        reference: a reference file or a shipped reference's name.
        judge: the LLM judge of descriptions (None: mechanical scores only).
        blind: the LLM of the blind baseline (None: no blind baseline).
        oneshot_run: a finished one-shot run of the same task and model to score beside.

    Returns:
        ``{"run_id", "reference", "caveat", "run": ReplicationScores, "baselines":
        {"blind"?, "oneshot"?}, "intrinsic": {...}}`` as JSON data.

    Raises:
        RunNotFound, ReferenceError, AutointerpError (no explanation, a
        one-shot run of another task/model), JudgeError, BlindBaselineError.
    """
    ref, source = resolve_reference(reference)
    run = get_run(store, run_id)
    explanation = _explanation(store, run_id)
    permutation = (run.meta or {}).get("head_permutation")
    judged = _judged(judge, ref, explanation, permutation)
    ours = score_against(explanation, ref, source, "run", run.model, permutation, judged)
    save_evaluation(store, run_id, "replication", ours.model_dump(mode="json"), _params(source, judged))
    baselines: dict[str, ReplicationScores] = {}
    if blind is not None:
        circuit = list(explanation.get("circuit") or [c["id"] for c in explanation["components"]])
        answer = blind_baseline(blind, run.task, run.model, circuit)
        judged_blind = _judged(judge, ref, answer.explanation, permutation)
        baselines["blind"] = score_against(answer.explanation, ref, source, "blind", run.model, permutation,
                                           judged_blind)
        save_evaluation(store, run_id, "replication:blind", baselines["blind"].model_dump(mode="json"),
                        _params(source, judged_blind, llm=answer.llm, prompt=answer.prompt, raw=answer.raw,
                                explanation=answer.explanation))
    if oneshot_run is not None:
        other = get_run(store, oneshot_run)
        if parse_agent(other.agent).kind != "oneshot" or (other.task, other.model) != (run.task, run.model):
            raise AutointerpError(f"Run '{oneshot_run}' is not a one-shot run ({other.agent}) of {run.task} on "
                                  f"{run.model}; pass a run of `explain --agent oneshot:<provider>` on them.")
        other_expl = _explanation(store, oneshot_run)
        other_perm = (other.meta or {}).get("head_permutation")
        judged_one = _judged(judge, ref, other_expl, other_perm)
        baselines["oneshot"] = score_against(other_expl, ref, source, "oneshot", other.model, other_perm, judged_one)
        dump = baselines["oneshot"].model_dump(mode="json")
        save_evaluation(store, run_id, "replication:oneshot", dump, _params(source, judged_one, run=oneshot_run))
        save_evaluation(store, oneshot_run, "replication", {**dump, "explainer": "run"}, _params(source, judged_one))
    return {
        "run_id": run_id, "reference": source, "caveat": MEMORY_CAVEAT, "run": ours.model_dump(mode="json"),
        "baselines": {k: v.model_dump(mode="json") for k, v in baselines.items()},
        "intrinsic": intrinsic_scores(store, run_id),
    }
