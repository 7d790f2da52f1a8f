"""The Results API (``xpipe.open_results``) on fresh runs of the shipped recipes: shapes,
coordinates, units and labels, and every number equal to the raw HDF5 value it comes from.

The raw values are found by walking the file by label (``@long_name``, else the name), as the
API does, so the tests hold for files written before and after labels had their own attribute.
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import ROOT

import xpipe
from xpipe.results import TechniqueNotRun, open_results


@pytest.fixture(scope="session")
def full_run(nvp_full_results):
    """``xpipe run recipes/nvp_full.yaml``: XRD, XAS, XPS, the cycler record and the timeline."""
    return nvp_full_results


@pytest.fixture(scope="session")
def xps_only(tmp_path_factory):
    """``recipes/nvp_xps.yaml`` alone: no XRD, XAS, cycler record or timeline."""
    out = tmp_path_factory.mktemp("api_xps")
    report = xpipe.run(ROOT / "recipes" / "nvp_xps.yaml", out, workers=1)
    assert report.exit_code == 0 and not report.failed
    return report.results


@pytest.fixture(scope="module")
def res(full_run):
    with open_results(full_run) as r:
        yield r


@pytest.fixture(scope="module")
def raw(full_run):
    with h5py.File(full_run, "r") as f:
        yield f["entry"]


def _label(obj) -> str:
    lab = obj.attrs.get("long_name")
    lab = lab.decode() if isinstance(lab, bytes) else lab
    return lab if lab else obj.name.rsplit("/", 1)[-1]


def _by_label(group) -> dict:
    return {_label(g): g for g in group.values() if isinstance(g, h5py.Group)}


def _strings(ds) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(ds[()])]


def _equal(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# -- what the file holds ------------------------------------------------------------------------


def test_techniques_and_read_only(res, full_run):
    assert res.techniques == ("xrd", "xas", "xps", "echem", "timeline")
    assert res._h5.mode == "r"
    assert str(full_run) in repr(res)


def test_technique_not_run_is_a_clear_error(xps_only):
    with open_results(xps_only) as r:
        assert r.techniques == ("xps",)
        for name, section in (("xrd", "'xrd'"), ("xas", "'xas'"), ("echem", "'echem'"), ("timeline", "'timeline'")):
            with pytest.raises(TechniqueNotRun) as info:
                getattr(r, name)
            msg = str(info.value)
            assert str(xps_only) in msg and section in msg and "holds: xps" in msg, msg
        assert isinstance(TechniqueNotRun("x"), LookupError)
        assert list(r.xps) == ["V2p_O1s"]


def test_part_of_xrd_not_run_is_a_clear_error(tmp_path, full_run):
    path = tmp_path / "results.h5"
    shutil.copy(full_run, path)
    with h5py.File(path, "a") as f:
        for name in ("peaks", "events", "lattice", "refinement"):
            del f[f"entry/xrd/{name}"]
    with open_results(path) as r:
        assert r.xrd.parts == ["patterns"]
        with pytest.raises(TechniqueNotRun, match=r"no tracked XRD peaks .*'xrd.peaks' section"):
            _ = r.xrd.peaks
        with pytest.raises(TechniqueNotRun, match=r"no XRD lattice results .*'xrd.phases'"):
            _ = r.xrd.lattice
        assert r.xrd.patterns.sizes["time_s"] == 38


def test_results_outlive_the_file(full_run):
    with open_results(full_run) as r:
        stack, cells, cycler = r.xrd.patterns, r.xrd.lattice, r.echem
    assert float(stack.intensity.sum()) > 0 and cells.sizes["phase"] == 3 and len(cycler) > 0


# -- XRD ------------------------------------------------------------------------------------------


def test_patterns(res, raw):
    stack = res.xrd.patterns
    g = raw["xrd/integrated"]
    assert isinstance(stack, xr.Dataset)
    assert stack.intensity.dims == ("time_s", "two_theta_deg") == stack.sigma.dims
    assert stack.intensity.shape == g["intensity"].shape == (38, 2000)
    _equal(stack.intensity, g["intensity"][()])
    _equal(stack.sigma, g["intensity_errors"][()])
    _equal(stack.two_theta_deg, g["radial"][()])
    _equal(stack.time_s, g["frame_time_s"][()])
    _equal(stack.d_spacing_a, g["d_spacing_a"][()])
    _equal(stack.frame_index, g["frame_index"][()])
    assert stack.source_file.values.tolist() == _strings(g["source_file"])
    assert stack.two_theta_deg.attrs["units"] == g["radial"].attrs["units"]
    assert stack.time_s.attrs["units"] == "s" and stack.d_spacing_a.attrs["units"] == "angstrom"
    assert stack.attrs["start_time"] == "2025-03-14T09:00:00"
    assert stack.attrs["wavelength_a"] == pytest.approx(float(raw["xrd/integration/geometry/wavelength_a"][()]))
    one = stack.intensity.sel(time_s=stack.time_s[5])
    _equal(one, g["intensity"][5])
    # the older dataclass view stays as it was
    old = res.patterns()
    _equal(old.intensity, stack.intensity)
    assert old.radial_name == "two_theta_deg" and res.failed() == [] and len(res.xrd.failed) == 0


def test_peaks_long_form(res, raw):
    p = raw["xrd/peaks"]
    peaks, tracks = res.xrd.peaks, res.xrd.tracks
    first, last = p["track_first_frame"][()], p["track_last_frame"][()]
    assert len(tracks) == p["track"].shape[0]
    assert len(peaks) == int(np.sum(last - first + 1))
    assert list(peaks.columns[:6]) == ["frame", "time_s", "track", "phase", "hkl", "label"]
    col = {int(t): i for i, t in enumerate(p["track"][()])}
    cols = peaks["track"].map(col).to_numpy()
    frames = peaks["frame"].to_numpy()
    for name in ("position", "position_err", "fwhm", "fwhm_err", "area", "area_err", "eta", "eta_err"):
        _equal(peaks[name], p[name][()][frames, cols])
        assert name.endswith("_err") or f"{name}_err" in peaks
    _equal(peaks["time_s"], p["frame_time_s"][()][frames])
    assert peaks.attrs["units"]["position"] == p["position"].attrs["units"]
    assert peaks["phase"].tolist() == [_strings(p["track_phase"])[c] for c in cols]
    hkl = p["track_hkl"][()]
    for row in tracks.itertuples():
        h = hkl[col[row.track]]
        assert row.hkl == (None if (h == -9999).any() else tuple(h.tolist()))
    # the CSV beside the results holds the same rows
    csv = pd.read_csv(res.path.parent / "xrd_peaks.csv")
    assert len(csv) == len(peaks)


def test_events_and_stretches(res, raw):
    ev = raw["xrd/events"]
    events, stretches = res.xrd.events, res.xrd.stretches
    assert len(events) == ev["kind"].shape[0]
    assert list(events.columns[:3]) == ["kind", "track", "frame"]
    assert events["kind"].tolist() == _strings(ev["kind"])
    _equal(events["change"], ev["change"][()])
    _equal(events["change_err"], ev["change_err"][()])
    assert stretches["kind"].tolist() == _strings(ev["stretch_kind"])
    _equal(stretches["first_frame"], ev["stretch_first_frame"][()])
    assert stretches.attrs["frame_kind"] == _strings(ev["frame_kind"])


def test_lattice_labels_units_and_values(res, raw):
    cells = res.xrd.lattice
    groups = _by_label(raw["xrd/lattice"])
    assert cells.phase.values.tolist() == list(groups) == res.xrd.phases
    assert "Na3V2(PO4)3" in groups  # a label, never a file name
    assert cells.a.dims == ("phase", "time_s")
    for phase, g in groups.items():
        one = cells.sel(phase=phase)
        for name in ("a", "a_err", "c", "c_err", "volume", "volume_err", "phase_fraction", "phase_fraction_err"):
            _equal(one[name], g[name][()])
        _equal(one.time_s, g["frame_time_s"][()])
        assert one.space_group.item() == g.attrs["space_group"]
        _equal(res.xrd.phase(phase).volume, g["volume"][()])
    for name in ("a", "b", "c", "alpha", "beta", "gamma", "volume", "phase_fraction"):
        assert f"{name}_err" in cells, name
    assert cells.a.attrs["units"] == "angstrom" and cells.alpha.attrs["units"] == "deg"
    assert "angstrom" in cells.volume.attrs["units"]
    with pytest.raises(KeyError, match="no phase 'LiFePO4' .*there are: Na3V2"):
        res.xrd.phase("LiFePO4")


def test_refinement(res, raw):
    ref = res.xrd.refinement
    g = raw["xrd/refinement"]
    _equal(ref.chi2_reduced, g["chi2_reduced"][()])
    _equal(ref.scale, g["scale"][()])
    assert ref.scale.dims == ("time_s", "phase") and ref.calculated.dims == ("time_s", "point")
    assert ref.phase.values.tolist() == _strings(g["phase"])


# -- XAS ------------------------------------------------------------------------------------------


def test_xas_spectra_and_table(res, raw):
    assert list(res.xas) == ["V_K"]
    s = res.xas["V_K"]
    g = _by_label(raw["xas"])["V_K"]
    sp = s.spectra
    assert sp.norm.dims == ("spectrum", "energy_ev")
    assert sp.energy_ev.attrs["units"] == "eV"
    _equal(sp.norm, g["spectra/norm"][()])
    _equal(sp.energy_ev, g["spectra/energy_ev"][()])
    assert sp.label.values.tolist() == _strings(g["spectra/label"])
    table = s.table
    assert len(table) == 6 and table.columns[0] == "label"
    for name in ("edge_energy_ev", "valence", "calibration_valence", "pre_edge_area"):
        _equal(table[name], g[f"spectra/{name}"][()])
        assert name.replace("_ev", "_err_ev") in table or f"{name}_err" in table
    assert table.attrs["units"]["edge_energy_ev"] == "eV"
    _equal(table["lcf_valence"], g["lcf/valence"][()])
    assert s.standards.label.values.tolist() == _strings(g["standards/label"])
    assert s.attrs["element"] == "V" and s.attrs["edge"] == "K"


def test_xas_lcf_pca_calibration(res, raw):
    s = res.xas["V_K"]
    g = raw["xas/V_K"]
    lcf = s.lcf
    assert lcf.weights.dims == ("spectrum", "component")
    assert lcf.component.values.tolist() == _strings(g["lcf/components"]) == ["Na3V2(PO4)3", "NaV2(PO4)3"]
    _equal(lcf.weights, g["lcf/weights"][()])
    _equal(lcf.weights_err, g["lcf/weights_err"][()])
    pca = s.pca
    _equal(pca["eigenvalue"], g["pca/eigenvalues"][()])
    assert pca.attrs["n_components"] == int(g["pca/n_components"][()])
    assert s.calibration["model"] == "piecewise_linear"
    assert s.settings["element"] == "V"
    # the only messages are the valence check's (leave-one-out, methods that disagree)
    assert s.failed.empty and all("leave-one-out" in m or "disagrees" in m for m in s.messages)
    with pytest.raises(KeyError, match="no xas series 'Fe_K' .*there are: V_K"):
        res.xas["Fe_K"]


# -- XPS ------------------------------------------------------------------------------------------


def test_xps_samples_components_species(res, raw):
    s = res.xps["V2p_O1s"]
    g = raw["xps/V2p_O1s"]
    samples = s.samples
    assert samples["label"].tolist() == _strings(g["label"]) and len(samples) == 5
    for name in ("mean_valence", "mean_valence_err", "charge_shift_ev", "charge_shift_err_ev", "voltage_v"):
        _equal(samples[name], g[name][()])
    assert samples.attrs["units"]["charge_shift_ev"] == "eV"
    names = _strings(g["components/name"])
    comps = s.components
    assert len(comps) == 5 * len(names)
    assert comps["component"].tolist()[: len(names)] == names
    assert "V3+ 2p3/2" in names
    for name in ("center", "center_err", "fwhm", "fwhm_err", "area", "area_err", "fraction", "fraction_err"):
        _equal(comps[name], g[f"components/{name}"][()].ravel())
    assert comps.attrs["units"]["center"] == "eV"
    species = s.species
    _equal(species["fraction"], g["species/fraction"][()].ravel())
    assert species["species"].tolist()[:6] == _strings(g["species/name"])
    vf = s.valence_fractions
    _equal(vf["valence_fraction"], g["species/valence_fraction"][()].ravel())
    assert sorted(set(vf["species"])) == sorted(_strings(g["species/valence_fraction_species"]))


def test_xps_spectrum_lines_by_label(res, raw):
    s = res.xps["V2p_O1s"]
    g = raw["xps/V2p_O1s"]
    names = _strings(g["components/name"])
    sp = s.spectrum("nvp_xps_2")
    assert sp.lines.dims == ("component", "binding_energy_ev")
    assert sp.component.values.tolist() == names  # labels, with their '/' and '+'
    _equal(sp.intensity, g["spectrum_2/intensity"][()])
    _equal(sp.binding_energy_ev, g["spectrum_2/binding_energy_ev"][()])
    lines = {_label(ds): ds for ds in g["spectrum_2/lines"].values()}
    for i, name in enumerate(names):
        raw_line = lines.get(name)
        if raw_line is None:  # written before lines had their label in @long_name
            raw_line = lines[name.replace("/", "_")]
        _equal(sp.lines[i], raw_line[()])
    assert sp.attrs["label"] == "nvp_xps_2"
    params = s.parameters(2)
    assert {"parameter", "value", "err", "vary", "min", "max"} <= set(params.columns)
    assert len(s.spectra) == 5
    with pytest.raises(KeyError, match="no spectrum 'nope'"):
        s.spectrum("nope")


# -- cycler record and timeline --------------------------------------------------------------


def test_echem(res, raw):
    cyc = res.echem
    g = raw["echem"]
    assert list(cyc.columns[:4]) == ["time_s", "voltage_v", "current_ma", "capacity_mah"]
    for name in cyc.columns:
        _equal(cyc[name], g[name][()])
    assert cyc.attrs["units"]["voltage_v"] == "V" and cyc.attrs["units"]["time_s"] == "s"
    assert cyc.attrs["electrode"]["formula"] == "Na3V2(PO4)3"
    assert cyc.attrs["start_time"] == "2025-03-14T09:00:00"


def test_timeline(res, raw):
    tl = res.timeline
    groups = _by_label(raw["timeline/series"])
    assert tl.names == list(groups) and len(groups) == 18
    for name, g in groups.items():
        df = tl[name]
        for col in ("time_s", "time_err_s", "value", "value_err", "x", "voltage_v"):
            _equal(df[col], g[col][()])
        assert df.attrs["units"].get("value", "") == (g["value"].attrs.get("units") or g.attrs["units"])
        assert df.attrs["technique"] == g.attrs["technique"]
        assert df.attrs["label"] == g.attrs["label"]
    volume = [n for n, g in groups.items() if g.attrs["quantity"] == "volume" and g.attrs["phase"] == "Na3V2(PO4)3"]
    assert len(volume) == 1
    assert tl[volume[0]].attrs["units"]["value"] == "angstrom^3"
    long = tl.table
    assert len(long) == sum(g["time_s"].shape[0] for g in groups.values())
    assert set(long.loc[long["series"] == volume[0], "units"]) == {"angstrom^3"}
    xps = long[(long["technique"] == "xps") & (long["quantity"] == "valence")]
    _equal(xps["value"], raw["xps/V2p_O1s/mean_valence"][()])
    assert len(tl.echem) == raw["timeline/echem/time_s"].shape[0]
    assert tl.attrs["clock_start"] == "2025-03-14T09:00:00"


# -- labels from @long_name (the NeXus names of the layout) ----------------------------------


def test_labels_come_from_long_name(tmp_path, full_run):
    """Phases, XPS lines and timeline series renamed to plain NeXus names with their labels in
    @long_name read back under the labels, with the same numbers; a series is also found by
    its group name."""
    path = tmp_path / "results.h5"
    shutil.copy(full_run, path)
    with open_results(full_run) as before:
        phases, series = before.xrd.phases, before.timeline.names
        comps = before.xps["V2p_O1s"].spectrum(0).component.values.tolist()
    with h5py.File(path, "a") as f:
        for parent, prefix in (("entry/xrd/lattice", "phase"), ("entry/timeline/series", "series"),
                               ("entry/xps/V2p_O1s/spectrum_0/lines", "line")):
            g = f[parent]
            for i, (lab, member) in enumerate(list(_by_label(g).items()) if prefix != "line" else
                                              [(_label(ds), ds) for ds in g.values()]):
                old = member.name.rsplit("/", 1)[-1]
                g.move(old, f"{prefix}_{i}")
                g[f"{prefix}_{i}"].attrs["long_name"] = f"{lab} (relabelled)" if prefix == "series" else lab
        lines = {_label(ds) for ds in f["entry/xps/V2p_O1s/spectrum_0/lines"].values()}
    assert lines == {n.replace("/", "_") for n in comps} or lines == set(comps)
    with open_results(full_run) as before, open_results(path) as after:
        assert after.xrd.phases == phases and "Na3V2(PO4)3" in phases
        assert after.xrd.lattice.equals(before.xrd.lattice)
        assert sorted(after.timeline.names) == sorted(f"{n} (relabelled)" for n in series)
        _equal(after.timeline[f"{series[3]} (relabelled)"]["value"], before.timeline[series[3]]["value"])
        _equal(after.timeline["series_3"]["value"], before.timeline[series[3]]["value"])  # by group name
        a, b = after.xps["V2p_O1s"].spectrum(0), before.xps["V2p_O1s"].spectrum(0)
        _equal(a.lines, b.lines)


def test_top_level_names():
    assert xpipe.open_results is open_results
    assert xpipe.TechniqueNotRun is TechniqueNotRun


@pytest.fixture(scope="session")
def xanes_run(tmp_path_factory):
    """``recipes/nvp_xanes.yaml``: XANES with the EXAFS part (chi(k), |chi(R)|), no shell fit."""
    out = tmp_path_factory.mktemp("api_xanes")
    report = xpipe.run(ROOT / "recipes" / "nvp_xanes.yaml", out, workers=1)
    assert report.exit_code == 0 and not report.failed
    return report.results


def test_xas_exafs_chi_and_shells(xanes_run, tmp_path):
    with open_results(xanes_run) as r, h5py.File(xanes_run, "r") as f:
        s = r.xas["V_K"]
        ds = s.exafs
        raw_g = f["entry/exafs/V_K"]
        assert ds.chi.dims == ("spectrum", "k_inv_angstrom") and ds.chir_mag.dims == ("spectrum", "r_angstrom")
        _equal(ds.chi.values, raw_g["chi"][()])
        _equal(ds.k_inv_angstrom.values, raw_g["k"][()])
        _equal(ds.chir_mag.values, raw_g["chir_mag"][()])
        assert ds.k_inv_angstrom.attrs["units"] == "1/angstrom" and ds.r_angstrom.attrs["units"] == "angstrom"
        assert ds.label.values.tolist() == _strings(raw_g["label"])
        with pytest.raises(LookupError, match="no EXAFS shell fit"):
            _ = s.shells
    # a shell fit as the XAS stage writes it: one row per spectrum and path, the statistics in attrs
    path = tmp_path / "results.h5"
    with h5py.File(path, "w") as h5:
        g = h5.create_group("entry/xas/Fe_K/spectra")
        g = h5.create_group("entry/exafs/Fe_K")
        g["k"], g["r"] = np.linspace(0, 10, 5), np.linspace(0, 6, 4)
        g["chi"], g["chir_mag"] = np.zeros((1, 5)), np.zeros((1, 4))
        fg = g.create_group("fit")
        fg["label"] = np.array([b"Fe-O"], dtype=object)
        fg["r_a"], fg["r_err_a"], fg["n"] = [2.11], [0.01], [6.0]
        fg["r_a"].attrs["units"] = "angstrom"
        fg["r_factor"] = 0.012
    with open_results(path) as r:
        shells = r.xas["Fe_K"].shells
    assert shells[["label", "r_a", "r_err_a", "n"]].to_dict("list") == {"label": ["Fe-O"], "r_a": [2.11],
                                                                         "r_err_a": [0.01], "n": [6.0]}
    assert shells.attrs["r_factor"] == 0.012 and shells.attrs["units"]["r_a"] == "angstrom"


def test_xas_valence_check(xanes_run, tmp_path):
    """Every method's leave-one-out error and every spectrum's status, equal to the raw values."""
    with open_results(xanes_run) as r, h5py.File(xanes_run, "r") as f:
        chk = r.xas["V_K"].valence_check
        g = f["entry/xas/V_K"]
        methods = _strings(g["valence_check/method"])
        assert chk.methods["method"].tolist() == methods
        assert methods == ["edge_half_height", "edge_derivative", "pre_edge_centroid", "pre_edge_area", "lcf"]
        _equal(chk.methods["calibration_err"], g["valence_check/calibration_err"][()])
        assert chk.reported == "lcf" and chk.series_method == "edge_half_height"
        half = chk.leave_one_out[chk.leave_one_out["method"] == "edge_half_height"]
        raw_loo = g["valence_check/leave_one_out/edge_half_height"]
        assert half["standard"].tolist() == _strings(raw_loo["standard"]) == ["V2O3", "VO2", "V2O5"]
        _equal(half["error"], raw_loo["error"][()])
        assert half["extrapolated"].tolist() == [True, False, True]  # only VO2 lies between two others
        assert chk.methods.set_index("method").loc["edge_half_height", "max_error"] == raw_loo["max_error"][()]
        sp = chk.spectra
        assert sp["label"].tolist() == _strings(g["spectra/label"])
        assert sp["valence_status"].tolist() == _strings(g["spectra/valence_status"])
        _equal(sp["lcf"], g["valence_check/valence"][()][:, 4])
        _equal(sp["pre_edge_centroid_err"], g["valence_check/valence_err"][()][:, 2])
        _equal(sp["valence"], g["spectra/valence"][()])
    with h5py.File(tmp := tmp_path / "results.h5", "w") as h5:
        h5.create_group("entry/xas/V_K/spectra")
    with open_results(tmp) as r, pytest.raises(LookupError, match="no valence check"):
        _ = r.xas["V_K"].valence_check
