"""Start, run and resume research runs: the glue between store, model and graph.

Why: the CLI and the Python API both need "start a run and drive the graph
to the end" and "continue a killed run by its id". A run's configuration is
stored with the run (without secrets), so ``resume`` rebuilds the model,
the task and the agent from the store alone, then lets LangGraph continue
from the run's last checkpoint (``thread_id`` = run id).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from agents.checkpoint import open_checkpointer, thread_config
from agents.context import ProgressFn, RunContext, _quiet
from agents.graph import compile_graph
from agents.limits import MAX_STEPS, run_limits
from agents.provenance import code_version
from agents.providers import make_llm
from agents.spec import AgentSpec, parse_agent
from engine.bounds import MAX_NULL_DRAWS, MAX_PAIRS, MAX_SEED, MIN_NULL_DRAWS
from engine.catalog import device_spelling, dtype_spelling
from engine.components import parse_component
from engine.errors import AutointerpError
from engine.evaluation import permute_heads
from engine.models import load_model
from engine.models.placement import dtype_name
from engine.tasks import BUILTIN_TASKS, Task, build_task, tokenize_for
from engine.tasks.disguise import Disguise, disguise_task, make_disguise
from store import Store, finish_run, get_run, hold_lease, open_store, redact, resume_run, start_run
from tools.base import ToolContext


class ConfigError(AutointerpError):
    """A run setting outside its valid range."""


class ExplainConfig(BaseModel):
    """Everything that defines a run (stored with it; never holds secrets).

    The bounds are the CLI's (``engine.bounds``, ``agents.limits``), so the
    Python API refuses the same values the command line does.
    """

    task: str
    model: str
    agent: str = "scripted"
    circuit: list[str] = Field(default_factory=list)
    max_steps: int = Field(300, ge=0, le=MAX_STEPS)
    max_component_steps: int = Field(12, ge=0, le=MAX_STEPS)
    max_tokens: int = Field(0, ge=0)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    n: int | None = Field(None, ge=1, le=MAX_PAIRS)
    evaluate: bool = True
    null_draws: int = Field(200, ge=MIN_NULL_DRAWS, le=MAX_NULL_DRAWS)
    params: dict[str, Any] = Field(default_factory=dict)
    #: run on a function-preserving head permutation of the model (memorisation control)
    permute_heads: int | None = Field(None, ge=0, le=MAX_SEED)
    #: run on a disguised task: entities renamed, name and role names hidden (memorisation control)
    disguise: int | None = Field(None, ge=0, le=MAX_SEED)
    #: hard caps (0 = unlimited): LLM requests of the run, seconds of one invocation
    max_llm_requests: int = Field(default_factory=lambda: run_limits().max_llm_requests, ge=0)
    max_wall_s: float = Field(default_factory=lambda: run_limits().max_wall_s, ge=0)
    #: the environment variable holding the agent's API key (its name, never its value)
    api_key_env: str | None = None
    #: opt-in: let the agent test and regroup its roles by weight swaps (roles_source "fitted_to_swaps")
    fit_roles_to_swaps: bool = False
    #: where and in what precision the model runs (None: ``AUTOINTERP_DEVICE`` / ``AUTOINTERP_DTYPE``)
    device: str | None = None
    dtype: str | None = None

    @field_validator("device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        return None if value is None else device_spelling(value)

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str | None) -> str | None:
        return None if value is None else dtype_spelling(value)

    @classmethod
    def checked(cls, **values: Any) -> ExplainConfig:
        """Validate ``values``; a value out of range is one sentence (``ConfigError``)."""
        try:
            config = cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "the settings"
            raise ConfigError(f"Invalid {where} ({err.get('input')!r}): {err['msg']}.") from None
        if config.disguise is not None and config.permute_heads is not None:
            raise ConfigError("Choose --disguise or --permute-heads, not both: each memorisation check compares "
                              "its run with a plain run of the same task and model.")
        return config


DEFAULT_N = 32
"""Pairs per run when ``n`` is not given: enough for stable effects, cheap on a CPU."""


@dataclass
class RunOutcome:
    """What a finished (or stopped) run produced."""

    run_id: str
    status: str
    stop_reason: str | None
    circuit: list[str]
    explanation: dict[str, Any]
    evaluation: dict[str, Any]
    localisation: dict[str, Any] = field(default_factory=dict)
    findings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``explain --json`` object."""
        return {"run_id": self.run_id, "circuit": self.circuit, "explanation": self.explanation,
                "evaluation": self.evaluation}


