"""Built-in tasks and custom JSONL tasks (DESIGN.md §5).

``load_task(name_or_path, target)`` is the one entry point: it builds the task
for the target's tokenizer (built-ins keep only single-token names/words) and
returns it tokenised and validated, in equal-length buckets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.catalog import BUILTIN_TASKS, PLANTED_MODELS
from engine.errors import UnknownTaskError
from engine.tasks.base import Bucket, Pair, Task, TaskData, logit_diff, tokenize_task
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


def build_task(name: str, tokenizer, n: int | None = None, seed: int = 0) -> Task:
    """The untokenised task: a built-in generated for ``tokenizer``, or a JSONL file."""
    if name in BUILTIN_TASKS:
        return MAKERS[name](tokenizer, n=n or BUILTIN_TASKS[name].default_n, seed=seed)
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
    """Build and tokenise a task for a loaded ``TargetModel`` (tensors on the model's device)."""
    task = build_task(name, target.tokenizer, n=n, seed=seed)
    return tokenize_task(task, target.tokenizer, prepend_bos=target.prepend_bos, device=target.device)


__all__ = [
    "BUILTIN_TASKS", "Bucket", "Pair", "Task", "TaskData", "build_task", "load_task",
    "logit_diff", "tokenize_task",
]
