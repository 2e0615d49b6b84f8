"""The planted cache: keyed by the recipe, and a truth from an older check is re-derived, not trusted."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from engine.planted import cache, load_planted
from engine.planted.recipes import RECIPES
from engine.planted.truth import TRUTH_FORMAT

pytestmark = pytest.mark.planted

NAME = "planted-induction"


@pytest.fixture(scope="module")
def copied(tmp_path_factory):
    """A copy of the user cache's planted-induction directory under a fresh root."""
    planted = load_planted(NAME)
    root = tmp_path_factory.mktemp("cache")
    target = cache.cache_dir(root, RECIPES[NAME])
    target.parent.mkdir(parents=True)
    shutil.copytree(planted.directory, target)
    return root, planted


def test_a_changed_recipe_is_a_different_directory_never_a_stale_load(copied):
    root, _ = copied
    assert cache.cached(root, RECIPES[NAME]) is not None
    changed = dataclasses.replace(RECIPES[NAME], main_steps=RECIPES[NAME].main_steps + 1)
    assert changed.fingerprint() != RECIPES[NAME].fingerprint()
    assert cache.cached(root, changed) is None


def test_a_truth_from_an_older_check_is_re_derived(copied):
    root, planted = copied
    path = cache.cache_dir(root, RECIPES[NAME]) / cache.TRUTH
    stale = json.loads(path.read_text())
    stale["format"] = TRUTH_FORMAT - 1
    stale["roles"] = {"previous-token": ["L1.H0"], "induction": ["L0.H0"]}  # wrong, and must not survive
    path.write_text(json.dumps(stale))
    directory = cache.ensure(NAME, root)
    again = cache.read_truth(directory)
    assert again.format == TRUTH_FORMAT
    assert again.roles == planted.truth.roles and again.circuit == planted.truth.circuit