def _load(config: ExplainConfig, progress: ProgressFn, target: Any = None):
    """The model (a head-permuted copy when asked; it carries its id mapping) and the task data."""

    if target is None:
        progress("phase", {"name": f"loading {config.model}"})
        target = load_model(config.model, device=config.device, dtype=config.dtype)
    n = pairs_wanted(config)
    if config.permute_heads is not None:

        progress("phase", {"name": f"permuting heads (seed {config.permute_heads})"})
        target, _ = permute_heads(target, seed=config.permute_heads)
    data = tokenize_for(research_task(config, target.tokenizer, n, config.seed), target)
    for cid in config.circuit:
        parse_component(cid, target.n_layers, target.n_heads)
    return target, data


def task_disguise(config: ExplainConfig, tokenizer: Any) -> Disguise | None:
    """The run's disguise (None for a plain run); it depends only on the task, the tokenizer and the seed."""
    if config.disguise is None:
        return None
    return make_disguise(build_task(config.task, tokenizer, n=1), tokenizer, config.disguise)


def check_stored_disguise(run: Any, config: ExplainConfig, tokenizer: Any) -> None:
    """Refuse to rebuild a disguised run's prompts when this version would disguise the task differently.

    The disguise is rebuilt from the run's settings (task, tokenizer, seed); a changed noun list or
    tokenizer would otherwise re-score or resume the run on other prompts than the ones it studied.
    """
    disguise = task_disguise(config, tokenizer)
    stored = (run.meta or {}).get("disguise")
    if disguise is not None and stored is not None and \
            {k: stored.get(k) for k in ("words", "roles")} != {"words": disguise.words, "roles": disguise.roles}:
        raise AutointerpError(f"Run '{run.id}' was disguised differently from how this version disguises "
                              f"{config.task} for {config.model} (another noun list or tokenizer); its prompts "
                              "cannot be rebuilt.")


def research_task(config: ExplainConfig, tokenizer: Any, n: int | None, seed: int) -> Task:
    """``n`` pairs of the run's task drawn with ``seed``, disguised when the run is."""
    task = build_task(config.task, tokenizer, n=n, seed=seed)
    disguise = task_disguise(config, tokenizer)
    return task if disguise is None else disguise_task(task, disguise)


def with_placement(config: ExplainConfig, device: str | None, dtype: str | None) -> ExplainConfig:
    """``config`` with its device and dtype replaced where given (validated spellings)."""
    update = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
    return ExplainConfig.model_validate({**config.model_dump(), **update}) if update else config


def pairs_wanted(config: ExplainConfig) -> int | None:

    if config.n is not None:
        return config.n
    return min(DEFAULT_N, BUILTIN_TASKS[config.task].default_n) if config.task in BUILTIN_TASKS else None


HELD_OUT_SEED = 7919
"""Added to a run's seed to draw its evaluation prompts."""
MIN_HELD_OUT = 8
"""Fewest unseen pairs that make a held-out set; below it the fresh draw is used as it is."""


