"""Tests of the powder-diffraction core and the simulated operando data set."""

from __future__ import annotations

import csv
import itertools
import json
import math
import re

import fabio
import gemmi
import numpy as np
import pyFAI
import pytest

from xpipe.synth import operando, powder

LAMBDA_A = 0.7749
CU_KA1_A = 1.5406


@pytest.fixture(scope="module")
def nvp():
    return powder.load_structure("Na3V2(PO4)3")


@pytest.fixture(scope="module")
def v2o3():
    return powder.load_structure("V2O3")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Two frames written twice with the same seed into two directories."""
    a = tmp_path_factory.mktemp("synth_a")
    b = tmp_path_factory.mktemp("synth_b")
    truth = operando.make_example_data(a, n_frames=2, seed=7)
    operando.make_example_data(b, n_frames=2, seed=7)
    return a, b, truth


# ------------------------------------------------------------------ reflections


def _equivalents(ops, hkl):
    out = set()
    for op in ops.sym_ops:
        h = tuple(op.apply_to_hkl(list(hkl)))
        out |= {h, (-h[0], -h[1], -h[2])}
    return out


def test_bundled_structures_composition(nvp, v2o3):
    # Z = 6 formula units per hexagonal cell, chemical occupancies honoured
    assert powder.cell_mass_amu(nvp) == pytest.approx(6 * 455.76, abs=0.5)
    assert powder.cell_mass_amu(v2o3) == pytest.approx(6 * 149.88, abs=0.1)
    nav2 = powder.load_structure("NaV2(PO4)3")
    assert powder.cell_mass_amu(nav2) == pytest.approx(6 * 409.78, abs=0.5)
    for s in (nvp, v2o3, nav2):
        assert s.spacegroup.number == 167


def test_r3c_absences_and_multiplicities(nvp):
    refl = powder.reflections(nvp, d_min_a=1.2)
    ops = nvp.spacegroup.operations()
    assert len(refl) > 100
    seen = set()
    for hkl, mult in zip(refl.hkl.tolist(), refl.multiplicity.tolist()):
        eq = _equivalents(ops, hkl)
        assert len(eq) == mult
        assert not (eq & seen)  # each set of equivalents listed once
        seen |= eq
        for h, k, l in eq:
            assert (-h + k + l) % 3 == 0  # obverse R centring
            if k == -h:  # (h -h 0 l): l even (c glide)
                assert l % 2 == 0
            if h == 0 and k == 0:
                assert l % 6 == 0
    # the listed sets cover every allowed reflection of the d-range exactly once
    cell = nvp.cell
    n = 0
    for h, k, l in itertools.product(range(-8, 9), range(-8, 9), range(-19, 20)):
        if (h, k, l) == (0, 0, 0) or cell.calculate_d([h, k, l]) < 1.2:
            continue
        # c glide: l even on the three (h -h 0 l)-type zones h = 0, k = 0, h + k = 0
        if (-h + k + l) % 3 or ((h == 0 or k == 0 or h + k == 0) and l % 2):
            continue
        n += 1
    assert n == refl.multiplicity.sum() == len(seen)


def test_hexagonal_d_spacings(nvp):
    refl = powder.reflections(nvp, d_min_a=1.4)
    table = {tuple(h): d for h, d in zip(refl.hkl.tolist(), refl.d_a)}
    a, c = 8.7288, 21.8042
    for hkl in [(0, 1, 2), (1, 0, 4), (1, 1, 0), (1, 1, 3), (1, 1, 6), (3, 0, 0)]:
        assert hkl in table, hkl
        assert table[hkl] == pytest.approx(powder.d_spacing_hexagonal_a(*hkl, a, c), abs=1e-9)
    assert table[(1, 1, 0)] == pytest.approx(a / 2, abs=1e-9)
    assert table[(3, 0, 0)] == pytest.approx(a / (2 * math.sqrt(3)), abs=1e-9)
    # forbidden: (1 0 2) breaks -h+k+l=3n; (0 0 3) needs l=6n; (1 -1 1) odd l
    for hkl in [(1, 0, 2), (0, 0, 3), (1, -1, 1), (2, -2, 1)]:
        assert nvp.spacegroup.operations().is_systematically_absent(list(hkl))


def test_with_lattice_moves_lines_only(nvp):
    new = powder.with_lattice(nvp, powder.Lattice.hexagonal(8.43, 21.5))
    r0 = powder.reflections(nvp, 2.0)
    r1 = powder.reflections(new, 1.9)
    assert nvp.cell.a == pytest.approx(8.7288)  # original untouched
    i = r1.hkl.tolist().index([1, 1, 0])
    assert r1.d_a[i] == pytest.approx(8.43 / 2, abs=1e-9)
    # occupancy edit changes |F|^2 but no position
    lighter = powder.with_occupancy(nvp, {"Na2": 0.5})
    r2 = powder.reflections(lighter, 2.0)
    np.testing.assert_allclose(r2.d_a, r0.d_a)
    assert not np.allclose(r2.f_squared, r0.f_squared)
    assert powder.cell_mass_amu(nvp) - powder.cell_mass_amu(lighter) == pytest.approx(
        18 * 0.22 * 22.98977, abs=1e-3
    )


def test_nvp_relative_intensities(nvp):
    # Cu Ka1 1D pattern (Lorentz-polarisation of a diffractometer): (116) strongest,
    # (113) and (300) next, (012) weak-to-medium, as in the reference NVP patterns
    refl = powder.reflections(nvp, d_min_a=1.5)
    tth = refl.two_theta_deg(CU_KA1_A)
    inten = refl.intensity(CU_KA1_A, "debye_scherrer_1d") * powder.polarization_factor_unpolarized(tth)
    rel = dict(zip(map(tuple, refl.hkl.tolist()), 100 * inten / inten.max()))
    assert max(rel, key=rel.get) == (1, 1, 6)
    assert tth[refl.hkl.tolist().index([1, 1, 6])] == pytest.approx(32.02, abs=0.02)
    assert 60 < rel[(1, 1, 3)] < 95
    assert 40 < rel[(3, 0, 0)] < 70
    assert 5 < rel[(0, 1, 2)] < 40


def test_v2o3_strongest_lines(v2o3):
    refl = powder.reflections(v2o3, d_min_a=1.3)
    tth = refl.two_theta_deg(CU_KA1_A)
    inten = refl.intensity(CU_KA1_A, "debye_scherrer_1d") * powder.polarization_factor_unpolarized(tth)
    hkl = refl.hkl.tolist()
    i104, i110 = hkl.index([1, 0, 4]), hkl.index([1, 1, 0])
    assert refl.d_a[i104] == pytest.approx(2.70, abs=0.015)  # JCPDS 34-187: 2.70 A
    assert refl.d_a[i110] == pytest.approx(2.48, abs=0.01)  # 2.475 A
    top2 = np.argsort(-inten)[:2]
    assert i104 in top2
    rel = 100 * inten / inten.max()
    assert rel[i110] > 60
    assert refl.multiplicity[i104] == 6 and refl.multiplicity[i110] == 6


# ------------------------------------------------------------------ 1D pattern


def test_lorentz_and_profile_numbers():
    assert powder.lorentz_factor(30.0) == pytest.approx(1 / (math.sin(math.radians(15)) * 0.5))
    assert powder.lorentz_factor(30.0, "debye_scherrer_1d") == pytest.approx(
        1 / (math.sin(math.radians(15)) ** 2 * math.cos(math.radians(15)))
    )
    x = np.linspace(-5, 5, 200001)
    for eta in (0.0, 0.5, 1.0):
        y = powder.pseudo_voigt(x, 0.0, 0.1, eta)
        assert y.max() == pytest.approx(powder.pseudo_voigt(0.0, 0.0, 0.1, eta))
        half = x[y >= y.max() / 2]
        assert half[-1] - half[0] == pytest.approx(0.1, abs=1e-4)
    y = powder.pseudo_voigt(x, 0.0, 0.1, 0.0)
    assert np.trapezoid(y, x) == pytest.approx(1.0, abs=1e-9)
    assert powder.caglioti_fwhm_deg(0.0, 1.0, 1.0, 0.0025) == pytest.approx(0.05)


def test_pattern_peak_at_bragg_angle(v2o3):
    phase = powder.Phase("V2O3", v2o3, 1.0, powder.PeakProfile(0.004, -0.001, 0.0025, 0.5))
    refl = phase.reflections(1.3)
    i104 = refl.hkl.tolist().index([1, 0, 4])
    bragg = math.degrees(2 * math.asin(LAMBDA_A / (2 * refl.d_a[i104])))
    assert bragg == pytest.approx(16.428, abs=0.002)
    grid = np.arange(15.0, 18.0, 0.0005)
    y = powder.powder_pattern(grid, [phase], LAMBDA_A)
    window = np.abs(grid - bragg) < 0.3  # (110) is 1.6 deg away
    peak = grid[window][np.argmax(y[window])]
    assert abs(peak - bragg) < 0.005
    # area of the isolated line = S m |F|^2 L (pseudo-Voigt normalised to 1)
    area = np.trapezoid(y[window], grid[window])
    expected = phase.scale * refl.intensity(LAMBDA_A, "debye_scherrer_2d")[i104]
    assert area == pytest.approx(expected, rel=0.03)  # Lorentzian tails beyond +-0.3 deg


def test_weight_fraction_scale_round_trip(nvp, v2o3):
    w = np.array([0.8, 0.2])
    masses = [powder.cell_mass_amu(nvp), powder.cell_mass_amu(v2o3)]
    vols = [nvp.cell.volume, v2o3.cell.volume]
    scales = [powder.phase_scale(wi, m, v) for wi, m, v in zip(w, masses, vols)]
    np.testing.assert_allclose(powder.weight_fractions_from_scales(scales, masses, vols), w)


# ------------------------------------------------------------ operando scenario


def test_protocol_and_voltage():
    p = operando.CellProtocol()
    assert p.current_ma == pytest.approx(0.003 * 117.6 / 3)
    steps = p.step_times_s()
    t = np.arange(0, p.duration_s, 30.0)
    st = p.state(t)
    v = p.voltage_v(t)
    assert st["x_na"].max() == pytest.approx(3.0)
    assert st["x_na"].min() == pytest.approx(1.05, abs=1e-3)
    # plateau near 3.4 V in the two-phase region, cut-offs reached
    mid_charge = (st["step"] == 1) & (st["x_na"] > 1.5) & (st["x_na"] < 2.5)
    mid_dis = (st["step"] == 3) & (st["x_na"] > 1.5) & (st["x_na"] < 2.5)
    assert np.all((v[mid_charge] > 3.40) & (v[mid_charge] < 3.43))
    assert np.all((v[mid_dis] > 3.34) & (v[mid_dis] < 3.37))
    assert p.voltage_v(steps["charge_end_s"] - 1e-6)[0] == pytest.approx(4.0, abs=1e-3)
    assert p.voltage_v(steps["discharge_end_s"] - 1e-6)[0] == pytest.approx(2.5, abs=1e-3)
    # capacity <-> x
    np.testing.assert_allclose(st["x_na"], 3.0 - st["capacity_mah"] / p.capacity_per_na_mah)


def test_phase_state_path():
    path = operando.ReactionPath()
    base = {n: powder.lattice_of(powder.load_structure(n)) for n in operando.PHASE_NAMES}
    s3 = operando.phase_state(3.0, path, base)
    assert s3[operando.NVP]["lattice"] == base[operando.NVP]
    assert s3[operando.IMPURITY]["weight_fraction"] == pytest.approx(0.05)
    s29 = operando.phase_state(2.9, path, base)
    assert s29[operando.NVP1]["weight_fraction"] == 0
    assert s29[operando.NVP]["lattice"].a_a == pytest.approx(8.7288 * (1 - 0.00175))
    s19 = operando.phase_state(1.9, path, base)
    assert s19[operando.NVP1]["mole_fraction"] == pytest.approx(0.5)
    assert s19[operando.NVP]["lattice"].c_a == pytest.approx(21.8042 * 0.998)
    for s in (s3, s29, s19):
        assert sum(v["weight_fraction"] for v in s.values()) == pytest.approx(1.0, abs=1e-12)


def test_projection_equals_calcfrom1d():
    ai = operando.DetectorGeometry().integrator()
    tth = np.linspace(2, 35, 5000)
    inten = 100 + 50 * np.sin(tth)
    ours = operando.project_to_detector(ai, tth, inten, polarization_factor=0.99)
    ref = ai.calcfrom1d(tth, inten, dim1_unit="2th_deg", polarization_factor=0.99,
                        correctSolidAngle=True)
    np.testing.assert_allclose(ours, ref, rtol=1e-9)


# -------------------------------------------------------------- data set files


def test_generation_is_deterministic(generated):
    a, b, _ = generated
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    assert {"nvp_0001.cbf", "nvp_0002.cbf", "geometry.poni", "cycler.csv", "scan_log.csv",
            "truth.json", "README.md", "structures/Na3V2PO43_R-3c.cif"} <= set(names)
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in ("nvp_0001.cbf", "nvp_0002.cbf"):
        np.testing.assert_array_equal(fabio.open(str(a / name)).data, fabio.open(str(b / name)).data)


def test_frames_and_headers(generated):
    a, _, truth = generated
    det = pyFAI.detector_factory("Pilatus300k")
    gaps = det.mask.astype(bool)
    for fr in truth["frames"]:
        img = fabio.open(str(a / fr["file"]))
        assert img.data.dtype == np.int32
        assert img.data.shape == (619, 487)
        assert np.all(img.data[gaps] == -1)
        assert img.data[~gaps].min() >= 0
        text = img.header["_array_data.header_contents"]
        assert "# Detector: PILATUS 300K (simulated)" in text
        m = re.search(r"^# (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})", text, re.MULTILINE)
        assert m and m.group(1) == fr["start_time_iso"]
        assert "# Exposure_time 60.000000 s" in text
        assert "# Exposure_period 11400.000000 s" in text  # 22800 s / 2 frames
        assert "# Wavelength 0.7749 A" in text
        assert re.search(r"# Detector_distance 0\.\d+ m", text)
    assert truth["frames"][0]["start_time_iso"] == "2025-03-14T09:00:00.000"
    with open(a / "scan_log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"] for r in rows] == ["nvp_0001.cbf", "nvp_0002.cbf"]
    assert rows[1]["start_time"] == "2025-03-14T12:10:00.000"
    assert rows[1]["end_time"] == "2025-03-14T12:11:00.000"


def test_truth_and_cycler(generated):
    a, _, _ = generated
    truth = json.loads((a / "truth.json").read_text())
    cif = gemmi.make_small_structure_from_block(
        gemmi.cif.read(str(powder.structure_path("Na3V2(PO4)3")))[0]
    )
    f1 = truth["frames"][0]
    assert f1["x_na"] == 3.0
    assert f1["phases"]["Na3V2(PO4)3"]["a_a"] == pytest.approx(cif.cell.a, abs=1e-6)
    assert f1["phases"]["Na3V2(PO4)3"]["c_a"] == pytest.approx(cif.cell.c, abs=1e-6)
    assert f1["phases"]["Na3V2(PO4)3"]["volume_a3"] == pytest.approx(cif.cell.volume, abs=1e-3)
    for fr in truth["frames"]:
        assert sum(p["weight_fraction"] for p in fr["phases"].values()) == pytest.approx(1, abs=1e-5)
    f2 = truth["frames"][1]  # at the top of charge
    assert f2["x_na"] == pytest.approx(1.05)
    assert f2["phases"]["NaV2(PO4)3"]["weight_fraction"] > 0.9
    top = truth["reflections_frame1"]["Na3V2(PO4)3"][0]
    assert top["hkl"] == [1, 1, 6]
    assert top["two_theta_deg"] == pytest.approx(
        math.degrees(2 * math.asin(LAMBDA_A / (2 * top["d_a"]))), abs=1e-4
    )
    with open(a / "cycler.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["time_s", "voltage_v", "current_ma", "capacity_mah"]
    q = np.array([float(r["capacity_mah"]) for r in rows])
    v = np.array([float(r["voltage_v"]) for r in rows])
    q_na = truth["electrochemistry"]["capacity_per_na_mah"]
    assert q.max() / q_na == pytest.approx(1.95, abs=0.01)
    assert 3.99 < v.max() < 4.01 and 2.49 < v.min() < 2.56


def test_pyfai_round_trip(generated):
    a, _, truth = generated
    ai = pyFAI.load(str(a / "geometry.poni"))
    assert ai.wavelength == pytest.approx(LAMBDA_A * 1e-10)
    img = fabio.open(str(a / "nvp_0001.cbf")).data
    mask = ai.detector.mask.astype(bool) | (img < 0)
    res = ai.integrate1d(img, 4000, unit="2th_deg", mask=mask, polarization_factor=0.99,
                         correctSolidAngle=True)
    tth, inten = res.radial, res.intensity
    strongest = truth["reflections_frame1"]["Na3V2(PO4)3"][0]["two_theta_deg"]
    assert abs(tth[np.argmax(inten)] - strongest) < 0.02
    # second line, (113), too
    second = truth["reflections_frame1"]["Na3V2(PO4)3"][1]["two_theta_deg"]
    near = np.abs(tth - second) < 0.15
    assert abs(tth[near][np.argmax(inten[near])] - second) < 0.02
    # desodiated frame: NaV2(PO4)3 (113) is there, the pristine (110) almost gone
    img2 = fabio.open(str(a / "nvp_0002.cbf")).data
    res2 = ai.integrate1d(img2, 4000, unit="2th_deg", mask=ai.detector.mask.astype(bool) | (img2 < 0),
                          polarization_factor=0.99)
    nav2 = {tuple(r["hkl"]): r["two_theta_deg"] for r in truth["reflections_frame1"]["NaV2(PO4)3"]}
    near = np.abs(res2.radial - nav2[(1, 1, 3)]) < 0.15
    assert abs(res2.radial[near][np.argmax(res2.intensity[near])] - nav2[(1, 1, 3)]) < 0.02
