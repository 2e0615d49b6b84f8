"""The truth of a planted model: which heads do which job, established after training.

Why a separate check: the point of a planted model is to grade the agent
against roles it could not have produced itself. So the truth is measured
here with code that shares nothing with the agent or the tools -- no
``engine.hooks``, adapters, runner, patching, ablation or task loading --
only plain ``model(ids, output_attentions=True)`` forwards with eager
attention, and plain forward pre-hooks on the output projections (registered
and removed in this module) for ablation, on fresh draws of the task's
generator (their own seed).

The check has two parts, with thresholds fixed in ``SIGNATURES`` and below:

1. **Attention signatures** say what a head does. Each role is one
   attention pattern measured on fresh training-distribution sequences:
   ``previous_token`` (query i -> key i-1) and ``induction`` (a repeated
   token -> the token after its first occurrence; for recall, the query key
   -> the value stored with it). A head takes the role whose score is
   highest among those at or above ``ROLE_THRESHOLD``. ``skip`` (query i ->
   key i-2 on decoy sequences) is recorded to show what the decoy heads do.
2. **Mean ablation** says whether it matters. Each head's output (its slice
   of the output projection's input) is replaced by its per-position mean
   over the task's corrupt prompts, and the task metric (logit of the answer
   minus the distractor at the last position, mean over prompts) is read.
   Because training made roles redundant, a head is judged both alone (the
   metric change when only it is ablated) and as the survivor of its role
   (the share of the role's effect it restores when the other heads of its
   role are ablated). A head is in the circuit when it has a role and one of
   the two reaches ``CIRCUIT_THRESHOLD`` of the full effect; a head with no
   role that reaches it is *unexplained*, which fails the check.

``checks`` records whether the model is a clean planted circuit: the task is
learned, every role is necessary (knocking it out removes most of the
effect), the circuit alone is faithful, no head is unexplained, and every
decoy head is outside the circuit.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from pydantic import BaseModel, Field
from transformers import LlamaForCausalLM

from engine.planted import episodes
from engine.planted.recipes import Recipe, task_episode, training_sequence
from engine.planted.vocab import BOS, vocabulary

TRUTH_FORMAT = 1
"""Bump when the check changes: cached models then get their truth re-derived (not retrained)."""
TRUTH_SEED = 1_000_003
"""Seed of the truth's fresh sequences (distinct from training and evaluation draws)."""
N_SEQUENCES = 256
ROLE_THRESHOLD = 0.4
"""Mean attention a signature needs for a role (uniform attention over ~20 keys gives ~0.05)."""
CIRCUIT_THRESHOLD = 0.1
"""Share of the full effect (clean metric minus all heads ablated) that makes a head part of the circuit."""
KNOCKOUT_THRESHOLD = 0.5
FAITHFULNESS_THRESHOLD = 0.8

#: role name -> (signature score, one-sentence description), per task family
SIGNATURES: dict[str, dict[str, tuple[str, str]]] = {
    "induction": {
        "previous-token": (
            "previous_token",
            "attends from each token to the token just before it and writes that token's identity "
            "into the current position, so that a later head can find what followed a token",
        ),
        "induction": (
            "induction",
            "attends from the current token to the token that followed its earlier occurrence "
            "(found through the previous-token heads' output) and copies that token to the output",
        ),
    },
    "recall": {
        "previous-token": (
            "previous_token",
            "attends from each stored value to the key just before it and writes the key's identity "
            "into the value's position, so that a later head can find the value stored with a key",
        ),
        "retrieval": (
            "induction",
            "attends from the query key to the value stored after that key's first occurrence "
            "(found through the previous-token heads' output) and copies the value to the output",
        ),
    },
}


class HeadTruth(BaseModel):
    """What the check measured for one head."""

    head: str
    role: str | None
    in_circuit: bool
    decoy: bool
    scores: dict[str, float] = Field(description="attention signatures (mean attention weight)")
    ablation_effect: float = Field(description="metric(head mean-ablated) - clean metric")
    survivor_share: float | None = Field(
        None, description="share of its role's knockout effect the head restores as the role's only survivor"
    )


class PlantedTruth(BaseModel):
    """The established roles of a planted model (stored with the cached model as ``truth.json``)."""

    format: int = TRUTH_FORMAT
    name: str
    fingerprint: str
    roles: dict[str, list[str]]
    role_descriptions: dict[str, str]
    circuit: list[str]
    unexplained: list[str]
    decoys: list[str]
    heads: list[HeadTruth]
    clean_metric: float
    ablated_metric: float = Field(description="metric with every head mean-ablated")
    circuit_metric: float = Field(description="metric with every head outside the circuit mean-ablated")
    faithfulness: float
    role_knockout: dict[str, float] = Field(description="metric with all heads of the role mean-ablated")
    accuracy: float
    checks: dict[str, bool]
    n_sequences: int
    seed: int

    @property
    def verified(self) -> bool:
        return all(self.checks.values())

    def role_of(self, head: str) -> str | None:
        return next((role for role, members in self.roles.items() if head in members), None)

    def labels(self) -> dict[str, str]:
        """Circuit head -> role name."""
        return {head: role for role, members in self.roles.items() for head in members}


