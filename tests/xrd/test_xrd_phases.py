"""Peak tracking, cells and phase fractions: the example run against its truth, real data, bad input."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import ROOT, SHARED, needs_shared, write_recipe

from xpipe.nexus import labelled, nx_name
from xpipe.xrd.operando import AnalysisSettings, analyse_stack
from xpipe.xrd.phases import make_phase
from xpipe.xrd.reflections import Cell

TRUTH = json.loads((ROOT / "example_data" / "nvp_operando" / "truth.json").read_text())
FRAMES = TRUTH["frames"]
NVP, NVP1, V2O3 = "Na3V2(PO4)3", "NaV2(PO4)3", "V2O3"


def _truth(phase: str, key: str) -> np.ndarray:
    return np.array([f["phases"][phase][key] for f in FRAMES])


@pytest.fixture(scope="module")
def lattice(example_run):
    out = {}
    with h5py.File(example_run / "results.h5", "r") as h5:
        phases = labelled(h5["entry/xrd/lattice"])  # groups under NeXus names, labels in @long_name
        for name in (NVP, NVP1, V2O3):
            g = phases[name]
            out[name] = {k: g[k][()] for k in g}
    return out


def test_single_phase_frames_match_the_true_cell(lattice):
    single = _truth(NVP1, "weight_fraction") == 0
    assert single.sum() >= 5
    lat = lattice[NVP]
    da = lat["a"][single] - _truth(NVP, "a_a")[single]
    dc = lat["c"][single] - _truth(NVP, "c_a")[single]
    assert np.all(np.isfinite(da))
    assert np.max(np.abs(da)) <= 0.002 and np.max(np.abs(dc)) <= 0.005
    # the uncertainties are honest: errors within 5 sigma
    assert np.all(np.abs(da) <= 5 * lat["a_err"][single] + 2e-4)


def test_two_phase_frames_give_both_cells_and_fractions(lattice):
    w1 = _truth(NVP1, "weight_fraction")
    w0 = _truth(NVP, "weight_fraction")
    both = (w1 > 0.05) & (w0 > 0.05)  # both phases clearly there
    assert both.sum() >= 20
    for name in (NVP, NVP1):
        lat = lattice[name]
        da = lat["a"][both] - _truth(name, "a_a")[both]
        dc = lat["c"][both] - _truth(name, "c_a")[both]
        assert np.all(np.isfinite(da)), name
        assert np.max(np.abs(da)) <= 0.005, name
        assert np.max(np.abs(dc)) <= 0.01, name
        frac = lat["phase_fraction"][both]
        assert np.max(np.abs(frac - _truth(name, "weight_fraction")[both])) <= 0.1, name
    # absent phase: NaN, not zero
    assert np.all(np.isnan(lattice[NVP1]["a"][w1 == 0]))
    assert np.all(np.isnan(lattice[NVP1]["phase_fraction"][w1 == 0]))


def test_events_and_stretches_match_the_reaction(example_run):
    with h5py.File(example_run / "results.h5", "r") as h5:
        ev = h5["entry/xrd/events"]
        kind = [k.decode() for k in ev["kind"][()]]
        phase = [p.decode() for p in ev["phase"][()]]
        frame = ev["frame"][()]
        frame_kind = [k.decode() for k in ev["frame_kind"][()]]
    w1 = _truth(NVP1, "weight_fraction")
    first_true = int(np.flatnonzero(w1 > 0)[0])
    gone_true = int(np.flatnonzero(w1 > 0)[-1]) + 1
    starts = [f for k, p, f in zip(kind, phase, frame) if p == NVP1 and k in ("split", "appear")]
    ends = [f for k, p, f in zip(kind, phase, frame) if p == NVP1 and k in ("merge", "vanish")]
    assert starts and abs(min(starts) - first_true) <= 1
    assert ends and abs(max(ends) - gone_true) <= 1
    # the new cell's strongest reflections are reported as splits of the old cell's
    assert sum(1 for k, p in zip(kind, phase) if k == "split" and p == NVP1) >= 3
    two = np.array([k == "two-phase" for k in frame_kind])
    assert np.sum(two != (w1 > 0)) <= 2
    # solid solution at the start: the Na3V2(PO4)3 peaks shift
    assert frame_kind[1] == "solid-solution"
    assert any(k == "shift" and p == NVP and f <= 1 for k, p, f in zip(kind, phase, frame))


def test_results_and_tables_are_complete(example_run):
    with h5py.File(example_run / "results.h5", "r") as h5:
        pk = h5["entry/xrd/peaks"]
        n_frames, n_tracks = pk["position"].shape
        assert n_frames == len(FRAMES) and n_tracks >= 20
        for name in ("position_err", "fwhm", "area", "area_err", "track_hkl", "track_phase", "frame_time_s"):
            assert name in pk
        assert pk["position"].attrs["units"] == "deg"
        lat = h5[f"entry/xrd/lattice/{nx_name(NVP)}"]
        assert lat.attrs["long_name"] == NVP
        for name in ("a", "b", "c", "alpha", "beta", "gamma", "volume"):
            assert name in lat and f"{name}_err" in lat
        assert lat["volume"].attrs["units"] == "angstrom^3"
        np.testing.assert_allclose(lat["frame_time_s"][()], [f["mid_time_s"] for f in FRAMES])
        assert "settings" in pk and "background" in pk
    with open(example_run / "xrd_lattice.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * len(FRAMES)
    assert {"a_angstrom", "a_err_angstrom", "volume_angstrom3", "volume_change_percent", "phase_fraction",
            "method"} <= set(rows[0])
    for name in ("xrd_peaks.csv", "xrd_events.csv", "xrd_stretches.csv", "figures/xrd_contour_tracked.png",
                 "figures/xrd_contour_tracked.svg", "figures/lattice.png", "figures/lattice.svg"):
        assert (example_run / name).stat().st_size > 0


# ----------------------------------------------------------------------------- real data


@needs_shared
def test_lab6_cubic_cell_from_the_pattern():
    """LaB6 (NIST SRM 660c, a = 4.15689 A) from the pyFAI pattern of the Pilatus 300K-W strip."""
    base = SHARED / "xrd" / "lab6_pilatus300kw"
    xy = np.loadtxt(base / "lab6_0008.xy")
    poni = (base / "lab6_0008.poni").read_text()
    wavelength_a = float(re.findall(r"Wavelength:\s*([0-9.eE+-]+)", poni)[-1]) * 1e10
    phase = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.157), d_min_a=1.0, d_max_a=20.0)
    an = analyse_stack(xy[:, 0], xy[:, 1][None, :], None, unit="2th_deg", wavelength_a=wavelength_a,
                       phases=[phase], settings=AnalysisSettings(min_frames=1))
    a = an.lattices[0].values["a_a"][0]
    assert a == pytest.approx(4.1569, abs=0.002)


@needs_shared
def test_real_series_tracks_every_strong_peak_monotonically():
    folder = SHARED / "xrd" / "peakshift_series_q"
    files = sorted(folder.glob("*DD1205_*.dat"), key=lambda p: int(re.search(r"DD1205_(\d+)-", p.name).group(1)))
    assert len(files) == 50
    data = [np.loadtxt(f) for f in files]
    q = data[0][:, 0]
    y = np.array([d[:, 1] for d in data])
    esd = np.array([d[:, 2] for d in data])
    an = analyse_stack(q, y, esd, unit="q_A^-1", wavelength_a=None,
                       settings=AnalysisSettings(absolute_sigma=False))  # esd is normalised
    fits = an.fits
    strong = np.nanmedian(fits.height, axis=0) > 0.1 * np.nanmax(fits.height)
    assert strong.sum() >= 8
    for t in np.flatnonzero(strong):
        assert fits.success[:, t].all(), f"strong peak {t} lost in some frames"
        pos = fits.position[:, t]
        # raw maxima of the same peak (grid step 0.006 1/A) in a window around the track
        w = np.abs(q - np.median(pos)) < 3 * np.nanmedian(fits.fwhm[:, t])
        raw = np.array([q[w][np.argmax(row[w])] for row in y])
        net = raw[-5:].mean() - raw[:5].mean()
        steps = np.diff(raw)
        if abs(net) > 3 * 0.006 and np.all(steps * np.sign(net) >= 0):  # raw maxima drift monotonically
            from scipy.stats import spearmanr

            rho = spearmanr(np.arange(pos.size), pos).statistic
            assert rho * np.sign(net) > 0.95, f"peak at {np.median(pos):.3f} 1/A: fitted drift not monotonic"
    assert any(e.kind == "shift" for e in an.events)


# ----------------------------------------------------------------------------- bad input


def test_recipe_rules_for_phases(tmp_path):
    from xpipe.recipe.model import load_recipe
    from xpipe.recipe.schema import RecipeInvalid

    _frame_and_poni(tmp_path)
    text = """\
