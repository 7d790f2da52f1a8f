"""Recipe validation: every malformed recipe gets a message naming the key path, the line,
what was expected and what was found; the reference in docs/ is generated from the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, write_recipe

from xpipe.recipe.model import load_recipe
from xpipe.recipe.reference import render
from xpipe.recipe.schema import RecipeInvalid

GOOD = """\
name: test run
xrd:
  frames:
    files: "frame_*.cbf"
  integrate:
    poni: geometry.poni
    npt: 500
"""


def problems(folder: Path, text: str) -> list[str]:
    path = write_recipe(folder, text)
    with pytest.raises(RecipeInvalid) as err:
        load_recipe(path)
    return [p.format("recipe.yaml") for p in err.value.problems]


def test_good_recipe_is_valid(frame_set):
    folder, _ = frame_set
    loaded = load_recipe(write_recipe(folder, GOOD))
    c = loaded.recipe.xrd.integrate
    assert c.npt == 500 and c.unit == "2th_deg" and c.method == "bbox/csr/cython"
    assert c.polarization_factor == 0.99 and c.error_model == "poisson"
    assert len(loaded.recipe.xrd.frames.refs) == 8
    assert [Path(r.path).name for r in loaded.recipe.xrd.frames.refs][:3] == ["frame_1.cbf", "frame_2.cbf", "frame_3.cbf"]


MALFORMED = [
    # (id, replacement recipe text, expected fragments of one message)
    ("unknown-key-suggestion", GOOD.replace("npt: 500", "npts: 500"),
     ["recipe.yaml:7: xrd.integrate.npts: unknown key (did you mean 'npt'?)"]),
    ("wrong-type", GOOD.replace("npt: 500", "npt: many"),
     ["recipe.yaml:7: xrd.integrate.npt: expected an integer in [16, 100000], found 'many' (str)"]),
    ("out-of-range", GOOD.replace("npt: 500", "npt: 3"),
     ["recipe.yaml:7: xrd.integrate.npt: expected an integer in [16, 100000], found 3"]),
    ("bad-choice", GOOD + "    unit: 2theta\n",
     ["recipe.yaml:8: xrd.integrate.unit: expected one of '2th_deg', 'q_nm^-1', 'q_A^-1', found '2theta'"]),
    ("missing-file", GOOD.replace("geometry.poni", "nowhere.poni"),
     ["recipe.yaml:6: xrd.integrate.poni: file 'nowhere.poni' does not exist"]),
    ("glob-matches-nothing", GOOD.replace("frame_*.cbf", "scan_*.cbf"),
     ["xrd.frames.files: no file matches 'scan_*.cbf'"]),
    ("missing-required", "name: x\nxrd:\n  frames:\n    files: 'frame_*.cbf'\n",
     ["xrd.integrate: missing required key"]),
    ("range-not-increasing", GOOD + "    radial_range: [20, 5]\n",
     ["recipe.yaml:8: xrd.integrate.radial_range: expected increasing values (low, high), found [20, 5]"]),
    ("range-wrong-length", GOOD + "    azimuth_range_deg: [0, 90, 180]\n",
     ["xrd.integrate.azimuth_range_deg: expected a list of exactly 2 number values, found 3"]),
    ("polarisation-out-of-range", GOOD + "    polarization_factor: 1.5\n",
     ["xrd.integrate.polarization_factor: expected a number in [-1, 1], found 1.5"]),
    ("nan-number", GOOD + "    polarization_factor: .nan\n",
     ["xrd.integrate.polarization_factor: expected a finite number"]),
    ("bad-method", GOOD + "    method: bbox/csr\n",
     ["xrd.integrate.method: expected 'split/algorithm/implementation'"]),
    ("opencl-not-available", GOOD + "    method: bbox/csr/opencl\n",
     ["xrd.integrate.method: 'bbox/csr/opencl' asks for OpenCL, which is not available here"]),
    ("both-geometries", GOOD + "    geometry: {detector: Pilatus100k, distance_m: 0.1, poni1_m: 0, poni2_m: 0, wavelength_a: 1.0}\n",
     ["xrd.integrate.poni: give exactly one of 'poni'"]),
    ("unknown-detector", GOOD.replace("    poni: geometry.poni\n",
     "    geometry: {detector: Pilatus1Mx, distance_m: 0.1, poni1_m: 0, poni2_m: 0, wavelength_a: 1.0}\n"),
     ["xrd.integrate.geometry.detector: pyFAI knows no detector 'Pilatus1Mx' (did you mean"]),
    ("negative-distance", GOOD.replace("    poni: geometry.poni\n",
     "    geometry: {detector: Pilatus100k, distance_m: -0.1, poni1_m: 0, poni2_m: 0, wavelength_a: 1.0}\n"),
     ["xrd.integrate.geometry.distance_m: expected a number > 0, found -0.1"]),
    ("section-not-mapping", "name: x\nxrd: [1, 2]\n",
     ["recipe.yaml:2: xrd: expected a mapping of keys (frames, integrate, patterns, export, figures, peaks, phases, lattice), found [1, 2] (list)"]),
    ("bool-as-string", GOOD + "    correct_solid_angle: 'yes please'\n",
     ["xrd.integrate.correct_solid_angle: expected true or false, found 'yes please' (str)"]),
    ("duplicate-key", GOOD + "    npt: 600\n",
     ["recipe.yaml:8: invalid YAML: duplicate key 'npt' (first given on line 7)"]),
    ("yaml-syntax", GOOD + "    npt: [1, 2\n",
     ["recipe.yaml:", "invalid YAML"]),
    ("no-technique", "name: x\n",
     ["xrd: the recipe has no technique section; add 'xrd', 'xas' or 'xps'"]),
    ("top-level-not-mapping", "- just\n- a list\n",
     ["expected a mapping of keys (version, name, description, output, run, xrd, xas, xps, echem, timeline, figures), found"]),
    ("delta-dummy-without-dummy", GOOD + "    delta_dummy: 0.5\n",
     ["xrd.integrate.delta_dummy: 'delta_dummy' needs 'dummy'"]),
    ("mask-wrong-shape", GOOD + "    mask: small_mask.npy\n",
     ["xrd.integrate.mask: '", "has shape (3, 3), but the detector is (195, 487)"]),
    ("scan-log-missing-rows", GOOD.replace("    files: \"frame_*.cbf\"\n",
     "    files: \"frame_*.cbf\"\n    scan_log: {file: log.csv}\n"),
     ["xrd.frames.scan_log: 8 frame(s) have no row in"]),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_recipe_message(frame_set, case):
    import numpy as np

    folder, _ = frame_set
    np.save(folder / "small_mask.npy", np.zeros((3, 3), bool))
    (folder / "log.csv").write_text("file,start_time,end_time\nother.cbf,2025-01-01T00:00:00,2025-01-01T00:01:00\n")
    _, text, expected = case
    found = problems(folder, text)
    joined = "\n".join(found)
    assert any(all(frag in msg for frag in expected) for msg in found), joined


def test_all_problems_reported_at_once(frame_set):
    folder, _ = frame_set
    text = GOOD.replace("npt: 500", "npt: 3\n    unit: deg\n    methd: x")
    found = problems(folder, text)
    assert len(found) == 3
    assert [m.split(":")[1] for m in found] == ["7", "8", "9"]  # in line order


def test_paths_are_relative_to_the_recipe(frame_set, tmp_path, monkeypatch):
    folder, _ = frame_set
    monkeypatch.chdir(tmp_path)  # somewhere else entirely
    loaded = load_recipe(write_recipe(folder, GOOD))
    assert Path(loaded.recipe.xrd.integrate.poni) == folder / "geometry.poni"


def test_yaml_is_never_executed(tmp_path):
    path = write_recipe(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(RecipeInvalid, match="invalid YAML"):
        load_recipe(path)


def test_reference_doc_is_generated_from_the_code():
    committed = (ROOT / "docs" / "recipes.md").read_text()
    assert committed == render(), "docs/recipes.md is stale: run python -m xpipe.recipe.reference > docs/recipes.md"
    for key in ("xrd.integrate.npt", "xrd.integrate.polarization_factor", "xrd.frames.files", "run.workers"):
        assert f"`{key}`" in committed


def test_cli_validate_exit_codes(frame_set):
    folder, _ = frame_set
    good = write_recipe(folder, GOOD, "good.yaml")
    bad = write_recipe(folder, GOOD.replace("npt: 500", "npt: -5"), "bad.yaml")
    ok = subprocess.run([sys.executable, "-m", "xpipe", "validate", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "8 frames" in ok.stdout
    res = subprocess.run([sys.executable, "-m", "xpipe", "run", str(bad)], capture_output=True, text=True)
    assert res.returncode == 2
    assert "bad.yaml:7: xrd.integrate.npt: expected an integer in [16, 100000], found -5" in res.stderr
    assert "Traceback" not in res.stderr