def evaluation_data(config: ExplainConfig, target: Any, data: Any) -> tuple[Any, dict[str, Any]]:
    """The prompts a run's explanation is scored on, and a description of them.

    Why held out: the evaluation must not grade the agent on the prompts its
    evidence came from. A built-in task is scored on pairs the research never
    saw (drawn with seed + ``HELD_OUT_SEED``, research prompts left out), so
    the score is a measurement on new inputs, not the agent's own numbers read
    back (in the opt-in fitted-roles mode, its swap sweep is not re-used). A
    small task (capitals has 40 distinct prompts) may not have
    ``MIN_HELD_OUT`` unseen pairs left; then the fresh draw is used as it is,
    labelled ``resampled``, with the number of distinct prompts it shares
    with the research (``overlap``). The held-out draw carries its own
    mean-ablation reference (``reference``: pairs and seed; ``Task.reference``)
    with every research corrupt prompt left out, so research prompts enter
    the evaluation's means only as far as the held-out pairs themselves share
    them (``overlap``, for a small task). A JSONL task's
    pairs are fixed, so it is scored on its research prompts, and the
    description says so.
    """
    if config.task not in BUILTIN_TASKS:
        return data, {"prompts": "research", "n_pairs": data.n_pairs,
                      "note": "a JSONL task's pairs are fixed, so it is scored on the research prompts"}
    seed, n = config.seed + HELD_OUT_SEED, data.n_pairs
    draw = research_task(config, target.tokenizer, min(4 * n, MAX_PAIRS), seed)
    seen = {p.clean for p in data.task.pairs}
    fresh = [p for p in draw.pairs if p.clean not in seen][:n]
    kind = "held-out" if len(fresh) >= min(n, MIN_HELD_OUT) else "resampled"
    # the held-out reference leaves out every research corrupt prompt (a small task's draws share many)
    researched = {p.corrupt for p in data.task.pairs}
    task = replace(draw, pairs=fresh if kind == "held-out" else draw.pairs[:n],
                   reference=[p for p in draw.reference if p.corrupt not in researched])
    held = tokenize_for(task, target)
    overlap = len({p.clean for p in task.pairs} & seen)
    return held, {"prompts": kind, "seed": seed, "n_pairs": held.n_pairs, "overlap": overlap,
                  "reference": {"pairs": len(task.reference), "seed": task.reference_seed}}


def _context(
    config: ExplainConfig, spec: AgentSpec, store: Store, progress: ProgressFn,
    chat_model: Any = None, http_client: Any = None, target: Any = None,
) -> RunContext:

    llm = make_llm(spec, chat_model, http_client, config.api_key_env) if spec.kind != "scripted" else None
    target, data = _load(config, progress, target)
    eval_data, eval_prompts = evaluation_data(config, target, data) if config.evaluate else (None, {})
    return RunContext(target=target, data=data, eval_data=eval_data, eval_prompts=eval_prompts, store=store,
                      tools=ToolContext(target, data, seed=config.seed, artifact_dir=str(store.artifact_dir)),
                      agent_kind=spec.kind, llm=llm, progress=progress, evaluate=config.evaluate,
                      null_draws=config.null_draws, swaps_allowed=config.fit_roles_to_swaps)


def initial_state(run_id: str, config: ExplainConfig) -> dict[str, Any]:
    """The graph input of a new run."""
    return {
        "run_id": run_id, "agent": config.agent, "steps": 0, "tokens": 0, "llm_requests": 0,
        "budget": {"max_steps": config.max_steps, "max_component_steps": config.max_component_steps,
                   "max_tokens": config.max_tokens, "max_llm_requests": config.max_llm_requests,
                   "max_wall_s": config.max_wall_s},
        "params": dict(config.params), "circuit_given": list(config.circuit), "findings": {},
        "stop_reason": None,
    }


def _outcome(run_id: str, status: str, stop_reason: str | None, values: dict[str, Any]) -> RunOutcome:
    """A run's outcome from its graph state, secrets redacted (it is shown and returned to callers)."""
    values = redact({k: values.get(k) for k in ("circuit", "explanation", "evaluation", "localisation", "findings")})
    return RunOutcome(run_id=run_id, status=status, stop_reason=redact(stop_reason) if stop_reason else stop_reason,
                      circuit=list(values["circuit"] or []), explanation=values["explanation"] or {},
                      evaluation=values["evaluation"] or {}, localisation=values["localisation"] or {},
                      findings=values["findings"] or {})


