"""The notebook Python API: ``explain``, ``resume`` and ``replicate`` mirror the CLI.

The CLI commands are thin layers over these functions.

Example::

    import autointerp
    run = autointerp.explain(task="ioi", model="smollm2-135m")
    run.circuit, run.explanation["clusters"], run.evaluation
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agents.replicate_run import llm_of, replicate_stored_run
from agents.session import ExplainConfig, resume_explain, run_explain
from store import open_store

ProgressFn = Callable[[str, dict[str, Any]], None]


def _circuit(circuit: str | Sequence[str] | None) -> list[str]:
    if circuit is None:
        return []
    if isinstance(circuit, str):
        return [c.strip() for c in circuit.replace(";", ",").split(",") if c.strip()]
    return [str(c).strip() for c in circuit]


def explain(
    task: str,
    model: str = "smollm2-135m",
    agent: str = "scripted",
    *,
    circuit: str | Sequence[str] | None = None,
    max_steps: int = 300,
    max_component_steps: int = 12,
    max_tokens: int = 0,
    db: str | None = None,
    seed: int = 0,
    n: int | None = None,
    evaluate: bool = True,
    null_draws: int = 200,
    params: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    chat_model: Any = None,
    http_client: Any = None,
    run_id: str | None = None,
    target: Any = None,
    permute_heads: int | None = None,
    disguise: int | None = None,
    max_llm_requests: int | None = None,
    max_wall_s: float | None = None,
    api_key_env: str | None = None,
    fit_roles_to_swaps: bool = False,
    device: str | None = None,
    dtype: str | None = None,
):
    """Explain how ``model`` performs ``task``: localise, study, group, explain, evaluate.

    Args:
        task: built-in task name (``ioi``, ``induction`` ...) or a JSONL file.
        model: target model: a built-in name (``smollm2-135m``, ``tiny-gemma2`` ...), a Hugging
            Face hub id (from the local cache when offline), a local directory or a ``.gguf`` file.
        agent: ``scripted``, ``openai:<model>``, ``anthropic:<model>``,
            ``compatible:<base_url>#<model>`` or ``oneshot:<provider spec>``.
        circuit: component ids to study instead of localising (``"L9.H6,L10.H0"``).
        max_steps: total experiment budget of the run (0 = unlimited).
        max_component_steps: experiment budget per component (0 = unlimited).
        max_tokens: LLM token budget (0 = unlimited).
        db: store URL (default ``$AUTOINTERP_DB`` or a SQLite file in the user data dir).
        seed: seed of the task's pairs and of every random choice.
        n: number of prompt pairs (default: 32 for built-in tasks, all for files).
        evaluate: score the explanation with ``engine.evaluation`` when available.
        null_draws: random relabelings in the interchangeability null.
        params: localisation settings (``n_candidates``, ``threshold_frac``,
            ``max_circuit``, ``min_circuit``, ``target_f``, ``selection_margin``, ``shortlist``;
            ``agents.nodes.localise.DEFAULT_PARAMS``).
        progress: callback ``(event, payload)`` for progress display.
        chat_model: a LangChain chat model to use instead of the provider's (tests, notebooks).
        http_client: an ``httpx.Client`` for the provider's requests (tests).
        run_id: use this run id instead of a fresh one.
        target: an already loaded ``TargetModel`` named ``model`` (reused across runs).
        permute_heads: run on a function-preserving head permutation of the model
            with this seed (memorisation control; ``autointerp eval`` checks the
            explanation maps through the permutation onto the original run's).
        max_llm_requests: hard cap on the run's LLM requests (0 = unlimited;
            default ``$AUTOINTERP_MAX_LLM_REQUESTS`` or 500).
        max_wall_s: seconds this call may drive the run before it stops with
            what it has (0 = unlimited; default ``$AUTOINTERP_MAX_WALL_S`` or a day).
        api_key_env: the environment variable holding the agent's API key
            (default: the provider's own; ``AUTOINTERP_COMPATIBLE_API_KEY`` for
            ``compatible:`` servers, which never get ``OPENAI_API_KEY``).
        fit_roles_to_swaps: opt-in: the agent may run weight swaps and regroup its
            roles by them; the run's roles are recorded as ``fitted_to_swaps`` and
            scored against a selection-aware null, never as evidence-based roles.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (None: ``$AUTOINTERP_DEVICE``, else auto).
        dtype: ``float32``, ``bfloat16`` or ``float16`` (None: ``$AUTOINTERP_DTYPE``, else float32);
            metrics and distances are computed in float32 or wider whatever the model's dtype.

    Returns:
        ``agents.session.RunOutcome`` with ``run_id``, ``status``, ``stop_reason``,
        ``circuit``, ``explanation``, ``evaluation`` (``to_dict()`` gives the
        ``explain --json`` object).

    Raises:
        AutointerpError: unknown task/model/agent, a missing API key, a bad component id,
            a setting out of range, an unknown or unavailable device or dtype.
        StoreError: the database cannot be opened.
    """

    limits = {k: v for k, v in (("max_llm_requests", max_llm_requests), ("max_wall_s", max_wall_s))
              if v is not None}
    config = ExplainConfig.checked(task=task, model=model, agent=agent, circuit=_circuit(circuit),
                                   max_steps=max_steps, max_component_steps=max_component_steps,
                                   max_tokens=max_tokens, seed=seed, n=n, evaluate=evaluate,
                                   null_draws=null_draws, params=dict(params or {}),
                                   permute_heads=permute_heads, disguise=disguise, fit_roles_to_swaps=fit_roles_to_swaps,
                                   api_key_env=api_key_env, device=device, dtype=dtype, **limits)
    with open_store(db) as store:
        kwargs: dict[str, Any] = {"chat_model": chat_model, "http_client": http_client, "target": target}
        return run_explain(config, store, progress or _silent, run_id=run_id, **kwargs)


def resume(run_id: str, *, db: str | None = None, progress: ProgressFn | None = None,
           chat_model: Any = None, http_client: Any = None, target: Any = None,
           device: str | None = None, dtype: str | None = None):
    """Continue a killed or interrupted run from its last checkpoint.

    Args:
        run_id: the run to resume.
        db: store URL the run was recorded in.
        progress: callback ``(event, payload)`` for progress display.
        chat_model: chat model override for LLM agents (tests, notebooks).
        http_client: an ``httpx.Client`` for the provider's requests (tests).
        target: an already loaded ``TargetModel`` of the run's model.
        device, dtype: where and in what precision the reloaded model runs (None: the run's settings).

    Returns:
        The finished run's ``RunOutcome`` (a finished run is read back, not rerun).

    Raises:
        RunNotFound: no such run in the store.
        RunBusy: another process is driving the run.
        StoreError: no database at ``db``.
    """

    with open_store(db, create=False) as store:
        return resume_explain(run_id, store, progress or _silent, chat_model=chat_model, http_client=http_client,
                              target=target, device=device, dtype=dtype)


def _silent(_event: str, _payload: dict[str, Any]) -> None:
    """Default progress callback."""


def replicate(
    run_id: str,
    reference: str,
    *,
    judge: str | None = None,
    blind: str | None = None,
    oneshot_run: str | None = None,
    db: str | None = None,
    judge_chat_model: Any = None,
    blind_chat_model: Any = None,
) -> dict[str, Any]:
    """Score a stored run's explanation against a reference explanation (and baselines); store the scores.

    Args:
        run_id: the run.
        reference: a reference file (format: ``engine.planted.reference``) or a shipped name
            (``ioi-gpt2-small``, ``planted-induction`` ...).
        judge: a provider spec (``openai:<model>`` ...) of the LLM judge of descriptions.
        blind: a provider spec of the LLM for the blind baseline (task and component ids only).
        oneshot_run: a one-shot run of the same task and model to score beside.
        db: store URL.
        judge_chat_model: chat model override for the judge (tests).
        blind_chat_model: chat model override for the blind baseline (tests).

    Returns:
        ``agents.replicate_run.replicate_stored_run``'s result.
    """
    judge_llm = llm_of(judge, judge_chat_model) if judge else None
    blind_llm = llm_of(blind, blind_chat_model) if blind else None
    with open_store(db) as store:
        return replicate_stored_run(store, run_id, reference, judge=judge_llm, blind=blind_llm,
                                    oneshot_run=oneshot_run)
