"""One frame of a sequential refinement and its fit: the pattern, the model, the least squares.

:class:`Frame` holds one pattern with its weights and background basis; :func:`fit_frame`
refines the non-linear parameters of the phases in the model (cells, profiles, texture, zero
shift) by variable projection, the scales and background solved exactly inside, and returns a
:class:`Fit`; :func:`covariance` gives the esds of all its parameters. The tests and values
built on a fit (and :class:`~xpipe.xrd.framefit.FrameResult`) are in :mod:`xpipe.xrd.framefit`,
which re-exports everything here.

Examples below share one pattern: copper (bundled CIF) on a spline background, 2theta from 10
to 40 degrees at 0.7749 A.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .peaks import background, find_peaks_1d
from .presence import serial_correlation_factor
from .refine_settings import RefinementSettings
from .wholepattern import (
    BackgroundProjector,
    PatternPhase,
    PhaseState,
    cell_of,
    derivative_columns,
    evaluate,
    solve_linear,
)

__all__ = ["Fit", "Frame", "FrameContext", "cell_lengths", "covariance", "dof", "fit_frame", "initial_width"]


class Frame:
    """One pattern, its weights, background basis and the candidate phases.

    Parameters
    ----------
    x : ndarray
        Increasing radial axis (2theta in degrees or Q in 1/A).
    y : ndarray
        Intensities (counts); NaN points are left out.
    sigma : ndarray or None
        Their uncertainties (counts), or None (``sqrt(max(y, 1))``).
    phases : list of PatternPhase
        The candidate phases on this axis.
    s : RefinementSettings
        The refinement settings (``snip_background`` adds the frame's SNIP baseline as one more
        background column).
    splines : ndarray
        B-spline background basis on ``x``, the same for every frame of a stack
        (:func:`xpipe.xrd.wholepattern.background_basis`).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> cu = make_phase("Cu", cif=structure_path("Cu"), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(cu, unit="2th_deg", wavelength_a=0.7749)
    >>> x = np.arange(10.0, 40.0, 0.01)
    >>> y = 1e-4 * evaluate(pp, PhaseState.start(cu, w=0.0025), x).columns[:, 0] + 20.0
    >>> frame = Frame(x, y, None, [pp], RefinementSettings(), background_basis(x, 4))
    >>> frame.n_valid, frame.basis.shape  # seven splines and the SNIP baseline
    (3000, (3000, 8))
    """

    def __init__(self, x, y, sigma, phases: list[PatternPhase], s: RefinementSettings, splines: np.ndarray):
        self.x = x
        ok = np.isfinite(y) & (np.isfinite(sigma) if sigma is not None else True)
        self.y = np.where(ok, y, 0.0)
        if sigma is None:
            sig = np.sqrt(np.maximum(self.y, 1.0))
        else:
            sig = np.where(ok, np.maximum(sigma, 1e-12), 1.0)
        self.wt = np.where(ok, 1.0 / sig, 0.0)
        self.n_valid = int(ok.sum())
        extra = None
        if s.snip_background:
            extra = background(x, np.where(ok, y, np.nanmedian(y)), "snip").baseline
        self.basis = splines if extra is None else np.column_stack([splines, extra])
        self.yw = self.y * self.wt
        self.bg = BackgroundProjector.build(self.basis, self.wt, self.yw)
        self.phases = phases
        self.s = s

    def model(self, states: dict[int, PhaseState], zero: float):
        """The phases ``states`` evaluated: ``(evaluations, design matrix, column span of each)``;
        the background columns come first."""
        evs = {p: evaluate(self.phases[p], states[p], self.x, zero=zero, cut_fwhm=self.s.cut_fwhm)
               for p in states}
        blocks = [self.basis] + [evs[p].columns for p in states]
        a = np.column_stack(blocks)
        spans, start = {}, self.basis.shape[1]
        for p in states:
            n = evs[p].columns.shape[1]
            spans[p] = (start, start + n)
            start += n
        return evs, a, spans

    def solve(self, a):
        """Background and non-negative intensities of the design matrix ``a``."""
        return solve_linear(a, self.yw, self.wt, self.basis.shape[1], background=self.bg)


@dataclass
class Fit:
    """A fit of one frame (:func:`fit_frame`): the refined states and the linear solution.

    Parameters
    ----------
    states : dict of int to PhaseState
        The phases in the model, by index, at the solution.
    zero : float
        Zero shift (degrees on 2theta axes).
    sol : LinearSolution
        Background and intensities at the solution; ``sol.chi2`` is the fit's chi^2.
    spans : dict of int to tuple of int
        Each phase's columns ``(first, end)`` in ``a``.
    evs : dict of int to PhaseEval
        Each phase evaluated at the solution.
    a : ndarray
        ``(n_points, n_columns)`` design matrix: background, then the phases' columns.
    names : list of tuple
        ``(phase or -1, parameter name)`` of the non-linear parameters refined.
    frame : Frame
        The frame fitted.
    lo, hi, theta : ndarray
        Bounds and values of the non-linear parameters.
    cov : ndarray or None
        Cached covariance (:func:`covariance`).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame, FrameContext, dof, fit_frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> cu = make_phase("Cu", cif=structure_path("Cu"), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(cu, unit="2th_deg", wavelength_a=0.7749)
    >>> x, st = np.arange(10.0, 40.0, 0.01), PhaseState.start(cu, w=0.0025)
    >>> y = 1e-4 * evaluate(pp, st, x).columns[:, 0] + 20.0
    >>> frame = Frame(x, y, None, [pp], RefinementSettings(), background_basis(x, 4))
    >>> fit = fit_frame(frame, {0: st}, {0: st}, {0: "full"}, 0.0, FrameContext(x, "2th_deg", 0.7749, 0.0025, 0.002))
    >>> fit.names, fit.spans, round(fit.chi2 / dof(frame, fit), 6)
    ([(0, 'g0'), (0, 'w'), (0, 'u'), (0, 'eta')], {0: (8, 9)}, 0.0)
    """

    states: dict[int, PhaseState]
    zero: float
    sol: object
    spans: dict
    evs: dict
    a: np.ndarray
    names: list  # (phase or -1, parameter name)
    frame: object = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    theta: np.ndarray | None = None
    cov: np.ndarray | None = None

    @property
    def chi2(self) -> float:
        """Sum of squared weighted residuals."""
        return self.sol.chi2


class FrameContext:
    """What the frames of one sequence share: axis, reference width and the running state.

    Parameters
    ----------
    x : ndarray
        The radial axis (2theta in degrees or Q in 1/A).
    unit : str
        ``2th_deg`` or ``q_A^-1``.
    wavelength_a : float or None
        Wavelength (A).
    ref_w : float
        Reference Caglioti W (FWHM^2 of the first pattern's peaks, radial unit squared), which
        bounds U and V.
    rel_width : float
        Relative peak width (FWHM over the axis' median), which sets the search steps.

    Notes
    -----
    The sequence keeps its running state here too: ``zero`` (the zero shift to start from),
    ``step_of`` (per phase, a per-frame cell step other than ``max_step``) and ``profiled``
    (the phases whose Caglioti V was refined once and is now held).

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.framefit import FrameContext
    >>> ctx = FrameContext(np.arange(10.0, 40.0, 0.01), "2th_deg", 0.7749, 0.0025, 0.002)
    >>> round(ctx.t_max, 4), ctx.zero, ctx.step_of, ctx.profiled  # tan(theta) at the axis' end
    (0.3639, 0.0, {}, set())
    """

    def __init__(self, x, unit, wavelength_a, ref_w, rel_width):
        self.unit = unit
        self.wavelength_a = wavelength_a
        self.ref_w = ref_w
        self.rel_width = rel_width
        if unit == "2th_deg":
            self.t_max = math.tan(math.radians(x[-1] / 2.0))
        else:
            self.t_max = float(x[-1])
        self.zero = 0.0
        self.step_of: dict[int, float] = {}
        self.profiled: set[int] = set()


def initial_width(x, y) -> float:
    """Median FWHM of the prominent peaks of one pattern.

    Parameters
    ----------
    x : ndarray
        Increasing radial axis.
    y : ndarray
        Intensities, background subtracted (NaN ignored).

    Returns
    -------
    float
        Median FWHM of the peaks at least as prominent as the median one (radial unit); ten
        point spacings where there is no peak.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.lineshapes import gaussian
    >>> from xpipe.xrd.framefit import initial_width
    >>> x = np.arange(10.0, 20.0, 0.01)
    >>> round(initial_width(x, 100 * gaussian(x, 12.0, 0.05) + 50 * gaussian(x, 15.0, 0.06)), 2)
    0.06
    """
    ok = np.isfinite(y)
    cands = find_peaks_1d(x[ok], y[ok])
    if cands.fwhm.size == 0:
        return float(10.0 * np.median(np.diff(x)))
    strong = cands.prominence >= np.quantile(cands.prominence, 0.5)
    return float(np.median(cands.fwhm[strong]))


def cell_lengths(g, system) -> np.ndarray:
    """Cell lengths ``a, b, c`` (A) of free reciprocal-metric parameters ``g`` (1/A^2).

    Parameters
    ----------
    g : array_like
        Free parameters of ``system`` (:func:`xpipe.xrd.wholepattern.gstar_of`).
    system : str
        Lattice system.

    Returns
    -------
    ndarray
        ``(3,)`` lengths in A.

    Examples
    --------
    >>> from xpipe.xrd.framefit import cell_lengths
    >>> cell_lengths([0.0625, 1 / 36], "tetragonal").round(6).tolist()
    [4.0, 4.0, 6.0]
    """
    c = cell_of(g, system)
    return np.array([c.a_a, c.b_a, c.c_a])


def dof(frame: Frame, fit: Fit) -> int:
    """Degrees of freedom of a frame fit: valid points less active columns and parameters.

    Parameters
    ----------
    frame : Frame
        The pattern.
    fit : Fit
        Its fit.

    Returns
    -------
    int
        ``n_valid - active linear columns - non-linear parameters``, at least 1.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame, FrameContext, dof, fit_frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> cu = make_phase("Cu", cif=structure_path("Cu"), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(cu, unit="2th_deg", wavelength_a=0.7749)
    >>> x, st = np.arange(10.0, 40.0, 0.01), PhaseState.start(cu, w=0.0025)
    >>> y = 1e-4 * evaluate(pp, st, x).columns[:, 0] + 20.0
    >>> frame = Frame(x, y, None, [pp], RefinementSettings(), background_basis(x, 4))
    >>> fit = fit_frame(frame, {0: st}, {0: st}, {0: "cell"}, 0.0, FrameContext(x, "2th_deg", 0.7749, 0.0025, 0.002))
    >>> dof(frame, fit)  # 3000 points, 8 background columns, 1 scale, 1 cell parameter
    2990
    """
    return max(frame.n_valid - int(fit.sol.active.sum()) - len(fit.names), 1)


def _parameter_names(p: int, pp: PatternPhase, mode: str, s: RefinementSettings) -> list:
    """The non-linear parameters phase ``p`` refines in ``mode`` (see :func:`fit_frame`)."""
    if mode == "fixed":
        return []
    names = [(p, f"g{j}") for j in range(pp.n_cell)]
    if mode in ("full", "first"):
        if not s.fixed_profile.get(pp.name):
            names += [(p, "w"), (p, "u"), (p, "eta")] + ([(p, "v")] if mode == "first" else [])
        if pp.texture_cos2 is not None and s.texture.get(pp.name, (None, 1.0, True))[2]:
            names.append((p, "r"))
    return names


def _parameter_bounds(name, seed: PhaseState | None, ref_w: float, t_max: float, s: RefinementSettings, gi=None,
                      step=None):
    if name.startswith("g"):
        g0 = seed.g[gi]
        # each component by its own size (a relative length change e moves 1/d^2 terms by 2e);
        # components near zero (monoclinic, rhombohedral cross terms) by a tenth of the largest
        size = max(abs(float(g0)), 0.1 * float(np.max(np.abs(seed.g))))
        span = 2.0 * (s.max_step if step is None else step) * size
        return g0 - span, g0 + span
    if name == "w":
        return seed.w * 0.5, seed.w * 2.0 + 1e-12
    if name == "u":
        return 0.0, 4.0 * ref_w / max(t_max * t_max, 1e-12)
    if name == "v":
        return -2.0 * ref_w / max(t_max, 1e-12), 2.0 * ref_w / max(t_max, 1e-12)
    if name == "eta":
        return 0.0, 1.0
    if name == "r":
        return 0.3, 3.0
    if name == "zero":
        return -0.5, 0.5
    raise ValueError(name)


def _get(st: PhaseState, name):
    return float(st.g[int(name[1:])]) if name.startswith("g") else float(getattr(st, name))


def _set(st: PhaseState, name, value):
    if name.startswith("g"):
        st.g[int(name[1:])] = value
    else:
        setattr(st, name, float(value))


def _start(frame: Frame, states, seeds, modes, zero: float, ctx):
    """Names, bounds and start values of the non-linear parameters of a frame fit."""
    s = frame.s
    names = []
    for p, mode in modes.items():
        names += _parameter_names(p, frame.phases[p], mode, s)
    if s.zero_shift and ctx.unit == "2th_deg" and states:
        names.append((-1, "zero"))
    lo, hi, x0 = [], [], []
    for p, name in names:
        if p < 0:
            b = _parameter_bounds(name, None, ctx.ref_w, ctx.t_max, s)
            v = zero
        else:
            gi = int(name[1:]) if name.startswith("g") else None
            b = _parameter_bounds(name, seeds[p], ctx.ref_w, ctx.t_max, s, gi, step=ctx.step_of.get(p))
            v = _get(states[p], name)
        width = b[1] - b[0]
        lo.append(b[0])
        hi.append(b[1])
        x0.append(min(max(v, b[0] + 1e-9 * width), b[1] - 1e-9 * width))
    return names, lo, hi, x0


def fit_frame(frame: Frame, states: dict[int, PhaseState], seeds: dict[int, PhaseState], modes: dict[int, str],
              zero: float, ctx) -> Fit:
    """Least squares on the non-linear parameters (variable projection), linear ones exact.

    Parameters
    ----------
    frame : Frame
        The pattern.
    states : dict of int to PhaseState
        The phases in the model and where they start.
    seeds : dict of int to PhaseState
        The states the per-frame bounds are centred on (a cell moves at most ``max_step``, or
        ``ctx.step_of[p]``, relative per length; W within a factor 2).
    modes : dict of int to str
        What each phase refines: ``fixed`` nothing, ``cell`` its cell, ``full`` cell, Caglioti
        U and W, eta and texture, ``first`` (the frame where it is first refined in full)
        Caglioti V too, which mostly carries the instrument and is then held. Phases not in
        ``modes`` are held.
    zero : float
        Zero shift to start from (degrees; refined on 2theta axes with ``zero_shift``).
    ctx : FrameContext
        The sequence's shared values.

    Returns
    -------
    Fit
        The refined states, the linear solution and the parameter names and bounds.

    Examples
    --------
    A copper cell started 0.1 % too long is refined back:

    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame, FrameContext, cell_lengths, fit_frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> cu = make_phase("Cu", cif=structure_path("Cu"), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(cu, unit="2th_deg", wavelength_a=0.7749)
    >>> x, st = np.arange(10.0, 40.0, 0.01), PhaseState.start(cu, w=0.0025)
    >>> y = 1e-4 * evaluate(pp, st, x).columns[:, 0] + 20.0
    >>> frame = Frame(x, y, None, [pp], RefinementSettings(), background_basis(x, 4))
    >>> ctx = FrameContext(x, "2th_deg", 0.7749, 0.0025, 0.002)
    >>> fit = fit_frame(frame, {0: st.scaled(1.001)}, {0: st.scaled(1.001)}, {0: "cell"}, 0.0, ctx)
    >>> round(float(cell_lengths(fit.states[0].g, "cubic")[0]), 5)  # the CIF's 3.6149 A
    3.6149
    """
    s = frame.s
    states = {p: st.copy() for p, st in states.items()}
    names, lo, hi, x0 = _start(frame, states, seeds, modes, zero, ctx)
    problem = _Projected(frame, states, names, zero)
    theta = np.array(x0, dtype=float)
    if names:
        res = least_squares(problem.residual, theta, jac=problem.jacobian, bounds=(np.array(lo), np.array(hi)),
                            method="trf", x_scale="jac", max_nfev=s.max_nfev, xtol=1e-6, ftol=1e-6)
        theta = res.x
    z, evs, a, spans, sol = problem.run(theta)
    z = problem.apply(theta)
    return Fit(states, z, sol, spans, evs, a, names, frame, np.array(lo), np.array(hi), theta)


class _Projected:
    """The projected residual of a frame fit and its Jacobian in Kaufman's form; the model and
    its linear solution are kept for the last parameters asked for."""

    def __init__(self, frame: Frame, states: dict[int, PhaseState], names: list, zero: float):
        self.frame, self.states, self.names, self.zero = frame, states, names, zero
        self.cache: dict = {}

    def apply(self, theta) -> float:
        """Write ``theta`` into the states; the zero shift."""
        z = self.zero
        for (p, name), v in zip(self.names, theta):
            if p < 0:
                z = v
            else:
                _set(self.states[p], name, v)
        return z

    def run(self, theta):
        """``(zero, evaluations, design matrix, spans, linear solution)`` at ``theta``."""
        key = theta.tobytes()
        if key not in self.cache:
            self.cache.clear()
            z = self.apply(theta)
            evs, a, spans = self.frame.model(self.states, z)
            self.cache[key] = (z, evs, a, spans, self.frame.solve(a))
        return self.cache[key]

    def residual(self, theta) -> np.ndarray:
        return self.run(theta)[4].residual

    def jacobian(self, theta) -> np.ndarray:
        z, evs, a, spans, sol = self.run(theta)
        d = _model_derivatives(self.frame, evs, spans, sol, self.states, self.names)
        return -sol.project(self.frame.wt[:, None] * d)


def _model_derivatives(frame: Frame, evs, spans, sol, states, names) -> np.ndarray:
    """``d model / d parameter`` (n_points, len(names)) at the solution's intensities; the zero
    shift (phase -1) moves every phase."""
    out = np.zeros((frame.x.size, len(names)))
    by_phase: dict[int, list[int]] = {}
    for j, (p, _) in enumerate(names):
        by_phase.setdefault(p, []).append(j)
    for p, cols in by_phase.items():
        for q in (states if p < 0 else [p]):
            pn = tuple(names[j][1] for j in cols)
            out[:, cols] += derivative_columns(frame.phases[q], evs[q], sol.coef[spans[q][0]:spans[q][1]], pn,
                                               frame.x.size)
    return out


def covariance(fit: Fit) -> np.ndarray | None:
    """Covariance of all the parameters of a frame fit, scaled by the reduced chi^2.

    The Jacobian of all parameters at the solution gives it; it is scaled by the reduced
    chi^2 and by the variance inflation of serially correlated residuals
    (:func:`xpipe.xrd.presence.serial_correlation_factor`), and cached on the fit.

    Parameters
    ----------
    fit : Fit
        The fit (:func:`fit_frame`).

    Returns
    -------
    ndarray or None
        ``(n_columns + n_parameters)`` square: all linear columns, then the non-linear
        parameters in the order of ``fit.names``; dropped intensity columns keep zero
        variance. None where the normal matrix cannot be inverted.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame, FrameContext, covariance, fit_frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> cu = make_phase("Cu", cif=structure_path("Cu"), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(cu, unit="2th_deg", wavelength_a=0.7749)
    >>> x, st = np.arange(10.0, 40.0, 0.01), PhaseState.start(cu, w=0.0025)
    >>> y = np.random.default_rng(0).poisson(1e-4 * evaluate(pp, st, x).columns[:, 0] + 20.0)
    >>> frame = Frame(x, y.astype(float), None, [pp], RefinementSettings(), background_basis(x, 4))
    >>> fit = fit_frame(frame, {0: st}, {0: st}, {0: "cell"}, 0.0, FrameContext(x, "2th_deg", 0.7749, 0.0025, 0.002))
    >>> cov = covariance(fit)
    >>> cov.shape, f"{np.sqrt(cov[-1, -1]):.1e}"  # 8 background, 1 scale, 1 cell; esd of g0 (1/A^2)
    ((10, 10), '1.5e-06')
    """
    if fit.cov is not None:
        return fit.cov
    frame = fit.frame
    act = np.flatnonzero(fit.sol.active)
    aw = fit.a[:, act] * frame.wt[:, None]
    d = _model_derivatives(frame, fit.evs, fit.spans, fit.sol, fit.states, fit.names)
    j = np.column_stack([aw, frame.wt[:, None] * d])
    norms = np.sqrt((j * j).sum(axis=0))
    norms[norms == 0] = 1.0
    jn = j / norms
    try:
        inv = np.linalg.pinv(jn.T @ jn, rcond=1e-12)
    except np.linalg.LinAlgError:
        return None
    nu = max(frame.n_valid - j.shape[1], 1)
    cov_small = inv / np.outer(norms, norms) * (fit.chi2 / nu) * serial_correlation_factor(fit.sol.residual)
    m = fit.a.shape[1]
    n_nl = len(fit.names)
    cov = np.zeros((m + n_nl, m + n_nl))
    full_idx = np.concatenate([act, m + np.arange(n_nl)])
    cov[np.ix_(full_idx, full_idx)] = cov_small
    fit.cov = cov
    return cov
