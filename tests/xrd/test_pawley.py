"""Pawley whole-window fits (xpipe.xrd.pawley) against synthetic Poisson patterns of the
bundled NASICON structures, whose cells, zero shift and phase scales are known."""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

from xpipe.synth import powder
from xpipe.xrd import pawley
from xpipe.xrd.pawley import PawleyPhase, pawley_fit
from xpipe.xrd.reflections import Cell, reflections_from_cell

LAMBDA_A = 0.7749
TTH = np.arange(8.0, 24.0, 0.01)
WINDOW = [(8.2, 23.8)]
PROFILE = powder.PeakProfile()  # Caglioti U, V, W (deg^2) and eta of the generator
# 2theta = 23.8 deg plus margin; every Pawley phase gets its reflections down to this d
D_MIN_A = LAMBDA_A / (2.0 * np.sin(np.radians(12.5)))


@functools.cache
def _structure(name):
    return powder.load_structure(name)


def _phase(name, lattice, weight_fraction=1.0):
    """Generator phase: a bundled structure with another cell."""
    return powder.Phase(name, powder.with_lattice(_structure(name), lattice), weight_fraction,
                        PROFILE)


@functools.cache
def _counts_scale():
    """One fixed scale for every pattern: pristine Na3V2(PO4)3 peaks at ~3000 counts."""
    mean = powder.powder_pattern(TTH, [_phase("Na3V2(PO4)3", _cif_lattice())], LAMBDA_A)
    return 3000.0 / mean.max()


def _cif_lattice():
    return powder.lattice_of(_structure("Na3V2(PO4)3"))


def _expected_counts(phases, zero_shift_deg=0.0, x=TTH):
    """Noise-free counts: peaks (observed 2theta = true + shift) on a sloping background."""
    peaks = powder.powder_pattern(x - zero_shift_deg, phases, LAMBDA_A) if phases else 0.0
    return _counts_scale() * peaks + 60.0 + 1.5 * (x - 8.0)


def _poisson(rng, mean):
    counts = rng.poisson(mean).astype(float)
    return counts, np.sqrt(np.maximum(counts, 1.0))


def _pawley_phase(name, cell: Cell, profile=PROFILE):
    refl = reflections_from_cell("R -3 c:H", cell, d_min_a=D_MIN_A)
    return PawleyPhase(name, "hexagonal", refl.hkl, cell, profile.u_deg2, profile.v_deg2,
                       profile.w_deg2, profile.eta)


def _cell(lattice) -> Cell:
    return Cell.hexagonal(lattice.a_a, lattice.c_a)


def _expected_group_intensity(fit, name, phase, frame=0):
    """sum over the fitted groups of S m |F|^2 L(theta), the generator's integrated intensity."""
    refl = phase.reflections(D_MIN_A * 0.95)
    per_hkl = dict(zip(map(tuple, refl.hkl.tolist()),
                       phase.scale * refl.intensity(LAMBDA_A, "debye_scherrer_2d")))
    fitted = np.isfinite(fit.intensity[name][frame])
    return _counts_scale() * sum(
        per_hkl.get(tuple(h), 0.0) for g in np.flatnonzero(fitted)
        for h in fit.group_hkl[name][g].tolist()
    )


# ------------------------------------------------------------------------ one phase


@pytest.fixture(scope="module")
def single():
    """Na3V2(PO4)3 with a and c contracted, fitted from the cell of the CIF."""
    truth = _cif_lattice().scaled(0.997, 0.998)
    rng = np.random.default_rng(11)
    y, s = _poisson(rng, _expected_counts([_phase("Na3V2(PO4)3", truth)]))
    phase = _pawley_phase("NVP", _cell(_cif_lattice()))
    fit = pawley_fit(TTH, y, WINDOW, [phase], wavelength_a=LAMBDA_A, sigma=s)
    return truth, y, s, phase, fit