name: t
xrd:
  frames: {files: f.cbf}
  integrate: {poni: g.poni, wavelength_a: 0.7}
  phases:
    - name: A
      space_group: P m -3 m
    - name: A
      space_group: Q 9 9
      cell: {a: 4.0}
"""
    with pytest.raises(RecipeInvalid) as exc:
        load_recipe(write_recipe(tmp_path, text))
    report = str(exc.value)
    assert "give a CIF, or both space_group and cell" in report
    assert "Q 9 9" in report and "not recognised" in report
    text2 = (text.replace("  phases:", "  peaks: {}\n  phases:").replace("Q 9 9", "F m -3 m")
             .replace("      space_group: P m -3 m", "      space_group: P m -3 m\n      cell: {a: 4.1}"))
    with pytest.raises(RecipeInvalid, match="used twice"):
        load_recipe(write_recipe(tmp_path, text2))


def test_no_peaks_in_range_is_reported_and_the_run_keeps_its_patterns(tmp_path, frame_set):
    folder, _ = frame_set
    recipe = write_recipe(tmp_path, f"""\
name: t
output: out
xrd:
  frames: {{files: {folder}/frame_*.cbf}}
  integrate: {{poni: {folder}/geometry.poni, npt: 500}}
  peaks: {{range: [9.5, 11.5]}}
