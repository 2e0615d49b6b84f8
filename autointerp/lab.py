"""``Lab(model, task)``: the experiment tools as plain Python methods returning typed results.

Why: the tools are written for the agent (a registry of specs run through
``run_tool`` with a ``ToolContext``), which left a notebook user reading the
source to call one. A ``Lab`` loads the model and the task once and offers one
method per tool; keyword arguments are the tool's arguments (validated by its
pydantic model), the return value is its typed result from ``tools.results``
and a bad argument raises ``ToolError`` with the one sentence the agent would
have read. Nothing is written to a store.

Example::

    from autointerp import Lab
    lab = Lab("smollm2-135m", "ioi", n=16)
    sweep = lab.activation_patching(components="heads")
    top = sorted(sweep.effects, key=lambda c: sweep.effects[c])[:3]
    lens = lab.logit_lens(components=top)
"""

from __future__ import annotations

from typing import Any

from engine.models.loading import TargetModel, load_model
from engine.tasks import TaskData, load_task
from tools.base import ToolContext, ToolError, ToolResult, run_tool
from tools.registry import get_tool
from tools.results import (
    AblationResult,
    ActivationPatchingResult,
    AttentionInputsResult,
    AttentionPatternResult,
    AttributionPatchingResult,
    LogitLensResult,
    PathPatchingResult,
    ProbeResult,
    ReadActivationsResult,
    WeightSwapResult,
)


class Lab:
    """A loaded model and task with one method per experiment tool.

    Args:
        model: a model name (``smollm2-135m``, ``tiny-gpt2``, a local path) or a loaded ``TargetModel``.
        task: a built-in task name or a JSONL file.
        n: number of prompt pairs (default: the task's).
        seed: seed of the pairs and of every random choice of the tools.
        artifact_dir: where tools may write raw arrays when asked to (None: they refuse).
    """

    def __init__(self, model: str | TargetModel, task: str, *, n: int | None = None, seed: int = 0,
                 artifact_dir: str | None = None):
        self.target: TargetModel = load_model(model, seed=seed) if isinstance(model, str) else model
        self.data: TaskData = load_task(task, self.target, n=n, seed=seed)
        self.context = ToolContext(self.target, self.data, seed=seed, artifact_dir=artifact_dir)
        #: the one-line summary of every call so far, in order (what the agent would have read)
        self.summaries: list[str] = []

    def run(self, tool: str, **args: Any) -> ToolResult:
        """Run tool ``tool`` with ``args``; the ``ToolResult`` keeps result, summary, time and error."""
        return run_tool(get_tool(tool), self.context, args)

    def _call(self, tool: str, args: dict[str, Any]) -> Any:
        out = self.run(tool, **args)
        if out.error is not None or out.result is None:
            raise ToolError(out.error or f"{tool} returned no result.")
        self.summaries.append(out.summary)
        return out.result

    def read_activations(self, **args: Any) -> ReadActivationsResult:
        """Statistics of components' outputs at a position (see ``tools.read_activations``)."""
        return self._call("read_activations", args)

    def logit_lens(self, **args: Any) -> LogitLensResult:
        """Direct logit attribution and promoted/suppressed tokens of components (``components=[...]``)."""
        return self._call("logit_lens", args)

    def attention_pattern(self, **args: Any) -> AttentionPatternResult:
        """Where heads attend, by token role and for an example prompt (``heads=[...]``)."""
        return self._call("attention_pattern", args)

    def attention_inputs(self, **args: Any) -> AttentionInputsResult:
        """A head's attention with its query or key input from the source run (``head=..., senders=[...]``)."""
        return self._call("attention_inputs", args)

    def activation_patching(self, **args: Any) -> ActivationPatchingResult:
        """Exact patching effects of components (``components="heads"``, ``direction=...``)."""
        return self._call("activation_patching", args)

    def attribution_patching(self, **args: Any) -> AttributionPatchingResult:
        """Gradient estimate of every component's patching effect (one backward pass)."""
        return self._call("attribution_patching", args)

    def path_patching(self, **args: Any) -> PathPatchingResult:
        """A sender's effect along its path into receivers (``sender=..., receivers=["logits"]``)."""
        return self._call("path_patching", args)

    def ablation(self, **args: Any) -> AblationResult:
        """Effect of zero-, mean- or resample-ablating components (``components=[...]``, ``kind=...``)."""
        return self._call("ablation", args)

    def probe(self, **args: Any) -> ProbeResult:
        """A linear probe of a task feature on a component's output."""
        return self._call("probe", args)

    def weight_swap(self, **args: Any) -> WeightSwapResult:
        """Interchangeability distances between heads by swapping their weights (``among=[...]``)."""
        return self._call("weight_swap", args)
