"""Tests for xpipe.xps.lineshapes and xpipe.xps.backgrounds."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.signal import fftconvolve
from scipy.special import erf

from xpipe.xps import backgrounds as bgm
from xpipe.xps import lineshapes as ls

LN2 = np.log(2.0)


def wide_grid(center=0.0):
    """Dense core +-50 eV plus geometric tails to +-4e4 eV (Lorentzian tails < 1e-5)."""
    core = np.linspace(-50.0, 50.0, 200001)
    tail = np.geomspace(50.0, 4.0e4, 20000)[1:]
    return center + np.concatenate((-tail[::-1], core, tail))


AREA_CASES = [
    ("gl", {"m": 0.0}),
    ("gl", {"m": 30.0}),
    ("gl", {"m": 80.0}),
    ("gl", {"m": 100.0}),
    ("sgl", {"m": 0.0}),
    ("sgl", {"m": 50.0}),
    ("sgl", {"m": 100.0}),
    ("pseudo_voigt", {"eta": 0.0}),
    ("pseudo_voigt", {"eta": 0.3}),
    ("pseudo_voigt", {"eta": 1.0}),
    ("voigt", {"lorentz_fwhm": 0.0}),
    ("voigt", {"lorentz_fwhm": 0.4}),
    ("voigt", {"lorentz_fwhm": 2.0}),
    ("la", {"alpha": 1.0, "beta": 1.0}),
    ("la", {"alpha": 1.2, "beta": 4.0, "gauss_fwhm": 0.7}),
    ("la", {"alpha": 2.0, "beta": 20.0, "gauss_fwhm": 0.0}),
]


@pytest.mark.parametrize(("name", "params"), AREA_CASES)
def test_unit_area(name, params):
    x = wide_grid(284.8)
    y = ls.profile(name, x, 284.8, 1.1, **params)
    assert abs(np.trapezoid(y, x) - 1.0) < 1e-4


@pytest.mark.parametrize(
    "params",
    [{"alpha": 0.0}, {"alpha": 0.1}, {"alpha": 0.35, "lorentz_fwhm": 0.6},
     {"alpha": 0.2, "lorentz_fwhm": 0.0}],
)
def test_ds_unit_area_over_window(params):
    c, f = 852.6, 0.9
    lo, hi = ls._ds_window(c, f, params.get("lorentz_fwhm", 0.2))
    x = np.linspace(lo, hi, 400001)
    y = ls.profile("ds", x, c, f, **params)
    assert abs(np.trapezoid(y, x) - 1.0) < 1e-4


def test_gl_closed_form_area_matches_quadrature():
    for m in (0.0, 5.0, 30.0, 50.0, 95.0, 100.0):
        a = 4 * LN2 * (1 - m / 100)
        b = 4 * m / 100
        ref = quad(lambda u, a=a, b=b: np.exp(-a * u * u) / (1 + b * u * u), -np.inf, np.inf,
                   epsabs=1e-13, epsrel=1e-13)[0]
        assert ls._gl_area_per_f(m) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize(
    ("name", "params"),
    [("gl", {"m": 30.0}), ("sgl", {"m": 40.0}), ("pseudo_voigt", {"eta": 0.6}),
     ("voigt", {"lorentz_fwhm": 0.5}), ("la", {"alpha": 1.7, "beta": 1.7})],
)
def test_symmetric_shapes_peak_at_center(name, params):
    c = 531.37
    x = c + np.linspace(-5.0, 5.0, 100001)
    y = ls.profile(name, x, c, 1.3, **params)
    assert abs(x[np.argmax(y)] - c) < 2e-4
    np.testing.assert_allclose(y, y[::-1], rtol=1e-6, atol=1e-12)


def test_limits_of_the_mixed_shapes():
    x = np.linspace(280.0, 290.0, 2001)
    c, f = 284.8, 1.2
    g = np.sqrt(4 * LN2 / np.pi) / f * np.exp(-4 * LN2 * (x - c) ** 2 / f**2)
    lor = 2 / (np.pi * f) / (1 + 4 * (x - c) ** 2 / f**2)
    np.testing.assert_allclose(ls.profile("gl", x, c, f, m=0.0), g, rtol=1e-12)
    np.testing.assert_allclose(ls.profile("gl", x, c, f, m=100.0), lor, rtol=1e-12)
    np.testing.assert_allclose(ls.profile("sgl", x, c, f, m=100.0), lor, rtol=1e-12)
    np.testing.assert_allclose(ls.profile("sgl", x, c, f, m=0.0), g, rtol=1e-12)
    np.testing.assert_allclose(ls.profile("pseudo_voigt", x, c, f, eta=0.0), g, rtol=1e-12)
    np.testing.assert_allclose(ls.profile("pseudo_voigt", x, c, f, eta=1.0), lor, rtol=1e-12)
    np.testing.assert_allclose(ls.profile("voigt", x, c, f, lorentz_fwhm=0.0), g, rtol=1e-12)
    v = ls.profile("voigt", x, c, f, lorentz_fwhm=1e-7)
    np.testing.assert_allclose(v, g, rtol=1e-5, atol=1e-7)


def test_ds_with_zero_asymmetry_is_the_window_normalised_voigt():
    c, f = 284.8, 0.8
    x = np.linspace(275.0, 300.0, 1001)
    for lf in (0.1, 0.3, 1.0):
        lo, hi = ls._ds_window(c, f, lf)
        area = quad(lambda t, lf=lf: ls.voigt(np.array([t]), c, f, lf)[0], lo, hi,
                    points=[c], limit=500)[0]
        v = ls.voigt(x, c, f, lf) / area
        d = ls.profile("ds", x, c, f, alpha=0.0, lorentz_fwhm=lf)
        assert np.max(np.abs(d - v)) < 1e-4 * v.max()


@pytest.mark.parametrize(
    ("name", "params"),
    [("ds", {"alpha": 0.15}), ("ds", {"alpha": 0.3, "lorentz_fwhm": 0.5}),
     ("la", {"alpha": 1.1, "beta": 5.0}), ("la", {"alpha": 1.3, "beta": 2.5, "gauss_fwhm": 0})],
)
def test_asymmetric_tails_on_the_high_binding_energy_side(name, params):
    c = 932.6
    for d in (2.0, 4.0, 8.0):
        hi = ls.profile(name, np.array([c + d]), c, 1.0, **params)[0]
        lo = ls.profile(name, np.array([c - d]), c, 1.0, **params)[0]
        assert hi > 3.0 * lo
    x = c + np.linspace(-3, 3, 6001)
    y = ls.profile(name, x, c, 1.0, **params)
    assert x[np.argmax(y)] >= c - 1e-3


def test_true_fwhm():
    assert ls.fwhm_of("gl", 1.0, m=0.0) == pytest.approx(1.0, abs=1e-9)
    assert ls.fwhm_of("gl", 1.0, m=100.0) == pytest.approx(1.0, abs=1e-9)
    assert ls.fwhm_of("gl", 1.0, m=30.0) < 0.97
    for m in (0.0, 30.0, 70.0):
        assert ls.fwhm_of("sgl", 2.0, m=m) == pytest.approx(2.0, abs=1e-8)
    # Olivero & Longbothum, JQSRT 17 (1977) 233: fV ~ 0.5346 fL + sqrt(0.2166 fL^2 + fG^2),
    # accurate to 0.02 %
    fg, fl = 1.0, 0.7
    approx = 0.5346 * fl + np.sqrt(0.2166 * fl**2 + fg**2)
    assert ls.fwhm_of("voigt", fg, lorentz_fwhm=fl) == pytest.approx(approx, rel=3e-4)
    # LA with alpha = beta = 1 is a Voigt with Lorentzian width fwhm
    la_w = ls.fwhm_of("la", 0.7, alpha=1.0, beta=1.0, gauss_fwhm=1.0)
    assert la_w == pytest.approx(ls.fwhm_of("voigt", 1.0, lorentz_fwhm=0.7), rel=1e-6)


def test_profile_rejects_bad_input():
    x = np.linspace(0, 1, 5)
    with pytest.raises(ValueError):
        ls.profile("nope", x, 0.5, 1.0)
    with pytest.raises(ValueError):
        ls.profile("gl", x, 0.5, 1.0, eta=0.3)
    with pytest.raises(ValueError):
        ls.profile("gl", x, 0.5, 0.0)


def test_registry_defaults_inside_bounds():
    for name, shape in ls.LINESHAPES.items():
        assert shape.name == name
        for default, lo, hi in shape.params.values():
            assert lo <= default <= hi


def test_gl_is_fast_enough_for_fitting():
    x = np.linspace(280.0, 295.0, 500)
    ls.profile("gl", x, 285.0, 1.0, m=30.0)
    t0 = time.perf_counter()
    for i in range(1000):
        ls.profile("gl", x, 285.0 + 1e-4 * i, 1.0, m=20.0 + 0.01 * i)
    assert time.perf_counter() - t0 < 0.5


# ------------------------------------------------------------------------- backgrounds
def gauss_peak(x, c, fwhm, area):
    return area * np.sqrt(4 * LN2 / np.pi) / fwhm * np.exp(-4 * LN2 * (x - c) ** 2 / fwhm**2)


def gauss_cdf(x, c, fwhm):
    sigma = fwhm / (2 * np.sqrt(2 * LN2))
    return 0.5 * (1 + erf((x - c) / (sigma * np.sqrt(2))))


def test_linear_through_endpoints():
    x = np.linspace(525.0, 540.0, 151)
    y = 3.0 + 0.5 * x
    np.testing.assert_allclose(bgm.linear(x, y), y, rtol=1e-12)
    y2 = y + gauss_peak(x, 532.0, 1.2, 100.0)
    b = bgm.linear(x, y2, avg_points=1)
    assert b[0] == pytest.approx(y2[0]) and b[-1] == pytest.approx(y2[-1])


def test_shirley_recovers_the_step():
    x = np.linspace(278.0, 292.0, 561)
    step = 300.0 * gauss_cdf(x, 284.8, 1.3)
    y = 80.0 + gauss_peak(x, 284.8, 1.3, 1500.0) + step
    b = bgm.shirley(x, y)
    assert np.max(np.abs(b - (80.0 + step))) < 0.01 * 300.0
    assert b[0] == pytest.approx(np.mean(y[:5]))
    assert b[-1] == pytest.approx(np.mean(y[-5:]))
    assert np.all(np.diff(b) >= -1e-12)  # rises to high binding energy


def test_shirley_active_equals_converged_shirley():
    x = np.linspace(525.0, 540.0, 301)
    y = (50.0 + gauss_peak(x, 530.0, 1.1, 800.0) + gauss_peak(x, 532.5, 1.4, 300.0)
         + 120.0 * gauss_cdf(x, 531.0, 2.0))
    b = bgm.shirley(x, y, tol=1e-12, max_iter=500)
    lo, hi = np.mean(y[:5]), np.mean(y[-5:])
    np.testing.assert_allclose(bgm.shirley_active(x, y - b, lo, hi), b, rtol=0, atol=1e-8)


def test_shirley_raises_when_it_cannot_converge():
    x = np.linspace(0.0, 10.0, 201)
    with pytest.raises(ValueError, match="100 iterations"):
        bgm.shirley(x, np.where(x < 5.0, 1.0, 2.0))  # a bare step: no peak to scale it to
    with pytest.raises(ValueError, match="iterations"):
        bgm.shirley(x, 1.0 + 0.1 * x)  # a ramp
    y = 10.0 + gauss_peak(x, 5.0, 1.0, 10.0) + 2.0 * gauss_cdf(x, 5.0, 1.0)
    with pytest.raises(ValueError, match="2 iterations"):
        bgm.shirley(x, y, max_iter=2)
    with pytest.raises(ValueError):
        bgm.shirley(x[::-1], y)  # descending axis


def _tougaard_spectrum(x_fine, primary, **kernel):
    """Measured J solving J = F + K * J on a fine grid (Neumann series)."""
    h = x_fine[1] - x_fine[0]
    k = bgm.tougaard_kernel(x_fine - x_fine[0], **kernel)
    j = primary.copy()
    for _ in range(200):
        new = primary + fftconvolve(j * h, k)[: x_fine.size]
        if np.max(np.abs(new - j)) < 1e-12 * primary.max():
            return new
        j = new
    raise AssertionError("forward model did not converge")


def test_tougaard_recovers_the_primary_spectrum():
    xf = np.linspace(650.0, 720.0, 14001)
    primary = gauss_peak(xf, 660.0, 1.5, 2000.0) + gauss_peak(xf, 664.0, 1.8, 900.0)
    measured = _tougaard_spectrum(xf, primary, B=2866.0, C=1643.0) + 40.0
    x, j, f = xf[::20], measured[::20], primary[::20]
    b = bgm.tougaard(x, j)
    assert np.max(np.abs(j - b - f)) < 1e-3 * f.max()
    fixed = bgm.tougaard(x, j, fit_B=False)  # the universal B = 2866 eV^2 itself
    assert np.max(np.abs(j - fixed - f)) < 1e-3 * f.max()
    # a non-uniform axis takes the direct-sum path
    idx = np.unique(np.concatenate((np.arange(0, 14001, 20), np.arange(5, 14001, 170))))
    b2 = bgm.tougaard(xf[idx], measured[idx])
    assert np.max(np.abs(measured[idx] - b2 - primary[idx])) < 1e-2 * f.max()


def test_tougaard_classes():
    assert set(bgm.TOUGAARD_CLASSES) == set(bgm.TOUGAARD_C_SIGN)
    assert bgm.TOUGAARD_CLASSES["universal"] == (1643.0, 0.0)
    assert bgm.TOUGAARD_CLASSES["polymer"] == (551.0, 436.0)
    xf = np.linspace(280.0, 340.0, 6001)
    primary = gauss_peak(xf, 285.0, 1.2, 1000.0)
    C, D = bgm.TOUGAARD_CLASSES["polymer"]
    measured = _tougaard_spectrum(xf, primary, B=434.0, C=C, D=D, C_sign=-1) + 10.0
    b = bgm.tougaard(xf[::10], measured[::10], material="polymer")
    assert np.max(np.abs(measured[::10] - b - primary[::10])) < 1e-3 * primary.max()
    # the three-parameter polymer loss function peaks near 20 eV (a plasmon-like loss)
    T = np.linspace(0.1, 100, 10000)
    k = bgm.tougaard_kernel(T, B=434.0, C=C, D=D, C_sign=-1)
    assert 15.0 < T[np.argmax(k)] < 25.0


@pytest.mark.parametrize("source", ["Al", "Mg"])
def test_xray_satellites_removes_the_ka3_ka4_pair(source):
    x = np.arange(270.0, 300.0, 0.07)  # offsets deliberately not on the grid
    c, f = 290.0, 1.0
    true = 30.0 + 1000.0 * ls.gl(x, c, f, m=30.0)
    measured = true.copy()
    for label, d, r in bgm.XRAY_SATELLITES[source]:
        if label in ("a3", "a4"):
            measured += r / 100.0 * 1000.0 * ls.gl(x + d, c, f, m=30.0)
    peak = 1000.0 * ls.gl(np.array([c]), c, f, m=30.0)[0]
    # the ghosts are there before correction ...
    assert np.max(np.abs(measured - true)) > 0.03 * peak
    out = bgm.xray_satellites(x, measured - 30.0, source=source, lines=("a3", "a4"))
    assert np.max(np.abs(out + 30.0 - true)) < 0.01 * peak


def test_xray_satellites_full_table_is_inverted_exactly():
    x = np.arange(200.0, 300.0, 0.1)
    true = 1000.0 * ls.gl(x, 285.0, 1.2, m=30.0) + 400.0 * ls.gl(x, 289.0, 1.5, m=30.0)
    measured = true.copy()
    for _, d, r in bgm.XRAY_SATELLITES["Al"]:
        measured += r / 100.0 * np.interp(x + d, x, true, right=0.0)
    np.testing.assert_allclose(bgm.xray_satellites(x, measured, source="Al"), true,
                               atol=1e-9)
    with pytest.raises(ValueError):
        bgm.xray_satellites(x, measured, source="Cu")