def head_id(layer: int, head: int) -> str:
    return f"L{layer}.H{head}"


def _ids(recipe: Recipe, rows: Iterable[tuple[str, ...]]) -> torch.Tensor:
    index = {w: i for i, w in enumerate(vocabulary(recipe.words))}
    return torch.tensor([[index[BOS], *(index[w] for w in row)] for row in rows])


def _attentions(model: LlamaForCausalLM, ids: torch.Tensor) -> torch.Tensor:
    """Attention weights of every head: [layer, batch, head, query, key] (eager attention)."""
    with torch.no_grad():
        out = model(ids, output_attentions=True)
    return torch.stack(out.attentions)


def _mean_over(att: torch.Tensor, rows: Iterable[int], queries: Iterable[int], keys: Iterable[int]) -> torch.Tensor:
    """Mean of att[:, row, :, query, key] over the listed (row, query, key) triples: [layer, head]."""
    r, q, k = torch.tensor(list(rows)), torch.tensor(list(queries)), torch.tensor(list(keys))
    return att[:, r, :, q, k].mean(dim=0)  # separated advanced indices come first: [triple, layer, head]


def signature_scores(model: LlamaForCausalLM, recipe: Recipe, rng: random.Random) -> dict[str, torch.Tensor]:
    """Score name -> [layer, head] mean attention on fresh sequences.

    ``previous_token``: query i -> key i-1 (induction: every position after the
    first word; recall: every stored value). ``induction``: from each target
    word that occurred before to the word after its first occurrence.
    ``skip``: query i -> key i-2 on decoy sequences. Positions count ``<bos>``
    as 0, so word index w is token position w + 1.
    """
    decoy = [episodes.decoy_sequence(rng) for _ in range(N_SEQUENCES)]
    att = _attentions(model, _ids(recipe, [s.words for s in decoy]))
    triples = [(r, q, q - 2) for r, seq in enumerate(decoy) for q in range(3, len(seq.words) + 1)]
    scores = {"skip": _mean_over(att, *zip(*triples, strict=True))}
    seqs = [training_sequence(recipe.family)(rng) for _ in range(N_SEQUENCES)]
    att = _attentions(model, _ids(recipe, [s.words for s in seqs]))
    previous, lookup = [], []
    for r, seq in enumerate(seqs):
        if recipe.family == "induction":
            previous += [(r, w + 1, w) for w in range(1, len(seq.words))]
        else:  # stored values: odd word indices before the first query
            previous += [(r, w + 1, w) for w in range(1, seq.targets[0], 2)]
        first: dict[str, int] = {}
        for w, word in enumerate(seq.words):
            if w in seq.targets and word in first:
                lookup.append((r, w + 1, first[word] + 2))
            first.setdefault(word, w)
    scores["previous_token"] = _mean_over(att, *zip(*previous, strict=True))
    scores["induction"] = _mean_over(att, *zip(*lookup, strict=True))
    return scores


