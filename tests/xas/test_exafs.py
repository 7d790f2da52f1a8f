"""EXAFS core: FEFF paths (cache, failure, CIF route), background, Fourier transform, shell fits.

The accuracy checks fit the FeO EXAFS example that ships with Larch against paths xpipe computes
with FEFF6L; they skip when ../shared/data is not beside the checkout.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from conftest import SHARED

from xpipe.xas.exafs import (
    Chi,
    FeffError,
    FeffPath,
    background,
    find_e0,
    fit_shells,
    fourier,
    run_feff,
    select_paths,
)

XAS = SHARED / "xas" / "larch_examples"
needs_xas = pytest.mark.skipif(not (SHARED / "xas").exists(),
                               reason="../shared/data (real measured data) is not beside the checkout")

# Literature-style FeO settings (k 3-13 1/A, Hanning dk 1, k^2, R 1.0-3.2 A, two paths).
FIT = dict(kmin=3.0, kmax=13.0, dk=1.0, window="hanning", kweight=2, rmin_a=1.0, rmax_a=3.2)

FEO_CIF = """data_FeO
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
_cell_length_a 4.33
_cell_length_b 4.33
_cell_length_c 4.33
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Fe1 Fe 0 0 0 1
O1 O 0.5 0.5 0.5 1
"""


@pytest.fixture(scope="module")
def feff_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("feff_cache")


@pytest.fixture(scope="module")
def feo_paths(feff_cache):
    """FEFF6L paths of FeO, run once for the module, with the time of that run."""
    t0 = time.perf_counter()
    paths = run_feff(XAS / "feff_FeO.inp", absorber="Fe", cache_dir=feff_cache, rmax_a=5.0)
    return paths, time.perf_counter() - t0


@pytest.fixture(scope="module")
def feo_chi():
    data = np.loadtxt(XAS / "feo_xafs.dat")  # columns: energy (eV), mu
    energy, mu = data[:, 0], data[:, 1]
    e0 = find_e0(energy, mu)
    return background(energy, mu, e0_ev=e0, rbkg_a=1.0, kweight=2, label="FeO")


@pytest.fixture(scope="module")
def feo_fit(feo_paths, feo_chi):
    paths = select_paths(feo_paths[0], rmax_a=3.2)
    # s02 is refined: with N held at the rock-salt degeneracies (6 O, 12 Fe) the amplitude fixes
    # s02, and a value in the usual 0.6-1.0 band is itself a check of the paths and background.
    return fit_shells(feo_chi, paths, **FIT)


@needs_xas
def test_feff_paths_of_feo(feo_paths):
    paths, _ = feo_paths
    assert not paths.cache_hit
    first, second = paths[0], paths[1]
    assert (first.index, first.label, first.nleg, first.degeneracy) == (1, "Fe-O", 2, 6.0)
    assert first.reff_a == pytest.approx(2.1554, abs=1e-3)
    assert (second.label, second.degeneracy) == ("Fe-Fe", 12.0)
    assert second.reff_a == pytest.approx(3.0482, abs=1e-3)
    assert all(p.file.is_file() and p.reff_a <= 5.0 for p in paths)
    assert (paths.folder / "feff.inp").is_file()
    assert list(paths.folder.glob("feffrun_*.log"))  # FEFF's printing went to the run folder


@needs_xas
def test_feff_cache_hit_and_new_run(feo_paths, feff_cache, tmp_path):
    first, _ = feo_paths
    t0 = time.perf_counter()
    again = run_feff(XAS / "feff_FeO.inp", absorber="Fe", cache_dir=feff_cache, rmax_a=5.0)
    assert again.cache_hit and time.perf_counter() - t0 < 1.0
    assert again.folder == first.folder
    assert [p.reff_a for p in again] == [p.reff_a for p in first]

    shorter = run_feff(XAS / "feff_FeO.inp", cache_dir=feff_cache, rmax_a=3.2)
    assert not shorter.cache_hit and shorter.folder != first.folder
    assert [p.label for p in shorter] == ["Fe-O", "Fe-Fe"]

    edited = tmp_path / "feff.inp"
    edited.write_text((XAS / "feff_FeO.inp").read_text().replace("2.15540    0.00000    0.00000  2",
                                                                   "2.10000    0.00000    0.00000  2"))
    moved = run_feff(edited, cache_dir=feff_cache, rmax_a=3.2)
    assert not moved.cache_hit and moved.folder not in (first.folder, shorter.folder)
    assert moved[0].reff_a == pytest.approx(2.1, abs=1e-3)

    with pytest.raises(ValueError, match="Z=26"):  # potential 0 of this input is Fe
        run_feff(XAS / "feff_FeO.inp", absorber="O", cache_dir=feff_cache)


def test_feff_failure_names_the_input(tmp_path):
    bad = tmp_path / "garbage_feff.inp"
    bad.write_text("this is not\na FEFF input file\n")
    with pytest.raises(FeffError, match="garbage_feff.inp") as err:
        run_feff(bad, cache_dir=tmp_path / "cache")
    assert "no scattering paths" in str(err.value)


@pytest.mark.filterwarnings("ignore:Issues encountered while parsing CIF")  # the CIF lists no
@pytest.mark.filterwarnings("ignore:No _symmetry_equiv_pos_as_xyz")  # symmetry operations
@pytest.mark.parametrize("version", ["feff6l", "feff8l"])
def test_feff_from_cif(tmp_path, version):
    cif = tmp_path / "FeO.cif"
    cif.write_text(FEO_CIF)
    paths = run_feff(cif, absorber="Fe", cache_dir=tmp_path / "cache", rmax_a=3.5, version=version)
    first = paths[0]
    assert first.label == "Fe-O" and first.degeneracy == 6.0
    assert first.reff_a == pytest.approx(4.33 / 2, abs=2e-3)
    assert paths[1].label == "Fe-Fe" and paths[1].reff_a == pytest.approx(4.33 / 2**0.5, abs=2e-3)
    assert paths[1].degeneracy == 12.0 and all(p.reff_a <= 3.5 for p in paths)
    assert ("RMAX" if version == "feff6l" else "RPATH") + " 3.5000" in paths.feff_inp.read_text()
    with pytest.raises(ValueError, match="absorber"):
        run_feff(cif, cache_dir=tmp_path / "cache")


@needs_xas
def test_select_paths(feo_paths):
    paths, _ = feo_paths
    assert [p.index for p in select_paths(paths, rmax_a=3.2)] == [1, 2]
    assert all(p.nleg == 2 for p in select_paths(paths))
    assert [p.reff_a for p in select_paths(paths, labels=["Fe-O"], rmax_a=4.0)] == [2.1554, 3.7333]
    assert [p.index for p in select_paths(paths, indices=[2, 3], max_legs=None)] == [2, 3]
    with pytest.raises(ValueError, match="index"):
        select_paths(paths, indices=[999])


@needs_xas
def test_background_records_settings(feo_chi):
    data = np.loadtxt(XAS / "feo_xafs.dat")
    own_e0 = background(data[:, 0], data[:, 1], e0_ev=None)
    assert own_e0.e0_ev == feo_chi.e0_ev and own_e0.settings["e0_source"] == "pre_edge"
    assert np.allclose(own_e0.chi, feo_chi.chi)
    with pytest.raises(ValueError, match="outside"):
        background(data[:, 0], data[:, 1], e0_ev=5000.0)
    assert feo_chi.e0_ev == pytest.approx(7122.9, abs=1.0)  # Fe2+ edge, above the 7112 eV foil
    assert feo_chi.k[0] == 0 and np.allclose(np.diff(feo_chi.k), 0.05)
    assert feo_chi.k[-1] > 13.0
    s = feo_chi.settings
    assert s["rbkg_a"] == 1.0 and s["kweight"] == 2 and s["e0_source"] == "given"
    assert s["nknots"] >= 5 and s["kmax"] == pytest.approx(feo_chi.k[-1], abs=0.1)


@needs_xas
def test_fourier_peaks_of_feo(feo_chi):
    ft = fourier(feo_chi.k, feo_chi.chi, kmin=3, kmax=12, dk=1, window="hanning", kweight=2)
    r, mag = ft.r_a, ft.chir_mag
    assert np.allclose(mag, np.hypot(ft.chir_re, ft.chir_im))
    peaks = [i for i in range(1, r.size - 1)
             if mag[i] > mag[i - 1] and mag[i] >= mag[i + 1] and r[i] > 1.0 and mag[i] > 0.2 * mag.max()]
    # first shell Fe-O (2.11 A) phase-shifted to 1.4-1.8 A; in FeO the twelve Fe at 3.07 A give
    # the strongest peak, near 2.6 A.
    assert 1.4 < r[peaks[0]] < 1.8
    assert 2.4 < r[np.argmax(mag)] < 2.8
    assert ft.settings["kweight"] == 2 and ft.settings["window"] == "hanning"


@needs_xas
def test_feo_shell_fit(feo_fit):
    fit = feo_fit
    feo, fefe = fit.shell("Fe-O"), fit.shell("Fe-Fe")
    assert feo.r_a == pytest.approx(2.11, abs=0.02)
    assert 3.0 < fefe.r_a < 3.1
    assert (feo.n, fefe.n) == (6.0, 12.0) and feo.n_err == 0.0
    assert 0.6 < feo.s02 < 1.0
    assert 0.002 < feo.sigma2_a2 < 0.02 and 0.002 < fefe.sigma2_a2 < 0.02
    assert abs(feo.de0_ev) < 10
    varied = [p for p in fit.parameters.values() if p.vary]
    assert len(varied) == fit.n_variables == 6  # s02, dE0, 2 x dR, 2 x sigma2
    for p in varied:
        assert math.isfinite(p.stderr) and p.stderr > 0, p
    assert feo.r_err_a < 0.02 and fit.errorbars and fit.success
    assert fit.r_factor < 0.02
    assert fit.n_independent == pytest.approx(1 + 2 * 2.2 * 10 / math.pi)
    assert fit.reduced_chi_square > 0 and fit.chi_square > 0
    c = fit.curves[0]
    assert c.k.shape == c.chi_model.shape == c.chi_data.shape
    assert c.r_a.shape == c.chir_mag_model.shape == c.chir_mag_data.shape
    window = (c.r_a > 1.0) & (c.r_a < 3.2)
    assert np.corrcoef(c.chir_mag_data[window], c.chir_mag_model[window])[0, 1] > 0.95


@needs_xas
def test_feo_fit_with_floated_coordination(feo_fit, feo_paths, feo_chi):
    paths = select_paths(feo_paths[0], rmax_a=3.2)
    with pytest.raises(ValueError, match="s02"):
        fit_shells(feo_chi, paths, degeneracy_fixed=False, **FIT)
    s02 = feo_fit.shell("Fe-O").s02
    fit = fit_shells(feo_chi, paths, degeneracy_fixed=False, fixed={"s02": s02}, **FIT)
    feo = fit.shell("Fe-O")
    assert 0 < feo.n_err < 2 and abs(feo.n - 6.0) < 2 * feo.n_err  # 5.5 +- 0.8
    assert feo.s02_err == 0.0 and feo.r_a == pytest.approx(feo_fit.shell("Fe-O").r_a, abs=0.005)


@needs_xas
def test_series_fit_shares_s02(feo_fit, feo_paths, feo_chi):
    rng = np.random.default_rng(42)
    noisy = [Chi(k=feo_chi.k, chi=feo_chi.chi + rng.normal(0, 0.002, feo_chi.k.size),
                 e0_ev=feo_chi.e0_ev, label=f"copy {i}") for i in range(2)]
    paths = select_paths(feo_paths[0], rmax_a=3.2)
    fit = fit_shells(noisy, paths, shared=("s02",), per_spectrum=("de0", "dr", "sigma2"), **FIT)
    assert len(fit.shells) == 4 and fit.n_variables == 11  # 1 s02 + 2 x (dE0, 2 dR, 2 sigma2)
    assert [name for name in fit.parameters if name.startswith("s02")] == ["s02"]
    single = feo_fit.shell("Fe-O").r_a
    for i in range(2):
        shell = fit.shell("Fe-O", spectrum=i)
        assert shell.spectrum_label == f"copy {i}"
        assert shell.r_a == pytest.approx(single, abs=0.02)
        assert math.isfinite(shell.r_err_a) and shell.r_err_a > 0
    assert fit.shell("Fe-O", 0).s02 == fit.shell("Fe-O", 1).s02
    assert fit.shell("Fe-O", 0).dr_a != fit.shell("Fe-O", 1).dr_a
    assert fit.n_independent == pytest.approx(2 * feo_fit.n_independent)


def test_fit_rejects_bad_scopes(tmp_path):
    chi = Chi(k=np.arange(0, 15, 0.05), chi=np.zeros(300), e0_ev=7112.0)
    path = FeffPath(index=1, file=tmp_path / "feff0001.dat", reff_a=2.0, degeneracy=6.0, nleg=2,
                    label="Fe-O")
    with pytest.raises(ValueError, match="no paths"):
        fit_shells(chi, [])
    with pytest.raises(ValueError, match="both shared and per spectrum"):
        fit_shells(chi, [path], shared=("s02", "dr"), per_spectrum=("de0", "dr", "sigma2"))
    with pytest.raises(ValueError, match="neither"):
        fit_shells(chi, [path], shared=("s02",), per_spectrum=("de0",))
    with pytest.raises(ValueError, match="unknown"):
        fit_shells(chi, [path], shared=("amp",))
    with pytest.raises(ValueError, match="per_path"):
        fit_shells(chi, [path], per_path=("s02",))
