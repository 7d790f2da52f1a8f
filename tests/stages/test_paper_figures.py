"""Publication figures (xpipe.stages.paper_figures) drawn from a small synthetic results.h5 and
read back: panels, shared limits, labels and units, pixel size, SVG text, text overlaps, the
volume-change numbers, the x-axis fallback, radial unit conversion and the colormap check."""

from __future__ import annotations

import itertools
import logging
import shutil

import h5py
import numpy as np
import pytest

from xpipe.recipe.schema import Context, build
from xpipe.stages.paper_figures import (
    ContourMapConfig,
    LatticeFigureConfig,
    PaperFiguresConfig,
    TimelineFigureConfig,
    plot_contour_map,
    plot_lattice_evolution,
    plot_valence_timeline,
)

N_FRAMES = 30
FRAME_S = 900.0  # one frame every 15 min
WAVELENGTH_A = 0.775
A, B, C = "Na3V2(PO4)3", "NaV2(PO4)3", "V2O3"
X_LABEL = "x in NaₓV₂(PO₄)₃"
# (phase, hkl, 2theta at the start in deg, shift over the solid-solution part in deg)
REFLECTIONS = [
    (A, (1, 0, 4), 10.10, 0.06), (A, (1, 1, 3), 11.90, 0.05), (A, (2, 1, 1), 15.75, 0.04),
    (A, (1, 1, 6), 16.00, 0.07), (B, (1, 1, 0), 10.55, 0.0), (B, (1, 1, 6), 16.33, 0.0),
    (C, (1, 0, 4), 16.43, 0.0), (A, (2, 0, 8), 20.25, 0.05), (B, (2, 0, 8), 20.65, 0.0),
]
UNINDEXED_2TH = 21.2
T_TOP = 3.6 * 3600.0  # top of charge on the cycler clock, s
T_END = 7.2 * 3600.0


def x_of_time(t):
    """x in NaxV2(PO4)3 on the cycler clock: charge 3.0 -> 1.0 until T_TOP, discharge -> 2.9."""
    t = np.asarray(t, float)
    return np.where(t <= T_TOP, 3.0 - 2.0 * t / T_TOP, 1.0 + 1.9 * (t - T_TOP) / (T_END - T_TOP))


def voltage_of_time(t):
    """A 3.4 V plateau with steep ends, 4.0 V at the top of charge."""
    x = x_of_time(t)
    charge = np.asarray(t) <= T_TOP
    plateau = np.where(charge, 3.42, 3.33)
    return plateau + 0.35 * np.exp(-(x - 1.0) / 0.04) - 0.25 * np.exp(-(2.95 - x) / 0.03) * (~charge)


def lattice_truth():
    """Per phase: present, volume, a, c, fraction over the frames (the same arrays the file holds)."""
    t = (np.arange(N_FRAMES) + 0.5) * FRAME_S
    x = x_of_time(t)
    # Na3V2(PO4)3 is a solid solution down to x 2.7, then converts to NaV2(PO4)3 (two-phase region)
    frac_b = np.clip((2.7 - x) / 1.5, 0.0, 1.0)
    present_b = frac_b > 0.02
    present_a = frac_b < 0.98
    v_a = np.where(x > 2.7, 1438.7 - 40.0 * (3.0 - x), 1426.7)
    v_b = np.full(N_FRAMES, 1321.7) + 0.3 * np.sin(np.arange(N_FRAMES))
    v_c = np.full(N_FRAMES, 297.3)
    major = 0.95
    out = {}
    for name, present, v, f in ((A, present_a, v_a, major * (1 - frac_b)), (B, present_b, v_b, major * frac_b),
                                (C, np.ones(N_FRAMES, bool), v_c, np.full(N_FRAMES, 0.05))):
        a = (v / 1438.7) ** (1 / 3) * 8.73 if name != C else np.full(N_FRAMES, 4.95)
        c = (v / 1438.7) ** (1 / 3) * 21.8 if name != C else np.full(N_FRAMES, 14.0)
        out[name] = {"present": present, "volume": np.where(present, v, np.nan), "a": np.where(present, a, np.nan),
                     "c": np.where(present, c, np.nan), "phase_fraction": np.where(present, f, np.nan)}
    return t, out


def _strings(group, name, values):
    group.create_dataset(name, data=np.array(values, dtype=object), dtype=h5py.string_dtype())


