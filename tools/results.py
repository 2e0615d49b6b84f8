"""Typed results of the experiment tools: one pydantic model per tool.

Why typed: a tool's result is read by the scripted researcher (by attribute),
stored as JSON with the experiment, shown to LLM agents as that JSON, read
back on a resumed run and drawn by the report. One model per tool fixes the
shape once for all of them; fields that mean the same thing in every mode of
a tool have one name (a sweep and a patch of a set both report ``effects``,
keyed by what was patched: a component id, or the ids of a set joined by
``+``). ``ToolSpec.result_model`` names the model, so a stored result is
validated back into it (``parse_result``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from engine.attribution import AttributionMethod

#: a position as the tools accept it: an integer (negative from the end) or a task role name
PositionValue = int | str


class ToolOutput(BaseModel):
    """Base of every tool result: JSON-serialisable, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class ArtifactRef(BaseModel):
    """A raw array written as a content-hashed ``.npy`` file."""

    what: str
    sha256: str
    path: str
    shape: list[int]
    dtype: str


class ActivationStats(BaseModel):
    dim: int
    mean_norm: float
    std_norm: float
    norm_of_mean: float
    #: how much of the activation is shared across prompts (1 = constant direction)
    mean_cosine_to_mean: float
    elementwise_std: float
    per_position_norm: dict[str, float]
    artifacts: list[ArtifactRef] | None = None


class ReadActivationsResult(ToolOutput):
    prompts: str
    n_pairs: int
    components: dict[str, ActivationStats]


class LensEntry(BaseModel):
    direct_effect: float
    direct_effect_std: float
    #: RESID components: the logit difference read through the real final norm
    lens_logit_diff: float | None = None
    promoted: list[tuple[str, float]] | None = None
    suppressed: list[tuple[str, float]] | None = None


class LogitLensResult(ToolOutput):
    prompts: str
    position: PositionValue
    actual_logit_diff: float
    norm_bias_effect: float
    direct_effects: dict[str, float]
    components: dict[str, LensEntry]


class AttentionExample(BaseModel):
    pair: int
    query_position: int
    tokens: list[str]
    attention: list[float]


class HeadAttention(BaseModel):
    to_role: dict[str, float]
    to_role_std: dict[str, float]
    to_first_position: float
    top_positions: list[tuple[int, float]]
    example: AttentionExample | None = None


class AttentionPatternResult(ToolOutput):
    query: PositionValue
    prompts: str
    heads: dict[str, HeadAttention]


class SweepResult(ToolOutput):
    """Fields every patching-like sweep shares: the metric, its clean/corrupt values and effects."""

    positions: PositionValue | list[PositionValue]
    metric: str = "logit_diff"
    n_pairs: int
    clean_metric: float
    corrupt_metric: float
    #: what was patched (a component id, or a set's ids joined by "+") -> effect on the metric
    effects: dict[str, float]
    #: the keys of ``effects`` with the largest magnitude, largest first
    top: list[tuple[str, float]]


class ActivationPatchingResult(SweepResult):
    direction: str
    together: bool
    #: the components patched (all of them together when ``together``)
    components: list[str]
    #: effect / the metric's full swing in this direction (None when the swing is 0)
    fraction_of_gap: dict[str, float | None]
    #: spread of the per-pair effects (small sweeps and sets only)
    effect_std_over_pairs: dict[str, float] | None = None


class AblationResult(SweepResult):
    kind: str
    together: bool
    components: list[str]
    #: the metric with the ablation applied (clean metric + effect)
    ablated_metric: dict[str, float]


class FaithfulnessPoint(BaseModel):
    #: the first ``size`` components of ``order`` are kept, everything else ablatable is ablated
    size: int
    f: float | None


