"""recipes/nvp_full.yaml on the example data: every stage, one time axis, figures, summary, cache."""

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from xpipe.cli import main

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "nvp_full.yaml"


def absolute_recipe_text() -> str:
    """The full recipe with its relative paths made absolute, to be written anywhere."""
    return RECIPE.read_text().replace("../", f"{ROOT}/").replace("library: xps/", f"library: {ROOT}/recipes/xps/")


def truth(name):
    return json.loads((ROOT / "example_data" / name / "truth.json").read_text())


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("nvp_full")
    # the recipe as shipped, with absolute paths so that the cache test can vary it elsewhere
    recipe = out.parent / "nvp_full_abs.yaml"
    recipe.write_text(absolute_recipe_text())
    rc = main(["run", str(recipe), "-o", str(out), "-q"])
    assert rc == 0
    return out


def test_outputs_and_layout(full_run):
    names = {p.name for p in full_run.iterdir()}
    assert {"results.h5", "summary.json", "summary.md", "xps_V2p_O1s.csv", "xas_V_K.csv", "xrd_lattice.csv"} <= names
    figs = {p.name for p in (full_run / "figures").iterdir()}
    for stem in ("contour_map", "lattice_evolution", "valence_timeline"):
        assert {f"{stem}.png", f"{stem}.svg"} <= figs, figs
    with h5py.File(full_run / "results.h5") as h5:
        e = h5["entry"]
        assert e["echem/time_s"].shape == (761,)
        assert e["echem/electrode"].attrs["formula"] == "Na3V2(PO4)3"
        series = set(e["timeline/series"])
        assert {"xrd_frames", "xanes_valence_V_K", "xps_valence_V2p_O1s", "xrd_volume_Na3V2_PO4_3"} <= series
        # valid NeXus names, the label itself in @long_name
        assert e["timeline/series/xrd_volume_Na3V2_PO4_3"].attrs["long_name"] == "xrd_volume_Na3V2(PO4)3"
        g = e["timeline/series/xanes_valence_V_K"]
        assert g.attrs["kind"] == "ex_situ" and g["value_err"].shape == (6,)


def test_frame_voltages_and_x_match_truth(full_run):
    t = truth("nvp_operando")
    v_true = np.array([f["voltage_v"] for f in t["frames"]])
    x_true = np.array([f["x_na"] for f in t["frames"]])
    with h5py.File(full_run / "results.h5") as h5:
        g = h5["entry/timeline/series/xrd_frames"]
        assert np.allclose(g["time_s"][()], [f["mid_time_s"] for f in t["frames"]], atol=1e-6)
        # the cycler log is sampled every 30 s with its own noise: interpolation agrees to a few mV
        assert np.max(np.abs(g["voltage_v"][()] - v_true)) < 0.005
        assert np.max(np.abs(g["x"][()] - x_true)) < 0.01


def test_volume_change_and_valence_ranges_against_truth(full_run):
    s = json.loads((full_run / "summary.json").read_text())
    t = truth("nvp_operando")
    frames = t["frames"]
    nvp = [f["phases"]["Na3V2(PO4)3"] for f in frames]
    v_nvp = np.array([p["volume_a3"] for p in nvp])
    ph = s["volume_change"]["phases"]["Na3V2(PO4)3"]
    # cells were within a 0.005 A, c 0.01 A of truth: about 0.15 % in volume
    assert ph["volume_first_a3"] == pytest.approx(v_nvp[0], rel=1.5e-3)
    assert ph["change_min_percent"] == pytest.approx(100 * (v_nvp.min() - v_nvp[0]) / v_nvp[0], abs=0.2)
    (tr,) = s["volume_change"]["transitions"]
    assert (tr["from"], tr["to"]) == ("Na3V2(PO4)3", "NaV2(PO4)3")
    v_desodiated = frames[-1]["phases"]["NaV2(PO4)3"]["volume_a3"]
    assert tr["change_from_first_percent"] == pytest.approx(100 * (v_desodiated - v_nvp[0]) / v_nvp[0], abs=0.2)
    xanes = [st["mean_valence"] for st in truth("nvp_xanes")["states"]]
    xps = [st["mean_surface_valence"] for st in truth("nvp_xps")["states"]]
    va, vp = s["valence"]["xanes_valence_V_K"], s["valence"]["xps_valence_V2p_O1s"]
    assert va["min"] == pytest.approx(min(xanes), abs=0.05) and va["max"] == pytest.approx(max(xanes), abs=0.05)
    assert vp["min"] == pytest.approx(min(xps), abs=0.05) and vp["max"] == pytest.approx(max(xps), abs=0.05)
    assert s["failures"] == []
    assert "xps V2p_O1s" in s["quality_flags"]
    md = (full_run / "summary.md").read_text()
    assert "Na3V2(PO4)3 → NaV2(PO4)3" in md and "## Valence" in md