def test_single_phase_recovers_a_changed_cell(single):
    truth, y, s, _, fit = single
    cell = fit.cells["NVP"]
    assert cell.status[0] == "ok" and fit.status[0, 0] == "ok", fit.reason
    err_a = cell.a_a[0] - truth.a_a
    err_c = cell.c_a[0] - truth.c_a
    # the start was 0.026 A (a) and 0.044 A (c) away
    assert abs(err_a) < 0.002 and abs(err_c) < 0.005
    assert 0 < cell.sigma_a_a[0] < 0.001 and 0 < cell.sigma_c_a[0] < 0.003
    assert abs(err_a) < 4 * cell.sigma_a_a[0] and abs(err_c) < 4 * cell.sigma_c_a[0]
    assert abs(cell.volume_a3[0] - truth.volume_a3) < 4 * cell.sigma_volume_a3[0]
    # hexagonal constraints hold exactly
    assert cell.b_a[0] == pytest.approx(cell.a_a[0], rel=1e-12)
    assert (cell.alpha_deg[0], cell.gamma_deg[0], cell.sigma_gamma_deg[0]) == (90.0, 120.0, 0.0)
    assert 0.8 < fit.redchi[0] < 1.3
    # the model returned reproduces the statistics of the fit
    calc = fit.calculated(0)
    inside = np.isfinite(calc)
    assert inside.sum() == fit.n_points[0]
    chi2 = np.sum(((y - calc) / s)[inside] ** 2)
    assert chi2 / fit.n_points[0] == pytest.approx(fit.redchi[0], rel=0.1)


def test_groups_merge_reflections_the_lattice_cannot_separate(single):
    _, _, _, phase, fit = single
    groups = fit.group_hkl["NVP"]
    merged = [g for g in groups if len(g) > 1]
    # (0 3 6) and (3 0 6) of R-3c have the same d for every hexagonal cell but are not
    # symmetry-equivalent: one group
    assert any({(0, 3, 6), (3, 0, 6)} <= set(map(tuple, g.tolist())) for g in merged)
    assert sum(len(g) for g in groups) == len(phase.hkl)
    for g in merged:  # same d in another hexagonal cell
        d = Cell.hexagonal(7.3, 25.1).d_a(g)
        assert np.allclose(d, d[0], rtol=1e-12)
    pos = fit.group_position["NVP"][0]
    # ordered by position at the start cell; the refined cell may swap close neighbours
    assert np.all(np.diff(pos[np.isfinite(pos)]) > -0.01)


def test_covariance_scaling_by_reduced_chi_square(single):
    _, y, s, phase, fit = single
    rel = pawley_fit(TTH, y, WINDOW, [phase], wavelength_a=LAMBDA_A, sigma=s,
                     absolute_sigma=False)
    assert rel.cells["NVP"].a_a[0] == pytest.approx(fit.cells["NVP"].a_a[0], abs=1e-6)
    ratio = rel.cells["NVP"].sigma_a_a[0] / fit.cells["NVP"].sigma_a_a[0]
    assert ratio == pytest.approx(np.sqrt(rel.redchi[0]), rel=0.02)
    assert rel.settings["absolute_sigma"] is False and fit.settings["absolute_sigma"] is True
    unit = pawley_fit(TTH, y, WINDOW, [phase], wavelength_a=LAMBDA_A)
    # unit weights: another estimator of the same cell, consistent within the uncertainties
    diff = unit.cells["NVP"].a_a[0] - fit.cells["NVP"].a_a[0]
    assert abs(diff) < 4 * unit.cells["NVP"].sigma_a_a[0]
    assert 0.3 < unit.cells["NVP"].sigma_a_a[0] / fit.cells["NVP"].sigma_a_a[0] < 3.0


def test_uncertainties_match_the_scatter_over_noise_realisations():
    truth = _cif_lattice().scaled(0.999, 1.001)
    mean = _expected_counts([_phase("Na3V2(PO4)3", truth)])
    rng = np.random.default_rng(5)
    y, s = _poisson(rng, np.broadcast_to(mean, (24, mean.size)))
    fit = pawley_fit(TTH, y, WINDOW, [_pawley_phase("NVP", _cell(truth))],
                     wavelength_a=LAMBDA_A, sigma=s)
    cell = fit.cells["NVP"]
    assert cell.ok.all(), fit.reason
    for value, sigma, true in ((cell.a_a, cell.sigma_a_a, truth.a_a),
                               (cell.c_a, cell.sigma_c_a, truth.c_a)):
        pull = (value - true) / sigma
        assert abs(pull.mean()) < 1.0 and 0.6 < pull.std() < 1.5, pull


