"""XANES cores, valence and the XAS stage: real standards, synthetic mixtures, the example series,
bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import SHARED, write_recipe

from xpipe.xas.readers import read_scan
from xpipe.xas.scan import XasReadError, XasScan
from xpipe.xas.valence import ValenceCalibration, lcf, pca
from xpipe.xas.xanes import (
    NormSettings,
    XasEdgeError,
    calibrate_foil,
    deglitch,
    edge_position,
    main_edge_e0,
    merge_scans,
    normalise,
    pre_edge_peak,
    tabulated_edge_ev,
)

ROOT = Path(__file__).resolve().parents[2]
V_STD = SHARED / "xas" / "standards" / "V"
FE_STD = SHARED / "xas" / "standards" / "Fe"
needs_xas = pytest.mark.skipif(not (SHARED / "xas").exists(), reason="../shared/data (real measured data) is not beside the checkout")

V_EDGE = 5465.0
#: fixed normalisation of the shared-data README for the V standards
NORM = NormSettings(pre1_ev=-100, pre2_ev=-30, norm1_ev=60, norm2_ev=300, nnorm=2)
MAIN_V = (V_EDGE + 8, V_EDGE + 45)
PRE_V = (V_EDGE - 2, V_EDGE + 8)
VALENCE = {"VO": 2, "V2O3": 3, "VO2": 4, "V2O5": 5}


def _process(path, main, pre, edge_ev):
    scan = read_scan(path)[0]
    e0 = main_edge_e0(scan.energy_ev, scan.mu, window_ev=main)
    nz = normalise(scan.energy_ev, scan.mu, e0_ev=e0, settings=NORM)
    edges = {m: edge_position(scan.energy_ev, nz.norm, method=m, window_ev=main, noise=nz.noise)
             for m in ("half_height", "derivative", "second_derivative")}
    pe = pre_edge_peak(scan.energy_ev, nz.norm, window_ev=pre, noise=nz.noise)
    return scan, nz, edges, pe


@pytest.fixture(scope="module")
def v_standards():
    return {n: _process(V_STD / f"{n}.xdi", MAIN_V, PRE_V, V_EDGE) for n in VALENCE}


# ----------------------------------------------------------------------------- real V standards


@needs_xas
def test_half_height_edge_rises_with_valence_and_matches_the_reference_values(v_standards):
    half = {n: v_standards[n][2]["half_height"].energy_ev for n in VALENCE}
    # half-height positions with this normalisation, from the data set's README
    expected = {"VO": 5474.8, "V2O3": 5478.3, "VO2": 5480.9, "V2O5": 5481.4}
    for n in VALENCE:
        assert half[n] == pytest.approx(expected[n], abs=0.1), n
        assert 0 < v_standards[n][2]["half_height"].energy_err_ev < 0.1
    assert half["VO"] < half["V2O3"] < half["VO2"] < half["V2O5"]


@needs_xas
def test_global_derivative_maximum_lands_on_the_pre_edge_peak():
    """Larch's default E0 (maximum of the derivative over the whole scan) is not monotonic in
    valence: for VO2 and V2O5 it picks the pre-edge peak near 5470 eV. The main-edge search
    excludes the pre-edge window."""
    from larch import Group
    from larch.xafs import pre_edge

    e0 = {}
    for n in VALENCE:
        scan = read_scan(V_STD / f"{n}.xdi")[0]
        g = Group(energy=scan.energy_ev, mu=scan.mu)
        pre_edge(g)
        e0[n] = g.e0
        main = main_edge_e0(scan.energy_ev, scan.mu, window_ev=MAIN_V)
        assert main > PRE_V[1]
    assert e0["VO2"] < 5472 and e0["V2O5"] < 5472
    assert not (e0["VO"] < e0["V2O3"] < e0["VO2"] < e0["V2O5"])


@needs_xas
def test_pre_edge_area_grows_with_valence(v_standards):
    area = {n: v_standards[n][3].area for n in VALENCE}
    assert area["V2O3"] < area["VO2"] < area["V2O5"]
    # peak heights of the data set's README: 0.13 (V3+), 0.42 (V4+), 0.71 (V5+) in normalised mu,
    # measured there from zero; here above the window's baseline, so somewhat lower
    assert v_standards["V2O5"][3].height > v_standards["VO2"][3].height > v_standards["V2O3"][3].height
    for n in VALENCE:
        pe = v_standards[n][3]
        assert PRE_V[0] < pe.centroid_ev < PRE_V[1]
        # the fit's covariance includes the trade-off between peaks and the edge-tail baseline
        assert 0 < pe.area_err < 0.5 * pe.area


@needs_xas
def test_v2o3_on_a_calibration_from_vo_and_vo2_alone(v_standards):
    h = {n: v_standards[n][2]["half_height"] for n in VALENCE}
    cal = ValenceCalibration.fit([h["VO"].energy_ev, h["VO2"].energy_ev], [2, 4],
                                 [h["VO"].energy_err_ev, h["VO2"].energy_err_ev], names=["VO", "VO2"], model="linear")
    v, err = cal.predict(h["V2O3"].energy_ev, h["V2O3"].energy_err_ev)
    assert abs(float(v) - 3.0) <= 0.2
    assert 0 < float(err) < 0.2


@needs_xas
def test_monotone_calibration_uncertainty_grows_where_the_edge_hardly_moves(v_standards):
    h = {n: v_standards[n][2]["half_height"] for n in VALENCE}
    cal = ValenceCalibration.fit([h[n].energy_ev for n in VALENCE], list(VALENCE.values()),
                                 [h[n].energy_err_ev for n in VALENCE], names=list(VALENCE))
    for n, v in VALENCE.items():  # the curve goes through its standards
        assert float(cal.predict(h[n].energy_ev)[0]) == pytest.approx(v, abs=1e-9)
    # the same 0.05 eV edge uncertainty is worth far more valence between V4+ and V5+ (0.5 eV
    # apart) than between V2+ and V3+ (3.5 eV apart)
    mid_23 = 0.5 * (h["VO"].energy_ev + h["V2O3"].energy_ev)
    mid_45 = 0.5 * (h["VO2"].energy_ev + h["V2O5"].energy_ev)
    _, e23 = cal.predict(mid_23, 0.05)
    _, e45 = cal.predict(mid_45, 0.05)
    assert float(e45) > 4 * float(e23)
    v, _ = cal.predict(np.linspace(h["VO"].energy_ev, h["V2O5"].energy_ev, 50))
    assert np.all(np.diff(v) > 0)
    with pytest.raises(ValueError, match="not monotonic"):
        ValenceCalibration.fit([h["VO"].energy_ev, h["V2O5"].energy_ev, h["VO2"].energy_ev], [2, 4, 5])


@needs_xas
def test_synthetic_mixtures_of_v2o3_and_vo2_give_their_valence_by_both_routes(v_standards):
    _, n3, h3, _ = v_standards["V2O3"]
    _, n4, h4, _ = v_standards["VO2"]
    e3 = read_scan(V_STD / "V2O3.xdi")[0].energy_ev
    e4 = read_scan(V_STD / "VO2.xdi")[0].energy_ev
    cal = ValenceCalibration.fit([h3["half_height"].energy_ev, h4["half_height"].energy_ev], [3, 4],
                                 [h3["half_height"].energy_err_ev, h4["half_height"].energy_err_ev],
                                 names=["V2O3", "VO2"], model="linear")
    rng = np.random.default_rng(7)
    mats = []
    for f4 in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        y = (1 - f4) * n3.norm + f4 * np.interp(e3, e4, n4.norm) + rng.normal(0, 0.003, e3.size)
        mats.append(y)
        truth = 3 + f4
        fit = lcf(e3, y, [("V2O3", e3, n3.norm), ("VO2", e4, n4.norm)], [3, 4], window_ev=(V_EDGE - 20, V_EDGE + 40))
        assert abs(fit.valence - truth) <= 0.05, f4
        assert 0 <= fit.valence_err < 0.05
        edge = edge_position(e3, y, window_ev=MAIN_V)
        v, _ = cal.predict(edge.energy_ev, edge.energy_err_ev)
        assert abs(float(v) - truth) <= 0.05, f4
    res = pca(e3, np.stack(mats), window_ev=(V_EDGE - 20, V_EDGE + 40))
    assert res.n_components == 2


# ----------------------------------------------------------------------------- real Fe standards


@needs_xas
def test_fe_edge_shift_feo_to_fe2o3():
    """FeO -> Fe2O3: +4.3 eV at half height and +2.7 eV at the derivative maximum, as measured by
    a manual Larch analysis with the same settings (pre -100..-30, post 60..300 eV, nnorm 2,
    E0 on the main edge; values of the data set's README)."""
    fe = tabulated_edge_ev("Fe")
    main, pre = (fe + 8, fe + 45), (fe - 2, fe + 4)
    _, _, feo, _ = _process(FE_STD / "FeO_rt_01.xdi", main, pre, fe)
    _, _, fe2o3, _ = _process(FE_STD / "Fe2O3_rt_01.xdi", main, pre, fe)
    half = fe2o3["half_height"].energy_ev - feo["half_height"].energy_ev
    deriv = fe2o3["derivative"].energy_ev - feo["derivative"].energy_ev
    assert half == pytest.approx(4.3, abs=0.5)
    assert deriv == pytest.approx(2.7, abs=0.5)


# ----------------------------------------------------------------------------- cores on model data


def _model(shift=0.0, edge=5480.0, seed=0, noise=0.002):
    e = np.concatenate([np.arange(5365, 5445, 5.0), np.arange(5445, 5500, 0.25), np.arange(5500, 5800, 2.0)])
    rng = np.random.default_rng(seed)
    mu = 0.5 - 2e-4 * (e - 5365) + 1.0 * (0.5 + np.arctan((e - edge) / 1.5) / np.pi) + rng.normal(0, noise, e.size)
    ref = 0.3 + 1.2 * (0.5 + np.arctan((e - (V_EDGE - shift)) / 1.0) / np.pi)
    return XasScan(energy_ev=e, mu=mu, source="model.xdi", label="model", reference_mu=ref)


def test_foil_calibration_recovers_a_mono_offset():
    scan = _model(shift=0.8)
    cal = calibrate_foil(scan.energy_ev, scan.reference_mu, edge_ev=V_EDGE)
    assert cal.shift_ev == pytest.approx(0.8, abs=0.03)
    with pytest.raises(XasEdgeError, match="border of the alignment window"):
        calibrate_foil(scan.energy_ev, scan.reference_mu, edge_ev=V_EDGE + 14.0, window_ev=(-3, 3))


def test_deglitch_removes_a_spike_and_leaves_clean_data_alone():
    scan = _model()
    clean, idx = deglitch(scan.energy_ev, scan.mu)
    assert idx.size == 0 and np.array_equal(clean, scan.mu)
    spiky = scan.mu.copy()
    k = int(np.searchsorted(scan.energy_ev, 5600))
    spiky[k] += 0.2
    fixed, idx = deglitch(scan.energy_ev, spiky)
    assert idx.tolist() == [k]
    assert abs(fixed[k] - scan.mu[k]) < 0.02


def test_merge_rejects_the_odd_scan_out():
    scans = [_model(seed=s) for s in range(4)]
    bad = _model(seed=9, edge=5483.0)
    m = merge_scans([s.energy_ev for s in scans + [bad]], [s.mu for s in scans + [bad]])
    assert m.used.tolist() == [True, True, True, True, False]
    assert np.max(np.abs(m.mu - np.mean([s.mu for s in scans], axis=0))) < 1e-12


def test_spectrum_without_an_edge_is_a_clear_error():
    scan = _model()
    flat = 1.0 - 1e-4 * (scan.energy_ev - 5365) + np.random.default_rng(1).normal(0, 0.002, scan.energy_ev.size)
    with pytest.raises(XasEdgeError, match="no absorption edge"):
        normalise(scan.energy_ev, flat, e0_ev=5480.0, settings=NORM)


def test_non_monotonic_energy_is_rejected_naming_the_file():
    scan = _model()
    e = scan.energy_ev.copy()
    e[50], e[51] = e[51], e[50]
    with pytest.raises(XasReadError, match=r"model\.xdi.*increase strictly"):
        XasScan(energy_ev=e, mu=scan.mu, source="model.xdi", label="").check()


# ----------------------------------------------------------------------------- the stage, example data


@pytest.fixture(scope="module")
def xanes_run(tmp_path_factory):
    from xpipe.recipe.model import load_recipe
    from xpipe.runner import run

    out = tmp_path_factory.mktemp("xanes")
    report = run(load_recipe(ROOT / "recipes" / "nvp_xanes.yaml"), out, workers=2, quiet=True)
    assert report.exit_code == 0, report.failed
    return out


def test_example_series_recovers_truth(xanes_run):
    truth = json.loads((ROOT / "example_data" / "nvp_xanes" / "truth.json").read_text())
    states = truth["states"]
    with h5py.File(xanes_run / "results.h5", "r") as h5:
        g = h5["entry/xas/V_K/spectra"]
        labels = [s.decode() for s in g["label"][()]]
        assert labels == [Path(s["file"]).stem for s in states]
        shift = g["calibration_shift_ev"][()]
        edge = g["edge_energy_ev"][()]
        valence, valence_err = g["valence"][()], g["valence_err"][()]
        lcf_v = h5["entry/xas/V_K/lcf/valence"][()]
        volts = g["voltage_v"][()]
        norm = g["norm"][()]
        assert norm.shape == (len(states), g["energy_ev"].shape[0])
        assert h5["entry/xas/V_K/pca/n_components"][()] == 2
        settings = json.loads(h5["entry/xas/V_K/settings/settings_json"][()])
        assert settings["norm"] == {"pre1_ev": -100.0, "pre2_ev": -30.0, "norm1_ev": 60.0, "norm2_ev": 300.0, "nnorm": 2, "nvict": 0}
        std_edges = h5["entry/xas/V_K/standards/edge_energy_ev"][()]
        assert np.all(np.isfinite(std_edges))
        assert "versions" in h5["entry/provenance"]
    for i, s in enumerate(states):
        assert shift[i] == pytest.approx(-s["mono_offset_ev"], abs=0.05), s["file"]
        assert edge[i] == pytest.approx(s["edge_half_height_ev"], abs=0.05), s["file"]
        assert valence[i] == pytest.approx(s["mean_valence"], abs=0.03), s["file"]
        assert lcf_v[i] == valence[i]  # the recipe reports the LCF valence
        assert 0 < valence_err[i] < 0.05
        assert volts[i] == pytest.approx(s["voltage_v"], abs=1e-3)


def test_example_series_tables_figures_and_athena_project(xanes_run):
    rows = list(csv.DictReader(open(xanes_run / "xas_V_K.csv")))
    assert [r["kind"] for r in rows].count("standard") == 5
    assert all(r["edge_energy_ev"] for r in rows)
    for name in ("xanes_V_K.png", "valence_V_K.png", "exafs_V_K.png"):
        assert (xanes_run / "figures" / name).stat().st_size > 20_000
    groups = read_scan(xanes_run / "xas_V_K.prj")
    assert len(groups) == 11
    assert {g.label for g in groups} >= {"V2O3", "nvp_xanes_0"}


def test_bad_spectra_fail_alone_and_the_series_goes_on(tmp_path):
    from xpipe.recipe.model import load_recipe
    from xpipe.runner import run

    src = ROOT / "example_data" / "nvp_xanes"
    data = tmp_path / "data"
    shutil.copytree(src, data)
    # a truncated file (no edge in range), a zig-zag energy axis, one with no foil channel
    lines = (data / "nvp_xanes_1.xdi").read_text().splitlines()
    head = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    (data / "nvp_xanes_1.xdi").write_text("\n".join(head + body[:20]) + "\n")
    body2 = [ln for ln in (data / "nvp_xanes_2.xdi").read_text().splitlines() if not ln.startswith("#")]
    body2[30], body2[31] = body2[31], body2[30]
    body2[100], body2[140] = body2[140], body2[100]
    (data / "nvp_xanes_2.xdi").write_text("\n".join(head + body2) + "\n")
    no_ref = [ln for ln in (data / "nvp_xanes_3.xdi").read_text().splitlines()]
    no_ref = [ln.rsplit(None, 1)[0] if not ln.startswith("#") else ln for ln in no_ref if "irefer" not in ln and "Column.4" not in ln]
    (data / "nvp_xanes_3.xdi").write_text("\n".join(no_ref) + "\n")
    path = write_recipe(tmp_path, f"""
name: bad input
xas:
  - name: V_K
    element: V
    files: {data}/nvp_xanes_*.xdi
    calibration: {{reference: required}}
    standards:
      - {{name: NVP, file: {data}/standards/NVP_std.xdi, valence: 3}}
      - {{name: NaVP, file: {data}/standards/NaVP_std.xdi, valence: 4}}
    valence: {{method: lcf}}
""", "r.yaml")
    report = run(load_recipe(path), tmp_path / "out", workers=1, quiet=True)
    assert report.exit_code == 1
    reasons = dict(report.failed)
    assert set(reasons) == {"V_K/nvp_xanes_1.xdi", "V_K/nvp_xanes_2.xdi", "V_K/nvp_xanes_3.xdi"}
    assert "nvp_xanes_1" in reasons["V_K/nvp_xanes_1.xdi"] and "eV" in reasons["V_K/nvp_xanes_1.xdi"]
    assert "increase" in reasons["V_K/nvp_xanes_2.xdi"] or "monoton" in reasons["V_K/nvp_xanes_2.xdi"]
    assert "reference" in reasons["V_K/nvp_xanes_3.xdi"]
    with h5py.File(tmp_path / "out" / "results.h5", "r") as h5:
        g = h5["entry/xas/V_K"]
        assert [s.decode() for s in g["spectra/label"][()]] == ["nvp_xanes_0", "nvp_xanes_4", "nvp_xanes_5"]
        assert np.all(np.isfinite(g["spectra/valence"][()]))
        assert len(g["failed/key"][()]) == 3


@needs_xas
def test_exafs_shell_fit_through_the_recipe(tmp_path, monkeypatch):
    from xpipe.recipe.model import load_recipe
    from xpipe.runner import run

    monkeypatch.setenv("XPIPE_CACHE", str(tmp_path / "cache"))
    ex = SHARED / "xas" / "larch_examples"
    path = write_recipe(tmp_path, f"""
name: FeO EXAFS
xas:
  - name: Fe_K
    element: Fe
    files: [{ex / 'feo_xafs.dat'}]
    calibration: {{reference: none}}
    normalisation: {{pre1_ev: -150, pre2_ev: -40, norm1_ev: 100, norm2_ev: 900, nnorm: 2}}
    exafs:
      rbkg_a: 1.0
      kweight: 2
      kmin: 3
      kmax: 13
      dk: 1
      fit:
        feff: {ex / 'feff_FeO.inp'}
        paths: [1, 2]
        rmin_a: 1.0
        rmax_a: 3.2
""", "r.yaml")
    report = run(load_recipe(path), tmp_path / "out", workers=1, quiet=True)
    assert report.exit_code == 0, report.failed
    with h5py.File(tmp_path / "out" / "results.h5", "r") as h5:
        f = h5["entry/exafs/Fe_K/fit"]
        labels = [s.decode() for s in f["label"][()]]
        r, r_err = f["r_a"][()], f["r_err_a"][()]
        assert f["r_factor"][()] < 0.05
        assert h5["entry/exafs/Fe_K/chir_mag"].shape[0] == 1
    fe_o = labels.index("Fe-O")
    fe_fe = labels.index("Fe-Fe")
    assert r[fe_o] == pytest.approx(2.11, abs=0.02)
    assert 3.0 <= r[fe_fe] <= 3.1
    assert np.all(r_err > 0)
    rows = list(csv.DictReader(open(tmp_path / "out" / "exafs_Fe_K.csv")))
    assert len(rows) == 2
    assert (tmp_path / "out" / "figures" / "exafs_Fe_K.png").exists()


def test_feff_failure_keeps_the_xanes_results(tmp_path, monkeypatch):
    from xpipe.recipe.model import load_recipe
    from xpipe.runner import run

    monkeypatch.setenv("XPIPE_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "broken_feff.inp"
    bad.write_text("TITLE nothing here\nPOTENTIALS\n garbage\nEND\n")
    data = ROOT / "example_data" / "nvp_xanes"
    path = write_recipe(tmp_path, f"""
name: feff failure
xas:
  - name: V_K
    element: V
    files: [{data}/nvp_xanes_0.xdi, {data}/nvp_xanes_5.xdi]
    exafs:
      kmax: 9
      fit: {{feff: {bad}}}
""", "r.yaml")
    report = run(load_recipe(path), tmp_path / "out", workers=1, quiet=True)
    assert report.exit_code == 0
    with h5py.File(tmp_path / "out" / "results.h5", "r") as h5:
        msgs = [m.decode() for m in h5["entry/xas/V_K/messages"][()]]
        assert any("EXAFS shell fit failed" in m and "broken_feff.inp" in m for m in msgs)
        assert np.all(np.isfinite(h5["entry/xas/V_K/spectra/edge_energy_ev"][()]))


def test_recipe_rejects_unknown_standard_and_element(tmp_path):
    from xpipe.recipe.model import load_recipe
    from xpipe.recipe.schema import RecipeInvalid

    data = ROOT / "example_data" / "nvp_xanes"
    path = write_recipe(tmp_path, f"""
name: wrong
xas:
  - name: V_K
    element: Vx
    files: {data}/nvp_xanes_*.xdi
  - name: V2
    element: V
    files: {data}/nothing_*.xdi
    standards:
      - {{name: A, file: {data}/standards/NVP_std.xdi, valence: 3}}
    valence: {{lcf_references: [A, B]}}
""", "r.yaml")
    with pytest.raises(RecipeInvalid) as err:
        load_recipe(path)
    text = str(err.value)
    assert "xas[0].element" in text or "element" in text
    assert "nothing_" in text