class FaithfulnessResult(ToolOutput):
    ablated: str
    n_pairs: int
    m_full: float
    m_empty: float
    #: the components in the order they joined the circuit (results stored before greedy selection: the
    #: prefix ranking, which is the same thing for a prefix)
    order: list[str] = Field(validation_alias=AliasChoices("order", "ranking"))
    #: the candidates greedy selection chose from, and the set it started with
    candidates: list[str] = Field(default_factory=list)
    start: list[str] = Field(default_factory=list)
    curve: list[FaithfulnessPoint]
    #: candidates measured exactly per step, by largest restoration gradient (None: all; results stored before
    #: shortlisting measured all)
    shortlist: int | None = None
    #: the candidates measured exactly at each step (None for results stored before shortlisting)
    measured: list[list[str]] | None = None
    target_f: float
    chosen_size: int
    reason: str


class VerifiedEstimate(BaseModel):
    estimate: float
    exact: float


class AttributionPatchingResult(SweepResult):
    method: str
    #: the attribution variant that produced the estimates (results stored before variants existed were AtP)
    variant: AttributionMethod = "atp"
    #: integration steps of variant "ig" (None for the others)
    ig_steps: int | None = None
    direction: str
    verified: dict[str, VerifiedEstimate] | None = None


class PathEdge(ToolOutput):
    """The sender's path into one input of one receiver head, every other path frozen.

    ``attention_before`` / ``attention`` are the receiver's mean attention from the final position to each
    task role (and ``first token``) without and with only this input patched: what the sender's change does
    to where the receiver looks. Only a query or key path can move it, so value edges carry none.
    """

    receiver: str
    input: str
    effect: float
    attention_before: dict[str, float] | None = None
    attention: dict[str, float] | None = None


class PathPatchingResult(ToolOutput):
    sender: str
    receivers: list[str]
    receiver_input: list[str]
    direction: str
    positions: PositionValue | list[PositionValue]
    freeze_norm: bool
    metric: str = "logit_diff"
    n_pairs: int
    clean_metric: float
    corrupt_metric: float
    effect: float
    #: with ``separately``: the path into each receiver head's each input on its own
    edges: list[PathEdge] = Field(default_factory=list)


class AttentionSwap(BaseModel):
    """The head's attention and effect with its query and/or key input taken from ``source``.

    ``source`` is ``upstream`` (the source run's residual stream: everything before the head changed) or
    ``senders`` (the input run's plus the senders' summed change, every other path frozen); ``input`` is
    ``q``, ``k`` or ``qk``. ``attention``: mean attention from the query position to each task role (and
    ``first token``); ``effect``: change in the metric when the head's output takes this value.
    """

    source: Literal["upstream", "senders"]
    input: Literal["q", "k", "qk"]
    attention: dict[str, float]
    effect: float


class AttentionInputsResult(ToolOutput):
    head: str
    senders: list[str]
    direction: str
    query: PositionValue
    metric: str = "logit_diff"
    n_pairs: int
    #: the head's attention on the input run, unchanged
    attention: dict[str, float]
    swaps: list[AttentionSwap]


class ProbeResult(ToolOutput):
    component: str
    position: PositionValue
    label: str
    n_examples: int
    n_train: int
    n_test: int
    dim: int
    train_accuracy: float
    test_accuracy: float
    control_test_accuracy: float
    majority_baseline: float
    selectivity: float


class SwapRecord(BaseModel):
    """One weight swap: ``source``'s weights computed at ``target``'s place."""

    target: str
    source: str
    js_distance: float
    logit_diff_clean: float
    logit_diff_swapped: float
    logit_diff_change: float
    n_prompts: int


class WeightSwapResult(ToolOutput):
    n_prompts: int
    js_distance_max: float
    log_base: str = "e"
    #: every swap run, in order
    swaps: list[SwapRecord]
    #: ``among`` mode: the heads, directed[a][b] = d(heads[a] <- heads[b]) and its symmetrisation
    heads: list[str] | None = None
    directed: list[list[float]] | None = None
    distances: list[list[float]] | None = None
    note: str | None = None

