"""The results of a sequential refinement: per frame and phase arrays from the frame fits.

:func:`xpipe.xrd.sequential.refine_sequence` refines frame after frame; this module turns its
frame fits into one :class:`SequentialRefinement` (cells with esds from the Jacobian, scales,
weight fractions, profiles, texture, detection limits, statuses and the reasons behind them),
flags a present phase that an absent candidate's pattern nearly repeats, and says what to
report of a phase never found (:func:`absence_text`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .cell import _cells_from_gstar, design_columns
from .framefit import Frame, FrameResult, covariance, detection_limit, dof, weight_fractions_of
from .refine_settings import RefinementSettings
from .wholepattern import PhaseState, evaluate

__all__ = ["AMBIGUOUS_CORRELATION", "CELL_KEYS", "SequentialRefinement", "absence_text"]

CELL_KEYS = ("a_a", "b_a", "c_a", "alpha_deg", "beta_deg", "gamma_deg", "volume_a3")

STATUS_OK = "ok"
STATUS_WEAK = "weak"  # kept by hysteresis: stay_z <= z < significance_z
STATUS_REFIT = "refit"  # a check failed, refitted from a neighbour, then passed
STATUS_ABSENT = "absent"
STATUS_RUNAWAY = "runaway"
STATUS_JUMP = "fraction_jump"
STATUS_AMBIGUOUS = "ambiguous"  # present, but another candidate's pattern is nearly the same

#: A present phase whose pattern (background projected out) correlates this well with an absent
#: candidate's is ambiguous: the data cannot tell the two apart.
AMBIGUOUS_CORRELATION = 0.95


@dataclass
class SequentialRefinement:
    """Per frame and phase results of :func:`xpipe.xrd.sequential.refine_sequence`.

    Arrays are ``[frame, phase]`` unless marked ``[frame]``; NaN where a phase is absent.

    Parameters
    ----------
    phases : list of str
        Candidate phase names, in the order of the phase axis.
    present : ndarray of bool
        Whether the phase passed its presence test (with hysteresis).
    z : ndarray
        Gaussian z of the presence test (dimensionless).
    status, reason : ndarray of str
        ``ok``, ``weak``, ``refit``, ``runaway``, ``fraction_jump``, ``ambiguous`` or
        ``absent``, and why, in words.
    cell, cell_sigma : dict of str to ndarray
        Cell values and esds by key of :data:`CELL_KEYS` (lengths in A, angles in degrees,
        volume in A^3).
    scale, scale_sigma : ndarray
        Rietveld scale and esd (counts per unit ``m |F|^2 L``); NaN without a structure.
    fraction, fraction_sigma : ndarray
        Weight fraction (Hill & Howard, 0 to 1) and esd.
    detection_limit : ndarray
        Smallest weight fraction (0 to 1) the presence test would find.
    fwhm_u, fwhm_w : ndarray
        Caglioti U and W (radial unit squared).
    eta : ndarray
        Lorentzian fraction of the pseudo-Voigt (0 to 1).
    texture_r, texture_r_sigma : ndarray
        March-Dollase ``r`` and esd, where a texture is declared.
    chi2_nu, rwp, zero : ndarray
        ``[frame]`` reduced chi^2, weighted profile R factor (0 to 1) and zero shift (deg).
    calculated, background : ndarray
        ``[frame, point]`` model and its background (counts).
    gstar : list
        ``[frame][phase]`` free reciprocal-metric parameters (1/A^2), None where not refined.
    settings : dict
        The effective settings, the initial FWHM and the method, in words.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.sequential import refine_sequence
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, evaluate
    >>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
    >>> x = np.arange(10.0, 40.0, 0.01)
    >>> y = evaluate(pp, PhaseState.start(ph, w=0.0025), x).columns @ np.full(pp.n_columns, 100.0)
    >>> res = refine_sequence(x, (y + 20.0)[None, :], None, [ph], unit="2th_deg", wavelength_a=0.7749)
    >>> res.phases, res.status[0, 0], round(float(res.cell["a_a"][0, 0]), 4)
    (['LaB6'], 'ok', 4.1569)
    """

    phases: list[str]
    present: np.ndarray
    z: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    cell: dict[str, np.ndarray]
    cell_sigma: dict[str, np.ndarray]
    scale: np.ndarray
    scale_sigma: np.ndarray
    fraction: np.ndarray
    fraction_sigma: np.ndarray
    detection_limit: np.ndarray
    fwhm_u: np.ndarray
    fwhm_w: np.ndarray
    eta: np.ndarray
    texture_r: np.ndarray
    texture_r_sigma: np.ndarray
    chi2_nu: np.ndarray  # [frame]
    rwp: np.ndarray  # [frame]
    zero: np.ndarray  # [frame]
    calculated: np.ndarray  # [frame, point] model
    background: np.ndarray  # [frame, point]
    gstar: list  # [frame][phase] free G* (None where never refined)
    settings: dict


def absence_text(detection_limit: np.ndarray) -> str:
    """What to say of a phase found in no frame: its detection limit over the frames.

    Parameters
    ----------
    detection_limit : array_like
        ``[frame]`` detection limit of the phase (weight fraction, 0 to 1); NaN where there is
        none (no structure, so no weight).

    Returns
    -------
    str
        The median, smallest and largest limit in wt%, or why there is no limit.

    Examples
    --------
    >>> from xpipe.xrd.refine_results import absence_text
    >>> absence_text([0.02, 0.03, 0.05])
    'not detected; detection limit 3 wt% (2 to 5 over the frames)'
    >>> absence_text([float("nan")])
    'not detected (no structure given, so no detection limit in weight)'
    """
    dl = np.asarray(detection_limit, dtype=float)
    if not np.isfinite(dl).any():
        return "not detected (no structure given, so no detection limit in weight)"
    return (f"not detected; detection limit {100 * np.nanmedian(dl):.2g} wt% "
            f"({100 * np.nanmin(dl):.2g} to {100 * np.nanmax(dl):.2g} over the frames)")


def _flag_ambiguous(out: SequentialRefinement, f: int, frame: Frame, fr: FrameResult, pps, last_state, s) -> None:
    """Flag a present phase whose pattern another, absent candidate nearly repeats.

    When an absent candidate's calculated pattern (at its last cell, background projected out)
    correlates with a present phase's above :data:`AMBIGUOUS_CORRELATION`, the data cannot tell
    the two apart (one reflection each in range, or one structure type with nearly the same
    cell): the present one's values are not ``ok``, and both reasons say why.
    """
    fit = fr.fit
    bq = frame.bg.q
    present = {}
    for p in fr.states:
        i0, i1 = fit.spans[p]
        c = frame.wt * (fit.a[:, i0:i1] @ fit.sol.coef[i0:i1])
        c = c - bq @ (bq.T @ c)
        if float(c @ c) > 0:
            present[p] = c / math.sqrt(float(c @ c))
    for q, pp in enumerate(pps):
        if q in fr.states or not pp.rietveld:
            continue
        c = frame.wt * evaluate(pp, last_state[q], frame.x, zero=fit.zero, cut_fwhm=s.cut_fwhm).columns[:, 0]
        c = c - bq @ (bq.T @ c)
        norm = math.sqrt(float(c @ c))
        if norm == 0 or not present:
            continue
        p, corr = max(((p, abs(float(v @ c)) / norm) for p, v in present.items()), key=lambda t: t[1])
        if corr < AMBIGUOUS_CORRELATION:
            continue
        if out.status[f, p] in (STATUS_OK, STATUS_WEAK):
            out.status[f, p] = STATUS_AMBIGUOUS
        note = (f"its pattern is also that of {out.phases[q]} (correlation {corr:.2f}): the data cannot tell "
                "them apart")
        out.reason[f, p] = f"{out.reason[f, p]}; {note}" if out.reason[f, p] else note
        out.reason[f, q] += f"; cannot be told from {out.phases[p]} (correlation {corr:.2f})"


def _empty_result(phases, n_frames: int, n_points: int) -> SequentialRefinement:
    """A result with every phase absent and every value NaN."""
    n_ph = len(phases)
    nan = np.full((n_frames, n_ph), np.nan)
    return SequentialRefinement(
        phases=[p.name for p in phases], present=np.zeros((n_frames, n_ph), bool), z=nan.copy(),
        status=np.full((n_frames, n_ph), STATUS_ABSENT, dtype=object),
        reason=np.full((n_frames, n_ph), "", dtype=object),
        cell={k: nan.copy() for k in CELL_KEYS}, cell_sigma={k: nan.copy() for k in CELL_KEYS},
        scale=nan.copy(), scale_sigma=nan.copy(), fraction=nan.copy(), fraction_sigma=nan.copy(),
        detection_limit=nan.copy(), fwhm_u=nan.copy(), fwhm_w=nan.copy(), eta=nan.copy(),
        texture_r=nan.copy(), texture_r_sigma=nan.copy(), chi2_nu=np.full(n_frames, np.nan),
        rwp=np.full(n_frames, np.nan), zero=np.zeros(n_frames),
        calculated=np.full((n_frames, n_points), np.nan),
        background=np.full((n_frames, n_points), np.nan), gstar=[], settings={})


def _fill_absent(out: SequentialRefinement, f: int, p: int, frame: Frame, fr: FrameResult, last, pps, s,
                 scale: dict) -> None:
    """Phase ``p`` absent from frame ``f``: its z, detection limit (at its last cell) and why."""
    out.z[f, p] = fr.z.get(p, 0.0)
    dl = detection_limit(frame, fr, p, last, pps, s, scale)
    out.detection_limit[f, p] = dl
    z_txt = f"z = {out.z[f, p]:.1f} < {s.significance_z:g}"
    out.reason[f, p] = (f"not detected ({z_txt}); detection limit {100 * dl:.2g} wt%"
                        if np.isfinite(dl) else f"not detected ({z_txt}); no structure, so no "
                        "detection limit in weight")


def _fill_present(out: SequentialRefinement, f: int, p: int, ph, frame: Frame, fr: FrameResult, st: PhaseState,
                  pps, s, scales: tuple, cov) -> None:
    """Phase ``p`` present in frame ``f``: its cell with esds (from the covariance of its free
    metric parameters), scale, weight fraction, profile and texture."""
    scale, scale_sig, frac, frac_sig = scales
    fit = fr.fit
    m = fit.a.shape[1]
    out.present[f, p] = True
    out.status[f, p] = fr.status.get(p, STATUS_OK)
    out.reason[f, p] = fr.reason.get(p, "")
    out.detection_limit[f, p] = detection_limit(frame, fr, p, st, pps, s, scale)
    cols = design_columns(ph.system)
    six = cols @ st.g
    values, jac = _cells_from_gstar(six[None, :], cols)
    gi = [m + j for j, (q, name) in enumerate(fit.names) if q == p and name.startswith("g")]
    for k, key in enumerate(CELL_KEYS):
        out.cell[key][f, p] = values[0, k]
        if cov is not None and len(gi) == pps[p].n_cell:
            jk = jac[0, k]
            out.cell_sigma[key][f, p] = math.sqrt(max(float(jk @ cov[np.ix_(gi, gi)] @ jk), 0.0))
    out.scale[f, p] = scale.get(p, np.nan)
    out.scale_sigma[f, p] = scale_sig.get(p, np.nan)
    out.fraction[f, p] = frac.get(p, np.nan)
    out.fraction_sigma[f, p] = frac_sig.get(p, np.nan)
    out.fwhm_u[f, p], out.fwhm_w[f, p], out.eta[f, p] = st.u, st.w, st.eta
    if pps[p].texture_cos2 is not None:
        out.texture_r[f, p] = st.r
        ri = [m + j for j, (q, name) in enumerate(fit.names) if q == p and name == "r"]
        if ri and cov is not None:
            out.texture_r_sigma[f, p] = math.sqrt(max(cov[ri[0], ri[0]], 0.0))


def _fill_frame(out: SequentialRefinement, f: int, frame: Frame, fr: FrameResult, phases, pps, s,
                last_state: dict) -> None:
    """Frame ``f``: fit quality, model and background, then every phase, present or not."""
    fit = fr.fit
    nu = dof(frame, fit)
    out.chi2_nu[f] = fit.chi2 / nu
    yw = frame.yw
    out.rwp[f] = math.sqrt(fit.chi2 / max(float(yw @ yw), 1e-300))
    out.zero[f] = fit.zero
    out.calculated[f] = fit.a @ fit.sol.coef
    nb = frame.basis.shape[1]
    out.background[f] = fit.a[:, :nb] @ fit.sol.coef[:nb]
    scales = weight_fractions_of(fr, pps)
    cov = covariance(fit)
    gstars = []
    for p, ph in enumerate(phases):
        st = fr.states.get(p)
        if st is not None:
            last_state[p] = st
        gstars.append(None if st is None else np.array(st.g))
        if p in fit.states:
            out.z[f, p] = fr.z.get(p, np.nan)
        if st is None:
            _fill_absent(out, f, p, frame, fr, last_state[p], pps, s, scales[0])
        else:
            _fill_present(out, f, p, ph, frame, fr, st, pps, s, scales, cov)
    out.gstar.append(gstars)


def _collect(frames, phases, pps, s: RefinementSettings, ctx) -> SequentialRefinement:
    """One :class:`SequentialRefinement` of the ``(frame, FrameResult)`` pairs of a run."""
    out = _empty_result(phases, len(frames), frames[0][0].x.size)
    last_state = {p: PhaseState.start(ph, w=ctx.ref_w) for p, ph in enumerate(phases)}
    for f, (frame, fr) in enumerate(frames):
        _fill_frame(out, f, frame, fr, phases, pps, s, last_state)
        _flag_ambiguous(out, f, frame, fr, pps, last_state, s)
    out.settings = {k: (v if not isinstance(v, dict) else {n: list(map(str, t)) if isinstance(t, tuple) else t
                                                            for n, t in v.items()})
                    for k, v in asdict(s).items()}
    out.settings["initial_fwhm"] = math.sqrt(ctx.ref_w)
    out.settings["method"] = ("sequential whole-pattern refinement: Rietveld scales where the structure is known, "
                              "Pawley intensities where it is not; presence by F-test with hysteresis")
    return out
