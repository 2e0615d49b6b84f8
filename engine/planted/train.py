"""Training a planted model in-process: seeded, deterministic on one CPU thread, verified on fresh prompts.

Why this loop and not a trainer library: three things need control that a
generic trainer does not give.

1. **Decoy heads outside the circuit.** Training has two phases. In the
   first (``main_steps``) the model knows only the task's words and the decoy
   heads' output weights stay at zero, so the task circuit forms undisturbed.
   (Unused extra vocabulary rows measurably stall the induction phase change:
   5 of 5 seeds without them learned induction in 400 steps, 0 of 5 with
   them.) Then the decoy words are appended to the vocabulary and, for
   ``decoy_steps``, parameters are split in two: the decoy heads' slices of
   q/k/v/o and the decoy words' embedding and unembedding rows belong to the
   decoy job, everything else to the task. The task loss updates only task
   parameters, the decoy loss only decoy parameters (each gradient is masked
   before the two are summed), and task training continues, so the task heads
   learn to work with the decoys' outputs present.
2. **Redundant roles.** Each head is dropped (output multiplied by 0, kept
   ones scaled by 1/(1-p)) independently per sequence -- task heads on task
   sequences, decoy heads on decoy sequences -- through ``engine.hooks.trace``
   edits, so no single head can carry a job alone.
3. **Verification, then retry.** After training, accuracy on fresh task
   prompts (argmax at the last position equals the answer) must reach the
   recipe's ``min_accuracy``; an unlucky initialisation that has not learned
   the task is discarded and the next seed is tried (``attempts``).

Determinism: one intra-op thread (reduction order then does not depend on the
machine's core count), ``torch.manual_seed`` inside a forked RNG, and data
drawn from ``random.Random``; the same recipe gives the same weights on the
same platform.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from engine.adapters import adapter_for
from engine.hooks import trace
from engine.planted import episodes
from engine.planted.recipes import Recipe, task_episode, training_sequence
from engine.planted.vocab import BOS, vocabulary

EVAL_SEED = 104_729
"""Seed of the fresh prompts on which training accuracy is reported (never used for training)."""
EVAL_PROMPTS = 500


@dataclass
class Attempt:
    seed: int
    accuracy: float
    logit_diff: float
    seconds: float


@dataclass
class TrainingReport:
    """How a planted model was trained and how well it does its task on fresh prompts."""

    seed: int
    steps: int
    seconds: float
    accuracy: float
    logit_diff: float
    n_eval: int
    attempts: list[Attempt] = field(default_factory=list)


def model_config(recipe: Recipe, words: tuple[str, ...]) -> LlamaConfig:
    config = LlamaConfig(
        vocab_size=len(vocabulary(words)), hidden_size=recipe.d_model, intermediate_size=4,
        num_hidden_layers=recipe.n_layers, num_attention_heads=recipe.n_heads,
        num_key_value_heads=recipe.n_heads, head_dim=recipe.d_head, max_position_embeddings=64,
        tie_word_embeddings=False, bos_token_id=1, eos_token_id=None, pad_token_id=None,
    )
    config._attn_implementation = "sdpa"
    return config


def build_model(recipe: Recipe, seed: int) -> LlamaForCausalLM:
    """A fresh model over the task's words: MLPs fixed at zero (frozen), decoy heads' output weights at zero."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(model_config(recipe, recipe.task_words))
    with torch.no_grad():
        for block in model.model.layers:
            for param in block.mlp.parameters():
                param.zero_()
                param.requires_grad_(False)
        for layer, head in recipe.decoys:
            model.model.layers[layer].self_attn.o_proj.weight[:, _cols(recipe, head)] = 0.0
    return model