# ----------------------------------------------------------------------- two phases


def test_two_overlapping_phases_cells_and_intensity_ratio():
    t_nvp = powder.Lattice.hexagonal(8.698249, 21.760592)  # Na(3-x) V2(PO4)3, x ~ 0.2
    t_nv2p = powder.Lattice.hexagonal(8.428, 21.486)
    gen = [_phase("Na3V2(PO4)3", t_nvp, 0.3), _phase("NaV2(PO4)3", t_nv2p, 0.7)]
    rng = np.random.default_rng(2)
    y, s = _poisson(rng, _expected_counts(gen))
    phases = [_pawley_phase("NVP", Cell.hexagonal(8.7288, 21.8042)),
              _pawley_phase("NV2P", Cell.hexagonal(8.44, 21.50))]
    windows = [(8.2, 15.95), (16.05, 23.8)]  # two windows, each its own linear background
    fit = pawley_fit(TTH, y, windows, phases, wavelength_a=LAMBDA_A, sigma=s)
    assert (fit.status[0] == "ok").all(), fit.reason
    for name, truth in (("NVP", t_nvp), ("NV2P", t_nv2p)):
        cell = fit.cells[name]
        assert abs(cell.a_a[0] - truth.a_a) < 0.005, name
        assert abs(cell.c_a[0] - truth.c_a) < 0.01, name
        assert abs(cell.a_a[0] - truth.a_a) < 4 * cell.sigma_a_a[0], name
    # peaks of the two phases overlap: closest group positions within a FWHM
    p1 = fit.group_position["NVP"][0]
    p2 = fit.group_position["NV2P"][0]
    gap = np.abs(p1[np.isfinite(p1)][:, None] - p2[np.isfinite(p2)][None, :]).min()
    assert gap < PROFILE.fwhm_deg(16.0)
    # phase intensities against the generator's S m |F|^2 L over the same groups: the
    # ratio is consistent within its uncertainty (the phases are anti-correlated) ...
    expected = [_expected_group_intensity(fit, n, g) for n, g in zip(("NVP", "NV2P"), gen)]
    got = fit.phase_intensity[0]
    cov = fit.phase_intensity_covariance[0]
    assert cov[0, 1] < 0 and np.allclose(np.diag(cov), fit.phase_intensity_sigma[0] ** 2)
    ratio, ratio_expected = got[0] / got[1], expected[0] / expected[1]
    rel_var = cov[0, 0] / got[0] ** 2 + cov[1, 1] / got[1] ** 2 - 2 * cov[0, 1] / got.prod()
    assert abs(ratio / ratio_expected - 1) < 4 * np.sqrt(rel_var) and 0 < rel_var < 0.3**2
    assert ratio == pytest.approx(ratio_expected, rel=0.12)
    assert np.all(got > 5 * fit.phase_intensity_sigma[0])
    # ... and exact without noise
    mean = _expected_counts(gen)
    exact = pawley_fit(TTH, mean, windows, phases, wavelength_a=LAMBDA_A, sigma=np.sqrt(mean))
    expected = [_expected_group_intensity(exact, n, g) for n, g in zip(("NVP", "NV2P"), gen)]
    assert exact.phase_intensity[0] == pytest.approx(expected, rel=0.005)
    assert fit.background.shape == (1, 2, 2)
    assert fit.background[0, :, 0] == pytest.approx(60.0 + 1.5 * (np.mean(windows, 1) - 8.0),
                                                    rel=0.1)


