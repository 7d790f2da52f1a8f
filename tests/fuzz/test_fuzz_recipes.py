"""Fuzz the recipe loader: every damaged copy of a shipped recipe (keys deleted, values of the
wrong type or junk, huge numbers, deep nesting, alias bombs, YAML syntax damage, truncation,
bit flips, an empty file) loads or raises RecipeInvalid, never another exception or a hang.

The recipes' relative paths are made absolute, so a mutant is loaded from a temporary folder.
Known failing cases are marked xfail(strict=True), as in ``test_fuzz_readers.py``.
"""

from __future__ import annotations

import pytest
from ci import TIMEOUT_S, cases
from sandbox import PASSING, MutantRunner, Sandbox
from seeds import Mutant, family

#: mutant id -> what goes wrong (exception, where); fixed cases must be removed from here.
KNOWN: dict[str, str] = {}


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    with Sandbox(timeout_s=TIMEOUT_S) as box:
        yield MutantRunner(box, tmp_path_factory.mktemp("fuzz-recipes"))


@pytest.mark.parametrize("mutant", cases([family("recipes")], KNOWN))
def test_recipe_mutant_loads_or_is_invalid(mutant, runner):
    outcome = runner.run(mutant)
    assert outcome.status in PASSING, f"{mutant.id}: {outcome.describe()}"


def test_shipped_recipes_load_with_absolute_paths(runner):
    for seed in family("recipes").seeds():
        outcome = runner.run(Mutant(seed, "none", 0))
        assert outcome.status == "ok", f"{seed.name}: {outcome.describe()}"
