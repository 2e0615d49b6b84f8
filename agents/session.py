"""Start, run and resume research runs: the glue between store, model and graph.

Why: the CLI and the Python API both need "start a run and drive the graph
to the end" and "continue a killed run by its id". A run's configuration is
stored with the run (without secrets), so ``resume`` rebuilds the model,
the task and the agent from the store alone, then lets LangGraph continue
from the run's last checkpoint (``thread_id`` = run id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, field_validator

from agents.checkpoint import open_checkpointer, thread_config
from agents.context import ProgressFn, RunContext, _quiet
from agents.graph import compile_graph
from agents.providers import make_llm
from agents.spec import AgentSpec, parse_agent
from engine.catalog import device_spelling, dtype_spelling
from engine.components import parse_component
from engine.errors import AutointerpError
from engine.evaluation import permute_heads
from engine.models import load_model
from engine.models.placement import dtype_name
from engine.tasks import BUILTIN_TASKS, build_task, load_task, tokenize_task
from store import Store, finish_run, get_run, open_store, resume_run, start_run
from tools.base import ToolContext


class ExplainConfig(BaseModel):
    """Everything that defines a run (stored with it; never holds secrets)."""

    task: str
    model: str
    agent: str = "scripted"
    circuit: list[str] = Field(default_factory=list)
    max_steps: int = 300
    max_component_steps: int = 12
    max_tokens: int = 0
    seed: int = 0
    n: int | None = None
    evaluate: bool = True
    null_draws: int = 200
    params: dict[str, Any] = Field(default_factory=dict)
    #: run on a function-preserving head permutation of the model (memorisation control)
    permute_heads: int | None = None
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
    n = _n_pairs(config)
    if config.permute_heads is not None:

        progress("phase", {"name": f"permuting heads (seed {config.permute_heads})"})
        target, _ = permute_heads(target, seed=config.permute_heads)
    data = load_task(config.task, target, n=n, seed=config.seed)
    for cid in config.circuit:
        parse_component(cid, target.n_layers, target.n_heads)
    return target, data


def with_placement(config: ExplainConfig, device: str | None, dtype: str | None) -> ExplainConfig:
    """``config`` with its device and dtype replaced where given (validated spellings)."""
    update = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
    return ExplainConfig.model_validate({**config.model_dump(), **update}) if update else config


def _n_pairs(config: ExplainConfig) -> int | None:

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
    with the research (``overlap``). A JSONL task's pairs are fixed, so it is
    scored on its research prompts, and the description says so.
    """
    from dataclasses import replace


    if config.task not in BUILTIN_TASKS:
        return data, {"prompts": "research", "n_pairs": data.n_pairs,
                      "note": "a JSONL task's pairs are fixed, so it is scored on the research prompts"}
    seed, n = config.seed + HELD_OUT_SEED, data.n_pairs
    draw = build_task(config.task, target.tokenizer, n=4 * n, seed=seed)
    seen = {p.clean for p in data.task.pairs}
    fresh = [p for p in draw.pairs if p.clean not in seen][:n]
    kind = "held-out" if len(fresh) >= min(n, MIN_HELD_OUT) else "resampled"
    task = replace(draw, pairs=fresh if kind == "held-out" else draw.pairs[:n])
    held = tokenize_task(task, target.tokenizer, prepend_bos=target.prepend_bos, device=target.device)
    overlap = len({p.clean for p in task.pairs} & seen)
    return held, {"prompts": kind, "seed": seed, "n_pairs": held.n_pairs, "overlap": overlap}


def _context(
    config: ExplainConfig, spec: AgentSpec, store: Store, progress: ProgressFn,
    chat_model: Any = None, http_client: Any = None, target: Any = None,
) -> RunContext:

    llm = make_llm(spec, chat_model, http_client) if spec.kind != "scripted" else None
    target, data = _load(config, progress, target)
    eval_data, eval_prompts = evaluation_data(config, target, data) if config.evaluate else (None, {})
    return RunContext(target=target, data=data, eval_data=eval_data, eval_prompts=eval_prompts, store=store,
                      tools=ToolContext(target, data, seed=config.seed, artifact_dir=str(store.artifact_dir)),
                      agent_kind=spec.kind, llm=llm, progress=progress, evaluate=config.evaluate,
                      null_draws=config.null_draws, swaps_allowed=config.fit_roles_to_swaps)


def initial_state(run_id: str, config: ExplainConfig) -> dict[str, Any]:
    """The graph input of a new run."""
    return {
        "run_id": run_id, "agent": config.agent, "steps": 0, "tokens": 0,
        "budget": {"max_steps": config.max_steps, "max_component_steps": config.max_component_steps,
                   "max_tokens": config.max_tokens},
        "params": dict(config.params), "circuit_given": list(config.circuit), "findings": {},
        "stop_reason": None,
    }


def _drive(ctx: RunContext, run_id: str, graph_input: dict[str, Any] | None) -> RunOutcome:
    """Run the graph to its end under the run's checkpoints; record failures in the store."""
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
    return RunOutcome(run_id=run_id, status=run.status, stop_reason=final.get("stop_reason"),
                      circuit=list(final.get("circuit") or []), explanation=final.get("explanation") or {},
                      evaluation=final.get("evaluation") or {}, localisation=final.get("localisation") or {},
                      findings=final.get("findings") or {})


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
    meta: dict[str, Any] = {"n_pairs": ctx.data.n_pairs, "device": str(ctx.target.device),
                            "dtype": dtype_name(ctx.target.dtype)}
    if config.permute_heads is not None:
        # the original-id -> permuted-id map, for `autointerp eval`'s memorisation control
        meta["head_permutation"] = ctx.target.head_permutation
    run_id = start_run(store, task=config.task, model=config.model, agent=config.agent,
                       config=config.model_dump(mode="json"), seed=config.seed, run_id=run_id, meta=meta)
    progress("run", {"run_id": run_id})
    return _drive(ctx, run_id, initial_state(run_id, config))


def resume_explain(
    run_id: str, store: Store, progress: ProgressFn = _quiet, chat_model: Any = None, http_client: Any = None,
    target: Any = None, device: str | None = None, dtype: str | None = None,
) -> RunOutcome:
    """Continue run ``run_id`` from its last checkpoint (a finished run is just read back).

    ``device``/``dtype`` override where the reloaded model runs (e.g. a run
    started on a GPU, resumed on a CPU); None keeps the run's own settings.
    """
    run = get_run(store, run_id)
    config = with_placement(ExplainConfig.model_validate(run.config), device, dtype)
    spec = parse_agent(config.agent)
    ctx = _context(config, spec, store, progress, chat_model, http_client, target)
    progress("run", {"run_id": run_id})
    if run.status == "finished":
        with open_checkpointer(store) as saver:
            values = compile_graph(saver).get_state(thread_config(run_id)).values
        if values.get("explanation") is not None:
            return RunOutcome(run_id, run.status, run.stop_reason, list(values.get("circuit") or []),
                              values.get("explanation") or {}, values.get("evaluation") or {},
                              values.get("localisation") or {}, values.get("findings") or {})
    resume_run(store, run_id)
    with open_checkpointer(store) as saver:
        has_state = bool(compile_graph(saver).get_state(thread_config(run_id)).values)
    return _drive(ctx, run_id, None if has_state else initial_state(run_id, config))


__all__ = ["ExplainConfig", "RunOutcome", "open_store", "resume_explain", "run_explain"]