def test_present_mask_and_vanishing_phase():
    t_nvp = powder.Lattice.hexagonal(8.70, 21.76)
    t_nv2p = powder.Lattice.hexagonal(8.43, 21.49)
    both = [_phase("Na3V2(PO4)3", t_nvp, 0.5), _phase("NaV2(PO4)3", t_nv2p, 0.5)]
    only_b = [_phase("NaV2(PO4)3", t_nv2p, 1.0)]
    rng = np.random.default_rng(8)
    y, s = _poisson(rng, np.stack([_expected_counts(both), _expected_counts(only_b),
                                   _expected_counts(only_b)]))
    phases = [_pawley_phase("NVP", _cell(t_nvp)), _pawley_phase("NV2P", _cell(t_nv2p))]
    present = np.array([[True, True], [False, True], [True, True]])
    fit = pawley_fit(TTH, y, WINDOW, phases, wavelength_a=LAMBDA_A, sigma=s, present=present)
    nvp, nv2p = fit.cells["NVP"], fit.cells["NV2P"]
    assert list(fit.status[:, 1]) == ["ok", "ok", "ok"], fit.reason
    assert fit.status[0, 0] == "ok"
    # marked absent: left out of the model, NaN
    assert fit.status[1, 0] == "absent" and "NVP" in fit.reason[1, 0]
    assert np.isnan(nvp.a_a[1]) and np.isnan(fit.phase_intensity[1, 0])
    assert np.all(np.isnan(fit.intensity["NVP"][1]))
    # present but without peaks: no intensity, cell NaN, intensities kept as upper limits
    assert fit.status[2, 0] == "no_intensity" and "no intensity" in fit.reason[2, 0]
    assert np.isnan(nvp.a_a[2]) and np.isfinite(fit.phase_intensity[2, 0])
    for k in range(3):
        assert abs(nv2p.a_a[k] - t_nv2p.a_a) < 0.005 and abs(nv2p.c_a[k] - t_nv2p.c_a) < 0.01
    assert abs(nvp.a_a[0] - t_nvp.a_a) < 0.005
    # likelihood-ratio significance: large where the phase is there, small where it is not
    assert np.all(fit.significance[:, 1] > 20) and fit.significance[0, 0] > 20
    assert np.isnan(fit.significance[1, 0]) and fit.significance[2, 0] < 5
    # no phase at all: background only, every phase absent
    none = pawley_fit(TTH, y[1], WINDOW, phases, wavelength_a=LAMBDA_A, sigma=s[1],
                      present=[False, False])
    assert list(none.status[0]) == ["absent", "absent"] and np.isfinite(none.redchi[0])
    assert none.redchi[0] > 10 * fit.redchi[1]


def test_hexagonal_and_rhombohedral_axes_give_the_same_cell(single):
    _, y, s, hexagonal, fit = single
    a_h, c_h = fit.cells["NVP"].a_a[0], fit.cells["NVP"].c_a[0]
    # the same R lattice in rhombohedral axes, started from the CIF cell
    a0, c0 = hexagonal.cell.a_a, hexagonal.cell.c_a
    a_r = np.sqrt(3 * a0**2 + c0**2) / 3
    alpha = np.degrees(2 * np.arcsin(3 * a0 / (2 * np.sqrt(3 * a0**2 + c0**2))))
    refl = reflections_from_cell("R -3 c:R", Cell.rhombohedral(a_r, alpha), d_min_a=D_MIN_A)
    phase = PawleyPhase("NVP", "rhombohedral", refl.hkl, Cell.rhombohedral(a_r, alpha),
                        PROFILE.u_deg2, PROFILE.v_deg2, PROFILE.w_deg2, PROFILE.eta)
    rho = pawley_fit(TTH, y, WINDOW, [phase], wavelength_a=LAMBDA_A, sigma=s).cells["NVP"]
    assert rho.status[0] == "ok"
    assert rho.alpha_deg[0] == pytest.approx(rho.gamma_deg[0], abs=1e-9)
    assert rho.sigma_alpha_deg[0] > 0 and rho.param_names == ("A", "D")
    # the hexagonal cell holds three rhombohedral ones
    vol_h, sigma_vol_h = fit.cells["NVP"].volume_a3[0], fit.cells["NVP"].sigma_volume_a3[0]
    assert 3 * rho.volume_a3[0] == pytest.approx(vol_h, abs=0.05 * sigma_vol_h)
    assert 3 * rho.sigma_volume_a3[0] == pytest.approx(sigma_vol_h, rel=0.05)
    assert rho.a_a[0] == pytest.approx(np.sqrt(3 * a_h**2 + c_h**2) / 3, abs=2e-5)


