"""The XPS stage on the example series: charge correction, library fits, results, bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import ROOT, write_recipe

from xpipe.recipe.model import load_recipe
from xpipe.recipe.schema import RecipeInvalid
from xpipe.runner import run

DATA = ROOT / "example_data" / "nvp_xps"


@pytest.fixture(scope="module")
def xps_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("xps")
    report = run(load_recipe(ROOT / "recipes" / "nvp_xps.yaml"), out, workers=1, quiet=True)
    assert report.exit_code == 0, report.failed
    return out


def test_example_series_charge_shift_valence_and_flags(xps_run):
    truth = json.loads((DATA / "truth.json").read_text())["states"]
    with h5py.File(xps_run / "results.h5", "r") as h5:
        g = h5["entry/xps/V2p_O1s"]
        labels = [s.decode() for s in g["label"][()]]
        shift = g["charge_shift_ev"][()]
        valence, valence_err = g["mean_valence"][()], g["mean_valence_err"][()]
        volts = g["voltage_v"][()]
        diagnostics = [d.decode() for d in g["diagnostics"][()]]
        names = [n.decode() for n in g["components/name"][()]]
        centers = g["components/center"][()]
        vf = g["species/valence_fraction"][()]
        settings = json.loads(g["settings_json"][()])
        assert g["spectrum_0/model"].shape == g["spectrum_0/intensity"].shape
    assert labels == [Path(s["file"]).stem for s in truth]
    for i, s in enumerate(truth):
        # the shift to add undoes the charging (C 1s library with carbon black and PVDF lines)
        assert shift[i] == pytest.approx(-s["charge_shift_ev"], abs=0.06), s["file"]
        assert volts[i] == pytest.approx(s["voltage_v"], abs=1e-3)
        assert abs(valence[i] - s["mean_surface_valence"]) < 0.5
        assert 0 < valence_err[i] < 0.3
    assert valence[-1] - valence[0] > 0.6  # V3+ -> V4+ on charge
    assert np.allclose(vf.sum(axis=1), 1.0)
    # V3+ and V4+ 2p3/2 are 0.6 eV apart, closer than their widths: every fit says so
    assert all("unresolved" in d for d in diagnostics)
    # the links of the library hold in the result
    i5, i4 = names.index("V5+ 2p3/2"), names.index("V4+ 2p3/2")
    assert np.allclose(centers[:, i4], centers[:, i5] - 0.9)
    assert settings["background"] == "shirley"
    assert settings["charge"]["reference"] == "C 1s C-C"
    assert settings["charge"]["library"].endswith("c1s.yaml")
    assert settings["instrument"]["photon_energy_ev"] == pytest.approx(1486.6)
    assert any(c["name"] == "V5+ 2p" and c["kind"] == "doublet" for c in settings["components"])


def test_example_series_table_and_figures(xps_run):
    rows = list(csv.DictReader(open(xps_run / "xps_V2p_O1s.csv")))
    assert len(rows) == 5 * 9
    assert {r["line"] for r in rows} >= {"V5+ 2p3/2", "V5+ 2p1/2", "O lattice"}
    for name in ("xps_V2p_O1s.png", "xps_V2p_O1s_valence.png"):
        assert (xps_run / "figures" / name).stat().st_size > 20_000


def test_bad_files_fail_alone(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    text = (data / "nvp_xps_1.vms").read_bytes()
    (data / "nvp_xps_1.vms").write_bytes(text[: len(text) // 2])  # cut in the middle of a block
    recipe = write_recipe(tmp_path, f"""
name: bad xps
xps:
  - name: V2p
    files: {data}/nvp_xps_*.vms
    block: V 2p
    region_ev: [510, 538]
    library: {ROOT / 'recipes' / 'xps' / 'v2p_o1s.yaml'}
""", "r.yaml")
    report = run(load_recipe(recipe), tmp_path / "out", workers=1, quiet=True)
    assert report.exit_code == 1
    reasons = dict(report.failed)
    assert list(reasons) == ["V2p/nvp_xps_1.vms"]  # the others are fitted and kept
    assert "nvp_xps_1.vms" in reasons["V2p/nvp_xps_1.vms"] and "expected" in reasons["V2p/nvp_xps_1.vms"]


def test_a_charge_block_the_files_lack_is_refused_before_the_run(tmp_path):
    """What the run would fail on in every file is a recipe error, found by validate as by run."""
    recipe = write_recipe(tmp_path, f"""
name: no such reference
xps:
  - name: V2p
    files: {DATA}/nvp_xps_*.vms
    block: V 2p
    region_ev: [510, 538]
    library: {ROOT / 'recipes' / 'xps' / 'v2p_o1s.yaml'}
    charge: {{block: Au 4f, reference: Au 4f7/2}}
""", "r.yaml")
    with pytest.raises(RecipeInvalid) as info:
        load_recipe(recipe)
    text = str(info.value)
    assert "xps[0].charge.block" in text and "no block matching 'Au 4f'" in text
    assert "charge: false corrects nothing" in text


def test_library_errors_name_the_file_and_key(tmp_path):
    lib = tmp_path / "lib.yaml"
    lib.write_text("components:\n  - name: A\n    center: 517\n    kind: doublet\n  - name: B\n    centre: 516\n")
    recipe = write_recipe(tmp_path, f"""
name: bad library
xps:
  - name: V2p
    files: {DATA}/nvp_xps_*.vms
    block: V 2p
    region_ev: [510, 538]
    library: {lib}
""", "r.yaml")
    with pytest.raises(RecipeInvalid) as err:
        load_recipe(recipe)
    text = str(err.value)
    assert "lib.yaml" in text
    assert "orbital" in text  # a doublet without its orbital
    assert "centre" in text and "center" in text  # unknown key, with the suggestion


def test_transmission_correction_changes_fractions_as_expected(tmp_path):
    """With T(KE) ~ KE^-x a line at lower kinetic energy is counted more efficiently, so its
    corrected share drops: O 1s (about 956 eV KE) against V 2p (about 970 eV)."""
    from xpipe.stages.xps import fit_series_config

    def cfg(x):
        path = write_recipe(tmp_path, f"""
name: t
xps:
  - name: V2p
    files: [{DATA}/nvp_xps_2.vms]
    block: V 2p
    region_ev: [510, 538]
    library: {ROOT / 'recipes' / 'xps' / 'v2p_o1s.yaml'}
    charge: null
    transmission_exponent: {x}
""", f"t{x}.yaml")
        return load_recipe(path).recipe.xps[0]

    plain = fit_series_config(cfg(0), ROOT).fits[0]
    corrected = fit_series_config(cfg(1), ROOT).fits[0]
    o_plain = plain.get("O lattice").fraction
    o_corr = corrected.get("O lattice").fraction
    assert o_corr < o_plain
    assert o_plain - o_corr < 0.02 * o_plain  # KE differ by 1.4 %: a small correction
    assert corrected.mean_valence == pytest.approx(plain.mean_valence, abs=2e-3)  # V lines lie within 1.5 eV
