"""Tests of the simulated ex situ XPS series (xpipe.synth.xps)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xpipe.synth import xps

SEED = 20250314
N_STATES = 5
HV, PHI = 1486.6, 4.5
REFERENCE_VMS = (Path(__file__).resolve().parents[3]
                 / "shared/data/xps/pynxtools_xps/regular.vms")


# ------------------------------------------------------------- VAMAS parser
# A small reader that follows the field order of ISO 14976 (VAMAS), written independently
# of the generator: every conditional field is decided from the experiment mode, the scan
# mode and the technique, as in the standard.

_MAP_MODES = {"MAP", "MAPDP"}
_REGION_MODES = {"MAP", "MAPDP", "NORM", "SDP"}
_FOV_MODES = {"MAP", "MAPDP", "MAPSV", "MAPSVDP", "SEM"}
_LINESCAN_MODES = {"MAPSV", "MAPSVDP", "SEM"}
_SPUTTER_MODES = {"MAPDP", "MAPSVDP", "SDP", "SDPSV"}
_ION_TECHNIQUES = {"FABMS", "FABMS energy spec", "ISS", "SIMS", "SIMS energy spec", "SNMS",
                   "SNMS energy spec"}
_SPUTTER_TECHNIQUES = {"AES diff", "AES dir", "EDX", "ELS", "UPS", "XPS", "XRF"}


class _Lines:
    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.i = 0

    def str(self) -> str:
        v = self.lines[self.i]
        self.i += 1
        return v.strip()

    def int(self) -> int:
        return int(self.str())

    def float(self) -> float:
        return float(self.str())

    def skip(self, n: int) -> None:
        self.i += n


def read_vamas_iso(path) -> dict:
    """Header and blocks of a VAMAS file (empty inclusion list, no manual items)."""
    r = _Lines(Path(path).read_text(encoding="ascii", errors="replace"))
    h = {"format": r.str(), "institution": r.str(), "instrument": r.str(),
         "operator": r.str(), "experiment_id": r.str()}
    h["comments"] = [r.str() for _ in range(r.int())]
    h["mode"], h["scan_mode"] = r.str(), r.str()
    if h["mode"] in _REGION_MODES:
        h["n_regions"] = r.int()
    if h["mode"] in _MAP_MODES:
        r.skip(3)
    h["exp_variables"] = [(r.str(), r.str()) for _ in range(r.int())]
    n_incl = r.int()
    assert n_incl <= 0, "inclusion lists are not supported by this test reader"
    r.skip(abs(n_incl))
    n_manual = r.int()
    r.skip(n_manual)
    n_future_exp, n_future_block = r.int(), r.int()
    r.skip(n_future_exp)
    h["n_blocks"] = r.int()
    mode = h["mode"]
    blocks = []
    for _ in range(h["n_blocks"]):
        b = {"id": r.str(), "sample": r.str()}
        b["datetime"] = [r.int() for _ in range(6)]
        b["gmt_offset_h"] = r.float()
        b["comments"] = [r.str() for _ in range(r.int())]
        b["technique"] = tech = r.str()
        if mode in _MAP_MODES:
            r.skip(2)
        b["exp_values"] = [r.float() for _ in h["exp_variables"]]
        b["source_label"] = r.str()
        if mode in _SPUTTER_MODES or tech in _ION_TECHNIQUES:
            r.skip(3)
        b["source_energy"] = r.float()
        b["source_strength"] = r.float()
        r.skip(2)  # source beam width x, y
        if mode in _FOV_MODES:
            r.skip(2)
        if mode in _LINESCAN_MODES:
            r.skip(6)
        b["source_polar_deg"] = r.float()
        b["source_azimuth_deg"] = r.float()
        b["analyser_mode"] = r.str()
        b["pass_energy"] = r.float()
        if tech == "AES diff":
            r.skip(1)
        b["magnification"] = r.float()
        b["work_function"] = r.float()
        b["target_bias"] = r.float()
        r.skip(2)  # analysis width x, y
        r.skip(2)  # take-off polar, azimuth
        b["species"], b["transition"] = r.str(), r.str()
        b["charge"] = r.int()
        if h["scan_mode"] == "REGULAR":
            b["abscissa_label"], b["abscissa_units"] = r.str(), r.str()
            b["abscissa_start"], b["abscissa_increment"] = r.float(), r.float()
        b["variables"] = [(r.str(), r.str()) for _ in range(r.int())]
        b["signal_mode"] = r.str()
        b["dwell_s"] = r.float()
        b["n_scans"] = r.int()
        b["time_correction"] = r.float()
        if tech in _SPUTTER_TECHNIQUES and mode in _SPUTTER_MODES:
            r.skip(7)
        r.skip(3)  # sample tilt polar, tilt azimuth, rotation
        b["extra"] = [(r.str(), r.str(), r.str()) for _ in range(r.int())]
        r.skip(n_future_block)
        n_values = r.int()
        nv = len(b["variables"])
        b["min_max"] = [(r.float(), r.float()) for _ in range(nv)]
        values = np.array([r.float() for _ in range(n_values)])
        b["data"] = values.reshape(-1, nv).T
        blocks.append(b)
    assert r.str() == "end of experiment"
    return {"header": h, "blocks": blocks}


def _binding_energy(block) -> np.ndarray:
    n = block["data"].shape[1]
    ke = block["abscissa_start"] + block["abscissa_increment"] * np.arange(n)
    return block["source_energy"] - ke  # Fermi-level referenced kinetic energy


def _maximum_ev(be, y, lo, hi) -> float:
    """Position of the maximum in [lo, hi]: 5-point smoothing, parabola over +-0.4 eV."""
    order = np.argsort(be)
    be, y = be[order], y[order]
    ys = np.convolve(y, np.ones(5) / 5.0, mode="same")
    idx = np.flatnonzero((be >= lo) & (be <= hi))
    im = int(idx[np.argmax(ys[idx])])
    sel = slice(im - 4, im + 5)
    c = np.polyfit(be[sel] - be[im], y[sel], 2)
    return float(be[im] - c[1] / (2.0 * c[0]))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """The default series written twice with the same seed into two directories."""
    a = tmp_path_factory.mktemp("xps_a")
    b = tmp_path_factory.mktemp("xps_b")
    truth = xps.make_xps_series(a, seed=SEED, n_states=N_STATES)
    xps.make_xps_series(b, seed=SEED, n_states=N_STATES)
    return a, b, truth


@pytest.fixture(scope="module")
def parsed(series):
    out, _, truth = series
    return {s["file"]: read_vamas_iso(out / s["file"]) for s in truth["states"]}


# ------------------------------------------------------------------- files


def test_files_written_and_small(series):
    out, _, truth = series
    names = sorted(p.name for p in out.iterdir())
    expected = sorted([f"nvp_xps_{i}.vms" for i in range(N_STATES)] + ["truth.json", "README.md"])
    assert names == expected
    assert sum(p.stat().st_size for p in out.iterdir()) < 1_000_000
    assert [s["file"] for s in truth["states"]] == [f"nvp_xps_{i}.vms" for i in range(N_STATES)]


def test_deterministic(series, tmp_path):
    a, b, _ = series
    for p in sorted(a.iterdir()):
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name
    xps.make_xps_series(tmp_path, seed=SEED + 1, n_states=N_STATES)
    assert (tmp_path / "nvp_xps_1.vms").read_bytes() != (a / "nvp_xps_1.vms").read_bytes()


def test_truth_json_plain_and_returned(series):
    out, _, truth = series
    assert json.loads((out / "truth.json").read_text()) == truth
    assert truth["generator_version"] == xps.GENERATOR_VERSION
    assert truth["seed"] == SEED
    assert truth["energy_convention"]["source_energy_ev"] == HV
    assert truth["energy_convention"]["work_function_ev"] == PHI
    for key in ("v2p32_positions", "v2p_splitting", "v2p12_coster_kronig", "c1s_reference",
                "shirley", "scofield"):
        assert key in truth["sources"]


def test_n_states_validated(tmp_path):
    with pytest.raises(ValueError):
        xps.make_xps_series(tmp_path, n_states=1)


# ------------------------------------------------------------------- VAMAS


def test_vamas_layout(series, parsed):
    out, _, truth = series
    ranges = {"V 2p/O 1s": (510.0, 540.0, 301), "C 1s": (280.0, 295.0, 151)}
    for rec in truth["states"]:
        raw = (out / rec["file"]).read_bytes()
        assert raw.endswith(b"end of experiment\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
        assert max(len(line) for line in raw.split(b"\r\n")) <= 80
        v = parsed[rec["file"]]
        h = v["header"]
        assert h["format"] == ("VAMAS Surface Chemical Analysis Standard Data Transfer "
                               "Format 1988 May 4")
        assert (h["mode"], h["scan_mode"], h["n_blocks"]) == ("NORM", "REGULAR", 2)
        assert [b["id"] for b in v["blocks"]] == list(ranges)
        for b in v["blocks"]:
            lo, hi, n = ranges[b["id"]]
            assert b["technique"] == "XPS"
            assert b["source_label"] == "Al Ka mono"
            assert b["source_energy"] == HV and b["work_function"] == PHI
            assert (b["analyser_mode"], b["pass_energy"]) == ("FAT", 20.0)
            assert (b["abscissa_label"], b["abscissa_units"]) == ("Kinetic Energy", "eV")
            assert b["abscissa_increment"] == pytest.approx(0.1)
            assert b["variables"] == [("counts", "d")]
            assert b["signal_mode"] == "pulse counting"
            assert b["exp_values"] == [pytest.approx(rec["voltage_v"])]
            y = b["data"][0]
            assert y.size == n
            assert b["min_max"] == [(y.min(), y.max())]
            assert np.all(y == np.round(y)) and y.min() > 0
            be = _binding_energy(b)
            assert be[0] == pytest.approx(hi, abs=1e-6) and be[-1] == pytest.approx(lo, abs=1e-6)
            assert np.allclose(np.diff(be), -0.1)
        vo, c = v["blocks"]
        assert (vo["species"], vo["transition"]) == ("V", "2p")
        assert (c["species"], c["transition"]) == ("C", "1s")
        assert 1e3 < c["data"].max() < 3e4 and 1e4 < vo["data"].max() < 3e4


@pytest.mark.skipif(not REFERENCE_VMS.exists(), reason="reference VAMAS file not available")
def test_parser_reads_a_real_instrument_file():
    """The test reader follows the standard: it reads a file exported by CasaXPS."""
    v = read_vamas_iso(REFERENCE_VMS)
    assert v["header"]["n_blocks"] == len(v["blocks"]) == 1
    b = v["blocks"][0]
    assert b["technique"] == "XPS" and b["abscissa_label"].lower() == "kinetic energy"
    assert b["data"].shape == (2, 1351)


# ------------------------------------------------------------------- truth


def test_truth_consistency(series):
    _, _, truth = series
    states = truth["states"]
    assert [s["x_na"] for s in states] == pytest.approx(np.linspace(3.0, 1.0, N_STATES))
    for s in states:
        f = s["fractions"]
        assert set(f) == {"V3+", "V4+", "V5+"}
        assert all(v >= 0.0 for v in f.values())
        assert sum(f.values()) == pytest.approx(1.0, abs=1e-9)
        valence = 3 * f["V3+"] + 4 * f["V4+"] + 5 * f["V5+"]
        assert s["mean_surface_valence"] == pytest.approx(valence, abs=1e-9)
        assert s["bulk_valence"] == pytest.approx(3.0 + (3.0 - s["x_na"]) / 2.0, abs=1e-9)
        assert s["mean_surface_valence"] == pytest.approx(s["bulk_valence"] + 0.1, abs=1e-9)
        assert 0.2 <= s["charge_shift_ev"] <= 0.9
        assert sum(s["o1s_fractions"].values()) == pytest.approx(1.0, abs=1e-5)
        assert sum(s["c1s_fractions"].values()) == pytest.approx(1.0, abs=1e-5)
        comps = {c["name"]: c for c in s["components"]["V 2p/O 1s"]}
        for v in (3, 4, 5):
            j32, j12 = comps[f"V{v}+ 2p3/2"], comps[f"V{v}+ 2p1/2"]
            assert j12["area"] == pytest.approx(0.5 * j32["area"], abs=1e-3)
            assert j12["be_ev"] - j32["be_ev"] == pytest.approx(xps.V2P_SPLITTING_EV)
            assert j12["fwhm_ev"] > 1.5 * j32["fwhm_ev"]
        for region in s["components"].values():
            for c in region:
                assert c["be_apparent_ev"] == pytest.approx(c["be_ev"] + s["charge_shift_ev"])
    v5 = [s["fractions"]["V5+"] for s in states]
    assert v5 == sorted(v5) and v5[0] == 0.0 and v5[-1] > 0.05
    assert states[0]["state"] == "ocv" and states[0]["voltage_v"] < 3.3
    plateau = [s["voltage_v"] for s in states[1:]]
    assert all(3.38 <= v <= 3.46 for v in plateau) and plateau == sorted(plateau)


def test_gl_product_unit_area_and_width():
    x = np.linspace(-60.0, 60.0, 240001)
    y = xps.gl_product(x, 0.0, 1.4)
    assert np.trapezoid(y, x) == pytest.approx(1.0, abs=2e-3)  # Lorentzian tails beyond 60 eV
    u = x / 1.4
    shape = np.exp(-4.0 * np.log(2.0) * 0.7 * u * u) / (1.0 + 1.2 * u * u)
    assert np.allclose(y / y.max(), shape, atol=1e-12)
    above = x[y >= 0.5 * y.max()]
    assert above[-1] - above[0] == pytest.approx(0.9614 * 1.4, abs=1e-3)
    for m in (0.0, 100.0):  # pure Gaussian and Lorentzian: the width parameter is the FWHM
        g = xps.gl_product(x, 0.0, 1.4, m=m)
        above = x[g >= 0.5 * g.max()]
        assert above[-1] - above[0] == pytest.approx(1.4, abs=1e-3)
        assert np.trapezoid(g, x) == pytest.approx(1.0, abs=1e-2)


# --------------------------------------------------------- recoverability


def test_peak_maxima_after_charge_correction(parsed, series):
    _, _, truth = series
    v2p = []
    for rec in truth["states"]:
        shift = rec["charge_shift_ev"]
        vo, c = parsed[rec["file"]]["blocks"]
        c_max = _maximum_ev(_binding_energy(c), c["data"][0], 282.0, 292.0) - shift
        assert c_max == pytest.approx(284.8, abs=0.15), rec["file"]
        be, y = _binding_energy(vo), vo["data"][0]
        v_max = _maximum_ev(be, y, 512.0 + shift, 520.0 + shift) - shift
        assert 515.0 <= v_max <= 518.0, rec["file"]
        o_max = _maximum_ev(be, y, 526.0 + shift, 536.0 + shift)
        assert 530.0 + shift <= o_max <= 530.5 + shift, rec["file"]
        v2p.append(v_max)
    # the V 2p3/2 maximum moves up with the surface valence
    assert v2p[-1] - v2p[0] > 0.3


def test_xpipe_reader_reads_the_files(series, parsed):
    """xpipe.xps.readers.read_vamas reads the files with its default (Fermi-level) convention."""
    readers = pytest.importorskip("xpipe.xps.readers")
    out, _, truth = series
    for rec in truth["states"]:
        spectra = readers.read_vamas(out / rec["file"])
        assert [s.label for s in spectra] == ["V 2p/O 1s", "C 1s"]
        for s, b in zip(spectra, parsed[rec["file"]]["blocks"]):
            be = _binding_energy(b)
            order = np.argsort(be)
            assert np.allclose(s.binding_energy_ev, be[order], atol=1e-6)
            assert np.array_equal(s.intensity, b["data"][0][order])
            assert s.photon_energy_ev == HV and s.work_function_ev == PHI
