"""Batched peak fitting against the ground truth of synthetic Poisson stacks, against a single
scipy curve_fit of the same model, and on a real time series whose peaks shift."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import curve_fit

from xpipe.xrd.peaks import (
    _model_and_jacobian,
    background,
    find_peaks_1d,
    fit_peaks,
    peak_windows,
    pseudo_voigt,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PEAKSHIFT = SHARED / "xrd" / "peakshift_series_q"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(),
    reason="../shared/data is not present (real measured data is not shipped with the repository)",
)

# truth: (position at frame 0, fwhm, area, eta); all peaks drift +0.5 deg over 200 frames
TRUTH = np.array(
    [
        [14.00, 0.08, 40.0, 0.3],
        [18.00, 0.10, 50.0, 0.5],  # overlapping pair
        [18.14, 0.10, 30.0, 0.5],
        [25.00, 0.12, 60.0, 0.2],
    ]
)
WINDOWS = [(13.6, 14.9), (17.6, 19.0), (24.6, 25.9)]
DRIFT_DEG = 0.5


def _synthetic(n_frames=200, n_points=2000, seed=0, vanish=None):
    """Poisson stack on a linear background; ``vanish`` = (frame, peak) given zero area."""
    rng = np.random.default_rng(seed)
    x = np.linspace(10.0, 30.0, n_points)
    shift = DRIFT_DEG * np.arange(n_frames) / 199  # the same drift rate whatever n_frames
    pos = TRUTH[:, 0][None, :] + shift[:, None]
    area = np.broadcast_to(TRUTH[:, 2], pos.shape).copy()
    if vanish is not None:
        area[vanish] = 0.0
    mean = np.broadcast_to(80.0 - 1.5 * (x - 10.0), (n_frames, n_points)).copy()
    for k, (_, w, _, eta) in enumerate(TRUTH):
        mean += pseudo_voigt(x[None, :], pos[:, k : k + 1], w, area[:, k : k + 1], eta)
    counts = rng.poisson(mean).astype(float)
    return x, counts, np.sqrt(np.maximum(counts, 1.0)), pos, area


@pytest.fixture(scope="module")
def drifting():
    x, y, s, pos, area = _synthetic()
    initial = TRUTH[:, :2] + [[0.02, 0.01]]  # position and fwhm only, a little off
    fits = fit_peaks(x, y, WINDOWS, initial, sigma=s)
    return x, y, s, pos, area, fits


def test_analytic_jacobian_matches_finite_differences():
    rng = np.random.default_rng(3)
    x = np.linspace(-1, 1, 60)[None, :].repeat(2, axis=0)
    theta = np.array([[-0.1, 0.3, 5.0, 0.4, 1.0, 0.5, 0.2, 2.0, 0.7, 2.0], [0.0, 0.2, 3.0, 0.1, 0.1, 0.4, 2.0, 0.9, 1.0, -1.0]])
    xc = np.array([0.0, 0.1])
    _, jac = _model_and_jacobian(theta, x, xc, 2)
    h = 1e-6
    for i in range(theta.shape[1]):
        dt = np.zeros_like(theta)
        dt[:, i] = h
        num = (_model_and_jacobian(theta + dt, x, xc, 2)[0] - _model_and_jacobian(theta - dt, x, xc, 2)[0]) / (2 * h)
        np.testing.assert_allclose(jac[:, :, i], num, rtol=1e-5, atol=1e-6)
    assert rng is not None


def test_pseudo_voigt_is_area_normalised_with_given_fwhm():
    x = np.linspace(-50, 50, 400001)
    for eta in (0.0, 0.5, 1.0):
        f = pseudo_voigt(x, 0.3, 0.2, 7.0, eta)
        # Lorentzian tails beyond +-50 FWHM*250 hold 2/pi * 0.1/50 of the area
        assert np.trapezoid(f, x) == pytest.approx(7.0, rel=2e-3 if eta else 1e-9)
        half = pseudo_voigt(np.array([0.3, 0.4]), 0.3, 0.2, 7.0, eta)
        assert half[1] / half[0] == pytest.approx(0.5, rel=1e-12)


def test_positions_within_three_sigma_and_sigmas_match_scatter(drifting):
    x, y, s, pos, area, fits = drifting
    assert fits.success.all(), set(fits.reason[~fits.success])
    z = (fits.position - pos) / fits.position_sigma
    assert np.mean(np.abs(z) < 3) >= 0.95
    for k in range(TRUTH.shape[0]):
        ratio = np.std(fits.position[:, k] - pos[:, k]) / np.mean(fits.position_sigma[:, k])
        assert 0.75 < ratio < 1.25, (k, ratio)
        ratio_a = np.std(fits.area[:, k] - area[:, k]) / np.mean(fits.area_sigma[:, k])
        assert 0.75 < ratio_a < 1.25, (k, ratio_a)
    rel = fits.area / area - 1
    assert np.median(np.abs(rel)) < 0.03
    assert np.all(np.abs(rel.mean(axis=0)) < 0.01)
    assert np.all(np.abs(fits.fwhm.mean(axis=0) / TRUTH[:, 1] - 1) < 0.01)
    assert np.all(np.abs(fits.eta.mean(axis=0) - TRUTH[:, 3]) < 0.05)
    # the windows' linear background: 80 - 1.5 (x - 10) at the window centre; weights from the
    # counts themselves (sigma = sqrt(N)) bias a fitted level low by about one count (Neyman)
    b_true = 80.0 - 1.5 * (fits.window_center - 10.0)
    assert np.all(np.abs(fits.background[:, :, 0].mean(axis=0) - (b_true - 1.0)) < 0.5)
    assert np.all(np.abs(fits.background[:, :, 1].mean(axis=0) + 1.5) < 0.3)
    assert np.all(np.abs(np.median(fits.redchi, axis=0) - 1) < 0.1)
    assert fits.reason.shape == fits.success.shape and fits.settings["warm_start"] is True


def _reference_fit(x, y, s, window, p0):
    """scipy curve_fit of the same model: n pseudo-Voigts + linear background about the centre."""
    lo, hi = window
    m = (x >= lo) & (x <= hi)
    xc = 0.5 * (lo + hi)

    def model(xx, *p):
        out = p[-2] + p[-1] * (xx - xc)
        for k in range(0, len(p) - 2, 4):
            out = out + pseudo_voigt(xx, *p[k : k + 4])
        return out

    n = (len(p0) - 2) // 4
    lower = [lo, 1e-4, 0, 0] * n + [-np.inf, -np.inf]
    upper = [hi, hi - lo, np.inf, 1] * n + [np.inf, np.inf]
    popt, pcov = curve_fit(model, x[m], y[m], p0=p0, sigma=s[m], absolute_sigma=True, bounds=(lower, upper))
    return popt, np.sqrt(np.diag(pcov))


def test_agrees_with_scipy_curve_fit(drifting):
    x, y, s, pos, area, fits = drifting
    for f in (0, 77, 199):
        for j, window in enumerate(WINDOWS):
            ks = np.flatnonzero(fits.peak_window == j)
            p0 = np.concatenate([np.r_[pos[f, k], TRUTH[k, 1:]] for k in ks] + [[70.0, -1.5]])
            popt, perr = _reference_fit(x, y[f], s[f], window, p0)
            for i, k in enumerate(ks):
                assert abs(fits.position[f, k] - popt[4 * i]) < 0.1 * fits.position_sigma[f, k]
                assert fits.position_sigma[f, k] == pytest.approx(perr[4 * i], rel=0.02)
                assert abs(fits.area[f, k] - popt[4 * i + 2]) < 0.1 * fits.area_sigma[f, k]


def test_warm_start_follows_a_peak_that_moves_many_fwhm():
    rng = np.random.default_rng(7)
    x = np.linspace(0, 10, 2000)
    n = 120
    truth = 4.5 + np.linspace(0, 1.0, n)  # 1 deg = 20 FWHM over the run
    mean = 30.0 + pseudo_voigt(x[None, :], truth[:, None], 0.05, 20.0, 0.0)
    y = rng.poisson(mean).astype(float)
    s = np.sqrt(np.maximum(y, 1))
    kw = {"sigma": s, "eta": 0.0}
    warm = fit_peaks(x, y, [(4.2, 5.8)], [(4.5, 0.05)], warm_start=True, block_size=8, **kw)
    cold = fit_peaks(x, y, [(4.2, 5.8)], [(4.5, 0.05)], warm_start=False, **kw)
    assert warm.success.all()
    zw = np.abs(warm.position[:, 0] - truth) / warm.position_sigma[:, 0]
    assert np.mean(zw < 3) >= 0.95 and np.all(zw < 5)
    with np.errstate(invalid="ignore"):
        found = cold.success[:, 0] & (np.abs(cold.position[:, 0] - truth) < 0.02)
    assert found[:5].all()  # near the start the first-frame guess is fine ...
    assert found[n // 2 :].mean() < 0.2  # ... later it is lost


def test_vanishing_peak_is_flagged_others_fine():
    frame, peak = 9, 2  # the weaker one of the overlapping pair
    x, y, s, pos, area = _synthetic(n_frames=20, seed=11, vanish=(frame, peak))
    fits = fit_peaks(x, y, WINDOWS, TRUTH, sigma=s, block_size=4)
    gone_ok = (not fits.success[frame, peak]) or abs(fits.area[frame, peak]) < 2 * fits.area_sigma[frame, peak]
    assert gone_ok
    assert not fits.success[frame, peak]
    assert "no peak above noise in window [17.6, 19]" in fits.reason[frame, peak]
    assert np.isnan(fits.position[frame, peak])
    assert fits.area[frame, peak] < 2 * fits.area_sigma[frame, peak]  # the area is kept: an upper limit
    others = [k for k in range(4) if k != peak]
    assert fits.success[:, others].all()
    assert fits.success[np.arange(20) != frame].all()
    z = (fits.position[frame, others] - pos[frame, others]) / fits.position_sigma[frame, others]
    assert np.all(np.abs(z) < 4)


def test_bad_frame_does_not_raise():
    x, y, s, pos, area = _synthetic(n_frames=6, seed=2)
    y[3] = np.nan  # an unreadable frame
    y[4, 350:500] = np.nan  # a frame with a gap over the first window
    fits = fit_peaks(x, y, WINDOWS, TRUTH, sigma=s)
    assert not fits.success[3].any() and np.all(fits.reason[3] != "")
    assert np.isnan(fits.position[3]).all()
    assert not fits.success[4, 0] and fits.success[4, 1:].all()
    assert fits.success[[0, 1, 2, 5]].all()


def test_background_methods_and_vectorised_stack():
    x, y, s, pos, area = _synthetic(n_frames=3, seed=4)
    line = 80.0 - 1.5 * (x - 10.0)
    for method, params in (("snip", {}), ("snip", {"max_half_window": 40}), ("arpls", {"lam": 1e6})):
        est = background(x, y, method, **params)
        assert est.baseline.shape == y.shape and est.method == method
        assert est.library.startswith("pybaselines")
        assert all(k in est.params for k in params)
        one = background(x, y[1], method, **params).baseline
        np.testing.assert_allclose(est.baseline[1], one)
        away = np.ones_like(x, bool)
        for lo, hi in WINDOWS:
            away &= (x < lo - 0.3) | (x > hi + 0.3)
        assert np.median(np.abs(est.baseline[:, away] - line[away])) < 4.0  # noise is ~8 counts
    assert background(x, y, "snip").params["max_half_window"] == 50
    with pytest.raises(ValueError):
        background(x, y, "no_such_method")


def test_find_peaks_1d_seeds_fit():
    x, y, s, pos, area = _synthetic(n_frames=1, seed=0)
    cand = find_peaks_1d(x, y[0])
    assert cand.position.size == 4
    np.testing.assert_allclose(cand.position, TRUTH[:, 0], atol=0.015)
    assert np.all(np.abs(cand.fwhm[[0, 3]] / TRUTH[[0, 3], 1] - 1) < 0.3)
    assert np.all(np.abs(cand.area[[0, 3]] / TRUTH[[0, 3], 2] - 1) < 0.3)
    wins = peak_windows(cand.position, cand.fwhm, 4.0)
    assert len(wins) == 3  # the overlapping pair shares one window
    fits = fit_peaks(x, y, wins, cand.as_initial(), sigma=s)
    assert fits.success.all()
    assert np.all(np.abs(fits.position[0] - TRUTH[:, 0]) < 4 * fits.position_sigma[0])


def _peakshift_series():
    files = sorted(PEAKSHIFT.glob("*DD1205_*.dat"), key=lambda p: int(re.search(r"DD1205_(\d+)-", p.name).group(1)))
    data = np.stack([np.loadtxt(f) for f in files])  # no header lines: Q (1/A), I, esd
    return files, data


@needs_shared
def test_real_peakshift_series_tracks_strong_peaks():
    files, data = _peakshift_series()
    assert len(files) == 50
    q = data[0, :, 0]
    assert np.allclose(data[:, :, 0], q)
    inten, esd = data[:, :, 1], data[:, :, 2]
    cand = find_peaks_1d(q, inten[0])
    sharp = (cand.fwhm < 0.1) & (cand.prominence > 0.1 * cand.prominence.max())  # not the broad humps
    strong = cand.prominence[sharp] > 0.2 * cand.prominence.max()
    wins = peak_windows(cand.position[sharp], cand.fwhm[sharp], 3.0)
    # esd here is a relative (normalised) uncertainty: scale the covariance by reduced chi-square
    fits = fit_peaks(q, inten, wins, cand.as_initial()[sharp], sigma=esd, absolute_sigma=False)
    assert strong.sum() >= 4
    assert fits.success[:, strong].all(), set(fits.reason[:, strong][~fits.success[:, strong]])

    k = int(np.argmin(np.abs(cand.position[sharp] - 2.678)))
    assert abs(cand.position[sharp][k] - 2.678) < 0.003
    pos, sig = fits.position[:, k], fits.position_sigma[:, k]
    near = (q > 2.6) & (q < 2.72)
    raw_max = q[near][np.argmax(inten[:, near], axis=1)]
    raw_monotonic = np.diff(raw_max) <= 0
    assert raw_monotonic.mean() > 0.9
    assert np.all(np.diff(pos)[raw_monotonic] < 0.5 * sig[1:][raw_monotonic])
    assert 2.674 < pos[0] < 2.680 and 2.655 < pos[-1] < 2.663
    assert np.all(sig < 5e-4)
