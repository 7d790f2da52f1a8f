"""One frame of a sequential refinement: the search for a phase, its tests, its values.

:func:`search_phase` tries a phase not in the model over scaled cells; :func:`phase_test` and
:func:`intensity_z` say whether the pattern needs a phase and how much it carries;
:func:`weight_fractions_of` and :func:`detection_limit` turn scales into weight fractions (Hill &
Howard) and into the smallest fraction the test would have found; :class:`FrameResult` holds a
frame once its phases were tested. The frame, its model and
least squares (:class:`Frame`, :func:`fit_frame`, :func:`covariance`, ...) are in
:mod:`xpipe.xrd.framemodel` and re-exported here. Used by
:func:`xpipe.xrd.sequential.refine_sequence`.

The examples share one pattern: copper and aluminium (bundled CIFs) at equal scales on a
spline background, 2theta from 10 to 40 degrees at 0.7749 A, with Poisson noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .framemodel import (
    Fit,
    Frame,
    FrameContext,
    cell_lengths,
    covariance,
    dof,
    fit_frame,
    initial_width,
)
from .presence import (
    Z_CLEAR,
    column_gain,
    critical_dchi2,
    decoy_variance,
    local_chi2_nu,
    serial_correlation_factor,
    z_of_f,
)
from .wholepattern import PhaseState, evaluate, project_out, solve_linear

#: Step of the cell search, in peak widths (relative): no peak is more than a fifth of a width
#: from a tried position.
SEARCH_STEP_FWHM = 0.4

__all__ = ["SEARCH_STEP_FWHM", "Fit", "Frame", "FrameContext", "FrameResult", "cell_lengths", "covariance",
           "detection_limit", "dof", "fit_frame", "initial_width", "intensity_z", "phase_test", "search_phase",
           "weight_fractions_of"]


@dataclass
class FrameResult:
    """One frame of a sequential refinement once its phases were tested.

    Parameters
    ----------
    fit : Fit
        The final fit of the frame.
    present : dict of int to bool
        Presence of every candidate phase.
    z : dict of int to float
        Gaussian z of the presence test of each phase tested.
    status, reason : dict of int to str
        Status (``ok``, ``weak``, ``refit``, ...) of each present phase and why.
    states : dict of int to PhaseState
        The present phases' states.
    seen : list of bool, optional
        Whether each phase had been confirmed before (its search range is then narrower).
    rel_width : float
        Relative peak width (FWHM over the axis' median), which sets the search steps.
    zi : dict of int to float
        Plain F-test z: how much intensity each present phase carries.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame, FrameContext, FrameResult, fit_frame, weight_fractions_of
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> cu = make_phase("Cu", cif=structure_path("Cu"), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(cu, unit="2th_deg", wavelength_a=0.7749)
    >>> x, st = np.arange(10.0, 40.0, 0.01), PhaseState.start(cu, w=0.0025)
    >>> y = 1e-4 * evaluate(pp, st, x).columns[:, 0] + 20.0
    >>> frame = Frame(x, y, None, [pp], RefinementSettings(), background_basis(x, 4))
    >>> fit = fit_frame(frame, {0: st}, {0: st}, {}, 0.0, FrameContext(x, "2th_deg", 0.7749, 0.0025, 0.002))
    >>> fr = FrameResult(fit, {0: True}, {0: 100.0}, {0: "ok"}, {0: ""}, dict(fit.states))
    >>> weight_fractions_of(fr, [pp])[2]  # the only phase: all of the weight
    {0: 1.0}
    """

    fit: Fit
    present: dict[int, bool]
    z: dict[int, float]
    status: dict[int, str]
    reason: dict[int, str]
    states: dict[int, PhaseState]
    seen: list | None = None
    rel_width: float = 0.0
    zi: dict = field(default_factory=dict)  # plain F-test z: how much intensity the phase carries



def weight_fractions_of(fr: FrameResult, pps) -> tuple[dict, dict, dict, dict]:
    """Scales, weight fractions and their esds (Hill & Howard) of a frame's present phases.

    ``w_p = S_p (Z M V)_p / sum_q S_q (Z M V)_q`` over the phases with a structure; the esds
    propagate the covariance of the scales (:func:`covariance`).

    Parameters
    ----------
    fr : FrameResult
        The frame, its fit and its present phases (``fr.states``).
    pps : list of PatternPhase
        All candidate phases.

    Returns
    -------
    scale, scale_sigma, fraction, fraction_sigma : dict of int to float
        By phase index: Rietveld scale and esd (NaN without a structure), weight fraction (0 to
        1) and esd (phases with a structure only, when their scales add up to more than 0).

    Examples
    --------
    Equal scales of copper and aluminium weigh in proportion to ``Z M V`` (12007 and 7167
    g/mol x A^3): 62.6 and 37.4 wt%.

    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame, FrameContext, FrameResult, fit_frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> ph = [make_phase(n, cif=structure_path(n), d_min_a=1.0) for n in ("Cu", "Al")]
    >>> pps = [PatternPhase.from_model(p, unit="2th_deg", wavelength_a=0.7749) for p in ph]
    >>> x, st = np.arange(10.0, 40.0, 0.01), [PhaseState.start(p, w=0.0025) for p in ph]
    >>> y = sum(1e-4 * evaluate(pp, s, x).columns[:, 0] for pp, s in zip(pps, st)) + 20.0
    >>> frame = Frame(x, np.random.default_rng(0).poisson(y).astype(float), None, pps,
    ...               RefinementSettings(), background_basis(x, 4))
    >>> ctx = FrameContext(x, "2th_deg", 0.7749, 0.0025, 0.002)
    >>> fit = fit_frame(frame, {0: st[0], 1: st[1]}, {0: st[0], 1: st[1]}, {}, 0.0, ctx)
    >>> fr = FrameResult(fit, {0: True, 1: True}, {}, {}, {}, fit.states)
    >>> scale, scale_sigma, fraction, fraction_sigma = weight_fractions_of(fr, pps)
    >>> {p: round(w, 3) for p, w in fraction.items()}, {p: round(e, 3) for p, e in fraction_sigma.items()}
    ({0: 0.627, 1: 0.373}, {0: 0.005, 1: 0.005})
    """
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
    """Best isotropic scaling of phase ``p``'s cell on top of ``base``.

    Coarse to fine: steps of one peak width over the range, then steps of
    :data:`SEARCH_STEP_FWHM` widths around the best. The z is a gate only: phases not yet in
    the model are still in the residual, so its variance is not the noise.

    Parameters
    ----------
    frame : Frame
        The pattern.
    base : Fit
        The model without ``p``.
    p : int
        Index of the phase searched.
    state : PhaseState
        Its reference state; cells from ``1 - rel`` to ``1 + rel`` times its lengths are tried.
    rel : float
        Relative half-range of the search (e.g. 0.01 for +-1 %).
    ctx : FrameContext
        The sequence's shared values (``rel_width`` sets the steps).

    Returns
    -------
    state : PhaseState
        The best scaled state.
    z : float
        Gaussian z of its intensity gain, with a Bonferroni factor for the cells tried.
    n_tried : int
        Cells the search could try (the Bonferroni factor).

    Examples
    --------
    Aluminium, started 0.3 % too long, found on top of a copper-only model:

    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame, FrameContext, FrameResult, fit_frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> ph = [make_phase(n, cif=structure_path(n), d_min_a=1.0) for n in ("Cu", "Al")]
    >>> pps = [PatternPhase.from_model(p, unit="2th_deg", wavelength_a=0.7749) for p in ph]
    >>> x, st = np.arange(10.0, 40.0, 0.01), [PhaseState.start(p, w=0.0025) for p in ph]
    >>> y = sum(1e-4 * evaluate(pp, s, x).columns[:, 0] for pp, s in zip(pps, st)) + 20.0
    >>> frame = Frame(x, np.random.default_rng(0).poisson(y).astype(float), None, pps,
    ...               RefinementSettings(), background_basis(x, 4))
    >>> ctx = FrameContext(x, "2th_deg", 0.7749, 0.0025, 0.002)
    >>> from xpipe.xrd.framefit import cell_lengths, search_phase
    >>> base = fit_frame(frame, {0: st[0]}, {0: st[0]}, {}, 0.0, ctx)
    >>> found, z, n_tried = search_phase(frame, base, 1, st[1].scaled(1.003), 0.01, ctx)
    >>> round(float(cell_lengths(found.g, "cubic")[0]), 3), round(z), n_tried  # CIF: 4.0495 A
    (4.049, 33, 27)
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
    (:func:`decoy_variance`).

    Parameters
    ----------
    frame : Frame
        The pattern.
    fit : Fit
        The model with ``p``.
    p : int
        Index of the phase tested.
    trials : int
        Cells tried to find it (Bonferroni factor).
    modes, seeds : dict, optional
        The refinement modes and seeds of ``fit``: the others are also refined again without
        ``p``, so that a phase is not credited with misfit the others' profiles can take up.
    ctx : FrameContext, optional
        Needed with ``modes``.

    Returns
    -------
    float
        Gaussian z (one-sided) of the F-test; 0 where the phase has no intensity.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame, FrameContext, FrameResult, fit_frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> ph = [make_phase(n, cif=structure_path(n), d_min_a=1.0) for n in ("Cu", "Al")]
    >>> pps = [PatternPhase.from_model(p, unit="2th_deg", wavelength_a=0.7749) for p in ph]
    >>> x, st = np.arange(10.0, 40.0, 0.01), [PhaseState.start(p, w=0.0025) for p in ph]
    >>> y = 1e-4 * evaluate(pps[0], st[0], x).columns[:, 0] + 20.0  # no aluminium
    >>> frame = Frame(x, np.random.default_rng(0).poisson(y).astype(float), None, pps,
    ...               RefinementSettings(), background_basis(x, 4))
    >>> ctx = FrameContext(x, "2th_deg", 0.7749, 0.0025, 0.002)
    >>> from xpipe.xrd.framefit import phase_test
    >>> fit = fit_frame(frame, {0: st[0], 1: st[1]}, {0: st[0], 1: st[1]}, {}, 0.0, ctx)
    >>> round(phase_test(frame, fit, 0)), round(phase_test(frame, fit, 1), 1)  # copper yes, aluminium no
    (111, 0.0)
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
    """Plain F-test z of phase ``p`` against the pattern's reduced chi^2: how much it carries.

    It decides whether a phase's cell and profile are refined, not its presence.

    Parameters
    ----------
    frame : Frame
        The pattern.
    fit : Fit
        The model with ``p``.
    p : int
        Index of the phase.

    Returns
    -------
    float
        Gaussian z; 0 where the phase has no intensity.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame, FrameContext, FrameResult, fit_frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> ph = [make_phase(n, cif=structure_path(n), d_min_a=1.0) for n in ("Cu", "Al")]
    >>> pps = [PatternPhase.from_model(p, unit="2th_deg", wavelength_a=0.7749) for p in ph]
    >>> x, st = np.arange(10.0, 40.0, 0.01), [PhaseState.start(p, w=0.0025) for p in ph]
    >>> y = sum(1e-4 * evaluate(pp, s, x).columns[:, 0] for pp, s in zip(pps, st)) + 20.0
    >>> frame = Frame(x, np.random.default_rng(0).poisson(y).astype(float), None, pps,
    ...               RefinementSettings(), background_basis(x, 4))
    >>> ctx = FrameContext(x, "2th_deg", 0.7749, 0.0025, 0.002)
    >>> from xpipe.xrd.framefit import intensity_z
    >>> fit = fit_frame(frame, {0: st[0], 1: st[1]}, {0: st[0], 1: st[1]}, {}, 0.0, ctx)
    >>> round(intensity_z(frame, fit, 1))
    52
    """
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
    """Smallest weight fraction of phase ``p`` that the presence test would find in this frame.

    The scale at which the phase's pattern, orthogonal to the rest of the model (background and
    the other phases projected out), would raise chi^2 by what the test needs to reach
    ``significance_z``, as a weight fraction of the frame's mixture.

    Parameters
    ----------
    frame : Frame
        The pattern.
    fr : FrameResult
        The frame's result (fit and present phases).
    p : int
        Index of the phase.
    state : PhaseState
        Its cell and profile (for an absent phase, its last known one).
    pps : list of PatternPhase
        All candidate phases.
    s : RefinementSettings
        Significance and search ranges.
    scales : dict of int to float
        Rietveld scales of the present phases (:func:`weight_fractions_of`).

    Returns
    -------
    float
        Weight fraction (0 to 1); NaN without a structure.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.synth.powder import structure_path
    >>> from xpipe.xrd.framefit import Frame, FrameContext, FrameResult, fit_frame
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate
    >>> ph = [make_phase(n, cif=structure_path(n), d_min_a=1.0) for n in ("Cu", "Al")]
    >>> pps = [PatternPhase.from_model(p, unit="2th_deg", wavelength_a=0.7749) for p in ph]
    >>> x, st = np.arange(10.0, 40.0, 0.01), [PhaseState.start(p, w=0.0025) for p in ph]
    >>> y = 1e-4 * evaluate(pps[0], st[0], x).columns[:, 0] + 20.0  # no aluminium
    >>> frame = Frame(x, np.random.default_rng(0).poisson(y).astype(float), None, pps,
    ...               RefinementSettings(), background_basis(x, 4))
    >>> ctx = FrameContext(x, "2th_deg", 0.7749, 0.0025, 0.002)
    >>> from xpipe.xrd.framefit import detection_limit, weight_fractions_of
    >>> fit = fit_frame(frame, {0: st[0]}, {0: st[0]}, {}, 0.0, ctx)
    >>> fr = FrameResult(fit, {0: True, 1: False}, {}, {}, {}, fit.states, [True, True], 0.002)
    >>> scales = weight_fractions_of(fr, pps)[0]
    >>> round(100 * detection_limit(frame, fr, 1, st[1], pps, frame.s, scales), 1)  # wt% aluminium
    2.2
    """
    pp = pps[p]
    if not pp.rietveld:
        return math.nan
    fit = fr.fit
    ev = evaluate(pp, state, frame.x, zero=fit.zero, cut_fwhm=s.cut_fwhm)
    info, others = _orthogonal_information(frame, fit, p, ev)
    if info <= 0:
        return math.nan
    s_min = math.sqrt(_rise_needed(frame, fr, p, state, ev, others, s) / info)
    zmv_p = pp.zmv_of(state.g)
    rest = sum(scales[q] * pps[q].zmv_of(fr.states[q].g) for q in fr.states
               if q != p and pps[q].rietveld and np.isfinite(scales[q]))
    if not np.isfinite(zmv_p):
        return math.nan
    if p in fr.states and np.isfinite(scales.get(p, math.nan)):
        # present: the fraction at which it would still be found in a mixture of this size
        return float(s_min * zmv_p / (scales[p] * zmv_p + rest))
    return float(s_min * zmv_p / (s_min * zmv_p + rest)) if rest > 0 else 1.0


def _orthogonal_information(frame: Frame, fit: Fit, p: int, ev) -> tuple[float, np.ndarray]:
    """``|| c_perp ||^2`` of phase ``p``'s weighted pattern with the background and the other
    phases' active columns projected out; the active columns other than ``p``'s."""
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
    return float(c @ c), others


def _rise_needed(frame: Frame, fr: FrameResult, p: int, state: PhaseState, ev, others, s) -> float:
    """The chi^2 rise phase ``p`` would need to pass its test: searched over cells, its cell
    refined if never seen, against the local, decoy-calibrated variance."""
    fit, pp = fr.fit, frame.phases[p]
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
    return critical_dchi2(s.significance_z, k, max(local, var), nu, trials)