def test_ex_situ_samples_placed_by_stated_x(full_run):
    with h5py.File(full_run / "results.h5") as h5:
        g = h5["entry/timeline/series/xanes_valence_V_K"]
        x = g["x"][()]
        # x 1.0 lies beyond this cell's top of charge (x 1.05): placed at the end, with a note
        assert np.allclose(x[:5], [3.0, 2.6, 2.2, 1.8, 1.4], atol=1e-3)
        assert x[5] == pytest.approx(1.05, abs=0.01)
        assert "outside" in g["notes"][5].decode()


def test_changed_settings_rerun_only_what_depends_on_them(full_run, tmp_path):
    out = tmp_path / "cached"
    shutil.copytree(full_run, out)
    text = absolute_recipe_text()
    # a figure setting: nothing is recomputed
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text.replace("scale: sqrt", "scale: log") if "scale: sqrt" in text else text + "\n")
    assert main(["run", str(recipe), "-o", str(out), "-q"]) == 0
    runs = json.loads((out / ".xpipe" / "runs.json").read_text())
    cached = {r["stage"] for r in runs if r.get("cached")}
    assert {"xrd.integrate", "xas", "xrd_phases", "xps"} <= cached
    # a peak-tracking setting: the integration is reused, tracking and cells rerun
    recipe.write_text(text.replace("prominence: 10", "prominence: 12"))
    assert main(["run", str(recipe), "-o", str(out), "-q"]) == 0
    runs = json.loads((out / ".xpipe" / "runs.json").read_text())
    cached = {r["stage"] for r in runs if r.get("cached")}
    assert "xrd.integrate" in cached and "xrd_phases" not in cached and "xps" in cached
    with h5py.File(out / "results.h5") as a, h5py.File(full_run / "results.h5") as b:
        assert np.array_equal(a["entry/xrd/integrated/intensity"][()], b["entry/xrd/integrated/intensity"][()])
        assert np.array_equal(a["entry/xps/V2p_O1s/mean_valence"][()], b["entry/xps/V2p_O1s/mean_valence"][()])


# ----------------------------------------------------------------------------- the figures, read back


def figure_config(**kw):
    from xpipe.recipe.sections.figures import ContourMapConfig, PaperFiguresConfig

    contour = kw.pop("contour", {})
    return PaperFiguresConfig(contour=ContourMapConfig(**contour), **kw)


def test_contour_map_panels_share_the_time_axis_with_the_voltage(full_run, tmp_path):
    from matplotlib.image import imread

    from xpipe.stages.paper_figures import plot_contour_map

    cfg = figure_config(contour={"windows": [[10.0, 12.6], [15.2, 17.6]]}, formats=["png", "svg", "pdf"], dpi=200)
    res = plot_contour_map(full_run / "results.h5", tmp_path / "map", cfg)
    assert res.n_panels == 3  # two windows and the voltage panel (the colour bar is not a panel)
    assert len(set(res.ylims)) == 1
    assert res.ylabels[0] == "time (h)" and res.ylabels[1:] == ["", ""]
    assert res.xlabels == ["2θ (°)", "2θ (°)", "voltage (V)"]
    assert res.xlims[0] == (10.0, 12.6) and res.xlims[1] == (15.2, 17.6)
    # 38 frames over 6.2 h: the y range covers the first and last frame
    lo, hi = res.ylims[0]
    assert lo < 30 / 3600 and hi > 6.1
    png = imread(res.paths[0])
    assert png.shape[1] == round(7.2 * 200)  # double-column width at the asked dpi
    svg = res.paths[1].read_text()
    assert "voltage (V)" in svg and "intensity (sqrt scale)" in svg and "(0 0 6)" in svg
    assert res.paths[2].read_bytes()[:4] == b"%PDF"


def test_contour_map_in_q_and_d_needs_and_uses_the_wavelength(full_run, tmp_path):
    from xpipe.stages.paper_figures import plot_contour_map

    res = plot_contour_map(full_run / "results.h5", tmp_path / "q", figure_config(contour={"unit": "q_A^-1", "windows": [[1.4, 1.8]]}))
    assert res.xlabels[0] == "Q (Å⁻¹)"
    res = plot_contour_map(full_run / "results.h5", tmp_path / "d", figure_config(contour={"unit": "d_A", "windows": [[3.5, 4.5]]}))
    assert res.xlabels[0] == "d (Å)"
    with pytest.raises(ValueError, match="holds no data"):
        plot_contour_map(full_run / "results.h5", tmp_path / "e", figure_config(contour={"windows": [[40.0, 50.0]]}))


