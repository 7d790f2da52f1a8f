"""Tests of the reflection lists (xpipe.xrd.reflections) and batched cell refinement (xpipe.xrd.cell)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gemmi
import numpy as np
import pytest

from xpipe.synth import powder
from xpipe.xrd.cell import refine_cells, relative_change
from xpipe.xrd.reflections import (
    Cell,
    crystal_system,
    reflections_from_cell,
    reflections_from_cif,
)

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
NO_SHARED_DATA = (
    "../shared/data is not present (real measured data is not shipped with the repository)"
)
NVP_LAMBDA_A = 0.7749
CELL_NAMES = ("a_a", "b_a", "c_a", "alpha_deg", "beta_deg", "gamma_deg", "volume_a3")


def _truth_values(cell: Cell) -> dict[str, float]:
    return {
        "a_a": cell.a_a, "b_a": cell.b_a, "c_a": cell.c_a, "alpha_deg": cell.alpha_deg,
        "beta_deg": cell.beta_deg, "gamma_deg": cell.gamma_deg, "volume_a3": cell.volume_a3,
    }


def _two_theta_deg(d_a, wavelength_a):
    return 2.0 * np.degrees(np.arcsin(wavelength_a / (2.0 * np.asarray(d_a))))


# ------------------------------------------------------------------ reflection lists


def test_cell_constructors_and_volume():
    hexa = Cell.hexagonal(8.7288, 21.8042)
    assert (hexa.b_a, hexa.gamma_deg) == (8.7288, 120.0)
    assert hexa.volume_a3 == pytest.approx(math.sqrt(3) / 2 * 8.7288**2 * 21.8042, rel=1e-12)
    assert hexa.volume_a3 == pytest.approx(hexa.unit_cell().volume, rel=1e-12)
    tri = Cell.triclinic(5.1, 6.3, 7.2, 84.0, 97.0, 101.0)
    assert tri.volume_a3 == pytest.approx(tri.unit_cell().volume, rel=1e-12)
    assert Cell.cubic(4.0).volume_a3 == pytest.approx(64.0)
    assert Cell.monoclinic(5, 6, 7, 100).beta_deg == 100.0
    assert Cell.rhombohedral(5.0, 55.0).gamma_deg == 55.0


@pytest.mark.parametrize(
    "symbol, system",
    [
        ("F m -3 m", "cubic"), ("P 4/m m m", "tetragonal"), ("P 63/m m c", "hexagonal"),
        ("R -3 c:H", "hexagonal"), ("P -3 m 1", "hexagonal"), ("R -3 c:R", "rhombohedral"),
        ("P n m a", "orthorhombic"), ("P 1 21/c 1", "monoclinic"), ("P -1", "triclinic"),
    ],
)
def test_crystal_system(symbol, system):
    assert crystal_system(symbol) == system


def test_crystal_system_rejects_monoclinic_unique_axis_c_and_bad_input():
    with pytest.raises(ValueError, match="unique axis c"):
        crystal_system("P 1 1 21/n")
    with pytest.raises(ValueError, match="not recognised"):
        crystal_system("X 9 9")
    with pytest.raises(ValueError, match="symmetry of space group"):
        reflections_from_cell("P m -3 m", Cell.tetragonal(4.0, 5.0), 1.0)


def test_r3c_hexagonal_setting_absences():
    refl = reflections_from_cell("R -3 c:H", Cell.hexagonal(8.7288, 21.8042), d_min_a=1.3)
    ops = gemmi.SpaceGroup("R -3 c:H").operations()
    assert len(refl) == 80
    assert np.all(np.diff(refl.d_a) <= 0)
    assert np.all(np.isnan(refl.f_squared))
    n_checked = 0
    for hkl, mult in zip(refl.hkl.tolist(), refl.multiplicity.tolist()):
        eq = set()
        for op in ops.sym_ops:
            h = tuple(op.apply_to_hkl(hkl))
            eq |= {h, (-h[0], -h[1], -h[2])}
        assert len(eq) == mult
        for h, k, l in eq:
            assert (-h + k + l) % 3 == 0
            if k == -h:  # (h -h 0 l): l even
                assert l % 2 == 0
                n_checked += 1
    assert n_checked > 10
    # the listed families cover every allowed reflection of the d-range exactly once
    families = set()
    for hkl in refl.hkl.tolist():
        for op in ops.sym_ops:
            h = tuple(op.apply_to_hkl(hkl))
            families |= {h, (-h[0], -h[1], -h[2])}
    assert sum(refl.multiplicity) == len(families)
    uc = gemmi.UnitCell(8.7288, 8.7288, 21.8042, 90, 90, 120)
    brute = {
        (h, k, l)
        for h in range(-7, 8) for k in range(-7, 8) for l in range(-17, 18)
        if (h, k, l) != (0, 0, 0) and uc.calculate_d([h, k, l]) >= 1.3
        and not ops.is_systematically_absent([h, k, l])
    }
    assert brute == families
    # (0 1 2) allowed, (0 0 3) forbidden by the c glide, (0 0 6) allowed
    listed = {tuple(h) for h in refl.hkl.tolist()}
    assert (0, 1, 2) in listed and (0, 0, 6) in listed and (0, 0, 3) not in listed


def test_fm3m_only_unmixed_indices():
    refl = reflections_from_cell("F m -3 m", Cell.cubic(5.431), d_min_a=0.8)
    parities = {tuple(int(x) % 2 for x in h) for h in refl.hkl}
    assert parities <= {(0, 0, 0), (1, 1, 1)}
    got = [tuple(h) for h in refl.hkl[:5].tolist()]
    assert got == [(1, 1, 1), (2, 0, 0), (2, 2, 0), (3, 1, 1), (2, 2, 2)]
    assert refl.multiplicity[:5].tolist() == [8, 6, 12, 24, 8]


def test_pm3m_multiplicities_and_d():
    a = 4.15689
    refl = reflections_from_cell("P m -3 m", Cell.cubic(a), d_min_a=1.0)
    table = {tuple(h): (m, d) for h, m, d in zip(refl.hkl.tolist(), refl.multiplicity, refl.d_a)}
    assert table[(1, 0, 0)][0] == 6
    assert table[(1, 1, 0)][0] == 12
    assert table[(1, 1, 1)][0] == 8
    assert table[(3, 2, 1)][0] == 48
    for hkl, (_, d) in table.items():
        assert d == pytest.approx(a / math.sqrt(sum(x * x for x in hkl)), rel=1e-12)
    # d-range filter
    sub = reflections_from_cell("P m -3 m", Cell.cubic(a), d_min_a=2.0, d_max_a=4.0)
    assert [tuple(h) for h in sub.hkl.tolist()] == [(1, 1, 0), (1, 1, 1), (2, 0, 0)]


def test_hexagonal_d_closed_formula():
    a, c = 8.7288, 21.8042
    refl = reflections_from_cell("R -3 c:H", Cell.hexagonal(a, c), d_min_a=1.5)
    h, k, l = refl.hkl.T
    closed = 1.0 / np.sqrt(4.0 / 3.0 * (h * h + h * k + k * k) / a**2 + l * l / c**2)
    np.testing.assert_allclose(refl.d_a, closed, rtol=1e-12)
    d113 = refl.d_a[[tuple(x) for x in refl.hkl.tolist()].index((1, 1, 3))]
    assert d113 == pytest.approx(1.0 / math.sqrt(4.0 / 3.0 * 3 / a**2 + 9 / c**2), rel=1e-12)
    assert d113 == pytest.approx(3.741633, abs=2e-6)  # value of the example data's truth


def test_reflections_from_cif_matches_synth_and_truth():
    truth = json.loads((ROOT / "example_data/nvp_operando/truth.json").read_text())
    frame = truth["frames"][0]["phases"]["Na3V2(PO4)3"]
    cell = Cell.hexagonal(frame["a_a"], frame["c_a"])
    path = powder.structure_path("Na3V2(PO4)3")
    refl = reflections_from_cif(path, d_min_a=1.5, cell=cell)
    # same numbers as the synth wrapper (which the example data was generated with)
    ref = powder.reflections(powder.with_lattice(powder.load_structure(path), cell), 1.5)
    np.testing.assert_array_equal(refl.hkl, ref.hkl)
    np.testing.assert_array_equal(refl.d_a, ref.d_a)
    np.testing.assert_array_equal(refl.multiplicity, ref.multiplicity)
    np.testing.assert_array_equal(refl.f_squared, ref.f_squared)
    assert np.all(refl.f_squared >= 0)
    # and the truth table of the example data: d, 2theta, multiplicity per hkl
    table = {tuple(h): i for i, h in enumerate(refl.hkl.tolist())}
    rows = [r for r in truth["reflections_frame1"]["Na3V2(PO4)3"] if r["d_a"] >= 1.5]
    assert len(rows) == 15
    for row in rows:
        i = table[tuple(row["hkl"])]
        assert refl.d_a[i] == pytest.approx(row["d_a"], abs=1e-6)
        assert refl.multiplicity[i] == row["multiplicity"]
        assert refl.two_theta_deg(NVP_LAMBDA_A)[i] == pytest.approx(row["two_theta_deg"],
                                                                     abs=1e-5)
    # without a cell: the CIF's own cell
    own = reflections_from_cif(path, d_min_a=3.0)
    c0 = powder.load_structure(path).cell
    assert own.d_a[0] == pytest.approx(Cell(c0.a, c0.b, c0.c, 90, 90, 120).d_a(own.hkl[:1])[0])


# ----------------------------------------------------------------- cell refinement

CASES = [
    ("cubic", "F m -3 m", Cell.cubic(5.431)),
    ("tetragonal", "P 4/m m m", Cell.tetragonal(3.905, 5.207)),
    ("hexagonal", "R -3 c:H", Cell.hexagonal(8.7288, 21.8042)),
    ("rhombohedral", "R -3 m:R", Cell.rhombohedral(5.05, 55.3)),
    ("orthorhombic", "P n m a", Cell.orthorhombic(10.33, 6.01, 4.69)),
    ("monoclinic", "P 1 21/c 1", Cell.monoclinic(5.12, 6.23, 8.31, 103.4)),
    ("triclinic", "P -1", Cell.triclinic(5.1, 6.3, 7.2, 84.0, 97.0, 101.0)),
]


@pytest.mark.parametrize("system, symbol, cell", CASES, ids=[c[0] for c in CASES])
def test_round_trip_and_monte_carlo_uncertainties(system, symbol, cell):
    assert crystal_system(symbol) == system
    refl = reflections_from_cell(symbol, cell, d_min_a=0.6)
    n_refl = 24
    hkl, d_true = refl.hkl[:n_refl], refl.d_a[:n_refl]
    assert len(d_true) == n_refl
    sigma_d = 2e-4 * d_true  # 2e-4 relative position uncertainty
    rng = np.random.default_rng(20250314)
    n_rep = 200
    d_obs = d_true + rng.normal(size=(n_rep, n_refl)) * sigma_d
    fit = refine_cells(hkl, d_a=d_obs, sigma=sigma_d, system=system)  # one batched call
    assert fit.ok.all() and len(fit) == n_rep
    assert np.all(fit.n_used == n_refl)
    assert np.nanmean(fit.reduced_chi2) == pytest.approx(1.0, abs=0.15)
    truth = _truth_values(cell)
    for name in CELL_NAMES:
        est = getattr(fit, name)
        sd = getattr(fit, f"sigma_{name}")
        if np.all(sd == 0):  # fixed by the lattice system
            assert np.all(est == truth[name])
            continue
        # every replica within 3 sigma (up to the odd 1-in-370 outlier), the mean unbiased
        z = (est - truth[name]) / sd
        assert abs(z[0]) < 3.0, name
        assert np.mean(np.abs(z) < 3.0) >= 0.98, name
        assert abs(est.mean() - truth[name]) < 4.0 * est.std() / math.sqrt(n_rep), name
        # reported uncertainty agrees with the Monte-Carlo scatter
        assert est.std(ddof=1) == pytest.approx(np.median(sd), rel=0.2), name


def test_q_and_two_theta_inputs_agree_with_d():
    cell = Cell.orthorhombic(10.33, 6.01, 4.69)
    refl = reflections_from_cell("P n m a", cell, d_min_a=1.2)
    hkl, d = refl.hkl[:15], refl.d_a[:15]
    by_d = refine_cells(hkl, d_a=d, sigma=1e-4 * d, system="orthorhombic")
    q = 2 * np.pi / d
    by_q = refine_cells(hkl, q_a_inv=q, sigma=1e-4 * q, system="orthorhombic")
    tth = _two_theta_deg(d, 0.7749)
    by_t = refine_cells(hkl, two_theta_deg=tth, sigma=0.001, system="orthorhombic",
                        wavelength_a=0.7749)
    for fit in (by_d, by_q, by_t):
        for name, value in (("a_a", 10.33), ("b_a", 6.01), ("c_a", 4.69)):
            assert getattr(fit, name)[0] == pytest.approx(value, abs=1e-9)
    # relative sigma of d equals relative sigma of q: same uncertainties
    np.testing.assert_allclose(by_q.sigma_a_a, by_d.sigma_a_a, rtol=1e-9)
    assert by_t.sigma_a_a[0] > 0 and np.isnan(by_t.sigma_zero_shift_deg[0])


def test_missing_reflections_and_bad_frames_do_not_affect_others():
    cell = Cell.hexagonal(8.7288, 21.8042)
    refl = reflections_from_cell("R -3 c:H", cell, d_min_a=1.6)
    hkl, d_true = refl.hkl[:15], refl.d_a[:15]
    rng = np.random.default_rng(3)
    d = d_true + rng.normal(0.0, 2e-4, size=(6, 15))
    d[1, [0, 3, 7]] = np.nan  # some reflections not observed
    d[2, 1:] = np.nan  # one reflection left: too few
    hk0 = np.flatnonzero(hkl[:, 2] == 0)
    assert len(hk0) >= 2
    d[3] = np.nan
    d[3, hk0] = d_true[hk0]  # only (h k 0): c undetermined
    d[4] = np.nan  # nothing observed
    sigma = np.full((6, 15), 2e-4)
    sigma[5, 2] = -1.0  # an unusable sigma drops that reflection only
    fit = refine_cells(hkl, d_a=d, sigma=sigma, system="hexagonal", phase="Na3V2(PO4)3")
    assert fit.status.tolist() == [
        "ok", "ok", "too_few_reflections", "ill_conditioned", "too_few_reflections", "ok",
    ]
    assert fit.n_used.tolist() == [15, 12, 1, len(hk0), 0, 14]
    assert fit.reason[2] == (
        "phase Na3V2(PO4)3 needs >= 2 reflections for a hexagonal cell, found 1"
    )
    assert "do not determine a hexagonal cell" in fit.reason[3]
    assert fit.reason[0] == "" and fit.reason[1] == ""
    for i in (2, 3, 4):
        for name in CELL_NAMES:
            assert np.isnan(getattr(fit, name)[i]) and np.isnan(getattr(fit, f"sigma_{name}")[i])
        assert np.isnan(fit.reduced_chi2[i])
    # good frames: the same numbers as when refined alone
    for i in (0, 1, 5):
        alone = refine_cells(hkl, d_a=d[i], sigma=sigma[i], system="hexagonal")
        assert fit.a_a[i] == pytest.approx(alone.a_a[0], rel=1e-13)
        assert fit.c_a[i] == pytest.approx(alone.c_a[0], rel=1e-13)
        assert fit.sigma_c_a[i] == pytest.approx(alone.sigma_c_a[0], rel=1e-10)
        assert abs(fit.a_a[i] - 8.7288) < 3 * fit.sigma_a_a[i]
        assert abs(fit.c_a[i] - 21.8042) < 3 * fit.sigma_c_a[i]


def test_exactly_determined_frame_has_no_chi2_and_input_errors():
    hkl = np.array([[1, 0, 0], [0, 0, 1]])
    fit = refine_cells(hkl, d_a=[4.0, 5.0], sigma=1e-4, system="tetragonal")
    assert fit.a_a[0] == pytest.approx(4.0) and fit.c_a[0] == pytest.approx(5.0)
    assert np.isnan(fit.reduced_chi2[0]) and fit.sigma_a_a[0] > 0
    with pytest.raises(ValueError, match="exactly one"):
        refine_cells(hkl, d_a=[4.0, 5.0], q_a_inv=[1.0, 1.0], sigma=1e-4, system="tetragonal")
    with pytest.raises(ValueError, match="unknown crystal system"):
        refine_cells(hkl, d_a=[4.0, 5.0], sigma=1e-4, system="hexagonl")
    with pytest.raises(ValueError, match="wavelength"):
        refine_cells(hkl, two_theta_deg=[10.0, 12.0], sigma=1e-3, system="tetragonal")
    with pytest.raises(ValueError, match="zero shift"):
        refine_cells(hkl, d_a=[4.0, 5.0], sigma=1e-4, system="tetragonal", zero_shift=True)


def test_zero_shift_recovered():
    cell = Cell.hexagonal(8.7288, 21.8042)
    refl = reflections_from_cell("R -3 c:H", cell, d_min_a=1.1)
    hkl, d_true = refl.hkl[:30], refl.d_a[:30]
    zero_deg, sigma_deg = 0.02, 0.002
    rng = np.random.default_rng(11)
    n_rep = 200
    tth = _two_theta_deg(d_true, NVP_LAMBDA_A) + zero_deg
    tth = tth + rng.normal(0.0, sigma_deg, size=(n_rep, len(d_true)))
    # plus one frame with only 2 of the 3 reflections needed
    few = np.full((1, len(d_true)), np.nan)
    few[0, :2] = tth[0, :2]
    fit = refine_cells(hkl, two_theta_deg=np.vstack([tth, few]), sigma=sigma_deg,
                       system="hexagonal", wavelength_a=NVP_LAMBDA_A, zero_shift=True)
    assert fit.ok[:n_rep].all()
    assert fit.reason[-1] == "the phase needs >= 3 reflections for a hexagonal cell with zero "\
        "shift, found 2"
    assert np.isnan(fit.zero_shift_deg[-1]) and np.isnan(fit.a_a[-1])
    fit = refine_cells(hkl, two_theta_deg=tth, sigma=sigma_deg, system="hexagonal",
                       wavelength_a=NVP_LAMBDA_A, zero_shift=True)
    np.testing.assert_array_equal(fit.a_a, refine_cells(
        hkl, two_theta_deg=np.vstack([tth, few]), sigma=sigma_deg, system="hexagonal",
        wavelength_a=NVP_LAMBDA_A, zero_shift=True).a_a[:n_rep])
    assert fit.param_names == ("A", "C", "zero_shift_deg")
    for name, value in (("zero_shift_deg", zero_deg), ("a_a", 8.7288), ("c_a", 21.8042)):
        est, sd = getattr(fit, name), getattr(fit, f"sigma_{name}")
        assert abs(est[0] - value) < 3 * sd[0], name
        assert abs(est.mean() - value) < 4 * est.std() / math.sqrt(n_rep), name
        assert est.std(ddof=1) == pytest.approx(np.median(sd), rel=0.2), name
    # ignoring the shift biases the cell by far more than its uncertainty
    naive = refine_cells(hkl, two_theta_deg=tth[:1], sigma=sigma_deg, system="hexagonal",
                         wavelength_a=NVP_LAMBDA_A)
    assert abs(naive.a_a[0] - 8.7288) > 10 * naive.sigma_a_a[0]
    assert naive.reduced_chi2[0] > 3 * fit.reduced_chi2[0]


def test_relative_change_percent():
    v = np.array([8.0, 8.08, np.nan, 7.6])
    np.testing.assert_allclose(relative_change(v), [0.0, 1.0, np.nan, -5.0])
    np.testing.assert_allclose(relative_change(v, reference_index=1)[0], -100 * 0.08 / 8.08)
    assert np.isnan(relative_change([np.nan, 1.0])).all()


def test_example_data_nvp_frame1_hexagonal_cell():
    truth = json.loads((ROOT / "example_data/nvp_operando/truth.json").read_text())
    assert truth["wavelength_a"] == NVP_LAMBDA_A
    rows = truth["reflections_frame1"]["Na3V2(PO4)3"]
    hkl = np.array([r["hkl"] for r in rows])
    tth = np.array([r["two_theta_deg"] for r in rows])
    # positions are rounded to 1e-5 deg: a uniform rounding error of sd 1e-5/sqrt(12)
    fit = refine_cells(hkl, two_theta_deg=tth[None, :], sigma=1e-5 / math.sqrt(12),
                       system=crystal_system("R -3 c:H"), wavelength_a=NVP_LAMBDA_A,
                       phase="Na3V2(PO4)3")
    assert fit.ok.all() and fit.n_used[0] == len(rows)
    phase = truth["frames"][0]["phases"]["Na3V2(PO4)3"]
    assert (phase["a_a"], phase["c_a"]) == (8.7288, 21.8042)
    assert fit.a_a[0] == pytest.approx(8.7288, abs=1e-4)
    assert fit.c_a[0] == pytest.approx(21.8042, abs=1e-4)
    assert fit.volume_a3[0] == pytest.approx(phase["volume_a3"], abs=1e-3)
    assert fit.sigma_a_a[0] < 1e-4 and fit.gamma_deg[0] == 120.0


# --------------------------------------------------------------------- real data


def _gauss_linear(x, area, center, width, b0, b1):
    return area / (width * math.sqrt(2 * math.pi)) * np.exp(
        -0.5 * ((x - center) / width) ** 2
    ) + b0 + b1 * (x - center)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=NO_SHARED_DATA)
def test_lab6_pilatus_cell():
    """LaB6 (NIST SRM 660c, a = 4.15689 A) on a Pilatus 300K-W strip at 0.8856 A.

    The strip covers 2theta 10.0-15.3 deg, where (100) at 12.23 deg is the only LaB6
    reflection: the zero shift cannot be refined from this frame (the refinement says so),
    the cell alone can.
    """
    fabio = pytest.importorskip("fabio")
    pyFAI = pytest.importorskip("pyFAI")
    from scipy.optimize import curve_fit

    from xpipe.xrd.integrate import FrameIntegrator, IntegrationSettings

    base = SHARED_DATA / "xrd" / "lab6_pilatus300kw" / "lab6_0008"
    ai = pyFAI.load(str(base.with_suffix(".poni")))
    wavelength_a = ai.wavelength * 1e10
    assert wavelength_a == pytest.approx(0.8856)
    image = fabio.open(str(base.with_suffix(".tif"))).data
    pattern = FrameIntegrator(ai, IntegrationSettings(npt=4000, polarization_factor=None)
                              ).integrate(image)
    x, y = pattern.radial, pattern.intensity.astype(float)
    good = np.isfinite(y)
    lo, hi = x[good].min(), x[good].max()

    refl = reflections_from_cell("P m -3 m", Cell.cubic(4.157), d_min_a=0.5)
    predicted = refl.two_theta_deg(wavelength_a)
    inside = (predicted > lo + 0.1) & (predicted < hi - 0.1)
    hkl, positions, sigmas = [], [], []
    for h, t0 in zip(refl.hkl[inside], predicted[inside]):
        win = good & (np.abs(x - t0) <= 0.1)
        xs, ys = x[win], y[win]
        p0 = [(ys.max() - ys.min()) * 0.02, xs[np.argmax(ys)], 0.01, ys.min(), 0.0]
        popt, pcov = curve_fit(_gauss_linear, xs, ys, p0=p0)
        resid = ys - _gauss_linear(xs, *popt)
        assert np.sqrt(np.mean(resid**2)) < 0.05 * ys.max()  # a real peak, well described
        hkl.append(h)
        positions.append(popt[1])
        sigmas.append(math.sqrt(pcov[1, 1]))
    hkl = np.array(hkl)
    assert [tuple(h) for h in hkl.tolist()] == [(1, 0, 0)]
    assert positions[0] == pytest.approx(12.2297, abs=0.005)

    tth = np.array(positions)[None, :]
    sig = np.array(sigmas)[None, :]
    with_zero = refine_cells(hkl, two_theta_deg=tth, sigma=sig, system="cubic",
                             wavelength_a=wavelength_a, zero_shift=True, phase="LaB6")
    assert with_zero.status[0] == "too_few_reflections"
    assert with_zero.reason[0] == (
        "phase LaB6 needs >= 2 reflections for a cubic cell with zero shift, found 1"
    )
    assert np.isnan(with_zero.a_a[0])

    fit = refine_cells(hkl, two_theta_deg=tth, sigma=sig, system="cubic",
                       wavelength_a=wavelength_a, phase="LaB6")
    assert fit.ok.all()
    assert fit.a_a[0] == pytest.approx(4.15689, abs=0.002)
    assert 0 < fit.sigma_a_a[0] < 0.002
