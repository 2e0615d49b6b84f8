"""Planted models: small transformers trained in-process on tasks whose mechanism is known.

Why: nobody can tell whether an agent finds the roles in a circuit unless
some circuit's true roles are known. A planted model is trained here, seeded
and cached (``cache``), on an algorithmic task (``episodes``) by a recipe
(``recipes``, ``train``); its roles are then established by an independent
check (``truth``) and shipped as a reference explanation (``reference``).
Each planted name (``planted-induction``, ...) is both a model
(``engine.models.load_model``) and a task (``engine.tasks.load_task``).

Public API: ``load_planted(name)`` (model, tokenizer, truth, training
report), ``planted_truth(name)`` (the truth only: reads ``truth.json``
without loading the weights), ``reference_path``/``load_reference``.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.config import settings
from engine.planted import cache
from engine.planted.cache import PlantedModel
from engine.planted.recipes import RECIPES, Recipe
from engine.planted.reference import Reference, load_reference, reference_from_truth, reference_path
from engine.planted.train import TrainingReport
from engine.planted.truth import HeadTruth, PlantedTruth

PLANTED = tuple(RECIPES)


def load_planted(name: str, progress: Callable[[str], None] | None = None) -> PlantedModel:
    """Planted model ``name`` from the user cache, trained (a minute or a few) on first use.

    Raises:
        UnknownModelError: ``name`` is not a planted model.
    """
    return cache.load(name, settings().cache_dir, progress)


def planted_truth(name: str, progress: Callable[[str], None] | None = None) -> PlantedTruth:
    """The established truth of planted model ``name`` (trained first if not cached)."""
    return cache.read_truth(cache.ensure(name, settings().cache_dir, progress))


def planted_training(name: str, progress: Callable[[str], None] | None = None) -> TrainingReport:
    """How planted model ``name`` was trained: seed(s), steps, time, accuracy on fresh prompts."""
    return cache.read_training(cache.ensure(name, settings().cache_dir, progress))


__all__ = [
    "PLANTED", "RECIPES", "HeadTruth", "PlantedModel", "PlantedTruth", "Recipe", "Reference",
    "TrainingReport", "load_planted", "load_reference", "planted_training", "planted_truth",
    "reference_from_truth", "reference_path",
]