def _series(sg, name, attrs, t, value, value_err, t_err=None):
    g = sg.create_group(name)
    for k, v in attrs.items():
        g.attrs[k] = v
    t = np.asarray(t, float)
    t_err = np.zeros_like(t) if t_err is None else np.asarray(t_err, float)
    x = x_of_time(t)
    x_err = np.abs(x_of_time(t + t_err) - x_of_time(t - t_err)) / 2
    for k, v in (("time_s", t), ("time_err_s", t_err), ("x", x), ("x_err", x_err), ("voltage_v", voltage_of_time(t)),
                 ("value", np.asarray(value, float)), ("value_err", np.asarray(value_err, float))):
        g.create_dataset(k, data=v)
    g.create_dataset("half_cycle", data=np.where(t <= T_TOP, 1, 2).astype(np.int64))


def write_results(path) -> None:
    """A results.h5 with /entry/xrd (integrated, peaks, lattice) and /entry/timeline."""
    rng = np.random.default_rng(7)
    t, lat = lattice_truth()
    tth = np.linspace(5.0, 30.0, 1200)
    x = x_of_time(t)
    with h5py.File(path, "w") as h5:
        e = h5.create_group("entry")
        xrd = e.create_group("xrd")
        gi = xrd.create_group("integrated")
        r = gi.create_dataset("radial", data=tth)
        r.attrs.update(long_name="two_theta_deg", units="deg", pyfai_unit="2th_deg")
        positions = np.full((N_FRAMES, len(REFLECTIONS) + 1), np.nan)
        success = np.zeros(positions.shape, bool)
        inten = np.full((N_FRAMES, tth.size), 40.0) + 30.0 * np.exp(-tth / 12.0)
        for k, (phase, _, p0, shift) in enumerate(REFLECTIONS):
            present = lat[phase]["present"]
            pos = p0 + shift * np.clip((3.0 - x) / 0.3, 0, 1)
            weight = np.nan_to_num(lat[phase]["phase_fraction"])
            inten += 900.0 * weight[:, None] * np.exp(-0.5 * ((tth[None, :] - pos[:, None]) / 0.03) ** 2)
            positions[:, k] = np.where(present, pos + rng.normal(0, 0.002, N_FRAMES), np.nan)
            success[:, k] = present
        positions[:, -1] = UNINDEXED_2TH + rng.normal(0, 0.002, N_FRAMES)
        success[:, -1] = True
        inten += 60.0 * np.exp(-0.5 * ((tth[None, :] - UNINDEXED_2TH) / 0.03) ** 2)
        inten += rng.normal(0, 2.0, inten.shape)
        gi.create_dataset("intensity", data=inten.astype(np.float32))
        ft = gi.create_dataset("frame_time_s", data=t - 120.0)  # diffractometer clock, 2 min off
        ft.attrs.update(units="s", start_time="2025-03-14T09:02:00")
        gi.create_dataset("frame_index", data=np.arange(N_FRAMES, dtype=np.int64))
        xrd.create_dataset("integration/geometry/wavelength_a", data=WAVELENGTH_A)

        pk = xrd.create_group("peaks")
        pk.attrs["radial_unit"] = "2th_deg"
        pk.create_dataset("position", data=positions)
        pk.create_dataset("success", data=success)
        _strings(pk, "track_label", [f"{p} ({h} {k} {l})" for p, (h, k, l), _, _ in REFLECTIONS] + [""])
        _strings(pk, "track_phase", [p for p, _, _, _ in REFLECTIONS] + [""])
        pk.create_dataset("track_hkl", data=np.array([hkl for _, hkl, _, _ in REFLECTIONS] + [(-9999,) * 3], dtype=np.int64))

        lg = xrd.create_group("lattice")
        for name, d in lat.items():
            g = lg.create_group(name)
            g.attrs.update(family=C if name == C else A, system="hexagonal", space_group="R -3 c:H")
            for key in ("a", "b", "c", "alpha", "beta", "gamma", "volume", "phase_fraction"):
                v = {"b": d["a"], "alpha": np.where(d["present"], 90.0, np.nan), "beta": np.where(d["present"], 90.0, np.nan),
                     "gamma": np.where(d["present"], 120.0, np.nan)}.get(key, d.get(key))
                g.create_dataset(key, data=v)
                rel = {"volume": 4e-4, "phase_fraction": 0.05}.get(key, 2e-4)
                g.create_dataset(f"{key}_err", data=np.abs(v) * rel)
            g.create_dataset("present", data=d["present"])
            g.create_dataset("frame_time_s", data=t - 120.0)

        tl = e.create_group("timeline")
        tl.attrs.update(clock_start="2025-03-14T09:00:00", offset_s=120.0, formula="NaxV2(PO4)3", ion="Na", x_label=X_LABEL)
        ec = tl.create_group("echem")
        te = np.linspace(0.0, T_END, 1500)
        for k, v in (("time_s", te), ("voltage_v", voltage_of_time(te)), ("current_ma", np.where(te <= T_TOP, 0.2, -0.2)),
                     ("capacity_mah", 0.2 * np.where(te <= T_TOP, te, 2 * T_TOP - te) / 3600), ("x", x_of_time(te)),
                     ("soc", (3.0 - x_of_time(te)) / 2.0)):
            ec.create_dataset(k, data=v)
        ec.create_dataset("half_cycle", data=np.where(te <= T_TOP, 1, 2).astype(np.int64))
        ec.create_dataset("direction", data=np.where(te <= T_TOP, 1, -1).astype(np.int8))

        sg = tl.create_group("series")
        xrd_attrs = {"technique": "xrd", "kind": "operando"}
        _series(sg, "xrd_frames", {**xrd_attrs, "quantity": "frame", "units": "", "label": "XRD frames",
                                   "source": "/entry/xrd/integrated/frame_index"}, t, np.arange(N_FRAMES), np.zeros(N_FRAMES))
        for name, d in lat.items():
            for q, key, units in (("volume", "volume", "angstrom^3"), ("fraction", "phase_fraction", ""), ("a", "a", "angstrom")):
                _series(sg, f"xrd_{q}_{name}", {**xrd_attrs, "quantity": q, "units": units, "phase": name, "family": A,
                                                "label": f"XRD {name} {q}", "source": f"/entry/xrd/lattice/{name}/{key}"},
                        t, d[key], np.abs(d[key]) * 4e-4)
        # six ex situ XANES samples on charge (two placed by their stated voltage: time uncertainty)
        tx = np.array([0.1, 0.7, 1.4, 2.1, 2.8, 3.5]) * 3600
        _series(sg, "xanes_valence_V_K", {"technique": "xanes", "kind": "ex_situ", "quantity": "valence", "units": "",
                                          "element": "V", "label": "XANES V K (ex situ)", "source": "/entry/xas/V_K/spectra/valence"},
                tx, 3.0 + (3.0 - x_of_time(tx)) / 2, [0.02, 0.02, 0.03, 0.02, 0.03, 0.04],
                t_err=[0, 0, 600, 0, 900, 0])
        tp = np.array([0.2, 1.0, 1.8, 2.6, 3.4]) * 3600
        val = 3.1 + (3.0 - x_of_time(tp)) / 2
        _series(sg, "xps_valence_V2p", {"technique": "xps", "kind": "ex_situ", "quantity": "valence", "units": "",
                                        "element": "V", "label": "XPS V 2p mean valence (ex situ)",
                                        "source": "/entry/xps/V2p/mean_valence"}, tp, val, np.full(5, 0.05))
        for sp, frac in (("V3+", 4.0 - val), ("V4+", val - 3.0)):
            _series(sg, f"xps_fraction_{sp}_V2p", {"technique": "xps", "kind": "ex_situ", "quantity": "fraction", "units": "",
                                                   "species": sp, "label": f"XPS {sp} fraction (ex situ)",
                                                   "source": "/entry/xps/V2p/species/valence_fraction"},
                    tp, np.clip(frac, 0, 1), np.full(5, 0.03))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = tmp_path_factory.mktemp("paper_figures") / "results.h5"
    write_results(path)
    return path