def _drive(ctx: RunContext, run_id: str, graph_input: dict[str, Any] | None, max_wall_s: float) -> RunOutcome:
    """Run the graph to its end under the run's checkpoints; record failures in the store.

    The caller holds the run's lease; ``max_wall_s`` (0 = none) bounds this invocation.
    """
    ctx.deadline = time.monotonic() + max_wall_s if max_wall_s else None
    with open_checkpointer(ctx.store) as saver:
        graph = compile_graph(saver)
        config = thread_config(run_id)
        if graph_input is None and not graph.get_state(config).values:
            raise AutointerpError(f"Run '{run_id}' has no checkpoint to resume from.")
        try:
            final = graph.invoke(graph_input, config, context=ctx, durability="sync")
        except KeyboardInterrupt:
            finish_run(ctx.store, run_id, "interrupted", "interrupted by the user; resume it by its id")
            raise
        except Exception as exc:
            finish_run(ctx.store, run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
    run = get_run(ctx.store, run_id)
    # the store is the record: the outcome reports the stop reason it holds (never a state-only None)
    return _outcome(run_id, run.status, run.stop_reason or final.get("stop_reason"), final)


def run_explain(
    config: ExplainConfig, store: Store, progress: ProgressFn = _quiet, run_id: str | None = None,
    chat_model: Any = None, http_client: Any = None,
    target: Any = None,
) -> RunOutcome:
    """Start a run of ``config`` in ``store`` and drive it to the end.

    ``chat_model``/``http_client`` replace the provider's chat model or HTTP
    transport (fake models and recorded responses in tests);
    ``target`` is an
    already loaded model named ``config.model`` (batch workers reuse one).
    """
    spec = parse_agent(config.agent)
    ctx = _context(config, spec, store, progress, chat_model, http_client, target)
    # the task as a reader first meets it: its description and two example pairs (the report's first screen)
    meta: dict[str, Any] = {"n_pairs": ctx.data.n_pairs, "device": str(ctx.target.device),
                            "dtype": dtype_name(ctx.target.dtype), "task_description": ctx.data.task.description,
                            "example_pairs": [{"clean": p.clean, "corrupt": p.corrupt, "answer": p.answer,
                                               "distractor": p.distractor} for p in ctx.data.task.pairs[:2]]}
    if config.permute_heads is not None:
        # the original-id -> permuted-id map, for `autointerp eval`'s memorisation control
        meta["head_permutation"] = ctx.target.head_permutation
    disguise = task_disguise(config, ctx.target.tokenizer)
    if disguise is not None:
        # entity word -> image and role -> neutral name, for `autointerp eval`'s disguised-task check
        meta["disguise"] = disguise.to_json()
    run_id = start_run(store, task=config.task, model=config.model, agent=config.agent,
                       config=config.model_dump(mode="json"), seed=config.seed, run_id=run_id, meta=meta,
                       code_version=code_version())
    progress("run", {"run_id": run_id})
    with hold_lease(store, run_id):
        return _drive(ctx, run_id, initial_state(run_id, config), config.max_wall_s)


def resume_explain(
    run_id: str, store: Store, progress: ProgressFn = _quiet, chat_model: Any = None, http_client: Any = None,
    target: Any = None, device: str | None = None, dtype: str | None = None,
) -> RunOutcome:
    """Continue run ``run_id`` from its last checkpoint (a finished run is just read back).

    ``device``/``dtype`` override where the reloaded model runs (e.g. a run
    started on a GPU, resumed on a CPU); None keeps the run's own settings.

    Raises:
        RunNotFound: no such run.
        RunBusy: another live process is driving the run.
    """
    run = get_run(store, run_id)
    config = with_placement(ExplainConfig.model_validate(run.config), device, dtype)
    spec = parse_agent(config.agent)
    with hold_lease(store, run_id):  # before anything is loaded: a second resume stops here
        ctx = _context(config, spec, store, progress, chat_model, http_client, target)
        check_stored_disguise(run, config, ctx.target.tokenizer)
        progress("run", {"run_id": run_id})
        run = get_run(store, run_id)  # as it is now that we hold the lease
        with open_checkpointer(store) as saver:
            snapshot = compile_graph(saver).get_state(thread_config(run_id))
        if snapshot.values and not snapshot.next:  # the graph has ended: read it back
            if run.status == "running":  # killed between its last checkpoint and closing the record
                reason = snapshot.values.get("stop_reason")
                finish_run(store, run_id, "stopped" if reason else "finished", reason or "explanation complete")
                run = get_run(store, run_id)
            return _outcome(run_id, run.status, run.stop_reason, snapshot.values)
        resume_run(store, run_id)
        graph_input = None if snapshot.values else initial_state(run_id, config)
        return _drive(ctx, run_id, graph_input, config.max_wall_s)


__all__ = ["ConfigError", "ExplainConfig", "RunOutcome", "open_store", "resume_explain", "run_explain"]
