"""Accuracy of the XPS chain against known truth.

The example series (``example_data/nvp_xps``, from :mod:`xpipe.synth.xps`: known V3+/V4+/V5+
fractions, Shirley background, Poisson noise, realistic widths) run through the recipe must give
the fractions within 0.05 and the V 2p3/2 and lattice O 1s positions within 0.05 eV; a sweep of
two lines moving closer must switch the ``unresolved`` flag on; real Fe 2p spectra of FeO and
Fe2O3 must come out more than 70 % Fe2+ and Fe3+; bad input must fail with a message saying what and where.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from conftest import ROOT, SHARED, write_recipe

from xpipe.recipe.model import load_recipe
from xpipe.recipe.sections.xps import load_library
from xpipe.runner import run
from xpipe.xps.fit import Component, fit_spectrum
from xpipe.xps.lineshapes import profile
from xpipe.xps.readers import XpsReadError, read_xps

DATA = ROOT / "example_data" / "nvp_xps"
FE_DATA = SHARED / "xps" / "xpsdeeplearning"


# ----------------------------------------------------------------- example series via the recipe


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    out = tmp_path_factory.mktemp("xps_accuracy")
    report = run(load_recipe(ROOT / "recipes" / "nvp_xps.yaml"), out, workers=1, quiet=True)
    assert report.exit_code == 0, report.failed
    truth = json.loads((DATA / "truth.json").read_text())["states"]
    with h5py.File(out / "results.h5", "r") as h5:
        g = h5["entry/xps/V2p_O1s"]
        res = {
            "shift": g["charge_shift_ev"][()],
            "names": [n.decode() for n in g["components/name"][()]],
            "center": g["components/center"][()],
            "vf": g["species/valence_fraction"][()],
            "vf_names": [n.decode() for n in g["species/valence_fraction_species"][()]],
            "valence": g["mean_valence"][()],
        }
    return truth, res


def test_valence_fractions_within_0p05(series):
    truth, res = series
    for i, s in enumerate(truth):
        for key, want in s["fractions"].items():  # "V3+" -> species "V3+ 2p"
            got = res["vf"][i, res["vf_names"].index(f"{key} 2p")]
            assert got == pytest.approx(want, abs=0.05), (s["file"], key)
        assert res["valence"][i] == pytest.approx(s["mean_surface_valence"], abs=0.05), s["file"]


def test_charge_shift_and_positions_within_0p05(series):
    truth, res = series
    names = res["names"]
    for i, s in enumerate(truth):
        comps = {c["name"]: c for c in s["components"]["V 2p/O 1s"]}
        shift = res["shift"][i]
        # the recipe's shift is the one to ADD to the file scale; the truth's is the one added to it
        assert shift == pytest.approx(-s["charge_shift_ev"], abs=0.05), s["file"]
        for fitted, true in (("V5+ 2p3/2", "V5+ 2p3/2"), ("V4+ 2p3/2", "V4+ 2p3/2"),
                             ("V3+ 2p3/2", "V3+ 2p3/2"), ("O lattice", "O 1s lattice")):
            center = res["center"][i, names.index(fitted)]
            # charge-corrected scale against the true binding energy: fit and charge reference
            assert center == pytest.approx(comps[true]["be_ev"], abs=0.05), (s["file"], fitted)
            # file scale against the apparent (charged) position: the fit alone
            assert center - shift == pytest.approx(comps[true]["be_apparent_ev"], abs=0.05), (s["file"], fitted)


# ----------------------------------------------------------------- identifiability sweep


def _pair(separation: float, seed: int):
    x = np.arange(280.0, 296.0001, 0.1)
    rng = np.random.default_rng(seed)
    y = 500.0 + 6000.0 * profile("gl", x, 287.0, 1.2, m=30) + 4000.0 * profile("gl", x, 287.0 + separation, 1.2, m=30)
    return x, rng.poisson(y).astype(float)


def test_unresolved_flag_switches_on_as_lines_approach():
    flags = {}
    for k, sep in enumerate((2.0, 1.5, 1.0, 0.6, 0.3)):
        x, y = _pair(sep, k)
        model = [Component("A", 286.8, shape="gl", fwhm=1.2, shape_params={"m": 30.0}),
                 Component("B", 287.2 + sep, shape="gl", fwhm=1.2, shape_params={"m": 30.0})]
        fit = fit_spectrum(x, y, model, links=["fwhm(B) = fwhm(A)"], background="linear")
        flags[sep] = any(d.kind == "unresolved" for d in fit.diagnostics)
    # the flag fires below half the mean true FWHM (GL(30) width 1.2 -> true FWHM 1.15, 0.58 eV)
    assert not flags[2.0] and not flags[1.5] and not flags[1.0]
    assert flags[0.3]
    seq = [flags[s] for s in (2.0, 1.5, 1.0, 0.6, 0.3)]
    assert seq == sorted(seq)  # once on, it stays on as the lines approach


# ----------------------------------------------------------------- real Fe 2p spectra


@pytest.mark.skipif(not FE_DATA.is_dir(), reason="shared XPS data not available")
@pytest.mark.parametrize("fname,major", [("Fe2p_FeO.txt", 2.0), ("Fe2p_Fe2O3.txt", 3.0)])
def test_fe2p_real_oxides_majority_valence(fname, major):
    # the Gupta-Sen multiplet template (recipes/xps/fe2p.yaml, 700-740 eV, Shirley), the whole
    # envelope of each valence counted: FeO Fe2+ 0.78 of the oxide, Fe2O3 Fe3+ 0.84
    lib = load_library(ROOT / "recipes" / "xps" / "fe2p.yaml")
    (spec,) = read_xps(FE_DATA / fname)
    fit = fit_spectrum(spec.binding_energy_ev, spec.intensity, [c.entry() for c in lib.components],
                       links=lib.links, region=(700.0, 740.0))
    shares = fit.valence_shares()
    share = shares[major] / (shares[2.0] + shares[3.0])
    assert share > 0.7, (fname, shares)
    assert fit.optimum["n_best"] >= 1 and fit.optimum["n_local"] >= 1


# ----------------------------------------------------------------- bad input


def test_unknown_formats_say_what_was_expected(tmp_path):
    rnd = tmp_path / "noise.vms"
    rnd.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(XpsReadError, match="expected a VAMAS file") as err:
        read_xps(rnd)
    assert "noise.vms" in str(err.value)
    words = tmp_path / "words.txt"
    words.write_text("binding energy and counts\nnothing numeric here\n")
    with pytest.raises(XpsReadError, match="no numeric rows") as err:
        read_xps(words)
    assert "words.txt" in str(err.value)


def test_region_outside_the_block_is_a_recorded_failure(tmp_path):
    recipe = write_recipe(tmp_path, f"""
name: region outside
xps:
  - name: V2p
    files: {DATA}/nvp_xps_0.vms
    block: V 2p
    region_ev: [600, 640]
    library: {ROOT / 'recipes' / 'xps' / 'v2p_o1s.yaml'}
    charge: null
""", "r.yaml")
    report = run(load_recipe(recipe), tmp_path / "out", workers=1, quiet=True)
    assert report.exit_code == 1
    reasons = dict(report.failed)
    msg = reasons["V2p/nvp_xps_0.vms"]
    assert "nvp_xps_0.vms" in msg and "600-640 eV" in msg and "covers" in msg


def test_link_to_a_missing_component_names_the_link():
    x = np.linspace(280.0, 292.0, 121)
    y = 100.0 + 1000.0 * profile("gl", x, 285.0, 1.2, m=30)
    with pytest.raises(ValueError, match=r"center\(B\) = center\(A\) \+ 1.*unknown component 'B'"):
        fit_spectrum(x, y, [Component("A", 285.0)], links=["center(B) = center(A) + 1"])