# ------------------------------------------------------------------------- series


def test_frame_series_warm_start_with_bad_frames():
    start = _cif_lattice()
    truths = [start.scaled(1.0 - 0.0008 * k, 1.0 - 0.0005 * k) for k in range(6)]
    mean = np.stack([_expected_counts([_phase("Na3V2(PO4)3", t)]) for t in truths])
    mean[2] = _expected_counts([])  # background only: no phase at all
    rng = np.random.default_rng(3)
    y, s = _poisson(rng, mean)
    y[4] = np.nan  # a lost frame
    fit = pawley_fit(TTH, y, WINDOW, [_pawley_phase("NVP", _cell(start))],
                     wavelength_a=LAMBDA_A, sigma=s)
    cell = fit.cells["NVP"]
    good = [0, 1, 3, 5]
    assert list(cell.status[good]) == ["ok"] * 4, fit.reason
    for k in good:
        assert abs(cell.a_a[k] - truths[k].a_a) < 0.002 and abs(cell.c_a[k] - truths[k].c_a) < 0.005
        assert abs(cell.a_a[k] - truths[k].a_a) < 4 * cell.sigma_a_a[k]
    # noise only: NaN with a reason naming the phase; the next frames go on
    assert cell.status[2] != "ok" and np.isnan(cell.a_a[2]) and np.isnan(cell.sigma_c_a[2])
    assert "NVP" in fit.reason[2, 0] and fit.frame_reason(2) == fit.reason[2, 0]
    assert cell.status[4] == "too_few_points" and "valid points" in cell.reason[4]
    assert np.isnan(fit.redchi[4]) and fit.n_points[4] == 0
    # warm start: frame 5 starts from frame 3, closer than the given start
    cold = pawley_fit(TTH, y[5], WINDOW, [_pawley_phase("NVP", _cell(start))],
                      wavelength_a=LAMBDA_A, sigma=s[5])
    assert cold.nfev[0] > fit.nfev[5]
    assert cold.cells["NVP"].a_a[0] == pytest.approx(cell.a_a[5], abs=0.5 * cell.sigma_a_a[5])
    assert fit.settings["warm_start"].startswith("each frame")


def test_implausible_change_is_rejected():
    truth = _cif_lattice().scaled(0.997, 0.998)
    rng = np.random.default_rng(4)
    y, s = _poisson(rng, _expected_counts([_phase("Na3V2(PO4)3", truth)]))
    fit = pawley_fit(TTH, y, WINDOW, [_pawley_phase("NVP", _cell(_cif_lattice()))],
                     wavelength_a=LAMBDA_A, sigma=s, max_relative_change=0.001)
    assert fit.status[0, 0] == "implausible_change"
    assert re.search(r"phase NVP: [ac]_a moved 0\.1\d% .*\(limit 0\.1%\)", fit.reason[0, 0])
    assert np.isnan(fit.cells["NVP"].a_a[0])


# --------------------------------------------------------------- zero shift, Q axis


def test_zero_shift_is_recovered():
    truth = _cif_lattice().scaled(0.998, 0.999)
    rng = np.random.default_rng(5)
    y, s = _poisson(rng, _expected_counts([_phase("Na3V2(PO4)3", truth)], zero_shift_deg=0.02))
    fit = pawley_fit(TTH, y, WINDOW, [_pawley_phase("NVP", _cell(_cif_lattice()))],
                     wavelength_a=LAMBDA_A, sigma=s, zero_shift=True)
    cell = fit.cells["NVP"]
    assert cell.status[0] == "ok", fit.reason
    assert 0 < fit.sigma_zero_shift_deg[0] < 0.005
    assert abs(fit.zero_shift_deg[0] - 0.02) < 3 * fit.sigma_zero_shift_deg[0]
    assert cell.zero_shift_deg[0] == fit.zero_shift_deg[0]
    assert cell.param_names == ("A", "C", "zero_shift_deg") and cell.covariance.shape == (1, 3, 3)
    assert abs(cell.a_a[0] - truth.a_a) < 4 * cell.sigma_a_a[0]
    assert abs(cell.c_a[0] - truth.c_a) < 4 * cell.sigma_c_a[0]
    # without the zero shift the cell absorbs it and the fit is worse
    plain = pawley_fit(TTH, y, WINDOW, [_pawley_phase("NVP", _cell(_cif_lattice()))],
                       wavelength_a=LAMBDA_A, sigma=s)
    assert plain.redchi[0] > fit.redchi[0]
    assert plain.zero_shift_deg[0] == 0.0 and np.isnan(plain.sigma_zero_shift_deg[0])


