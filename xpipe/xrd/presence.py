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
    """What the tests need of a frame (:class:`xpipe.xrd.framefit.Frame` is one).

    Parameters
    ----------
    x : ndarray
        Radial axis.
    wt : ndarray
        Weights ``1 / sigma`` (1/counts), 0 for points left out.
    yw : ndarray
        Weighted data ``wt * y``.
    basis : ndarray
        ``(n_points, n_background)`` background columns.
    bg : BackgroundProjector
        Their weighted factorisation.
    s : RefinementSettings
        The settings (``cut_fwhm`` is used).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.framefit import Frame
    >>> from xpipe.xrd.presence import PatternFrame
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import background_basis
    >>> x = np.arange(10.0, 20.0, 0.01)
    >>> frame = Frame(x, np.full(x.size, 100.0), None, [], RefinementSettings(), background_basis(x, 2))
    >>> sorted(PatternFrame.__annotations__), all(hasattr(frame, k) for k in PatternFrame.__annotations__)
    (['basis', 'bg', 's', 'wt', 'x', 'yw'], True)
    """

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

    Parameters
    ----------
    dchi2 : float
        Rise of chi^2 when the parameters are removed.
    k : int
        Parameters removed.
    chi2_nu : float
        Residual variance the rise is judged against (reduced chi^2).
    nu : int
        Degrees of freedom of the residual.
    trials : int
        Independent tries behind the rise.

    Returns
    -------
    float
        One-sided Gaussian z (0 where the rise is not positive or more likely than not).

    Examples
    --------
    >>> from xpipe.xrd.presence import z_of_f
    >>> round(z_of_f(25.0, 1, 1.0, 10**6), 3)  # sqrt(25)
    5.0
    >>> round(z_of_f(25.0, 1, 1.0, 10**6, trials=100), 3)  # the best of 100 tries
    4.023
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
    """The chi^2 rise that an F-test with ``k`` parameters needs to reach ``z``.

    The inverse of :func:`z_of_f` in ``dchi2``.

    Parameters
    ----------
    z : float
        Gaussian z to reach.
    k : int
        Parameters removed.
    chi2_nu : float
        Residual variance.
    nu : int
        Degrees of freedom of the residual.
    trials : int
        Independent tries (Bonferroni).

    Returns
    -------
    float
        The chi^2 rise needed.

    Examples
    --------
    >>> from xpipe.xrd.presence import critical_dchi2, z_of_f
    >>> round(critical_dchi2(5.0, 1, 1.0, 10**6), 2), round(critical_dchi2(5.0, 1, 1.0, 10**6, trials=100), 2)
    (25.0, 33.92)
    >>> round(z_of_f(critical_dchi2(4.0, 3, 1.5, 500, 10), 3, 1.5, 500, 10), 6)
    4.0
    """
    return float(stats.f.isf(min(2.0 * stats.norm.sf(z) / max(trials, 1), 1.0), k, max(nu, 1))) * k * chi2_nu


# --------------------------------------------------------------------------- a frame


def local_chi2_nu(frame: PatternFrame, column: np.ndarray, residual: np.ndarray, global_chi2_nu: float) -> float:
    """Residual variance where ``column`` (a phase's calculated pattern) has its weight.

    Misfit is not spread evenly: it sits at the strong peaks of the other phases and in the
    background's wiggles. A phase is judged against the misfit its own reflections see, never
    against less than the pattern's reduced chi^2.

    Parameters
    ----------
    frame : PatternFrame
        The pattern (its weights ``wt``).
    column : ndarray
        The phase's calculated pattern (counts).
    residual : ndarray
        Weighted residual of the fit.
    global_chi2_nu : float
        The pattern's reduced chi^2.

    Returns
    -------
    float
        Mean squared residual weighted by the square of the weighted column.

    Examples
    --------
    Residuals three times larger under the peak:

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from xpipe.xrd.presence import local_chi2_nu
    >>> x = np.linspace(0.0, 10.0, 101)
    >>> peak, residual = np.exp(-((x - 5.0) / 0.3) ** 2), np.where(np.abs(x - 5.0) < 1.0, 3.0, 1.0)
    >>> round(local_chi2_nu(SimpleNamespace(wt=np.ones(101)), peak, residual, 1.0), 3)
    9.0
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

    Parameters
    ----------
    residual : ndarray
        Weighted residuals in axis order (zeros, points left out, are skipped).

    Returns
    -------
    float
        The factor (1 or more; ``rho`` is capped at 0.95).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.presence import serial_correlation_factor
    >>> runs = np.tile([1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0], 25)  # runs of four: rho = 0.5
    >>> round(serial_correlation_factor(runs), 2), serial_correlation_factor(np.tile([1.0, -1.0], 50))
    (3.04, 1.0)
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

    Parameters
    ----------
    frame : PatternFrame
        The pattern.
    base_sol : LinearSolution
        The solution without the columns.
    columns : ndarray
        ``(n_points, k)`` the columns added (counts per unit intensity).
    a, active : ndarray, optional
        The base's design matrix and active columns (needed for ``k > 1``).

    Returns
    -------
    float
        The fall of chi^2 (0 where a non-negative intensity cannot lower it).

    Examples
    --------
    A peak the background alone cannot fit: adding it takes up all of the residual.

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from xpipe.xrd.presence import column_gain
    >>> from xpipe.xrd.wholepattern import solve_linear
    >>> x = np.linspace(0.0, 10.0, 101)
    >>> peak = np.exp(-((x - 5.0) / 0.3) ** 2)
    >>> base = solve_linear(np.ones((101, 1)), 3.0 + 2.0 * peak, np.ones(101), 1)
    >>> frame = SimpleNamespace(wt=np.ones(101))
    >>> round(base.chi2, 4), round(column_gain(frame, base, peak[:, None]), 4), column_gain(frame, base, -peak[:, None])
    (13.92, 13.92, 0.0)
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

    Parameters
    ----------
    frame : PatternFrame
        The pattern.
    a, active : ndarray
        Design matrix of the model without the phase, and its active columns.
    pp : PatternPhase
        The phase.
    state : PhaseState
        Its cell and profile.
    zero : float
        Zero shift (degrees on 2theta axes).

    Returns
    -------
    float
        Residual variance per point (in units of the weights' variance).

    Examples
    --------
    Background and counting noise only: the decoys gain far less than the noise's variance of 1.

    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.presence import decoy_variance
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis
    >>> al = make_phase("Al", cif=structure_path("Al"), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(al, unit="2th_deg", wavelength_a=0.7749)
    >>> x = np.arange(10.0, 40.0, 0.01)
    >>> y = np.random.default_rng(0).poisson(200.0, x.size).astype(float)
    >>> frame = Frame(x, y, None, [pp], RefinementSettings(), background_basis(x, 4))
    >>> active = np.ones(frame.basis.shape[1], dtype=bool)
    >>> round(decoy_variance(frame, frame.basis, active, pp, PhaseState.start(al, w=0.0025), 0.0), 2)
    0.1
    """
    base = solve_linear(a, frame.yw, frame.wt, frame.basis.shape[1], active=active, background=frame.bg)
    gains = []
    for f in DECOY_SCALES:
        ev = evaluate(pp, state.scaled(f), frame.x, zero=zero, cut_fwhm=frame.s.cut_fwhm)
        gains.append(column_gain(frame, base, ev.columns, a, base.active))
    gains = np.sort(gains)[: len(gains) - 3]
    return 2.0 * float(np.mean(gains)) / pp.n_columns