def config(**kw) -> PaperFiguresConfig:
    """Figure settings for the fixture: two windows, PNG at 100 dpi unless asked otherwise."""
    contour = {"windows": [[9.8, 12.3], [15.5, 16.8]], **kw.pop("contour", {})}
    lattice = LatticeFigureConfig(**kw.pop("lattice", {}))
    timeline = TimelineFigureConfig(**kw.pop("timeline", {}))
    kw.setdefault("dpi", 100)
    kw.setdefault("formats", ["png"])
    return PaperFiguresConfig(contour=ContourMapConfig(**contour), lattice=lattice, timeline=timeline, **kw)


def overlapping(res) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose boxes overlap (window extents from the renderer, 0.5 px tolerance)."""
    out = []
    for (t1, _, a), (t2, _, b) in itertools.combinations(res.text_boxes, 2):
        if a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5:
            out.append((t1, t2))
    return out


def outside(res) -> list[str]:
    """Texts that do not lie wholly inside the figure (clipped in the file)."""
    w, h = res.size_in[0] * res.dpi, res.size_in[1] * res.dpi
    return [t for t, _, (x0, y0, x1, y1) in res.text_boxes if x0 < -0.5 or y0 < -0.5 or x1 > w + 0.5 or y1 > h + 0.5]


def check_layout(res) -> None:
    assert overlapping(res) == []
    assert outside(res) == []
    assert res.min_font_pt >= 7.0


def png_size(path) -> tuple[int, int]:
    from matplotlib.image import imread

    h, w = imread(path).shape[:2]
    return w, h


def texts(res) -> list[str]:
    return [t for t, _, _ in res.text_boxes]


# ----------------------------------------------------------------------------- config


def test_config_sections_parse_and_reject_rainbow_colormaps():
    ctx = Context(base_dir=".")
    cfg = build(PaperFiguresConfig, {"axis": "x", "contour": {"windows": [[10, 12.5], [15, 17]], "unit": "q_A^-1"},
                                     "lattice": {"parameters": ["a", "volume"]}, "timeline": {"uncertainty": "bars"}},
                "figures", 1, ctx)
    assert ctx.problems == []
    assert cfg.contour.windows == [[10.0, 12.5], [15.0, 17.0]] and cfg.contour.unit == "q_A^-1"
    assert cfg.dpi == 300 and cfg.formats == ["png", "svg"] and cfg.width == "double" and cfg.contour.colormap == "viridis"
    assert isinstance(cfg.lattice, LatticeFigureConfig) and isinstance(cfg.timeline, TimelineFigureConfig)

    ctx = Context(base_dir=".")
    assert build(PaperFiguresConfig, {"contour": {"colormap": "jet", "windows": [[12, 10]]}}, "figures", 1, ctx) is None
    messages = {p.key: p.message for p in ctx.problems}
    assert "not perceptually uniform" in messages["figures.contour.colormap"]
    assert "low < high" in messages["figures.contour.windows[0]"]
    for bad in ({"contour": {"unit": "q_nm^-1"}}, {"formats": ["png", "tiff"]}, {"lattice": {"parameters": ["volumes"]}}):
        ctx = Context(base_dir=".")
        assert build(PaperFiguresConfig, bad, "figures", 1, ctx) is None and ctx.problems


# ----------------------------------------------------------------------------- contour map


def test_contour_map_windows_share_the_axis_with_the_voltage(results, tmp_path):
    res = plot_contour_map(results, tmp_path / "map", config(dpi=300, formats=["png", "svg", "pdf"]))
    assert res.n_panels == 3  # two windows and the voltage panel; the colour bar is not a panel
    assert len(set(res.ylims)) == 1  # windows and voltage: the same y limits
    assert res.ylabels == ["time (h)", "", ""]
    assert res.xlabels == ["2θ (°)", "2θ (°)", "voltage (V)"]
    assert res.xlims[:2] == [(9.8, 12.3), (15.5, 16.8)]
    lo, hi = res.ylims[0]
    assert lo < 0.5 * FRAME_S / 3600 and hi > (N_FRAMES - 0.5) * FRAME_S / 3600  # frames on the cycler clock
    # windows as wide as their span
    widths = [b[2] - b[0] for b in res.panel_boxes]
    assert widths[0] / widths[1] == pytest.approx(2.5 / 1.3, rel=0.05) and widths[2] < widths[1]
    assert res.size_in[0] == 7.2
    assert png_size(res.paths[0]) == (round(res.size_in[0] * 300), round(res.size_in[1] * 300))
    svg = res.paths[1].read_text()
    for s in ("voltage (V)", "intensity (sqrt scale)", "2θ (°)", "time (h)", "(1 1 3)", A, B):
        assert s in svg
    assert "<image" in svg  # the mesh is rasterised inside the vector file
    assert res.paths[2].read_bytes()[:4] == b"%PDF"
    check_layout(res)
    # hkl labels above their window, only for tracks inside it
    shown = texts(res)
    assert "(1 1 3)" in shown and "(1 1 0)" in shown and "(2 0 8)" not in shown
    left, right = res.panel_boxes[0], res.panel_boxes[1]
    for t, _, (x0, y0, x1, _) in res.text_boxes:
        if t.startswith("(") and t.endswith(")"):
            cx = (x0 + x1) / 2
            assert left[0] <= cx <= left[2] or right[0] <= cx <= right[2], t
            assert y0 >= left[3] - 0.5, t  # above the map, not over the data


def test_contour_map_whole_range_single_column_and_options(results, tmp_path):
    res = plot_contour_map(results, tmp_path / "whole", config(width="single", contour={"windows": None, "scale": "log",
                                                                                        "colormap": "cividis"}))
    assert res.n_panels == 2 and res.size_in[0] == 3.5
    assert res.xlims[0] == pytest.approx((5.0, 30.0))
    check_layout(res)
    res = plot_contour_map(results, tmp_path / "bare", config(contour={"voltage_panel": False, "tracks": False}))
    assert res.n_panels == 2 and not any(t.startswith("(") for t in texts(res) if t.endswith(")") and " " in t)
    assert "tracked reflections" not in texts(res)


def test_contour_map_in_q_and_d_uses_the_wavelength(results, tmp_path):
    # (1 1 3) of Na3V2(PO4)3 at 2theta 11.90-11.95 deg: Q = 4 pi sin(theta) / lambda, d = lambda / (2 sin(theta))
    theta = np.radians(11.92) / 2
    q, d = 4 * np.pi * np.sin(theta) / WAVELENGTH_A, WAVELENGTH_A / (2 * np.sin(theta))
    res = plot_contour_map(results, tmp_path / "q", config(contour={"unit": "q_A^-1", "windows": [[q - 0.05, q + 0.05]]}))
    assert res.xlabels[0] == "Q (Å⁻¹)" and "(1 1 3)" in texts(res)
    assert res.xlims[0] == pytest.approx((q - 0.05, q + 0.05))
    res = plot_contour_map(results, tmp_path / "q2", config(contour={"unit": "q_A^-1", "windows": [[q + 0.05, q + 0.1]]}))
    assert "(1 1 3)" not in texts(res)
    res = plot_contour_map(results, tmp_path / "d", config(contour={"unit": "d_A", "windows": [[d - 0.1, d + 0.1]]}))
    assert res.xlabels[0] == "d (Å)" and "(1 1 3)" in texts(res)
    check_layout(res)
    with pytest.raises(ValueError, match="holds no data"):
        plot_contour_map(results, tmp_path / "e", config(contour={"unit": "q_A^-1", "windows": [[8.0, 9.0]]}))


def test_contour_map_in_q_without_a_wavelength_says_so(results, tmp_path):
    path = tmp_path / "no_wl.h5"
    shutil.copy(results, path)
    with h5py.File(path, "a") as h5:
        del h5["entry/xrd/integration"]
        h5.create_dataset("entry/xrd/patterns/wavelength_a", data=np.nan)
    with pytest.raises(ValueError, match="needs the X-ray wavelength"):
        plot_contour_map(path, tmp_path / "q", config(contour={"unit": "q_A^-1", "windows": [[1.0, 2.0]]}))
    assert plot_contour_map(path, tmp_path / "tth", config()).xlabels[0] == "2θ (°)"  # 2theta needs none


def test_axis_x_falls_back_to_time_when_charge_and_discharge_fold(results, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="xpipe"):
        res = plot_contour_map(results, tmp_path / "x", config(axis="x"))
    assert res.ylabels[0] == "time (h)" and len(set(res.ylims)) == 1
    assert "not monotonic" in res.notes[0] and "not monotonic" in caplog.text
    assert any("not monotonic" in t for t in texts(res))  # said in the title too
    check_layout(res)


def test_axis_x_is_used_when_monotonic(results, tmp_path):
    path = tmp_path / "charge.h5"
    shutil.copy(results, path)
    with h5py.File(path, "a") as h5:
        g = h5["entry/timeline/series/xrd_frames"]
        g["x"][...] = np.linspace(3.0, 1.0, N_FRAMES)
        h5["entry/timeline/echem/x"][...] = np.linspace(3.0, 1.0 - 2.0 / (N_FRAMES - 1) / 2, h5["entry/timeline/echem/x"].size)
    res = plot_contour_map(path, tmp_path / "x", config(axis="x", formats=["png", "svg"]))
    assert res.ylabels[0] == X_LABEL and res.notes == []
    assert len(set(res.ylims)) == 1 and min(res.ylims[0]) < 1.0 and max(res.ylims[0]) > 3.0
    assert X_LABEL in res.paths[1].read_text()


# ----------------------------------------------------------------------------- lattice


def pct(v: float) -> str:
    return f"{round(float(v), 2) + 0.0:+.2f}"


def expected_volume_texts() -> list[str]:
    """The annotation computed directly from the fixture's arrays."""
    t, lat = lattice_truth()
    out = []
    first = {}
    for name in (A, B):  # the minor phase stays out of the cell panels (fraction < 0.1)
        p = lat[name]["present"]
        v = lat[name]["volume"][p]
        first[name] = np.flatnonzero(p)[0]
        ch = 100 * (v - v[0]) / v[0]
        ext = ch.max() if abs(ch.max()) > abs(ch.min()) else ch.min()
        out.append(f"{name}: ΔV = {pct(100 * (v[-1] - v[0]) / v[0])} % (last vs first; extreme {pct(ext)} %)")
    k = np.flatnonzero(lat[A]["present"] & lat[B]["present"])[0]
    va, vb, v0 = lat[A]["volume"][k], lat[B]["volume"][k], lat[A]["volume"][first[A]]
    out.append(f"{A} → {B}: ΔV = {pct(100 * (vb - v0) / v0)} %")
    out.append(f"at first coexistence ({t[k] / 3600:.3g} h): ΔV = {pct(100 * (vb - va) / va)} %")
    return out