def test_x_axis_falls_back_to_time_when_charge_and_discharge_fold(full_run, tmp_path):
    from xpipe.stages.paper_figures import plot_contour_map, plot_valence_timeline

    res = plot_contour_map(full_run / "results.h5", tmp_path / "x", figure_config(axis="x"))
    assert res.ylabels[0] == "time (h)" and "not monotonic" in res.notes[0]
    res = plot_valence_timeline(full_run / "results.h5", tmp_path / "v", figure_config(axis="x"))
    assert res.xlabels[-1] == "x in NaₓV₂(PO₄)₃"


def test_lattice_and_timeline_figures(full_run, tmp_path):
    from xpipe.stages.paper_figures import plot_lattice_evolution, plot_valence_timeline

    s = json.loads((full_run / "summary.json").read_text())
    res = plot_lattice_evolution(full_run / "results.h5", tmp_path / "lat", figure_config())
    assert res.n_panels == 4 and res.ylabels == ["a (Å)", "c (Å)", "V (Å³)", "weight fraction"]
    assert res.ylims[3] == (-0.05, 1.05)
    tr = s["volume_change"]["transitions"][0]
    assert f"Na3V2(PO4)3 → NaV2(PO4)3: ΔV = {tr['change_from_first_percent']:+.2f} %" in res.texts
    res = plot_valence_timeline(full_run / "results.h5", tmp_path / "tl", figure_config())
    assert res.ylabels == ["voltage (V)", "valence (XANES)", "valence (XPS)", "V (Å³)"]
    assert len(set(res.xlims)) == 1 and res.xlabels[-1] == "time (h)"


def test_rainbow_colormaps_are_refused(tmp_path):
    from xpipe.recipe.model import load_recipe
    from xpipe.recipe.schema import RecipeInvalid

    text = absolute_recipe_text().replace("colormap: viridis", "colormap: jet")
    (tmp_path / "r.yaml").write_text(text)
    with pytest.raises(RecipeInvalid, match="figures.contour.colormap: 'jet' is not perceptually uniform"):
        load_recipe(tmp_path / "r.yaml")


def test_tables_are_tidy_and_figures_are_png_300dpi_and_svg(full_run):
    """One table per CSV file with units in its header, and every figure as PNG (300 dpi) and SVG."""
    import pandas as pd
    from PIL import Image

    tables = sorted(full_run.glob("*.csv"))
    assert {"xrd_events.csv", "xrd_stretches.csv", "xrd_peaks.csv"} <= {p.name for p in tables}
    for path in tables:
        lines = path.read_text().splitlines()
        assert all(line.strip() for line in lines), f"{path.name}: a blank line splits it into two tables"
        df = pd.read_csv(path)
        assert len(df.columns) == len(set(df.columns)) and not any(c.startswith("Unnamed") for c in df.columns)
        widths = {len(line.split(",")) for line in lines if '"' not in line}
        assert len(widths) <= 1, f"{path.name}: rows of different widths {widths}"
    peaks = pd.read_csv(full_run / "xrd_peaks.csv")
    assert {"position_two_theta_deg", "fwhm_err_two_theta_deg", "frame_time_s"} <= set(peaks.columns)
    lattice = pd.read_csv(full_run / "xrd_lattice.csv")
    assert {"a_angstrom", "a_err_angstrom", "alpha_deg", "volume_angstrom3"} <= set(lattice.columns)
    events = pd.read_csv(full_run / "xrd_events.csv")
    assert set(events["kind"]) <= {"appear", "vanish", "shift", "split", "merge"}
    stretches = pd.read_csv(full_run / "xrd_stretches.csv")
    assert list(stretches.columns) == ["stretch", "first_frame", "last_frame", "start_time_s", "end_time_s"]
    xps = pd.read_csv(full_run / "xps_V2p_O1s.csv")
    assert {"center_ev", "area_counts_ev", "charge_shift_ev"} <= set(xps.columns)

    pngs = sorted((full_run / "figures").glob("*.png"))
    assert len(pngs) >= 8
    for png in pngs:
        assert png.with_suffix(".svg").is_file(), f"{png.name} has no SVG"
        dpi = Image.open(png).info.get("dpi", (0, 0))
        assert round(dpi[0]) == 300, f"{png.name} is {dpi[0]} dpi"