def test_q_axis():
    truth = _cif_lattice().scaled(0.998, 0.999)
    rng = np.random.default_rng(6)
    y, s = _poisson(rng, _expected_counts([_phase("Na3V2(PO4)3", truth)]))
    theta = np.radians(TTH / 2.0)
    q = 4.0 * np.pi * np.sin(theta) / LAMBDA_A
    # the generator's 2theta widths in Q, approximated by FWHM^2 = U Q^2 + W
    fwhm_q = np.radians(PROFILE.fwhm_deg(TTH)) * 2.0 * np.pi * np.cos(theta) / LAMBDA_A
    u, w = np.linalg.lstsq(np.stack([q * q, np.ones_like(q)], 1), fwhm_q**2, rcond=None)[0]
    refl = reflections_from_cell("R -3 c:H", _cell(_cif_lattice()), d_min_a=D_MIN_A)
    phase = PawleyPhase("NVP", "hexagonal", refl.hkl, _cell(_cif_lattice()), u, 0.0, w, 0.5)
    fit = pawley_fit(q, y, [(q[20], q[-20])], [phase], axis="q_A^-1", sigma=s)
    cell = fit.cells["NVP"]
    assert cell.status[0] == "ok", fit.reason
    assert abs(cell.a_a[0] - truth.a_a) < 0.002 and abs(cell.c_a[0] - truth.c_a) < 0.005
    assert abs(cell.a_a[0] - truth.a_a) < 4 * cell.sigma_a_a[0]
    assert 0.8 < fit.redchi[0] < 1.3
    assert fit.profile["NVP"][0, 1] == 0.0 and fit.profile_sigma["NVP"][0, 1] == 0.0
    assert fit.settings["fwhm_form"] == "FWHM^2 = U Q^2 + W (1/A^2)"


# ------------------------------------------------------------------------ internals