def test_lattice_evolution_panels_and_volume_change(results, tmp_path):
    res = plot_lattice_evolution(results, tmp_path / "lat", config(formats=["png", "svg"]))
    assert res.n_panels == 4 and res.ylabels == ["a (Å)", "c (Å)", "V (Å³)", "weight fraction"]
    assert res.xlabels[-1] == "time (h)" and len(set(res.xlims)) == 1
    assert res.ylims[3] == (-0.05, 1.05)
    assert res.texts == expected_volume_texts()
    assert -9.0 < float(res.texts[2].split("=")[1].strip(" %")) < -7.0  # the reaction shrinks the cell by ~8 %
    svg = res.paths[1].read_text()
    assert "V (Å³)" in svg and "weight fraction" in svg and C in svg  # the minor phase: fraction panel only
    check_layout(res)
    assert png_size(res.paths[0]) == (round(res.size_in[0] * 100), round(res.size_in[1] * 100))


def test_lattice_evolution_chosen_phases_and_parameters(results, tmp_path):
    cfg = config(width="single", lattice={"parameters": ["a", "b", "gamma", "volume"], "phases": [B]})
    res = plot_lattice_evolution(results, tmp_path / "lat", cfg)
    assert res.ylabels == ["a (Å)", "b (Å)", "γ (°)", "V (Å³)"]
    assert res.texts[0].startswith(f"{B}: ΔV =") and len(res.texts) == 1  # no reaction with a phase not shown
    check_layout(res)


