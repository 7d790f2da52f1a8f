"""Tests of the simulated V K-edge XANES series (xpipe.synth.xas)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xpipe.synth import xas

larch_io = pytest.importorskip("larch.io")

SEED = 20250314
N_STATES = 6
STANDARD_FILES = {
    "standards/V2O3_std.xdi": 3,
    "standards/VO2_std.xdi": 4,
    "standards/V2O5_std.xdi": 5,
    "standards/NVP_std.xdi": 3,
    "standards/NaVP_std.xdi": 4,
}


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """The default series written twice with the same seed into two directories."""
    a = tmp_path_factory.mktemp("xanes_a")
    b = tmp_path_factory.mktemp("xanes_b")
    truth = xas.make_xanes_series(a, seed=SEED, n_states=N_STATES)
    xas.make_xanes_series(b, seed=SEED, n_states=N_STATES)
    return a, b, truth


@pytest.fixture(scope="module")
def scans(series):
    """Every XDI file read with Larch, keyed by its path relative to the output folder."""
    out, _, truth = series
    files = [s["file"] for s in truth["states"]] + [s["file"] for s in truth["standards"]]
    return {f: larch_io.read_xdi(str(out / f)) for f in files}


def _normalize(energy, mu, e0):
    """Pre-edge line (e0-115..e0-30 eV) and post-edge quadratic (e0+50 eV to the end)."""
    pre = (energy >= e0 - 115.0) & (energy <= e0 - 30.0)
    post = energy >= e0 + 50.0
    line = np.polyfit(energy[pre], mu[pre], 1)
    quad = np.polyfit(energy[post], mu[post], 2)
    step = np.polyval(quad, e0) - np.polyval(line, e0)
    return (mu - np.polyval(line, energy)) / step


def _half_height(energy, norm):
    """Last upward crossing of 0.5 below the white-line maximum (5472-5500 eV)."""
    idx = np.flatnonzero((energy >= 5472.0) & (energy <= 5500.0))
    im = idx[np.argmax(norm[idx])]
    j = np.flatnonzero(norm[:im] < 0.5)[-1]
    return energy[j] + (0.5 - norm[j]) * (energy[j + 1] - energy[j]) / (norm[j + 1] - norm[j])


def _all_records(truth):
    return truth["states"] + truth["standards"]


# ------------------------------------------------------------------------ files


def test_files_written_and_small(series):
    out, _, truth = series
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    expected = sorted([f"nvp_xanes_{i}.xdi" for i in range(N_STATES)]
                      + list(STANDARD_FILES) + ["truth.json", "README.md"])
    assert names == expected
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 1_000_000
    assert [s["file"] for s in truth["states"]] == [f"nvp_xanes_{i}.xdi" for i in range(N_STATES)]


def test_deterministic(series, tmp_path):
    a, b, _ = series
    for p in sorted(a.rglob("*")):
        if p.is_file():
            assert p.read_bytes() == (b / p.relative_to(a)).read_bytes(), p.name
    xas.make_xanes_series(tmp_path, seed=SEED + 1, n_states=N_STATES)
    assert (tmp_path / "nvp_xanes_1.xdi").read_bytes() != (a / "nvp_xanes_1.xdi").read_bytes()


def test_truth_json_plain_and_returned(series):
    out, _, truth = series
    on_disk = json.loads((out / "truth.json").read_text())
    assert on_disk == truth
    assert truth["generator_version"] == xas.GENERATOR_VERSION
    assert truth["seed"] == SEED
    assert set(truth["model"]["edge_half_height_ev_by_valence"]) == {"3", "4", "5"}


def test_n_states_validated(tmp_path):
    with pytest.raises(ValueError):
        xas.make_xanes_series(tmp_path, n_states=1)


# ------------------------------------------------------------------- XDI format


def test_xdi_header_and_columns(series, scans):
    out, _, truth = series
    for rec in _all_records(truth):
        text = (out / rec["file"]).read_text()
        lines = text.splitlines()
        assert lines[0].startswith("# XDI/1.0")
        for field in ("# Element.symbol: V", "# Element.edge: K", "# Mono.d_spacing: 3.13551",
                      "# Column.1: energy eV", "# Column.2: i0", "# Column.3: itrans",
                      "# Column.4: irefer", f"# Scan.start_time: {rec['scan_start_time']}"):
            assert field in lines, (rec["file"], field)
        sep = lines.index("#----")
        assert lines[sep + 1] == "# energy i0 itrans irefer"

        g = scans[rec["file"]]
        assert g.array_labels == ["energy", "i0", "itrans", "irefer"]
        assert g.element == "V" and g.edge == "K"
        assert g.attrs["mono"]["d_spacing"] == "3.13551"
        assert g.attrs["scan"]["start_time"] == rec["scan_start_time"]
        e = g.energy
        assert np.all(np.diff(e) > 0)
        assert e[0] == 5365.0 and 5890.0 < e[-1] <= 5900.0
        assert np.allclose(np.diff(e[e < 5445.0]), 5.0)
        xanes = e[(e >= 5445.0) & (e <= 5500.0)]
        assert xanes.size == 221 and np.allclose(np.diff(xanes), 0.25)
        k = np.sqrt(xas.ETOK * (e[e > 5500.0] - xas.V_FOIL_EDGE_EV))
        assert np.allclose(np.diff(k), 0.05, atol=2e-4)
        assert 1e6 <= g.i0.min() and g.i0.max() <= 1e7
        assert np.all(g.irefer > 1e4) and np.all(g.irefer < g.itrans)
        assert np.all(g.itrans < g.i0)


def test_cell_headers_match_truth(scans, series):
    _, _, truth = series
    for rec in truth["states"]:
        sample = scans[rec["file"]].attrs["sample"]
        assert float(sample["x_na"]) == pytest.approx(rec["x_na"], abs=1e-4)
        assert float(sample["voltage_v"]) == pytest.approx(rec["voltage_v"], abs=1e-4)
        assert sample["state"] == rec["state"]


# ------------------------------------------------------------------------ truth


def test_state_of_charge_and_valence(series):
    _, _, truth = series
    states = truth["states"]
    assert [s["x_na"] for s in states] == pytest.approx(np.linspace(3.0, 1.0, N_STATES))
    for s in states:
        f4 = (3.0 - s["x_na"]) / 2.0
        assert s["fraction_v4"] == pytest.approx(f4, abs=1e-9)
        assert s["fraction_v3"] == pytest.approx(1.0 - f4, abs=1e-9)
        assert s["mean_valence"] == pytest.approx(3.0 + f4, abs=1e-9)
        assert abs(s["mono_offset_ev"]) <= 1.5
        assert s["edge_step"] == pytest.approx(1.0, abs=0.01)
        assert 0.5 <= s["mu_below_edge"] <= 1.5
    assert states[0]["state"] == "ocv" and states[0]["voltage_v"] < 3.3
    plateau = [s["voltage_v"] for s in states[1:]]
    assert all(3.38 <= v <= 3.46 for v in plateau)
    assert plateau == sorted(plateau)
    edges = [s["edge_half_height_ev"] for s in states]
    assert edges[0] == pytest.approx(5478.3, abs=0.01)
    assert edges[-1] == pytest.approx(5480.9, abs=0.01)
    assert edges == sorted(edges)
    starts = [s["scan_start_time"] for s in states]
    assert starts == sorted(starts) and len(set(starts)) == N_STATES


def test_standards_declared_valence(series, scans):
    _, _, truth = series
    assert {s["file"]: s["valence"] for s in truth["standards"]} == STANDARD_FILES
    by_valence = truth["model"]["edge_half_height_ev_by_valence"]
    for s in truth["standards"]:
        assert int(scans[s["file"]].attrs["sample"]["valence"]) == s["valence"]
        assert s["edge_half_height_ev"] == pytest.approx(by_valence[str(s["valence"])], abs=0.01)
        assert abs(s["mono_offset_ev"]) <= 1.5


# ------------------------------------------------------------- recoverability


def test_half_height_edge_recovered_after_offset(series, scans):
    _, _, truth = series
    for rec in _all_records(truth):
        g = scans[rec["file"]]
        energy = g.energy - rec["mono_offset_ev"]
        norm = _normalize(energy, np.log(g.i0 / g.itrans), 5479.0)
        assert _half_height(energy, norm) == pytest.approx(rec["edge_half_height_ev"], abs=0.3), rec["file"]


def test_foil_edge_gives_mono_offset(series, scans):
    _, _, truth = series
    assert truth["calibration"]["foil_derivative_max_ev"] == pytest.approx(5465.0, abs=0.01)
    for rec in _all_records(truth):
        g = scans[rec["file"]]
        e = g.energy
        deriv = np.gradient(np.log(g.itrans / g.irefer), e)
        deriv = np.convolve(deriv, np.ones(3) / 3.0, mode="same")
        idx = np.flatnonzero((e >= 5455.0) & (e <= 5475.0))
        i = idx[np.argmax(deriv[idx])]
        y0, y1, y2 = deriv[i - 1 : i + 2]
        e_max = e[i] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) * (e[i + 1] - e[i])
        assert e_max == pytest.approx(5465.0 + rec["mono_offset_ev"], abs=0.5), rec["file"]


def test_lcf_with_end_member_standards_gives_v4_fraction(series, scans):
    _, _, truth = series
    std = {s["compound"]: s for s in truth["standards"]}

    def normalized(rec):
        g = scans[rec["file"]]
        energy = g.energy - rec["mono_offset_ev"]
        return energy, _normalize(energy, np.log(g.i0 / g.itrans), 5479.0)

    e3, n3 = normalized(std["Na3V2(PO4)3"])
    e4, n4 = normalized(std["NaV2(PO4)3"])
    for rec in truth["states"]:
        e, n = normalized(rec)
        m = (e >= 5460.0) & (e <= 5530.0)
        a3 = np.interp(e[m], e3, n3)
        a4 = np.interp(e[m], e4, n4)
        # n = (1 - f) a3 + f a4  ->  n - a3 = f (a4 - a3)
        d = a4 - a3
        f = float(np.dot(d, n[m] - a3) / np.dot(d, d))
        assert f == pytest.approx(rec["fraction_v4"], abs=0.03), rec["file"]


def test_model_pre_edge_grows_with_valence(series):
    _, _, truth = series
    comp = truth["model"]["compounds"]
    h = {name: c["pre_edge_peak_height"] for name, c in comp.items()}
    assert h["Na3V2(PO4)3"] < h["NaV2(PO4)3"]
    assert h["V2O3"] < h["VO2"] < h["V2O5"]
    for c in comp.values():
        area = sum(a for _, a in c["pre_edge_lorentzians_ev_area"])
        assert area > 0 and math.isfinite(area)


def test_half_height_helper_on_arctan():
    e = np.linspace(5450.0, 5510.0, 6001)
    step = 0.5 + np.arctan((e - 5480.0) / 0.5) / np.pi
    white = 0.4 * np.exp(-0.5 * ((e - 5486.0) / 2.5) ** 2)
    pre = 0.6 * np.exp(-0.5 * ((e - 5470.0) / 0.6) ** 2)  # a pre-edge above 0.5 is skipped
    assert xas.half_height_edge_ev(e, step + white + pre) == pytest.approx(5480.0, abs=0.05)