@pytest.mark.parametrize("axis", ["2th_deg", "q_A^-1"])
def test_analytic_jacobian_matches_finite_differences(axis):
    """d(model)/d(cell, profile, zero shift) at fixed intensities against central
    differences: it drives the optimiser and gives the covariance."""
    rng = np.random.default_rng(0)
    x = TTH if axis == "2th_deg" else 4 * np.pi * np.sin(np.radians(TTH / 2)) / LAMBDA_A
    profile = (0.004, -0.001, 0.0025, 0.4) if axis == "2th_deg" else (1e-4, 0.0, 5e-5, 0.4)
    phases = [PawleyPhase("NVP", "hexagonal", _pawley_phase("NVP", _cell(_cif_lattice())).hkl,
                          _cell(_cif_lattice()), *profile),
              PawleyPhase("cubic", "cubic", [[1, 1, 1], [2, 0, 0], [2, 2, 0], [3, 1, 1]],
                          Cell.cubic(4.1), *profile)]
    setups = [pawley._PhaseSetup(ph, i, 0) for i, ph in enumerate(phases)]
    setups[1].offset = setups[0].n_par
    n_full = setups[0].n_par + setups[1].n_par + 1
    geo = pawley._Geometry(axis, LAMBDA_A, 1e-6)
    theta = np.zeros(n_full)
    for st in setups:
        theta[st.cell_slice()] = st.p0
        theta[st.profile_slice()] = st.profile0
    theta[-1] = 0.013 if axis == "2th_deg" else 0.0
    inside = (x > x[10]) & (x < x[-10])
    actives = [np.flatnonzero((lambda p: (p > x[10]) & (p < x[-10]))(
        geo.positions(st.rows, st.p0, 0.0)[0])) for st in setups]
    fixed = [] if axis == "2th_deg" else [st.offset + st.k + 1 for st in setups] + [n_full - 1]
    free = np.setdiff1d(np.arange(n_full), fixed)  # no V and no zero shift on the Q axis
    sw = rng.uniform(0.5, 1.5, inside.sum())
    y = rng.uniform(50, 100, inside.sum())
    prob = pawley._FrameProblem(setups, actives, geo, x[inside], y, sw,
                                np.zeros(inside.sum(), int), 1, [x[inside].mean()],
                                [np.ptp(x[inside]) / 2], 1, theta, free)
    state = prob.evaluate(theta[free])
    c = rng.uniform(0.0, 10.0, prob.n_tot)
    state["c"] = c

    def model(th):
        pos, fw, eta, *_ = prob.geometry(th)
        return sw * (pawley.pseudo_voigt(x[inside][:, None], pos[None], fw[None], eta[None]) @ c)

    jac = prob.model_jacobian(state, free)
    for q, slot in enumerate(free):
        h = 1e-6 * max(abs(theta[slot]), 1e-3)
        up, down = theta.copy(), theta.copy()
        up[slot] += h
        down[slot] -= h
        fd = (model(up) - model(down)) / (2 * h)
        assert np.abs(jac[:, q] - fd).max() <= 1e-5 * np.abs(fd).max() + 1e-9, slot


# -------------------------------------------------------------------------- inputs


def test_bad_inputs_raise_with_helpful_messages():
    y = np.ones(TTH.size)
    ok = _pawley_phase("NVP", _cell(_cif_lattice()))
    kw = {"wavelength_a": LAMBDA_A}
    cases = [
        (dict(stack=np.ones((2, TTH.size + 1))), rf"stack must be \(n_frames, {TTH.size}\)"),
        (dict(sigma=np.ones(5)), r"sigma must be a scalar"),
        (dict(windows=[(30.0, 31.0)]), r"window 0 \[30.0, 31.0\] holds 0 points"),
        (dict(windows=[(9.0, 12.0), (11.0, 14.0)]), "overlaps another window"),
        (dict(windows=[(12.0, 9.0)]), "lo < hi"),
        (dict(phases=[PawleyPhase("X", "hexagonalish", ok.hkl, ok.cell, 0.004, -0.001, 0.0025)]),
         "unknown crystal system 'hexagonalish'"),
        (dict(phases=[PawleyPhase("X", "hexagonal", [[0, 0, 2]], ok.cell, 0.004, -0.001,
                                  0.0025)]), "phase 'X' has no reflection inside the windows"),
        (dict(phases=[PawleyPhase("X", "hexagonal", ok.hkl, Cell(8.0, 9.0, 10.0), 0.004, 0.0,
                                  0.0025)]), "is not a hexagonal cell"),
        (dict(phases=[PawleyPhase("X", "hexagonal", ok.hkl, ok.cell, 0.0, 0.0, -0.01)]),
         "FWHM\\^2 <= 0"),
        (dict(phases=[ok, ok]), "phase names must be unique"),
        (dict(phases=[]), "no phases given"),
        (dict(present=np.ones((3, 1), bool)), r"present must be \(1, 1\)"),
        (dict(axis="d_a"), "unknown axis 'd_a'"),
        (dict(wavelength_a=None), "needs wavelength_a"),
        (dict(axis="q_A^-1", zero_shift=True), "zero shift can only be refined"),
        (dict(refine_profile=["width"]), "refine_profile names"),
    ]
    for change, message in cases:
        args = {"stack": y, "windows": WINDOW, "phases": [ok], **kw, **change}
        stack, windows, phases = args.pop("stack"), args.pop("windows"), args.pop("phases")
        with pytest.raises(ValueError, match=message):
            pawley_fit(TTH, stack, windows, phases, **args)
