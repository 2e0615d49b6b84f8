"""Planted models on disk: trained once per recipe, then reloaded in well under a second.

Why a cache keyed by the recipe: training takes a minute or more on two CPU
cores; the weights, tokenizer, training report and truth are saved under the
user cache dir in ``models/<name>-<fingerprint>/``, where the fingerprint
hashes every recipe field (``Recipe.fingerprint``). A changed recipe is a new
directory, never a stale load. Like the bundled model's cache
(``engine.models.bundled``) the directory is written to a temporary directory
that is renamed into place, so an interrupted first load never leaves a
half-written cache, and two processes building at once both end with one
complete copy.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from engine.errors import UnknownModelError
from engine.planted.recipes import RECIPES, Recipe
from engine.planted.train import Attempt, TrainingReport, train
from engine.planted.truth import TRUTH_FORMAT, PlantedTruth, derive_truth
from engine.planted.vocab import build_tokenizer

CACHE_FORMAT = 1
MARKER = "planted.json"
TRUTH = "truth.json"


@dataclass
class PlantedModel:
    """A loaded planted model with its tokenizer, training report and established truth."""

    name: str
    model: LlamaForCausalLM
    tokenizer: PreTrainedTokenizerFast
    truth: PlantedTruth
    training: TrainingReport
    directory: Path


def recipe_for(name: str) -> Recipe:
    if name not in RECIPES:
        raise UnknownModelError(f"'{name}' is not a planted model; use one of {', '.join(RECIPES)}.")
    return RECIPES[name]


def cache_dir(root: Path, recipe: Recipe) -> Path:
    return root / "models" / f"{recipe.name}-{recipe.fingerprint()}"


def _marker(recipe: Recipe, report: TrainingReport | None = None) -> dict:
    out: dict = {"format": CACHE_FORMAT, "name": recipe.name, "fingerprint": recipe.fingerprint()}
    if report is not None:
        out["recipe"] = asdict(recipe)
        out["training"] = asdict(report)
    return out


def cached(root: Path, recipe: Recipe) -> Path | None:
    """The recipe's cache directory if it is complete, else None."""
    directory = cache_dir(root, recipe)
    try:
        marker = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    expected = _marker(recipe)
    return directory if all(marker.get(k) == v for k, v in expected.items()) else None


def build(root: Path, recipe: Recipe, progress: Callable[[str], None] | None = None) -> Path:
    """Train the model, establish its truth and save both; returns the cache directory."""
    model, report = train(recipe, progress)
    if progress:
        progress(f"establishing the truth of {recipe.name}")
    truth = derive_truth(model, recipe)
    target = cache_dir(root, recipe)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        build_tokenizer(recipe.words).save_pretrained(tmp)
        (tmp / TRUTH).write_text(truth.model_dump_json(indent=1))
        (tmp / MARKER).write_text(json.dumps(_marker(recipe, report), indent=1))
        if target.exists() and cached(root, recipe) is None:
            shutil.rmtree(target, ignore_errors=True)  # an interrupted or foreign directory
        try:
            os.replace(tmp, target)
        except OSError:
            if cached(root, recipe) is None:  # not another process finishing the same cache first
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure(name: str, root: Path, progress: Callable[[str], None] | None = None) -> Path:
    """The cache directory of planted model ``name``, trained first if needed.

    A cached model whose truth was derived by an older version of the check
    keeps its weights and gets its truth re-derived.
    """
    recipe = recipe_for(name)
    directory = cached(root, recipe)
    if directory is None:
        return build(root, recipe, progress)
    if json.loads((directory / TRUTH).read_text()).get("format") != TRUTH_FORMAT:
        if progress:
            progress(f"re-establishing the truth of {name}")
        model = LlamaForCausalLM.from_pretrained(directory, attn_implementation="sdpa")
        _write_atomically(directory / TRUTH, derive_truth(model, recipe).model_dump_json(indent=1))
    return directory


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_truth(directory: Path) -> PlantedTruth:
    return PlantedTruth.model_validate_json((directory / TRUTH).read_text())


def read_training(directory: Path) -> TrainingReport:
    data = json.loads((directory / MARKER).read_text())["training"]
    return TrainingReport(**{**data, "attempts": [Attempt(**a) for a in data["attempts"]]})


def load(name: str, root: Path, progress: Callable[[str], None] | None = None) -> PlantedModel:
    """Load (training first if needed) planted model ``name`` from the cache under ``root``."""
    directory = ensure(name, root, progress)
    model = LlamaForCausalLM.from_pretrained(directory, attn_implementation="sdpa")
    tokenizer = build_tokenizer(recipe_for(name).words)
    return PlantedModel(name, model, tokenizer, read_truth(directory), read_training(directory), directory)