def add_decoy_words(model: LlamaForCausalLM, recipe: Recipe, seed: int) -> None:
    """Append the decoy words' rows to the embedding and unembedding (N(0, 0.02), seeded); in place."""
    old_embed, old_unembed = model.model.embed_tokens.weight, model.lm_head.weight
    n_old, n_new = old_embed.shape[0], len(vocabulary(recipe.words))
    gen = torch.Generator().manual_seed(seed + 1)
    embed = torch.nn.Embedding(n_new, recipe.d_model)
    unembed = torch.nn.Linear(recipe.d_model, n_new, bias=False)
    with torch.no_grad():
        for new, old in ((embed.weight, old_embed), (unembed.weight, old_unembed)):
            new[:n_old] = old
            new[n_old:] = torch.randn(n_new - n_old, recipe.d_model, generator=gen) * model.config.initializer_range
    model.model.embed_tokens, model.lm_head = embed, unembed
    model.config.vocab_size = n_new


def _cols(recipe: Recipe, head: int) -> slice:
    return slice(head * recipe.d_head, (head + 1) * recipe.d_head)


def _decoy_heads_mask(name: str, param: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    """Bool mask of the decoy heads' entries of one parameter (their q/k/v rows and o columns)."""
    mask = torch.zeros_like(param, dtype=torch.bool)
    for layer, head in recipe.decoys:
        if f"layers.{layer}.self_attn." not in name:
            continue
        cols = _cols(recipe, head)
        if name.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight")):
            mask[cols] = True
        elif name.endswith("o_proj.weight"):
            mask[:, cols] = True
    return mask


def decoy_masks(model: LlamaForCausalLM, recipe: Recipe) -> dict[str, torch.Tensor]:
    """Parameter name -> bool mask of the entries that belong to the decoy job (heads and decoy-word rows)."""
    decoy_words = set(recipe.decoy_words)
    rows = torch.tensor([w in decoy_words for w in vocabulary(recipe.words)])[: model.config.vocab_size]
    masks = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            masks[name] = _decoy_heads_mask(name, param, recipe)
            if name.endswith(("embed_tokens.weight", "lm_head.weight")):
                masks[name][rows] = True
    return masks


def encode(recipe: Recipe, rows: list[tuple[str, ...]]) -> torch.Tensor:
    """Words -> ids [n, 1 + len], with ``<bos>`` first (task words keep their ids when decoys are added)."""
    index = {w: i for i, w in enumerate(vocabulary(recipe.words))}
    return torch.tensor([[index[BOS], *(index[w] for w in row)] for row in rows])


def batch(recipe: Recipe, make: Callable[[random.Random], episodes.Sequence], rng: random.Random, n: int):
    """ids [n, pos] and a bool mask [n, pos - 1] of the positions whose next token is a target."""
    seqs = [make(rng) for _ in range(n)]
    ids = encode(recipe, [s.words for s in seqs])
    mask = torch.zeros(n, ids.shape[1] - 1, dtype=torch.bool)
    for row, seq in enumerate(seqs):
        mask[row, [t + 1 for t in seq.targets]] = True  # +1: the BOS token
    return ids, mask


def _loss(model: LlamaForCausalLM, ids: torch.Tensor, mask: torch.Tensor, edits: dict) -> torch.Tensor:
    with trace(adapter_for(model), edit=edits):
        logits = model(ids).logits[:, :-1]
    return torch.nn.functional.cross_entropy(logits[mask], ids[:, 1:][mask])


def dropout_edits(recipe: Recipe, n: int, gen: torch.Generator, heads: tuple[tuple[int, int], ...]) -> dict:
    """Per-sequence dropout of ``heads`` ((layer, head) pairs): ``engine.hooks.trace`` edits."""
    p = recipe.head_dropout
    keep = (torch.rand(len(heads), n, generator=gen) >= p).float() / (1 - p)
    return {
        f"L{layer}.H{head}": (lambda z, k=keep[i]: z * k[:, None, None])
        for i, (layer, head) in enumerate(heads)
    }


def _optimizer(model: LlamaForCausalLM, recipe: Recipe) -> tuple[dict[str, torch.nn.Parameter], torch.optim.Optimizer]:
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    return params, torch.optim.AdamW(params.values(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def train_once(recipe: Recipe, seed: int) -> LlamaForCausalLM:
    """Train one model from ``seed``: the task alone, then task and decoys (no verification)."""
    model = build_model(recipe, seed)
    model.train()
    rng, gen = random.Random(seed), torch.Generator().manual_seed(seed)
    make = training_sequence(recipe.family)
    params, optimizer = _optimizer(model, recipe)
    masks, both = decoy_masks(model, recipe), False
    for step in range(recipe.main_steps + recipe.decoy_steps):
        if step == recipe.main_steps:
            add_decoy_words(model, recipe, seed)
            params, optimizer = _optimizer(model, recipe)
            masks, both = decoy_masks(model, recipe), True
        phase_step = step if step < recipe.main_steps else step - recipe.main_steps
        for group in optimizer.param_groups:
            group["lr"] = recipe.lr * min(1.0, (phase_step + 1) / recipe.warmup)
        ids, mask = batch(recipe, make, rng, recipe.batch)
        loss = _loss(model, ids, mask, dropout_edits(recipe, len(ids), gen, recipe.task_heads))
        grads = list(torch.autograd.grad(loss, list(params.values())))
        if both:
            ids, mask = batch(recipe, episodes.decoy_sequence, rng, recipe.decoy_batch)
            loss = _loss(model, ids, mask, dropout_edits(recipe, len(ids), gen, recipe.decoys))
            decoy = torch.autograd.grad(loss, list(params.values()))
            grads = [
                torch.where(masks[name], d, g) for name, g, d in zip(params, grads, decoy, strict=True)
            ]
        else:
            grads = [g.masked_fill(masks[name], 0.0) for name, g in zip(params, grads, strict=True)]
        for param, grad in zip(params.values(), grads, strict=True):
            param.grad = grad
        optimizer.step()
    model.eval()
    return model


def evaluate(model: LlamaForCausalLM, recipe: Recipe, n: int = EVAL_PROMPTS, seed: int = EVAL_SEED) -> tuple[float, float]:
    """(accuracy, mean logit difference) on ``n`` fresh task prompts.

    Accuracy: the answer is the argmax over the whole vocabulary at the last
    position; logit difference: answer minus distractor there.
    """
    rng = random.Random(seed)
    drawn = [task_episode(recipe.family)(rng) for _ in range(n)]
    ids = encode(recipe, [e.clean for e in drawn])
    index = {w: i for i, w in enumerate(vocabulary(recipe.words))}
    answer = torch.tensor([index[e.answer] for e in drawn])
    distractor = torch.tensor([index[e.distractor] for e in drawn])
    with torch.no_grad():
        last = model(ids).logits[:, -1]
    rows = torch.arange(n)
    accuracy = float((last.argmax(-1) == answer).float().mean())
    return accuracy, float((last[rows, answer] - last[rows, distractor]).mean())


def train(recipe: Recipe, progress: Callable[[str], None] | None = None) -> tuple[LlamaForCausalLM, TrainingReport]:
    """Train until a seed reaches ``min_accuracy`` (at most ``attempts`` seeds); the last model otherwise."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    attempts: list[Attempt] = []
    start = time.perf_counter()
    try:
        for attempt in range(recipe.attempts):
            seed = recipe.seed + attempt
            t0 = time.perf_counter()
            if progress:
                progress(f"training {recipe.name} (seed {seed}, {recipe.main_steps + recipe.decoy_steps} steps)")
            model = train_once(recipe, seed)
            accuracy, ld = evaluate(model, recipe)
            attempts.append(Attempt(seed, accuracy, ld, time.perf_counter() - t0))
            if accuracy >= recipe.min_accuracy:
                break
    finally:
        torch.set_num_threads(threads)
    last = attempts[-1]
    report = TrainingReport(
        seed=last.seed, steps=recipe.main_steps + recipe.decoy_steps, seconds=time.perf_counter() - start,
        accuracy=last.accuracy, logit_diff=last.logit_diff, n_eval=EVAL_PROMPTS, attempts=attempts,
    )
    return model, report