""")
    res = subprocess.run([sys.executable, "-m", "xpipe", "run", str(recipe), "-q"], capture_output=True, text=True)
    assert res.returncode == 1
    assert "no peaks found in the radial range" in res.stderr
    with h5py.File(tmp_path / "out" / "results.h5", "r") as h5:
        assert h5["entry/xrd/integrated/intensity"].shape[0] == 8
        assert "peaks" not in h5["entry/xrd"]


def test_synthetic_rings_tracked_with_their_shift(tmp_path, frame_set):
    """The small frame set: three rings, two of which move; cubic phase not needed."""
    folder, truth = frame_set
    recipe = write_recipe(tmp_path, f"""\
name: t
output: out
xrd:
  frames: {{files: {folder}/frame_*.cbf}}
  integrate: {{poni: {folder}/geometry.poni, npt: 1500}}
  peaks: {{min_frames: 3}}
""")
    res = subprocess.run([sys.executable, "-m", "xpipe", "run", str(recipe), "-q"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    with h5py.File(tmp_path / "out" / "results.h5", "r") as h5:
        pos = h5["entry/xrd/peaks/position"][()]
        err = h5["entry/xrd/peaks/position_err"][()]
    truth = np.array(truth)
    for k in range(3):
        miss = np.nanmedian(np.abs(pos - truth[:, [k]]), axis=0)
        t = int(np.nanargmin(miss))
        assert np.all(np.abs(pos[:, t] - truth[:, k]) < 0.01), k
        assert np.all(err[:, t] < 0.01)


def _frame_and_poni(tmp_path, frame: bool = True) -> None:
    """An empty frame file f.cbf and a valid PONI g.poni, for recipes that are only validated."""
    if frame:
        (tmp_path / "f.cbf").write_bytes(b"")
    (tmp_path / "g.poni").write_text("poni_version: 2.1\nDetector: Pilatus300k\nDistance: 0.2\nPoni1: 0.05\n"
                                      "Poni2: 0.04\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: 7e-11\n")


def _p1_cif(src: Path, dst: Path) -> None:
    """Write ``src`` expanded to P 1, as an 'expand to P1' export does."""
    import gemmi

    st = gemmi.make_small_structure_from_block(gemmi.cif.read(str(src))[0])
    st.setup_cell_images()
    c = st.cell
    lines = ["data_p1", f"_cell_length_a {c.a}", f"_cell_length_b {c.b}", f"_cell_length_c {c.c}",
             f"_cell_angle_alpha {c.alpha}", f"_cell_angle_beta {c.beta}", f"_cell_angle_gamma {c.gamma}",
             "_space_group_name_H-M_alt 'P 1'", "loop_", "_space_group_symop_operation_xyz", "'x,y,z'",
             "loop_", "_atom_site_label", "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y",
             "_atom_site_fract_z", "_atom_site_occupancy"]
    for i, site in enumerate(st.get_all_unit_cell_sites()):
        f = site.fract
        lines.append(f"{site.element.name}{i} {site.element.name} {f.x:.6f} {f.y:.6f} {f.z:.6f} {site.occ}")
    dst.write_text("\n".join(lines) + "\n")


def test_validate_refuses_a_cif_that_lost_its_symmetry_and_takes_an_empty_peaks_block(tmp_path):
    from xpipe.recipe.model import load_recipe
    from xpipe.recipe.schema import RecipeInvalid

    cif = ROOT / "example_data" / "nvp_operando" / "structures" / "V2O3_R-3c.cif"
    _p1_cif(cif, tmp_path / "p1.cif")
    _frame_and_poni(tmp_path)
    text = f"""\
