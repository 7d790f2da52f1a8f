"""One frame of a sequential refinement: the fit, the search for a phase, its tests, its values.

:class:`Frame` holds one pattern with its weights and background basis; :func:`fit_frame`
refines the non-linear parameters of the phases in the model (cells, profiles, texture, zero
shift) by variable projection, the scales and background solved exactly inside;
:func:`search_phase` tries a phase not in the model over scaled cells; :func:`phase_test` and
:func:`intensity_z` say whether the pattern needs a phase and how much it carries;
:func:`weight_fractions_of` and :func:`detection_limit` turn scales into weight fractions (Hill &
Howard) and into the smallest fraction the test would have found. Used by
:func:`xpipe.xrd.sequential.refine_sequence`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from .peaks import background, find_peaks_1d
from .presence import (
    Z_CLEAR,
    column_gain,
    critical_dchi2,
    decoy_variance,
    local_chi2_nu,
    serial_correlation_factor,
    z_of_f,
)
from .refine_settings import RefinementSettings
from .wholepattern import (
    BackgroundProjector,
    PatternPhase,
    PhaseState,
    cell_of,
    derivative_columns,
    evaluate,
    project_out,
    solve_linear,
)

#: Step of the cell search, in peak widths (relative): no peak is more than a fifth of a width
#: from a tried position.
SEARCH_STEP_FWHM = 0.4

__all__ = ["Fit", "Frame", "FrameContext", "FrameResult", "covariance", "detection_limit",
           "dof", "fit_frame", "initial_width", "intensity_z", "phase_test", "search_phase", "weight_fractions_of"]


class Frame:
    """One pattern, its weights, background basis and the candidate phases.

    ``splines`` is the B-spline background basis on ``x`` (the same for every frame of a stack,
    :func:`xpipe.xrd.wholepattern.background_basis`); the frame's SNIP baseline is added to it.
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
        return solve_linear(a, self.yw, self.wt, self.basis.shape[1], background=self.bg)


@dataclass
class Fit:
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
        return self.sol.chi2


@dataclass
class FrameResult:
    fit: Fit
    present: dict[int, bool]
    z: dict[int, float]
    status: dict[int, str]
    reason: dict[int, str]
    states: dict[int, PhaseState]
    seen: list | None = None
    rel_width: float = 0.0
    zi: dict = field(default_factory=dict)  # plain F-test z: how much intensity the phase carries


def parameter_names(p: int, pp: PatternPhase, mode: str, s: RefinementSettings) -> list:
    """The non-linear parameters phase ``p`` refines in ``mode``: ``fixed`` none, ``cell`` its
    cell, ``full`` cell, Caglioti U and W, eta and texture; ``first`` (the frame where it is
    first refined in full) Caglioti V too, which mostly carries the instrument and is then held."""
    if mode == "fixed":
        return []
    names = [(p, f"g{j}") for j in range(pp.n_cell)]
    if mode in ("full", "first"):
        if not s.fixed_profile.get(pp.name):
            names += [(p, "w"), (p, "u"), (p, "eta")] + ([(p, "v")] if mode == "first" else [])
        if pp.texture_cos2 is not None and s.texture.get(pp.name, (None, 1.0, True))[2]:
            names.append((p, "r"))
    return names


