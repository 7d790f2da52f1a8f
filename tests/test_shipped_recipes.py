"""Every shipped recipe gives the results committed in tests/truth/ (see recipe_truth.py).

A change that moves code around must leave these untouched; a change meant to alter results
updates the truth in the same commit (``XPIPE_UPDATE_TRUTH=1``), so the difference is reviewed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from recipe_truth import compare, digest, load, save

import xpipe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TRUTH = Path(__file__).parent / "truth"

RECIPES = ["nvp_full", "nvp_operando", "nvp_xanes", "nvp_xps", "coincell_mythen"]
NEEDS_SHARED = {"coincell_mythen"}


@pytest.mark.parametrize("name", RECIPES)
def test_shipped_recipe_gives_the_committed_results(name, tmp_path):
    if name in NEEDS_SHARED and not SHARED.is_dir():
        pytest.skip(f"recipes/{name}.yaml reads ../shared/data, which is absent")
    report = xpipe.run(ROOT / "recipes" / f"{name}.yaml", tmp_path / name, workers=1)
    assert report.results is not None and report.exit_code == 0, report.failed
    found = digest(report.results)
    truth_file = TRUTH / f"{name}.json"
    if os.environ.get("XPIPE_UPDATE_TRUTH") == "1":
        save(truth_file, found)
    problems = compare(found, load(truth_file))
    assert not problems, f"recipes/{name}.yaml: {len(problems)} datasets differ:\n" + "\n".join(problems[:20])
