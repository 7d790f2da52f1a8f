"""XPS fit engine: doublets, links, series, diagnostics, uncertainties, charge correction."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from conftest import SHARED

from xpipe.xps import backgrounds
from xpipe.xps.charge import REFERENCES, charge_shift
from xpipe.xps.fit import Component, Doublet, fit_series, fit_spectrum
from xpipe.xps.lineshapes import profile

needs_xps = pytest.mark.skipif(not (SHARED / "xps").exists(),
                               reason="../shared/data (real measured data) is not beside the checkout")

V_TRUTH = {5: (517.2, 0.5), 4: (516.3, 0.3), 3: (515.7, 0.2)}
V_SPLIT, V_RATIO, V_FWHM = 7.4, 1.3, 1.2


def v2p_spectrum(fractions=(0.5, 0.3, 0.2), seed=0, total=60000.0, n=400, fwhm=V_FWHM, centers=None):
    """V 2p of V5+/V4+/V3+ (GL(30) doublets, broader 2p1/2) on a Shirley step, Poisson noise."""
    x = np.linspace(508.0, 530.0, n)
    peaks = np.zeros_like(x)
    centers = centers or [c for c, _ in V_TRUTH.values()]
    for center, f in zip(centers, fractions):
        a = total * f
        peaks += a / 1.5 * profile("gl", x, center, fwhm, m=30)
        peaks += a * 0.5 / 1.5 * profile("gl", x, center + V_SPLIT, fwhm * V_RATIO, m=30)
    bg = backgrounds.shirley_active(x, peaks, 400.0, 1400.0)
    y = np.random.default_rng(seed).poisson(peaks + bg).astype(float)
    return x, y


def v2p_model(**kw):
    return [Doublet(f"V{v}+ 2p", "p", center=c + 0.1, splitting=V_SPLIT, fwhm_ratio=V_RATIO,
                    shape_params={"m": 30}, label_valence=v, **kw) for v, (c, _) in V_TRUTH.items()]


V_LINKS = ["fwhm(V4+ 2p3/2) = fwhm(V5+ 2p3/2)", "fwhm(V3+ 2p3/2) = fwhm(V5+ 2p3/2)"]


def two_peaks(sep=1.5, fwhm=1.2, areas=(6000.0, 3000.0), seed=1, c0=285.0):
    x = np.linspace(c0 - 6, c0 + 8, 281)
    pk = areas[0] * profile("gl", x, c0, fwhm, m=30) + areas[1] * profile("gl", x, c0 + sep, fwhm, m=30)
    y = np.random.default_rng(seed).poisson(pk + 150.0).astype(float)
    return x, y


# ----------------------------------------------------------------------------- real data


def read_au_4f():
    """Au 4f of clean gold (synchrotron, hv = 180 eV) on a binding-like axis ``hv - KE``.

    The work function is not recorded, so absolute energies are off by it (a few eV: see the
    Au 4f7/2 charge reference below); splittings and area ratios do not depend on it.
    """
    path = SHARED / "xps" / "lmfitxps" / "clean_Au_4f.csv"
    header = path.read_text().splitlines()[0]
    hv = float(re.search(r"hv\s*=\s*([\d.]+)\s*eV", header).group(1))
    ke, y = np.loadtxt(path, delimiter=",", comments="#").T
    return hv, hv - ke, y


def au_doublet(name="Au 4f", center=87.7, **kw):
    # Gaussian-broadened Doniach-Sunjic, asymmetry and lifetime width fitted, 4f5/2 width free
    # (Coster-Kronig broadening), splitting and area ratio free
    return Doublet(name, "f", center=center, splitting=3.67, shape="ds", fwhm=0.4,
                   shape_params={"alpha": 0.05, "lorentz_fwhm": 0.3}, fwhm_bounds=(0.05, 2.0), **kw)


@needs_xps
def test_au_4f_doublet_on_real_synchrotron_data():
    hv, x, y = read_au_4f()
    assert hv == 180.0
    model = [au_doublet(vary={"alpha": True, "lorentz_fwhm": True, "fwhm_ratio": True},
                        vary_splitting=True, vary_area_ratio=True)]
    fit = fit_spectrum(x, y, model, background="tougaard")
    au = fit.get("Au 4f")
    assert au.splitting == pytest.approx(3.67, abs=0.05)
    assert au.area_ratio == pytest.approx(0.75, abs=0.05)
    assert 0 < au.splitting_err < 0.05 and 0 < au.area_ratio_err < 0.05
    assert [c.name for c in fit.components] == ["Au 4f7/2", "Au 4f5/2"]
    for c in fit.components:
        for err in (c.center_err, c.fwhm_err, c.area_err, c.height_err):
            assert np.isfinite(err) and err > 0
    assert np.isfinite(fit.reduced_chi_square) and fit.reduced_chi_square > 1
    # one doublet leaves structure: clean Au is surface sensitive at 90 eV kinetic energy and
    # shows the surface core-level component about 0.3 eV below the bulk line
    assert "structured_residuals" in fit.diagnostic_kinds()
    surface = au_doublet("Au 4f surface", center=87.35, center_bounds=(86.8, 87.6))
    links = [f"{q}(Au 4f surface) = {q}(Au 4f)" for q in
             ("splitting", "area_ratio", "fwhm_ratio", "fwhm", "alpha", "lorentz_fwhm")]
    two = fit_spectrum(x, y, [model[0], surface], links=links, background="tougaard")
    shift = two.get("Au 4f surface 7/2").center - two.get("Au 4f7/2").center
    assert -0.45 < shift < -0.2
    assert two.reduced_chi_square < 0.7 * fit.reduced_chi_square
    assert two.get("Au 4f surface").splitting == two.get("Au 4f").splitting
    # energy-scale reference: the shift to the ISO 15472 Au 4f7/2 energy is the work-function offset
    cs = charge_shift(x, y, reference="Au 4f7/2", window=(84, 96))
    assert cs.reference_ev == REFERENCES["Au 4f7/2"]
    assert -4.5 < cs.shift_ev < -3.0 and 0 < cs.shift_err_ev < 0.02


# ----------------------------------------------------------------------------- synthetic V 2p


def test_v2p_fractions_and_mean_valence_recovered():
    x, y = v2p_spectrum()
    fit = fit_spectrum(x, y, v2p_model(), links=V_LINKS, background="shirley")
    assert fit.success
    truth_valence = sum(v * f for v, (_, f) in V_TRUTH.items())
    for v, (center, f) in V_TRUTH.items():
        s = fit.get(f"V{v}+ 2p")
        assert s.fraction == pytest.approx(f, abs=0.05)
        assert 0 < s.fraction_err < 0.05
        assert fit.get(f"V{v}+ 2p3/2").center == pytest.approx(center, abs=0.1)
    assert fit.mean_valence == pytest.approx(truth_valence, abs=0.1)
    assert 0 < fit.mean_valence_err < 0.1
    # the doublet rules hold in the result
    major, minor = fit.get("V5+ 2p3/2"), fit.get("V5+ 2p1/2")
    assert minor.center - major.center == pytest.approx(V_SPLIT, abs=1e-9)
    assert minor.area / major.area == pytest.approx(0.5, rel=1e-9)
    assert minor.width_param / major.width_param == pytest.approx(V_RATIO, rel=1e-9)
    assert sum(c.fraction for c in fit.components) == pytest.approx(1.0)
    assert 0.5 < fit.reduced_chi_square < 2.0
    # Monte-Carlo refits agree with the covariance (delta-method) errors
    mc = fit_spectrum(x, y, v2p_model(), links=V_LINKS, monte_carlo=30, seed=1)
    for s in mc.species:
        assert 0.5 < s.mc["fraction"] / s.fraction_err < 2.0
    assert 0.5 < mc.monte_carlo["std"]["mean_valence"] / mc.mean_valence_err < 2.0
    # every choice is recorded
    assert fit.settings["links"] == V_LINKS
    assert fit.settings["background"]["kind"] == "shirley"
    assert fit.settings["model"][0]["splitting"] == V_SPLIT
    assert fit.settings["lineshapes"]["V5+ 2p3/2"] == {"shape": "gl", "m": 30.0}


def test_v2p_active_shirley_fits_endpoints():
    x, y = v2p_spectrum(seed=3)
    fit = fit_spectrum(x, y, v2p_model(), links=V_LINKS, background="active_shirley")
    for v, (_, f) in V_TRUTH.items():
        assert fit.get(f"V{v}+ 2p").fraction == pytest.approx(f, abs=0.05)
    assert fit.background[0] == pytest.approx(400.0, rel=0.05)
    assert fit.background[-1] == pytest.approx(1400.0, rel=0.05)
    assert "y_low(background)" in fit.parameters and fit.parameters["y_low(background)"]["vary"]
    held = fit_spectrum(x, y, v2p_model(), links=V_LINKS, background="active_shirley",
                        background_options={"fit_endpoints": False})
    assert not held.parameters["y_low(background)"]["vary"]


def test_three_doublet_fit_is_fast():
    x, y = v2p_spectrum(seed=5)
    fit_spectrum(x, y, v2p_model(), links=V_LINKS)  # warm caches and imports
    t0 = time.perf_counter()
    fit = fit_spectrum(x, y, v2p_model(), links=V_LINKS)
    assert time.perf_counter() - t0 < 1.0
    assert x.size == 400 and len(fit.components) == 6


def test_monte_carlo_agrees_with_covariance_on_well_posed_fit():
    x, y = two_peaks(sep=2.5)
    model = [Component("A", 285.1), Component("B", 287.4)]
    fit = fit_spectrum(x, y, model, links=["fwhm(B) = fwhm(A)"], background="linear", monte_carlo=40, seed=2)
    assert fit.monte_carlo["n_ok"] == 40
    for c in fit.components:
        for q in ("center", "area", "fraction"):
            cov, mc = getattr(c, f"{q}_err"), c.mc[q]
            assert 0.5 < mc / cov < 2.0, (c.name, q, cov, mc)
    assert not {"unresolved", "correlation", "at_bound"} & fit.diagnostic_kinds()


# ----------------------------------------------------------------------------- diagnostics


def test_v2p_ill_posed_fits_are_flagged():
    # V5+ and V4+ doublets placed 0.3 eV apart with FWHM 1.2 eV
    x, y = v2p_spectrum(fractions=(0.6, 0.4), centers=(517.2, 516.9), seed=1)
    model = [Doublet(f"V{v}+ 2p", "p", center=c, splitting=V_SPLIT, fwhm_ratio=V_RATIO, shape_params={"m": 30},
                     label_valence=v) for v, c in ((5, 517.2), (4, 516.9))]
    fit = fit_spectrum(x, y, model, links=["fwhm(V4+ 2p) = fwhm(V5+ 2p)"])
    kinds = fit.diagnostic_kinds()
    assert {"unresolved", "correlation"} <= kinds
    assert ("V5+ 2p3/2", "V4+ 2p3/2") in [d.names for d in fit.diagnostics if d.kind == "unresolved"]
    assert fit.correlations[("area(V5+ 2p)", "area(V4+ 2p)")] < -0.9
    # a tight width bound: the width runs into it
    x, y = v2p_spectrum(seed=2)
    fit = fit_spectrum(x, y, v2p_model(fwhm=0.9, fwhm_bounds=(0.3, 1.0)), links=V_LINKS)
    at = [d for d in fit.diagnostics if d.kind == "at_bound"]
    assert [d.names for d in at] == [("fwhm(V5+ 2p3/2)",)] and "upper bound" in at[0].message


def test_unresolved_and_correlation_flags():
    x, y = two_peaks(sep=0.3)
    model = [Component("A", 285.0), Component("B", 285.3)]
    fit = fit_spectrum(x, y, model, links=["fwhm(B) = fwhm(A)"], background="linear")
    kinds = fit.diagnostic_kinds()
    assert "unresolved" in kinds and "correlation" in kinds
    unresolved = [d for d in fit.diagnostics if d.kind == "unresolved"][0]
    assert set(unresolved.names) == {"A", "B"}
    assert any(abs(r) > 0.9 for r in fit.correlations.values())
    # the same peaks 2.5 eV apart raise neither
    x, y = two_peaks(sep=2.5)
    fit = fit_spectrum(x, y, [Component("A", 285.0), Component("B", 287.5)], links=["fwhm(B) = fwhm(A)"],
                       background="linear")
    assert not {"unresolved", "correlation"} & fit.diagnostic_kinds()


def test_parameter_at_bound_flag():
    x, y = two_peaks(sep=2.5)
    model = [Component("A", 285.0, fwhm=0.8, fwhm_bounds=(0.3, 0.9)), Component("B", 287.5)]
    fit = fit_spectrum(x, y, model, background="linear")
    at = [d for d in fit.diagnostics if d.kind == "at_bound"]
    assert at and at[0].names == ("fwhm(A)",)


def test_background_flags():
    x, y = two_peaks(sep=2.5)
    # the region ends on the flank of B: the background runs above the data under A
    fit = fit_spectrum(x, y, [Component("A", 285.0)], region=(283, 287.5), background="linear")
    assert "negative_peaks" in fit.diagnostic_kinds()
    fit = fit_spectrum(x, y, [Component("A", 285.0), Component("B", 287.5)], background="shirley",
                       background_options={"max_iter": 1})
    bad = [d for d in fit.diagnostics if d.kind == "shirley_not_converged"]
    assert bad and bad[0].severity == "error"
    assert fit.settings["background"]["options"] == {"max_iter": 1}


def test_structured_residuals_and_chi_square_flags():
    x, y = two_peaks(sep=1.2, areas=(60000.0, 30000.0))
    fit = fit_spectrum(x, y, [Component("A", 285.5)], background="linear")
    kinds = fit.diagnostic_kinds()
    assert "structured_residuals" in kinds and "reduced_chi_square" in kinds
    assert fit.reduced_chi_square > 3


# ----------------------------------------------------------------------------- links


def test_links_hold_exactly():
    x, y = two_peaks(sep=1.5)
    model = [Component("A", 285.2, fwhm=1.0), Component("B", 286.4, fwhm=1.5)]
    fit = fit_spectrum(x, y, model, links=["fwhm(B) = fwhm(A)", "center(B) = center(A) + 1.5"],
                       background="linear")
    a, b = fit.get("A"), fit.get("B")
    assert b.fwhm == a.fwhm and b.width_param == a.width_param
    assert b.center - a.center == pytest.approx(1.5, abs=1e-12)
    assert a.center == pytest.approx(285.0, abs=0.02)
    assert fit.parameters["fwhm(B)"]["expr"] is not None and not fit.parameters["fwhm(B)"]["vary"]
    assert 0 < b.center_err == pytest.approx(a.center_err)
    ratio = fit_spectrum(x, y, [Component("A", 285.2), Component("B", 286.4)],
                         links=["area(B) = 0.5 * area(A)"], background="linear")
    assert ratio.get("B").area == pytest.approx(0.5 * ratio.get("A").area, rel=1e-12)


@pytest.mark.parametrize("link, expected", [
    ("fwhm(A) == fwhm(B)", "single '='"),
    ("fwhm(A) = fwhm(C)", "unknown component 'C'"),
    ("width2(A) = fwhm(B)", "unknown quantity 'width2'"),
    ("fwhm(A) = fwhm(B) +", "ends too early"),
    ("fwhm(A) fwhm(B)", "no '='"),
    ("fwhm(A) = __import__(B)", "unknown quantity"),
    ("fwhm(A) = fwhm(A) * 2", "left side appears on the right"),
])
def test_malformed_link_raises(link, expected):
    x, y = two_peaks()
    with pytest.raises(ValueError) as err:
        fit_spectrum(x, y, [Component("A", 285.0), Component("B", 286.5)], links=[link])
    msg = str(err.value)
    assert link in msg and expected in msg and "quantity(component) = expression" in msg


def test_doublet_links_and_derived_lines():
    x, y = v2p_spectrum()
    with pytest.raises(ValueError, match="derived"):
        fit_spectrum(x, y, v2p_model(), links=["center(V5+ 2p1/2) = center(V4+ 2p1/2) + 1"])
    fit = fit_spectrum(x, y, v2p_model(), links=[*V_LINKS, "splitting(V4+ 2p) = splitting(V5+ 2p)"])
    assert fit.get("V4+ 2p").splitting == fit.get("V5+ 2p").splitting


# ----------------------------------------------------------------------------- series


def test_series_shares_fwhm_and_recovers_fractions():
    truths = [(0.7, 0.2, 0.1), (0.5, 0.3, 0.2), (0.2, 0.4, 0.4)]
    spectra = [v2p_spectrum(fractions=f, seed=10 + k) for k, f in enumerate(truths)]
    series = fit_series(spectra, v2p_model(), shared=["fwhm(V5+ 2p3/2)"], links=V_LINKS, background="shirley")
    assert len(series) == 3 and series.success
    widths = {f.get("V5+ 2p3/2").width_param for f in series}
    assert len(widths) == 1 and widths.pop() == pytest.approx(V_FWHM, abs=0.05)
    for fit, truth in zip(series, truths):
        assert {fit.get(n).fwhm for n in ("V5+ 2p3/2", "V4+ 2p3/2", "V3+ 2p3/2")} == {fit.get("V5+ 2p3/2").fwhm}
        for (v, _), f in zip(V_TRUTH.items(), truth):
            assert fit.get(f"V{v}+ 2p").fraction == pytest.approx(f, abs=0.05)
            assert fit.get(f"V{v}+ 2p").fraction_err > 0
    assert series.n_points == 1200
    assert series.shared == {"fwhm(V5+ 2p3/2)": "fwhm(V5+ 2p3/2) [0]"}
    assert series.n_params < 3 * fit_spectrum(*spectra[0], v2p_model(), links=V_LINKS).n_params


# ----------------------------------------------------------------------------- charge correction


def test_charge_shift_on_synthetic_c1s():
    x = np.linspace(278.0, 294.0, 321)
    pk = (20000 * profile("gl", x, 285.3, 1.3, m=30) + 4000 * profile("gl", x, 286.8, 1.3, m=30)
          + 2000 * profile("gl", x, 289.6, 1.3, m=30))
    y = np.random.default_rng(4).poisson(pk + backgrounds.shirley_active(x, pk, 200.0, 600.0)).astype(float)
    cs = charge_shift(x, y)
    assert cs.reference_ev == 284.8
    assert cs.shift_ev == pytest.approx(-0.5, abs=0.05)
    assert 0 < cs.shift_err_ev < 0.05
    assert cs.measured_ev == pytest.approx(285.3, abs=0.05)
    assert "C 1s" in cs.method
    assert cs.apply([285.3])[0] == pytest.approx(284.8, abs=0.05)


def test_series_cross_spectrum_link():
    spectra = [two_peaks(sep=2.0, seed=20), two_peaks(sep=2.0, seed=21, c0=285.2)]
    model = [Component("A", 285.0), Component("B", 287.0)]
    series = fit_series(spectra, model, links=["fwhm(B) = fwhm(A)", "center(A)[1] = center(A)[0] + 0.2"],
                        background="linear")
    a0, a1 = series[0].get("A"), series[1].get("A")
    assert a1.center - a0.center == pytest.approx(0.2, abs=1e-12)
    assert a0.center == pytest.approx(285.0, abs=0.05)
    assert series[0].get("B").fwhm == series[0].get("A").fwhm
    assert series[1].get("B").fwhm == series[1].get("A").fwhm
    with pytest.raises(ValueError, match=r"out of range"):
        fit_series(spectra, model, links=["center(A)[2] = center(A)[0]"])


def test_an_exponent_below_one_is_not_at_its_bound():
    """A line-shape exponent ranges over 1e-6..1000: 0.54 (a Casa LA alpha) is far from both
    bounds, 2e-6 is at the lower one."""
    import lmfit

    from xpipe.xps.fit.uncertainty import _bound_side

    p = lmfit.Parameter("alpha", value=0.54, min=1e-6, max=1000.0)
    assert _bound_side(p, None) is None
    p.value = 1.00002e-6
    assert _bound_side(p, None) == "lower"
    p.value = 999.99
    assert _bound_side(p, None) == "upper"
    linear = lmfit.Parameter("eta", value=0.0005, min=0.0, max=1.0)
    assert _bound_side(linear, None) == "lower"
