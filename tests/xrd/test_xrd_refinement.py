"""Sequential whole-pattern refinement: fractions, cells, presence, detection limits, texture.

Patterns come from :mod:`xpipe.synth.powder` (gemmi structure factors, Caglioti pseudo-Voigt
peaks, Hill & Howard scales) with Poisson noise, not from the refinement's own model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from xpipe.synth import powder
from xpipe.xrd.phases import make_phase
from xpipe.xrd.presence import critical_dchi2, z_of_f
from xpipe.xrd.sequential import RefinementSettings, refine_sequence
from xpipe.xrd.wholepattern import (
    PatternPhase,
    PhaseState,
    cell_of,
    evaluate,
    gstar_of,
    march_dollase,
)

WAVELENGTH = 0.7293
X = np.arange(8.0, 32.0, 0.008)
PROFILE = powder.PeakProfile(u_deg2=0.002, v_deg2=0.0, w_deg2=0.0016, eta=0.4)


def _phase(name, weight, cell_scale=1.0):
    st = powder.load_structure(name)
    if cell_scale != 1.0:
        lat = powder.lattice_of(st)
        st = powder.with_lattice(st, powder.Lattice(lat.a_a * cell_scale, lat.b_a * cell_scale,
                                                    lat.c_a * cell_scale, lat.alpha_deg, lat.beta_deg,
                                                    lat.gamma_deg))
    return powder.Phase(name, st, weight, PROFILE)


def _stack(frames, counts=2.0e4, background=200.0, seed=1):
    """``frames``: list of lists of synth phases; Poisson patterns on a sloped background."""
    rng = np.random.default_rng(seed)
    out = []
    for phs in frames:
        y = powder.powder_pattern(X, phs, WAVELENGTH)
        y = counts * y / max(powder.powder_pattern(X, [_phase("LiFePO4", 1.0)], WAVELENGTH).max(), 1e-30)
        y = y + background * (1.0 + 0.5 * np.exp(-(X - 8.0) / 6.0))
        out.append(rng.poisson(y).astype(float))
    stack = np.array(out)
    return stack, np.sqrt(np.maximum(stack, 1.0))


def _models(*names):
    d_min = WAVELENGTH / (2 * math.sin(math.radians(X[-1] / 2))) * 0.95
    return [make_phase(n, cif=powder.structure_path(n), d_min_a=d_min, d_max_a=30.0) for n in names]


def test_f_test_statistics_match_the_chi_square_limits():
    # k = 1, nu large: the F-test is the chi-square test, z = sqrt(dchi2) for chi2_nu = 1
    assert z_of_f(25.0, 1, 1.0, 10**6) == pytest.approx(5.0, abs=0.02)
    assert critical_dchi2(5.0, 1, 1.0, 10**6) == pytest.approx(25.0, rel=0.01)
    # a residual variance twice as large halves the evidence
    assert z_of_f(50.0, 1, 2.0, 10**6) == pytest.approx(5.0, abs=0.02)
    # far tails stay finite and ordered
    assert 100 < z_of_f(1e5, 3, 1.0, 3000) < z_of_f(1e6, 3, 1.0, 3000)
    assert z_of_f(-1.0, 1, 1.0, 100) == 0.0


def test_cells_round_trip_through_the_reciprocal_metric():
    for name in ("LiFePO4", "Li2MnO3", "LiCoO2", "anatase-TiO2"):
        ph = _models(name)[0]
        back = cell_of(gstar_of(ph.cell, ph.system), ph.system)
        for k in ("a_a", "b_a", "c_a", "alpha_deg", "beta_deg", "gamma_deg"):
            assert getattr(back, k) == pytest.approx(getattr(ph.cell, k), rel=1e-10)


def test_march_dollase_is_normalised_and_one_without_texture():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(20000, 3))
    cos2 = (v[:, 2] / np.linalg.norm(v, axis=1)) ** 2
    for r in (0.5, 0.8, 1.0, 1.6):
        p, _ = march_dollase(cos2, np.ones(cos2.size, dtype=int), r)
        assert p.mean() == pytest.approx(1.0, abs=0.02)
    p, dp = march_dollase(cos2[:10], np.ones(10, dtype=int), 1.0)
    assert np.allclose(p, 1.0)
    # derivative against a finite difference
    p1, _ = march_dollase(cos2[:10], np.ones(10, dtype=int), 0.7)
    p2, _ = march_dollase(cos2[:10], np.ones(10, dtype=int), 0.7 + 1e-6)
    _, d = march_dollase(cos2[:10], np.ones(10, dtype=int), 0.7)
    assert np.allclose((p2 - p1) / 1e-6, d, rtol=1e-4)


def test_two_phase_weight_fractions_and_cells_with_esds():
    truth = [(0.75, 0.25), (0.5, 0.5), (0.3, 0.7)]
    frames = [[_phase("LiFePO4", a), _phase("FePO4", b)] for a, b in truth]
    stack, sigma = _stack(frames)
    res = refine_sequence(X, stack, sigma, _models("LiFePO4", "FePO4"), unit="2th_deg", wavelength_a=WAVELENGTH)
    assert res.present.all()
    assert (res.status == "ok").all()
    w = np.array(truth)
    assert np.abs(res.fraction - w).max() < 0.02
    assert (res.fraction_sigma > 0).all() and (res.fraction_sigma < 0.02).all()
    cells = {n: powder.lattice_of(powder.load_structure(n)) for n in ("LiFePO4", "FePO4")}
    for p, n in enumerate(("LiFePO4", "FePO4")):
        for key in ("a_a", "b_a", "c_a"):
            err = res.cell[key][:, p] - getattr(cells[n], key)
            assert np.abs(err).max() < 0.002, (n, key, err)
            assert (res.cell_sigma[key][:, p] < 0.002).all()
    assert (res.chi2_nu < 2.0).all()


def test_a_vanished_phase_is_not_reported_and_comes_back_when_it_returns():
    # biphasic: LiFePO4 -> FePO4 and back; frames 3-5 hold no LiFePO4 at all
    ws = [1.0, 0.6, 0.3, 0.0, 0.0, 0.0, 0.3, 0.7]
    frames = [[_phase("LiFePO4", w), _phase("FePO4", 1 - w)] for w in ws]
    stack, sigma = _stack(frames, seed=3)
    res = refine_sequence(X, stack, sigma, _models("LiFePO4", "FePO4"), unit="2th_deg", wavelength_a=WAVELENGTH)
    lfp = res.present[:, 0]
    assert lfp.tolist() == [w > 0 for w in ws]
    assert res.present[:, 1].tolist() == [w < 1 for w in ws]
    assert (res.status[~res.present] == "absent").all()
    # an absent phase says why, with its detection limit
    assert all("not detected" in r and "detection limit" in r for r in res.reason[3:6, 0])
    assert np.isfinite(res.detection_limit[3:6, 0]).all()
    assert np.isnan(res.fraction[3:6, 0]).all()


def test_detection_limit_separates_found_from_not_found_minor_phases():
    minor = [0.0, 0.002, 0.01, 0.03]
    frames = [[_phase("LiCoO2", 1.0 - m), _phase("Li2MnO3", m)] if m else [_phase("LiCoO2", 1.0)] for m in minor]
    stack, sigma = _stack(frames, seed=5)
    res = refine_sequence(X, stack, sigma, _models("LiCoO2", "Li2MnO3"), unit="2th_deg", wavelength_a=WAVELENGTH,
                          settings=RefinementSettings(direction="forward"))
    dl = res.detection_limit[:, 1]
    assert np.isfinite(dl).all() and (dl > 0).all() and (dl < 0.05).all()
    for f, m in enumerate(minor):
        if m == 0:
            assert not res.present[f, 1]
        elif m > 2 * dl[f]:
            assert res.present[f, 1], (m, dl[f])
        elif m < 0.5 * dl[f]:
            assert not res.present[f, 1], (m, dl[f])


def test_phase_without_structure_is_refined_with_free_intensities():
    frames = [[_phase("LiFePO4", 1.0)]] * 2
    stack, sigma = _stack(frames, seed=7)
    ph = _models("LiFePO4")[0]
    bare = make_phase("olivine", space_group=ph.space_group, cell=ph.cell, d_min_a=ph.reflections.d_a.min(),
                      d_max_a=30.0)
    res = refine_sequence(X, stack, sigma, [bare], unit="2th_deg", wavelength_a=WAVELENGTH)
    assert res.present.all()
    assert np.isnan(res.fraction).all()  # no structure, no weight fraction
    assert np.abs(res.cell["a_a"][:, 0] - ph.cell.a_a).max() < 0.002


def test_texture_r_is_refined_where_it_is_declared():
    ph = _models("LiCoO2")[0]
    x = X
    pp_true = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=WAVELENGTH, texture_hkl=(0, 0, 1))
    st = PhaseState.start(ph, w=0.0016, u=0.002, eta=0.4, r=0.7)
    y = 400.0 + evaluate(pp_true, st, x).columns[:, 0] * (3e4 / evaluate(pp_true, st, x).columns[:, 0].max())
    stack = np.random.default_rng(2).poisson(np.tile(y, (2, 1))).astype(float)
    s = RefinementSettings(texture={ph.name: ((0, 0, 1), 1.0, True)})
    res = refine_sequence(x, stack, np.sqrt(np.maximum(stack, 1)), [ph], unit="2th_deg", wavelength_a=WAVELENGTH,
                          settings=s)
    assert res.texture_r[:, 0] == pytest.approx(0.7, abs=0.02)
    assert (res.texture_r_sigma[:, 0] > 0).all()


def test_two_candidates_the_data_cannot_tell_apart_are_flagged():
    # the same structure under two names: whichever is reported, it is not "ok"
    frames = [[_phase("LiFePO4", 1.0)]] * 2
    stack, sigma = _stack(frames, seed=11)
    one, two = _models("LiFePO4", "LiFePO4")
    two.name = "LiFePO4 (second CIF)"
    res = refine_sequence(X, stack, sigma, [one, two], unit="2th_deg", wavelength_a=WAVELENGTH)
    assert (res.present.sum(axis=1) == 1).all()
    reported = res.present.argmax(axis=1)
    for f, p in enumerate(reported):
        assert res.status[f, p] == "ambiguous"
        assert "cannot tell them apart" in res.reason[f, p]
        assert "cannot be told from" in res.reason[f, 1 - p]
