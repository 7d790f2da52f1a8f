"""Is a phase in the pattern? The statistics of the presence test and its calibration.

A phase's contribution is judged by an F-test on the rise of chi^2 when it is removed
(:func:`z_of_f`), against a residual variance that real patterns make larger than the counting
noise: misfit gathers where the strong peaks are (:func:`local_chi2_nu`), neighbouring points
of an integrated pattern are correlated (:func:`serial_correlation_factor`), and a
phase-shaped pattern can take up misfit wherever it is put (:func:`decoy_variance`).
:func:`critical_dchi2` inverts the test, for detection limits.

Example
-------
>>> from xpipe.xrd.presence import critical_dchi2, z_of_f
>>> round(z_of_f(25.0, 1, 1.0, 10**6), 2)  # one scale, white noise: z = sqrt(dchi2)
5.0
>>> round(critical_dchi2(5.0, 1, 2.0, 10**6), 1)  # twice the variance needs twice the rise
50.0
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from scipy import stats

from .wholepattern import BackgroundProjector, PatternPhase, PhaseState, evaluate, solve_linear


class PatternFrame(Protocol):
    """What the tests need of a frame (:class:`xpipe.xrd.framefit.Frame` is one): the axis,
    weights, weighted data, background basis and its factorisation, and the settings."""

    x: np.ndarray
    wt: np.ndarray
    yw: np.ndarray
    basis: np.ndarray
    bg: BackgroundProjector
    s: object

__all__ = ["DECOY_SCALES", "PatternFrame", "Z_CLEAR", "column_gain", "critical_dchi2", "decoy_variance", "local_chi2_nu",
           "serial_correlation_factor", "z_of_f"]


def z_of_f(dchi2: float, k: int, chi2_nu: float, nu: int, trials: int = 1) -> float:
    """Gaussian z of an F statistic ``(dchi2 / k) / chi2_nu`` with (k, nu) dof.

    A phase's scale cannot be negative, so half the chance of a rise is at zero (a chi-bar
    squared test): ``p = F.sf / 2`` and ``z = Phi^-1(1 - p)``, i.e. ``z = sqrt(dchi2 / chi2_nu)``
    for one parameter and many points. ``trials`` independent tries (a search over cells)
    multiply the chance (Bonferroni).
    """
    if not (dchi2 > 0 and k > 0 and chi2_nu > 0):
        return 0.0
    fstat = dchi2 / k / chi2_nu
    logp = float(stats.f.logsf(fstat, k, max(nu, 1)))
    if not np.isfinite(logp):
        # far tail, beyond double precision: chi^2_k tail of k F (large nu), asymptotically
        xh = k * fstat / 2.0
        logp = -xh + (k / 2.0 - 1.0) * math.log(xh) - math.lgamma(k / 2.0)
    logp += math.log(0.5) + math.log(max(trials, 1))
    if logp >= math.log(0.5):
        return 0.0
    if logp > -700:
        return float(stats.norm.isf(math.exp(logp)))
    a = -2.0 * logp
    return float(math.sqrt(max(a - math.log(a) - math.log(2 * math.pi), 0.0)))


def critical_dchi2(z: float, k: int, chi2_nu: float, nu: int, trials: int = 1) -> float:
    """The chi^2 rise that an F-test with ``k`` parameters (and ``trials`` tries, as in
    :func:`z_of_f`) needs to reach ``z``."""
    return float(stats.f.isf(min(2.0 * stats.norm.sf(z) / max(trials, 1), 1.0), k, max(nu, 1))) * k * chi2_nu


# --------------------------------------------------------------------------- a frame


def local_chi2_nu(frame: PatternFrame, column: np.ndarray, residual: np.ndarray, global_chi2_nu: float) -> float:
    """Residual variance where ``column`` (a phase's calculated pattern) has its weight.

    Misfit is not spread evenly: it sits at the strong peaks of the other phases and in the
    background's wiggles. A phase is judged against the misfit its own reflections see, never
    against less than the pattern's reduced chi^2.
    """
    g = (frame.wt * column) ** 2
    total = float(g.sum())
    if total <= 0:
        return global_chi2_nu
    return max(global_chi2_nu, float(g @ (residual * residual)) / total)


def serial_correlation_factor(residual: np.ndarray) -> float:
    """Variance inflation ``(1 + rho) / (1 - rho)`` of serially correlated residuals.

    ``rho`` is the lag-one autocorrelation of the weighted residuals. Neighbouring points of an
    integrated pattern are not independent (pixel splitting, unmodelled profile and background
    detail), so least-squares esds and chi^2 differences overstate the evidence by about this
    factor (Berar & Lelann, J. Appl. Cryst. 24 (1991) 1, for an AR(1) residual). 1 when
    ``rho <= 0``.
    """
    r = residual[residual != 0]
    if r.size < 3:
        return 1.0
    rho = float(r[1:] @ r[:-1]) / float(r @ r)
    rho = min(rho, 0.95)
    return (1.0 + rho) / (1.0 - rho) if rho > 0 else 1.0


#: Cell scalings of the decoys that calibrate the presence test (a phase's own pattern moved
#: where nothing of it is).
DECOY_SCALES = (0.97, 0.975, 0.98, 0.985, 1.015, 1.02, 1.025, 1.03)


#: Above this plain F-test z the decoys are not needed: no misfit makes a phase this strong.
Z_CLEAR = 20.0


def column_gain(frame: PatternFrame, base_sol, columns: np.ndarray, a=None, active=None) -> float:
    """chi^2 gain of adding intensity ``columns`` (non-negative) to the solution ``base_sol``.

    One column: its weighted pattern with the base's columns projected out, against the base's
    residual, in closed form; several (a Pawley phase): solved with ``a`` and ``active``.
    """
    if columns.shape[1] == 1:
        c = base_sol.project(frame.wt * columns[:, 0])
        cc = float(c @ c)
        cr = float(c @ base_sol.residual)
        return cr * cr / cc if cc > 0 and cr > 0 else 0.0
    aa = np.column_stack([a, columns])
    act = np.concatenate([active, np.ones(columns.shape[1], dtype=bool)])
    sol = solve_linear(aa, frame.yw, frame.wt, frame.basis.shape[1], active=act, background=frame.bg)
    return max(base_sol.chi2 - sol.chi2, 0.0)


def decoy_variance(frame: PatternFrame, a: np.ndarray, active: np.ndarray, pp: PatternPhase, state: PhaseState,
                   zero: float) -> float:
    """Residual variance per point as a phase-shaped pattern sees it where the phase is not.

    The phase's own pattern with its cell scaled by 1.5 to 3 % (:data:`DECOY_SCALES`) is fitted
    on top of the model without the phase (columns ``a``, ``active``); what such decoys gain is
    misfit and correlated noise, not phase. Under the null a non-negative scale gains ``k / 2``
    times the variance on average, so the variance is ``2 mean(dchi2) / k`` over the decoys, the
    three largest left out (a decoy may fall on another phase's reflections).
    """
    base = solve_linear(a, frame.yw, frame.wt, frame.basis.shape[1], active=active, background=frame.bg)
    gains = []
    for f in DECOY_SCALES:
        ev = evaluate(pp, state.scaled(f), frame.x, zero=zero, cut_fwhm=frame.s.cut_fwhm)
        gains.append(column_gain(frame, base, ev.columns, a, base.active))
    gains = np.sort(gains)[: len(gains) - 3]
    return 2.0 * float(np.mean(gains)) / pp.n_columns