name: t
xrd:
  frames: {{files: f.cbf, time_source: mtime}}
  integrate: {{poni: g.poni}}
  peaks:
  phases:
    - name: V2O3
      cif: {cif}
"""
    loaded = load_recipe(write_recipe(tmp_path, text))  # "peaks:" with nothing under it: the defaults
    assert loaded.recipe.xrd.peaks is not None and loaded.recipe.xrd.peaks.prominence == 10.0
    with pytest.raises(RecipeInvalid) as exc:
        load_recipe(write_recipe(tmp_path, text.replace(str(cif), str(tmp_path / "p1.cif"))))
    report = str(exc.value)
    assert "xrd.phases[0].cif" in report and "p1.cif" in report
    assert "'P 1'" in report and "symmetry was probably lost" in report


def test_refinement_keys_are_checked(tmp_path):
    from xpipe.recipe.model import load_recipe
    from xpipe.recipe.schema import RecipeInvalid

    cif = ROOT / "example_data" / "nvp_operando" / "structures" / "V2O3_R-3c.cif"
    _frame_and_poni(tmp_path)
    text = f"""\
name: t
xrd:
  frames: {{files: f.cbf, time_source: mtime}}
  integrate: {{poni: g.poni}}
  peaks: {{}}
  phases:
    - name: V2O3
      cif: {cif}
      preferred_orientation: {{march_dollase_hkl: [0, 0, 0], march_dollase_r: 0.7}}
  lattice: {{significance_z: 4, stay_z: 6}}
"""
    with pytest.raises(RecipeInvalid) as exc:
        load_recipe(write_recipe(tmp_path, text))
    report = str(exc.value)
    assert "xrd.phases[0].preferred_orientation.march_dollase_hkl" in report and "[0, 0, 0]" in report
    assert "xrd.lattice.stay_z" in report and "stay_z <= significance_z" in report
    ok = load_recipe(write_recipe(tmp_path, text.replace("[0, 0, 0]", "[0, 0, 1]").replace("stay_z: 6", "stay_z: 3")))
    from xpipe.stages.xrd_phases import analysis_settings

    xrd = ok.recipe.xrd
    s = analysis_settings(xrd.peaks, xrd.lattice, xrd.phases)
    assert s.refinement.texture == {"V2O3": ((0, 0, 1), 0.7, True)}
    assert s.refinement.significance_z == 4 and s.refinement.stay_z == 3