def parameter_bounds(name, seed: PhaseState | None, ref_w: float, t_max: float, s: RefinementSettings, gi=None,
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


def fit_frame(frame: Frame, states: dict[int, PhaseState], seeds: dict[int, PhaseState], modes: dict[int, str],
         zero: float, ctx) -> Fit:
    """Least squares on the non-linear parameters (variable projection), linear ones exact."""
    s = frame.s
    states = {p: st.copy() for p, st in states.items()}
    names = []
    for p, mode in modes.items():
        names += parameter_names(p, frame.phases[p], mode, s)
    if s.zero_shift and ctx.unit == "2th_deg" and states:
        names.append((-1, "zero"))
    lo, hi, x0 = [], [], []
    for p, name in names:
        if p < 0:
            b = parameter_bounds(name, None, ctx.ref_w, ctx.t_max, s)
            v = zero
        else:
            gi = int(name[1:]) if name.startswith("g") else None
            b = parameter_bounds(name, seeds[p], ctx.ref_w, ctx.t_max, s, gi, step=ctx.step_of.get(p))
            v = _get(states[p], name)
        width = b[1] - b[0]
        lo.append(b[0])
        hi.append(b[1])
        x0.append(min(max(v, b[0] + 1e-9 * width), b[1] - 1e-9 * width))
    cache = {}

    def apply(theta):
        z = zero
        for (p, name), v in zip(names, theta):
            if p < 0:
                z = v
            else:
                _set(states[p], name, v)
        return z

    def run(theta):
        key = theta.tobytes()
        if key not in cache:
            cache.clear()
            z = apply(theta)
            evs, a, spans = frame.model(states, z)
            cache[key] = (z, evs, a, spans, frame.solve(a))
        return cache[key]

    def fun(theta):
        return run(theta)[4].residual

    def jac(theta):
        z, evs, a, spans, sol = run(theta)
        return -sol.project(frame.wt[:, None] * model_derivatives(frame, evs, spans, sol, states, names))

    theta = np.array(x0, dtype=float)
    if names:
        res = least_squares(fun, theta, jac=jac, bounds=(np.array(lo), np.array(hi)), method="trf",
                            x_scale="jac", max_nfev=s.max_nfev, xtol=1e-6, ftol=1e-6)
        theta = res.x
    z, evs, a, spans, sol = run(theta)
    z = apply(theta)
    return Fit(states, z, sol, spans, evs, a, names, frame, np.array(lo), np.array(hi), theta)


def dof(frame: Frame, fit: Fit) -> int:
    return max(frame.n_valid - int(fit.sol.active.sum()) - len(fit.names), 1)


class FrameContext:
    def __init__(self, x, unit, wavelength_a, ref_w, rel_width):
        self.unit = unit
        self.wavelength_a = wavelength_a
        self.ref_w = ref_w
        self.rel_width = rel_width
        if unit == "2th_deg":
            self.t_max = math.tan(math.radians(x[-1] / 2.0))
        else:
            self.t_max = float(x[-1])


def initial_width(x, y) -> float:
    """Median FWHM of the prominent peaks of one pattern (radial unit)."""
    ok = np.isfinite(y)
    cands = find_peaks_1d(x[ok], y[ok])
    if cands.fwhm.size == 0:
        return float(10.0 * np.median(np.diff(x)))
    strong = cands.prominence >= np.quantile(cands.prominence, 0.5)
    return float(np.median(cands.fwhm[strong]))


# ----------------------------------------------------------------------------- frames


def cell_lengths(g, system) -> np.ndarray:
    c = cell_of(g, system)
    return np.array([c.a_a, c.b_a, c.c_a])


def model_derivatives(frame: Frame, evs, spans, sol, states, names) -> np.ndarray:
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
    """Covariance of (all linear columns, then the non-linear parameters), scaled by chi^2_nu.

    Dropped intensity columns keep zero variance.
    """
    if fit.cov is not None:
        return fit.cov
    frame = fit.frame
    act = np.flatnonzero(fit.sol.active)
    aw = fit.a[:, act] * frame.wt[:, None]
    d = model_derivatives(frame, fit.evs, fit.spans, fit.sol, fit.states, fit.names)
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


def weight_fractions_of(fr: FrameResult, pps) -> tuple[dict, dict, dict, dict]:
    """Scales, weight fractions and their esds (Hill & Howard) of a frame's present phases."""
    fit = fr.fit
    cov = covariance(fit)
    scale, scale_sig, frac, frac_sig = {}, {}, {}, {}
    riet = [p for p in fr.states if pps[p].rietveld]
    idx = {p: fit.spans[p][0] for p in riet}
    zmv = {p: pps[p].zmv_of(fr.states[p].g) for p in riet}
    for p in fr.states:
        i0 = fit.spans[p][0]
        scale[p] = float(fit.sol.coef[i0]) if pps[p].rietveld else math.nan
        scale_sig[p] = float(math.sqrt(max(cov[i0, i0], 0.0))) if pps[p].rietveld and cov is not None else math.nan
    total = sum(scale[p] * zmv[p] for p in riet)
    if total > 0 and all(np.isfinite(zmv[p]) for p in riet):
        grad = np.zeros((len(riet), fit.a.shape[1]))
        for i, p in enumerate(riet):
            frac[p] = scale[p] * zmv[p] / total
            for q in riet:
                grad[i, idx[q]] = ((zmv[p] * total if p == q else 0.0) - scale[p] * zmv[p] * zmv[q]) / total**2
        if cov is not None:
            sub = np.ix_(range(fit.a.shape[1]), range(fit.a.shape[1]))
            v = grad @ cov[sub] @ grad.T
            for i, p in enumerate(riet):
                frac_sig[p] = float(math.sqrt(max(v[i, i], 0.0)))
    return scale, scale_sig, frac, frac_sig


def search_phase(frame: Frame, base: Fit, p: int, state: PhaseState, rel: float, ctx) -> tuple[PhaseState, float, int]:
    """Best isotropic scaling of phase ``p``'s cell on top of ``base``; (state, z, cells tried).

    Coarse to fine: steps of one peak width over the range, then steps of
    :data:`SEARCH_STEP_FWHM` widths around the best.
    """
    pp = frame.phases[p]
    step = max(SEARCH_STEP_FWHM * ctx.rel_width, 2e-4)
    n = int(math.ceil(rel / step))
    nu = dof(frame, base)
    tried: dict[int, float] = {}

    def gain(k: int) -> float:
        if k not in tried:
            ev = evaluate(pp, state.scaled(1.0 + k * step), frame.x, zero=base.zero, cut_fwhm=frame.s.cut_fwhm)
            tried[k] = column_gain(frame, base.sol, ev.columns, base.a, base.sol.active)
        return tried[k]

    coarse = max(int(round(1.0 / SEARCH_STEP_FWHM)), 1)
    best = max(range(-n, n + 1, coarse), key=gain)
    best = max(range(max(best - coarse + 1, -n), min(best + coarse, n + 1)), key=gain)
    # a gate only: phases not yet in the model are still in the residual, so its variance is
    # not the noise; the presence test proper runs on the complete model
    return (state.scaled(1.0 + best * step), z_of_f(tried[best], pp.n_columns, base.chi2 / nu, nu, trials=2 * n + 1),
            2 * n + 1)


def phase_test(frame: Frame, fit: Fit, p: int, trials: int = 1, modes: dict | None = None,
                seeds: dict | None = None, ctx=None) -> float:
    """z of phase ``p`` in ``fit``: chi^2 rise when its intensity columns are removed.

    The variance the rise is judged against is the residual variance where the phase's
    reflections are; below :data:`Z_CLEAR` it is inflated for serial correlation
    (:func:`serial_correlation_factor`) and never less than what decoys of the phase gain
    (:func:`decoy_variance`). With ``modes`` (the refinement modes of ``fit``), the others are
    also refined again without ``p``, so that a phase is not credited with misfit the others'
    profiles can take up.
    """
    i0, i1 = fit.spans[p]
    chi2_without, n_cols, act = _removed(frame, fit, p)
    if n_cols == 0:
        return 0.0
    k = n_cols + sum(1 for q, _ in fit.names if q == p)
    nu = dof(frame, fit)
    contrib = fit.a[:, i0:i1] @ fit.sol.coef[i0:i1]
    local = local_chi2_nu(frame, contrib, fit.sol.residual, fit.chi2 / nu)
    z = z_of_f(chi2_without - fit.chi2, k, local, nu, trials)
    if z >= Z_CLEAR:
        return z
    keep = np.ones(fit.a.shape[1], dtype=bool)
    keep[i0:i1] = False
    var = decoy_variance(frame, fit.a[:, keep], act[keep], frame.phases[p], fit.states[p], fit.zero)
    local *= serial_correlation_factor(fit.sol.residual)
    if modes is not None and any(m != "fixed" for q, m in modes.items() if q != p):
        others = {q: st for q, st in fit.states.items() if q != p}
        refit = fit_frame(frame, others, seeds, {q: modes[q] for q in others}, fit.zero, ctx)
        chi2_without = min(chi2_without, refit.chi2)
    return z_of_f(chi2_without - fit.chi2, k, max(local, var), nu, trials)


def intensity_z(frame: Frame, fit: Fit, p: int) -> float:
    """Plain F-test z of phase ``p`` against the pattern's reduced chi^2: how much of the
    pattern it carries (decides whether its cell and profile are refined, not its presence)."""
    chi2_without, n_cols, _ = _removed(frame, fit, p)
    if n_cols == 0:
        return 0.0
    nu = dof(frame, fit)
    return z_of_f(chi2_without - fit.chi2, n_cols, fit.chi2 / nu, nu)


def _removed(frame: Frame, fit: Fit, p: int) -> tuple[float, int, np.ndarray]:
    """chi^2 with phase ``p``'s intensity columns removed and the rest solved again; the
    number of its active columns; the active mask without them."""
    i0, i1 = fit.spans[p]
    act = fit.sol.active.copy()
    n_cols = int(act[i0:i1].sum())
    act[i0:i1] = False
    if n_cols == 0:
        return fit.chi2, 0, act
    return solve_linear(fit.a, frame.yw, frame.wt, frame.basis.shape[1], active=act, background=frame.bg).chi2, n_cols, act


def detection_limit(frame: Frame, fr: FrameResult, p: int, state: PhaseState, pps, s, scales) -> float:
    """Smallest weight fraction of phase ``p`` that the presence test would find in this frame."""
    pp = pps[p]
    if not pp.rietveld:
        return math.nan
    fit = fr.fit
    ev = evaluate(pp, state, frame.x, zero=fit.zero, cut_fwhm=s.cut_fwhm)
    others = np.flatnonzero(fit.sol.active)
    if p in fit.spans:
        i0, i1 = fit.spans[p]
        others = others[(others < i0) | (others >= i1)]
    nb = frame.basis.shape[1]
    phase_cols = others[others >= nb]
    c = frame.wt * ev.columns[:, 0]
    c = c - frame.bg.q @ (frame.bg.q.T @ c)
    if phase_cols.size:
        pw = fit.a[:, phase_cols] * frame.wt[:, None]
        q, _ = np.linalg.qr(pw - frame.bg.q @ (frame.bg.q.T @ pw))
        c = project_out(q, c)
    info = float(c @ c)
    if info <= 0:
        return math.nan
    nu = dof(frame, fit)
    local = local_chi2_nu(frame, ev.columns[:, 0], fit.sol.residual, fit.chi2 / nu)
    # decoys calibrate the limit of a phase not found; one found was tested already
    var = 0.0 if p in fit.spans else decoy_variance(frame, fit.a[:, others], np.ones(others.size, dtype=bool),
                                                     pp, state, fit.zero)
    # the test it would have to pass: searched over cells, its cell refined if never seen
    seen = bool(fr.seen[p]) if fr.seen is not None else True
    rel = s.search_relative_seen if seen else s.search_relative
    trials = 2 * int(math.ceil(rel / max(SEARCH_STEP_FWHM * fr.rel_width, 2e-4))) + 1
    k = 1 if seen else 1 + pp.n_cell
    local *= serial_correlation_factor(fit.sol.residual)
    need = critical_dchi2(s.significance_z, k, max(local, var), nu, trials)
    s_min = math.sqrt(need / info)
    zmv_p = pp.zmv_of(state.g)
    rest = sum(scales[q] * pps[q].zmv_of(fr.states[q].g) for q in fr.states
               if q != p and pps[q].rietveld and np.isfinite(scales[q]))
    if not np.isfinite(zmv_p):
        return math.nan
    if p in fr.states and np.isfinite(scales.get(p, math.nan)):
        # present: the fraction at which it would still be found in a mixture of this size
        return float(s_min * zmv_p / (scales[p] * zmv_p + rest))
    return float(s_min * zmv_p / (s_min * zmv_p + rest)) if rest > 0 else 1.0