# ----------------------------------------------------------------------------- valence timeline


def test_valence_timeline_shares_the_axis(results, tmp_path):
    res = plot_valence_timeline(results, tmp_path / "tl", config(formats=["png", "svg"]))
    assert res.n_panels == 4 and res.ylabels == ["voltage (V)", "valence (XANES)", "valence (XPS)", "V (Å³)"]
    assert len(set(res.xlims)) == 1 and res.xlabels == ["", "", "", "time (h)"]
    shown = texts(res)
    assert "XANES V K (ex situ)" in shown and "XPS V 2p mean valence (ex situ)" in shown
    assert f"XRD {A} volume (operando)" in shown and f"XRD {C} volume (operando)" not in shown
    check_layout(res)
    svg = res.paths[1].read_text()
    assert "XANES V K (ex situ)" in svg
    # the ex situ points carry x error bars from their placement: the x range covers the last one
    assert res.xlims[0][1] >= 3.5


def test_valence_timeline_options_and_missing_panels(results, tmp_path):
    res = plot_valence_timeline(results, tmp_path / "x", config(axis="x", timeline={"uncertainty": "bars"}))
    assert res.xlabels[-1] == X_LABEL
    cfg = config(timeline={"panels": ["xps", "fraction", "voltage"], "xps_quantity": "fractions"})
    res = plot_valence_timeline(results, tmp_path / "f", cfg)
    assert res.ylabels == ["fraction (XPS)", "weight fraction", "voltage (V)"]
    assert "XPS V3+ fraction (ex situ)" in texts(res)
    check_layout(res)
    path = tmp_path / "no_xps.h5"
    shutil.copy(results, path)
    with h5py.File(path, "a") as h5:
        for name in list(h5["entry/timeline/series"]):
            if name.startswith("xps_"):
                del h5["entry/timeline/series"][name]
    res = plot_valence_timeline(path, tmp_path / "nx", config())
    assert res.n_panels == 3 and "valence (XPS)" not in res.ylabels
    assert res.notes == ["panel 'xps' left out: no data"]
