"""Tasks: clean/corrupt prompt pairs and the logit-difference metric (DESIGN.md §5).

Why buckets: prompts of one task may tokenise to different lengths (IOI uses
several templates). Rather than pad -- which shifts positions and needs masks
that every experiment would have to respect -- pairs are grouped into buckets
of equal length, and experiments run bucket by bucket; the metric averages
over all pairs. Within a pair, clean and corrupt must have the same length
(patching is position-aligned), and answer and distractor must be one token;
violations are errors naming the offending line, never silent truncation.

Roles name token positions of a pair (``IO``, ``S1``, ``S2`` for IOI), given
as character offsets into the clean prompt; ``END`` (the last position, where
the metric is read) is always present. Tokenisation conventions -- a leading
space before the answer, a BOS token for Llama-style tokenizers -- are
handled here, not by callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.errors import TaskFormatError


@dataclass(frozen=True)
class Pair:
    """One clean/corrupt prompt pair. ``roles`` maps a role name to a char offset in ``clean``."""

    clean: str
    corrupt: str
    answer: str
    distractor: str
    roles: dict[str, int] = field(default_factory=dict)
    #: where the pair came from, for error messages ("line 7 of f.jsonl", "pair 3 of ioi")
    origin: str = ""
    #: the prompt frame the pair shares with others ("" = none named): mean ablation averages over the
    #: corrupt prompts of the same template, so it removes the pair's entities, not the template's words
    template: str = ""


@dataclass
class Task:
    """A behaviour: a name, a description, and its pairs."""

    name: str
    description: str
    pairs: list[Pair]
    role_names: tuple[str, ...] = ()
    #: words the task can rename without changing the behaviour (names, random tokens); the disguise renames them
    entities: tuple[str, ...] = ()
    #: a larger draw of the same distribution, never scored nor shown to the agent: its corrupt prompts join the
    #: mean-ablation average (``Bucket.reference``), so a mean rests on more than a run's few prompts per template
    reference: list[Pair] = field(default_factory=list)
    #: the seed that drew ``reference`` (None: no reference)
    reference_seed: int | None = None


@dataclass
class Bucket:
    """Pairs whose prompts share one token length.

    Shapes: ``clean``, ``corrupt``: [n, pos]; ``answer``, ``distractor``: [n];
    ``roles[name]``: [n] token positions; ``pair_index``: indices into ``Task.pairs``;
    ``templates``: [n] the index of each pair's template within the bucket (pairs naming no
    template share one), what mean ablation averages within (``engine.ablation.corrupt_means``);
    ``reference``: [m, pos] the distinct corrupt prompts of ``Task.reference`` of this length and of the
    bucket's templates, never scored, and ``reference_templates``: [m] their template indices.
    """

    clean: torch.Tensor
    corrupt: torch.Tensor
    answer: torch.Tensor
    distractor: torch.Tensor
    roles: dict[str, torch.Tensor]
    pair_index: list[int]
    templates: torch.Tensor
    reference: torch.Tensor
    reference_templates: torch.Tensor

    @property
    def n(self) -> int:
        return int(self.clean.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.clean.shape[1])

    @property
    def device(self) -> torch.device:
        return self.clean.device


@dataclass
class TaskData:
    """A task tokenised for one model."""

    task: Task
    buckets: list[Bucket]

    @property
    def n_pairs(self) -> int:
        return sum(b.n for b in self.buckets)

    @property
    def role_names(self) -> tuple[str, ...]:
        return (*self.task.role_names, "END")


def continuation(prompt: str, word: str) -> str:
    """The answer as it continues the prompt: a space is added unless one side has it."""
    if word[:1].isspace() or prompt[-1:].isspace():
        return word
    return " " + word


def encode(tokenizer, text: str, prepend_bos: bool) -> list[int]:
    ids = list(tokenizer(text, add_special_tokens=False).input_ids)
    if prepend_bos and tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id, *ids]
    return ids


def single_token(tokenizer, prompt: str, word: str, what: str, origin: str) -> int:
    """The one token of ``word`` continuing ``prompt``; an error naming the pair otherwise."""
    text = continuation(prompt, word)
    ids = tokenizer(text, add_special_tokens=False).input_ids
    if len(ids) != 1:
        pieces = [tokenizer.decode([i]) for i in ids]
        raise TaskFormatError(
            f"{origin}: the {what} {text!r} is {len(ids)} tokens {pieces} for this model; "
            f"{what}s must be a single token."
        )
    return int(ids[0])


def _role_positions(tokenizer, pair: Pair, prepend_bos: bool, length: int) -> dict[str, int]:
    positions: dict[str, int] = {}
    if pair.roles:
        enc = tokenizer(pair.clean, add_special_tokens=False, return_offsets_mapping=True)
        offset = 1 if prepend_bos and tokenizer.bos_token_id is not None else 0
        for role, char in pair.roles.items():
            for index, (start, end) in enumerate(enc["offset_mapping"]):
                if start <= char < end:
                    positions[role] = index + offset
                    break
            else:
                raise TaskFormatError(f"{pair.origin}: role {role} at character {char} is outside the prompt.")
    positions["END"] = length - 1
    return positions


def context_length(model_config: object) -> int | None:
    """The most positions a model reads (``n_positions`` / ``max_position_embeddings``), if it says."""
    for name in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(model_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def tokenize_task(
    task: Task, tokenizer, prepend_bos: bool = False, max_len: int | None = None,
    model_name: str = "the model", device: torch.device | str | None = None,
) -> TaskData:
    """Tokenise and validate every pair, grouping them into equal-length buckets.

    The buckets' tensors are created on ``device`` (the model's), so experiments
    never copy prompts, answers or role positions from the host in their loops.

    Args:
        task: the pairs.
        tokenizer: the target model's tokenizer.
        prepend_bos: prepend the BOS token (the model's convention).
        max_len: the model's context length; a longer prompt is refused here,
            before any forward pass could fail on it (or silently read past
            the positions the model was trained on).
        model_name: named in that error.
        device: where the buckets' tensors are created (None = the CPU).

    Raises:
        TaskFormatError: a multi-token answer/distractor, clean and corrupt of
            different token lengths, or a prompt longer than ``max_len``; the
            message names the pair's origin.
    """
    if not task.pairs:
        raise TaskFormatError(f"Task '{task.name}' has no pairs.")
    groups: dict[int, list[tuple[int, list[int], list[int], int, int, dict[str, int]]]] = {}
    for index, pair in enumerate(task.pairs):
        origin = pair.origin or f"pair {index + 1} of {task.name}"
        clean = encode(tokenizer, pair.clean, prepend_bos)
        corrupt = encode(tokenizer, pair.corrupt, prepend_bos)
        if max_len is not None and max(len(clean), len(corrupt)) > max_len:
            raise TaskFormatError(
                f"{origin}: the prompt is {max(len(clean), len(corrupt))} tokens long but {model_name} "
                f"reads at most {max_len} positions; shorten it."
            )
        if len(clean) != len(corrupt):
            raise TaskFormatError(
                f"{origin}: clean and corrupt prompts tokenise to different lengths "
                f"({len(clean)} vs {len(corrupt)} tokens); they must match position for position."
            )
        answer = single_token(tokenizer, pair.clean, pair.answer, "answer", origin)
        distractor = single_token(tokenizer, pair.clean, pair.distractor, "distractor", origin)
        if answer == distractor:
            raise TaskFormatError(f"{origin}: answer and distractor are the same token.")
        roles = _role_positions(tokenizer, pair, prepend_bos, len(clean))
        groups.setdefault(len(clean), []).append((index, clean, corrupt, answer, distractor, roles))
    references = _reference_prompts(task, tokenizer, prepend_bos, max_len)
    buckets = []
    for length, rows in sorted(groups.items()):
        role_names = set.intersection(*(set(r[5]) for r in rows))
        frames = [task.pairs[r[0]].template for r in rows]
        labels = sorted(set(frames))
        reference = [(ids, labels.index(frame)) for ids, frame in references.get(length, []) if frame in labels]
        buckets.append(
            Bucket(
                clean=torch.tensor([r[1] for r in rows], device=device),
                corrupt=torch.tensor([r[2] for r in rows], device=device),
                answer=torch.tensor([r[3] for r in rows], device=device),
                distractor=torch.tensor([r[4] for r in rows], device=device),
                roles={name: torch.tensor([r[5][name] for r in rows], device=device) for name in sorted(role_names)},
                pair_index=[r[0] for r in rows],
                templates=torch.tensor([labels.index(f) for f in frames], device=device),
                reference=torch.tensor([ids for ids, _ in reference], dtype=torch.long, device=device
                                       ).reshape(len(reference), length),
                reference_templates=torch.tensor([t for _, t in reference], dtype=torch.long, device=device),
            )
        )
    return TaskData(task, buckets)


def _reference_prompts(
    task: Task, tokenizer, prepend_bos: bool, max_len: int | None
) -> dict[int, list[tuple[list[int], str]]]:
    """The distinct corrupt prompts of ``task.reference`` by token length: length -> [(ids, template)].

    A reference prompt longer than the model reads is left out (it is never run alone, so no error is due).
    """
    seen: set[tuple[int, ...]] = set()
    out: dict[int, list[tuple[list[int], str]]] = {}
    for pair in task.reference:
        ids = encode(tokenizer, pair.corrupt, prepend_bos)
        if (max_len is not None and len(ids) > max_len) or tuple(ids) in seen:
            continue
        seen.add(tuple(ids))
        out.setdefault(len(ids), []).append((ids, pair.template))
    return out


def logit_diff(logits: torch.Tensor, answer: torch.Tensor, distractor: torch.Tensor) -> torch.Tensor:
    """Per-pair ``logit(answer) - logit(distractor)`` at the last position, in float32.

    The two logits are read in the model's dtype and subtracted in float32
    (at least), so a bfloat16 model's metric is not rounded a second time.

    Args:
        logits: [n, pos, vocab] (or [n, vocab] already at the last position).
        answer, distractor: [n] token ids.

    Returns:
        [n] logit differences (float32, or float64 for float64 logits).
    """
    last = logits[:, -1, :] if logits.dim() == 3 else logits
    rows = torch.arange(last.shape[0], device=last.device)
    wide = torch.promote_types(last.dtype, torch.float32)
    return last[rows, answer].to(wide) - last[rows, distractor].to(wide)
