"""Built-in tasks and custom JSONL tasks (DESIGN.md §5).

``load_task(name_or_path, target)`` is the one entry point: it builds the task
for the target's tokenizer (built-ins keep only single-token names/words) and
returns it tokenised and validated, in equal-length buckets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.bounds import MAX_PAIRS
from engine.catalog import BUILTIN_TASKS, PLANTED_MODELS
from engine.errors import TaskFormatError, UnknownTaskError
from engine.tasks.base import (
    Bucket,
    Pair,
    Task,
    TaskData,
    context_length,
    logit_diff,
    tokenize_task,
)
from engine.tasks.facts import make_antonyms, make_capitals
from engine.tasks.induction import make_induction
from engine.tasks.ioi import make_ioi
from engine.tasks.jsonl import load_jsonl
from engine.tasks.planted import planted_maker

#: how each built-in task (``engine.catalog.BUILTIN_TASKS``) is generated
MAKERS: dict[str, Callable[..., Task]] = {
    "ioi": make_ioi, "induction": make_induction, "capitals": make_capitals, "antonyms": make_antonyms,
    **{name: planted_maker(name) for name in PLANTED_MODELS},
}


REFERENCE_PAIRS = 128
"""Pairs of a built-in task's mean-ablation reference draw (``Task.reference``)."""
REFERENCE_SEED = 104_723
"""Added to a task's seed to draw its reference, so it is never the draw of the prompts it serves."""


def build_task(name: str, tokenizer, n: int | None = None, seed: int = 0) -> Task:
    """The untokenised task: a built-in generated for ``tokenizer``, or a JSONL file.

    A built-in carries a reference draw (``REFERENCE_PAIRS`` pairs, seed + ``REFERENCE_SEED``) whose
    corrupt prompts join its mean-ablation averages; a JSONL task's pairs are all there is, so its means
    rest on its own corrupt prompts.

    Raises:
        TaskFormatError: ``n`` is not between 1 and ``MAX_PAIRS``.
        UnknownTaskError: neither a built-in name nor a readable file.
    """
    if n is not None and not 1 <= n <= MAX_PAIRS:
        raise TaskFormatError(f"The number of pairs must be between 1 and {MAX_PAIRS}, not {n}.")
    if name in BUILTIN_TASKS:
        task = MAKERS[name](tokenizer, n=BUILTIN_TASKS[name].default_n if n is None else n, seed=seed)
        task.reference_seed = seed + REFERENCE_SEED
        task.reference = MAKERS[name](tokenizer, n=REFERENCE_PAIRS, seed=task.reference_seed).pairs
        return task
    if name.endswith(".jsonl") or Path(name).is_file():
        if not Path(name).is_file():
            raise UnknownTaskError(f"Task file '{name}' does not exist.")
        task = load_jsonl(name)
        if n is not None:
            task.pairs = task.pairs[:n]
        return task
    raise UnknownTaskError(
        f"Unknown task '{name}'; use one of {', '.join(BUILTIN_TASKS)} or a path to a .jsonl file."
    )


def load_task(name: str, target, n: int | None = None, seed: int = 0) -> TaskData:
    """Build and tokenise a task for a loaded ``TargetModel`` (prompts checked against its context, tensors on
    the model's device)."""
    task = build_task(name, target.tokenizer, n=n, seed=seed)
    return tokenize_for(task, target)


def tokenize_for(task: Task, target) -> TaskData:
    """Tokenise ``task`` for a loaded ``TargetModel``: its BOS convention, its context length, its device."""
    return tokenize_task(task, target.tokenizer, prepend_bos=target.prepend_bos,
                         max_len=context_length(target.model.config), model_name=target.name,
                         device=target.device)


__all__ = [
    "BUILTIN_TASKS", "REFERENCE_PAIRS", "REFERENCE_SEED", "Bucket", "Pair", "Task", "TaskData", "build_task", "context_length",
    "load_task", "logit_diff", "tokenize_for", "tokenize_task",
]
