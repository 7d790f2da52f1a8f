"""Recipe format versions: old formats are migrated before validation, unknown ones refused with
the key named, and every effective setting is shown and written into the results."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import pytest
from conftest import ROOT, write_recipe

from xpipe.recipe import versions
from xpipe.recipe.model import load_recipe
from xpipe.recipe.schema import RecipeInvalid

XPS = """\
{version}name: versions
xps:
  - name: v2p
    files: {files}
    block: V 2p
    region_ev: [510, 538]
    library: {library}
"""


def _recipe(folder, version_line=""):
    files = ROOT / "example_data" / "nvp_xps" / "*.vms"
    library = ROOT / "recipes" / "xps" / "v2p_o1s.yaml"
    return write_recipe(folder, XPS.format(version=version_line, files=files, library=library))


def test_a_recipe_without_version_is_read_as_the_current_format(tmp_path):
    loaded = load_recipe(_recipe(tmp_path))
    assert loaded.recipe.version == versions.CURRENT_VERSION == loaded.written_version


@pytest.mark.parametrize("line, expected", [
    ("version: 7\n", "written for format version 7, but this xpipe reads versions 1 to 1: update xpipe"),
    ("version: 0\n", "versions start at 1"),
    ("version: one\n", "expected a whole number"),
])
def test_an_unknown_version_is_refused_at_its_key_and_line(tmp_path, line, expected):
    with pytest.raises(RecipeInvalid) as err:
        load_recipe(_recipe(tmp_path, line))
    (problem,) = err.value.problems
    assert problem.key == "version" and problem.line == 1 and expected in problem.message


def test_migrations_run_in_turn_before_validation(tmp_path, monkeypatch):
    # as if a format 2 existed: a version-1 recipe goes through MIGRATIONS[1] on its way
    def one_to_two(data):
        return {**data, "migrated_from": 1}

    monkeypatch.setattr(versions, "CURRENT_VERSION", 2)
    monkeypatch.setitem(versions.MIGRATIONS, 1, one_to_two)
    data, found = versions.migrate({"name": "x", "version": 1})
    assert found == 1 and data == {"name": "x", "version": 2, "migrated_from": 1}
    data, found = versions.migrate({"name": "x", "version": 2})
    assert found == 2 and "migrated_from" not in data


def test_validate_effective_prints_every_setting_with_defaults(tmp_path):
    path = _recipe(tmp_path, "version: 1\n")
    out = subprocess.run([sys.executable, "-m", "xpipe", "validate", str(path), "--effective"],
                         capture_output=True, text=True, check=True).stdout
    eff = json.loads(out)
    assert eff["version"] == 1 and eff["run"]["chunk_frames"] == 16
    series = eff["xps"][0]
    assert series["name"] == "v2p" and series["avg_points"] == 5  # a default, not written
    assert series["library"].endswith("v2p_o1s.yaml")


def test_results_hold_the_effective_settings(example_run):
    with h5py.File(example_run / "results.h5", "r") as h5:
        prov = h5["entry/provenance"]
        eff = json.loads(prov["effective_settings"][()])
        assert prov["recipe"].attrs["format_version"] == 1
    assert eff["xrd"]["integrate"]["npt"] > 0 and eff["run"]["executor"] == "processes"