@contextmanager
def mean_ablated(model: LlamaForCausalLM, recipe: Recipe, heads: Iterable[tuple[int, int]], means: torch.Tensor) -> Iterator[None]:
    """Replace each listed head's output by its mean: ``means`` is [layer, pos, n_heads * d_head]."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)
    handles = []

    def hook(layer: int, chosen: list[int]):
        def pre(_module, args):
            x = args[0].clone()
            for h in chosen:
                cols = slice(h * recipe.d_head, (h + 1) * recipe.d_head)
                x[..., cols] = means[layer, : x.shape[1], cols]
            return (x, *args[1:])
        return pre

    try:
        for layer, chosen in by_layer.items():
            handles.append(model.model.layers[layer].self_attn.o_proj.register_forward_pre_hook(hook(layer, chosen)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def head_outputs(model: LlamaForCausalLM, ids: torch.Tensor) -> torch.Tensor:
    """Per-head outputs (the output projection's input): [layer, batch, pos, n_heads * d_head]."""
    seen: dict[int, torch.Tensor] = {}
    handles = []
    try:
        for layer, block in enumerate(model.model.layers):
            handles.append(block.self_attn.o_proj.register_forward_pre_hook(
                lambda _m, args, layer=layer: seen.__setitem__(layer, args[0].detach().clone())
            ))
        with torch.no_grad():
            model(ids)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack([seen[layer] for layer in range(len(seen))])


class _Prompts:
    """Fresh task prompts as ids, with the metric under any set of mean-ablated heads."""

    def __init__(self, model: LlamaForCausalLM, recipe: Recipe, rng: random.Random):
        drawn = [task_episode(recipe.family)(rng) for _ in range(N_SEQUENCES)]
        index = {w: i for i, w in enumerate(vocabulary(recipe.words))}
        self.model, self.recipe = model, recipe
        self.clean = _ids(recipe, [e.clean for e in drawn])
        self.answer = torch.tensor([index[e.answer] for e in drawn])
        self.distractor = torch.tensor([index[e.distractor] for e in drawn])
        self.means = head_outputs(model, _ids(recipe, [e.corrupt for e in drawn])).mean(dim=1)

    def last_logits(self, ablate: Iterable[tuple[int, int]] = ()) -> torch.Tensor:
        with torch.no_grad(), mean_ablated(self.model, self.recipe, ablate, self.means):
            return self.model(self.clean).logits[:, -1]

    def metric(self, ablate: Iterable[tuple[int, int]] = ()) -> float:
        last = self.last_logits(ablate)
        rows = torch.arange(len(last))
        return float((last[rows, self.answer] - last[rows, self.distractor]).mean())

    def accuracy(self) -> float:
        return float((self.last_logits().argmax(-1) == self.answer).float().mean())


def derive_truth(model: LlamaForCausalLM, recipe: Recipe, seed: int = TRUTH_SEED) -> PlantedTruth:
    """Measure the roles and circuit of a trained planted model (see the module docstring)."""
    model = copy.deepcopy(model).eval()
    model.config._attn_implementation = "eager"  # attention weights are returned by the eager kernel only
    rng = random.Random(seed)
    scores = signature_scores(model, recipe, rng)
    prompts = _Prompts(model, recipe, rng)
    heads = list(recipe.heads)
    clean, ablated = prompts.metric(), prompts.metric(heads)
    full = clean - ablated
    signatures = SIGNATURES[recipe.family]
    candidates: dict[str, list[tuple[int, int]]] = {role: [] for role in signatures}
    role_of: dict[tuple[int, int], str | None] = {}
    for layer, head in heads:
        fitting = [(float(scores[score][layer, head]), role) for role, (score, _) in signatures.items()
                   if scores[score][layer, head] >= ROLE_THRESHOLD]
        role_of[(layer, head)] = max(fitting)[1] if fitting else None
        if fitting:
            candidates[max(fitting)[1]].append((layer, head))
    knockout = {role: prompts.metric(members) for role, members in candidates.items()}
    records, circuit, unexplained = [], [], []
    for layer, head in heads:
        single = prompts.metric([(layer, head)]) - clean
        role = role_of[(layer, head)]
        share, restored = None, 0.0
        if role is not None:
            others = [h for h in candidates[role] if h != (layer, head)]
            restored = prompts.metric(others) - knockout[role]
            span = clean - knockout[role]
            share = restored / span if abs(span) > 1e-6 else None
        importance = max(abs(single), restored) / full if full > 0 else 0.0
        in_circuit = role is not None and importance >= CIRCUIT_THRESHOLD
        hid = head_id(layer, head)
        if in_circuit:
            circuit.append((layer, head))
        elif role is None and abs(single) / max(full, 1e-6) >= CIRCUIT_THRESHOLD:
            unexplained.append(hid)
        records.append(HeadTruth(
            head=hid, role=role if in_circuit else None, in_circuit=in_circuit, decoy=(layer, head) in recipe.decoys,
            scores={name: round(float(value[layer, head]), 4) for name, value in scores.items()},
            ablation_effect=round(single, 4), survivor_share=None if share is None else round(share, 4),
        ))
    outside = [h for h in heads if h not in circuit]
    circuit_metric = prompts.metric(outside)
    faithfulness = (circuit_metric - ablated) / full if full > 0 else 0.0
    roles = {role: [head_id(*h) for h in members if h in circuit] for role, members in candidates.items()}
    accuracy = prompts.accuracy()
    checks = {
        "learned": accuracy >= recipe.min_accuracy,
        "every_role_found": all(roles.values()),
        "every_role_redundant": all(len(members) >= 2 for members in roles.values()),
        "every_role_necessary": full > 0 and all((clean - knockout[r]) / full >= KNOCKOUT_THRESHOLD for r in roles),
        "circuit_faithful": faithfulness >= FAITHFULNESS_THRESHOLD,
        "nothing_unexplained": not unexplained,
        "decoys_outside": not any(r.decoy and r.in_circuit for r in records),
    }
    return PlantedTruth(
        name=recipe.name, fingerprint=recipe.fingerprint(), roles=roles,
        role_descriptions={role: description for role, (_, description) in signatures.items()},
        circuit=[head_id(*h) for h in circuit], unexplained=unexplained,
        decoys=[head_id(*h) for h in recipe.decoys],
        heads=records, clean_metric=round(clean, 4), ablated_metric=round(ablated, 4),
        circuit_metric=round(circuit_metric, 4), faithfulness=round(faithfulness, 4),
        role_knockout={role: round(value, 4) for role, value in knockout.items()}, accuracy=accuracy,
        checks=checks, n_sequences=N_SEQUENCES, seed=seed,
    )
