"""Results of a Pawley fit: the arrays filled frame by frame, and what the caller gets.

:class:`_Outputs` holds the result arrays of all frames while the frames are fitted (the
statistics of a frame, its phase intensities and their significance, its cells and
profiles); :func:`_assemble` turns them into a :class:`PawleyFits`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...lineshapes import pseudo_voigt
from ..cell import _CELL_NAMES, _FIXED_ANGLES, PARAMETER_NAMES, CellFit
from .jacobian import _FrameProblem, _nnls_gram
from .model import (
    STATUS_IMPLAUSIBLE,
    STATUS_NO_INTENSITY,
    STATUS_NOT_METRIC,
    STATUS_OK,
    _cell_values,
)


@dataclass
class PawleyFits:
    """Results of :func:`pawley_fit`, one entry per frame.

    Per-phase quantities are dictionaries keyed by phase name; arrays ``[frame, phase]``
    follow the order of ``phases``. Positions and widths are in the unit of the radial axis
    (degrees 2theta or 1/A); intensities are integrated intensities (intensity x radial
    unit). Values of a phase that failed in a frame are NaN.

    Attributes
    ----------
    phases : phase names.
    cells : per phase a :class:`xpipe.xrd.cell.CellFit` (a_a, ..., volume_a3 and their
        sigmas, G* parameters and their covariance, with the zero shift last when it is
        refined, status and reason per frame).
    zero_shift_deg, sigma_zero_shift_deg : (n_frames,) refined 2theta zero shift (observed =
        true + shift) and its uncertainty; when not refined, the fixed value given
        (``zero_shift_deg`` argument, default 0) and NaN. NaN in frames where no phase
        succeeded.
    profile, profile_sigma : per phase (n_frames, 4) columns (U, V, W, eta); sigma 0 for
        parameters held fixed.
    group_hkl : per phase a list with one (k, 3) int array per reflection group (reflections
        that the lattice system cannot separate), in order of increasing position at the
        start cell.
    group_position, group_fwhm : per phase (n_frames, n_groups) observed position and FWHM of
        every group; NaN for groups outside the windows in that frame.
    intensity, intensity_sigma : per phase (n_frames, n_groups) integrated intensities
        (>= 0) and their standard uncertainties; NaN outside the windows. Kept for a phase
        with status ``no_intensity`` (an upper limit), NaN for other failures.
    phase_intensity, phase_intensity_sigma : (n_frames, n_phases) sum of the group
        intensities of each phase in the windows, and its uncertainty (correlations
        included). Groups at zero intensity count as free parameters in the covariance, so
        where reflections of two phases nearly coincide the sigmas are on the safe side.
    phase_intensity_covariance : (n_frames, n_phases, n_phases) covariance of the phase
        sums (overlapping phases are anti-correlated; use it for ratios and fractions).
    significance : (n_frames, n_phases) likelihood-ratio significance of each phase, as a
        one-sided Gaussian z: chi^2 without the phase minus chi^2 with it, against a
        chi-square distribution with as many degrees of freedom as the phase has positive
        intensities and free cell and profile parameters. A phase not above
        ``min_significance`` gets status ``no_intensity``.
    background, background_sigma : (n_frames, n_windows, order + 1) coefficients ``b_k`` of
        ``sum_k b_k (x - x_c)^k`` per window.
    redchi : (n_frames,) chi^2 / (points - parameters), all parameters counted.
    rwp : (n_frames,) weighted profile R factor ``sqrt(sum w (y - m)^2 / sum w y^2)``.
    n_points : (n_frames,) points used.
    nfev : (n_frames,) model evaluations of the non-linear optimiser.
    status, reason : (n_frames, n_phases) status code (``ok``, ``absent``, ``no_intensity``,
        ``no_reflections``, ``no_convergence``, ``not_a_cell``, ``implausible_change``,
        ``fit_failed``, ``too_few_points``) and a human-readable reason ("" when ok).
    windows, window_center : (n_windows, 2) limits and (n_windows,) centres.
    x : the radial axis given (for :meth:`calculated`).
    settings : every setting that decided the numbers (for provenance).
    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.lineshapes import pseudo_voigt
    >>> from xpipe.xrd.pawley import PawleyPhase, pawley_fit
    >>> from xpipe.xrd.reflections import Cell
    >>> q = np.arange(1.4, 3.2, 0.002)
    >>> y = 10 + sum(50 * pseudo_voigt(q, 2 * np.pi * np.sqrt(n) / 4.1569, 0.02, 0.5)
    ...              for n in (1, 2, 3, 4))
    >>> hkl = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 0, 0]])
    >>> phase = PawleyPhase("LaB6", "cubic", hkl, Cell.cubic(4.15), 0.0, 0.0, 4e-4)
    >>> fits = pawley_fit(q, y, [(1.4, 3.2)], [phase], axis="q_A^-1")
    >>> len(fits), fits.success.tolist(), np.round(fits.intensity["LaB6"][0], 1).tolist()
    (1, [[True]], [50.0, 50.0, 50.0, 50.0])
    >>> round(float(np.nanmax(fits.calculated(0))), 1)
    1981.0
    """

    phases: list[str]
    cells: dict[str, CellFit]
    zero_shift_deg: np.ndarray
    sigma_zero_shift_deg: np.ndarray
    profile: dict[str, np.ndarray]
    profile_sigma: dict[str, np.ndarray]
    group_hkl: dict[str, list[np.ndarray]]
    group_position: dict[str, np.ndarray]
    group_fwhm: dict[str, np.ndarray]
    intensity: dict[str, np.ndarray]
    intensity_sigma: dict[str, np.ndarray]
    phase_intensity: np.ndarray
    phase_intensity_sigma: np.ndarray
    phase_intensity_covariance: np.ndarray
    significance: np.ndarray
    background: np.ndarray
    background_sigma: np.ndarray
    redchi: np.ndarray
    rwp: np.ndarray
    n_points: np.ndarray
    nfev: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    windows: np.ndarray
    window_center: np.ndarray
    x: np.ndarray
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.redchi)

    @property
    def success(self) -> np.ndarray:
        """``[frame, phase]`` True where the phase was refined (status ``ok``)."""
        return self.status == STATUS_OK

    def frame_reason(self, frame: int) -> str:
        """All non-empty reasons of one frame, joined by '; '."""
        return "; ".join(r for r in self.reason[frame] if r)

    def calculated(self, frame: int, phase: str | None = None) -> np.ndarray:
        """Fitted model of one frame on ``x``: all phases plus background, or one phase alone.

        NaN outside the windows. Only phases refined in that frame (status ``ok``)
        contribute; groups with NaN position or intensity are left out.
        """
        x = self.x
        out = np.full(x.shape, np.nan)
        inside = np.zeros(x.shape, bool)
        names = self.phases if phase is None else [phase]
        if phase is not None and phase not in self.phases:
            raise ValueError(f"unknown phase {phase!r}; expected one of {self.phases}")
        for j, (lo, hi) in enumerate(self.windows):
            sel = (x >= lo) & (x <= hi)
            inside |= sel
            if phase is None:
                dx = x[sel] - self.window_center[j]
                coef = self.background[frame, j]
                out[sel] = sum(c * dx**k for k, c in enumerate(coef)) if np.all(
                    np.isfinite(coef)) else np.nan
            else:
                out[sel] = 0.0
        xi = x[inside]
        for name in names:
            pos = self.group_position[name][frame]
            fw = self.group_fwhm[name][frame]
            inten = self.intensity[name][frame]
            eta = self.profile[name][frame, 3]
            ok = np.isfinite(pos) & np.isfinite(fw) & np.isfinite(inten) & (fw > 0)
            if ok.any() and np.isfinite(eta):
                prof = pseudo_voigt(xi[:, None], pos[ok][None, :], fw[ok][None, :], eta)
                out[inside] += prof @ inten[ok]
        return out


class _Outputs:
    """Result arrays of all frames, filled frame by frame."""

    def __init__(self, setups, n_frames, n_win, order, zero_shift):
        nan = np.nan
        n_ph = len(setups)
        self.cell = np.full((n_frames, n_ph, 7), nan)
        self.cell_sigma = np.full((n_frames, n_ph, 7), nan)
        self.params = [np.full((n_frames, st.k), nan) for st in setups]
        self.n_cov = [st.k + (1 if zero_shift else 0) for st in setups]
        self.cov = [np.full((n_frames, n, n), nan) for n in self.n_cov]
        self.profile = np.full((n_frames, n_ph, 4), nan)
        self.profile_sigma = np.full((n_frames, n_ph, 4), nan)
        self.position = [np.full((n_frames, st.n_groups), nan) for st in setups]
        self.fwhm = [np.full((n_frames, st.n_groups), nan) for st in setups]
        self.intensity = [np.full((n_frames, st.n_groups), nan) for st in setups]
        self.intensity_sigma = [np.full((n_frames, st.n_groups), nan) for st in setups]
        self.n_used = np.zeros((n_frames, n_ph), int)
        self.phase_intensity = np.full((n_frames, n_ph), nan)
        self.phase_intensity_sigma = np.full((n_frames, n_ph), nan)
        self.phase_intensity_cov = np.full((n_frames, n_ph, n_ph), nan)
        self.significance = np.full((n_frames, n_ph), nan)
        self.background = np.full((n_frames, n_win, order + 1), nan)
        self.background_sigma = np.full((n_frames, n_win, order + 1), nan)
        self.zero = np.full(n_frames, nan)
        self.zero_sigma = np.full(n_frames, nan)
        self.redchi = np.full(n_frames, nan)
        self.rwp = np.full(n_frames, nan)
        self.n_points = np.zeros(n_frames, int)
        self.nfev = np.zeros(n_frames, int)
        self.status = np.full((n_frames, n_ph), STATUS_OK, dtype=object)
        self.reason = np.full((n_frames, n_ph), "", dtype=object)

    def fail(self, frame, st, code, text):
        self.status[frame, st.index] = code
        self.reason[frame, st.index] = f"phase {st.name}: {text}"

    def store_frame(self, fi, prob: _FrameProblem, state, fit, signif, current, positive, opts):
        """Write the results of one fitted frame.

        ``current`` (the starting parameters of the next frame) and ``positive`` (the groups
        with positive intensity, per phase) move to the phases refined in this frame; the
        zero shift moves when any phase was refined.
        """
        theta = state["theta"]
        self.redchi[fi], self.rwp[fi] = fit["redchi"], fit["rwp"]
        n_win = self.background.shape[1]
        self.background[fi] = fit["background"].reshape(n_win, -1)
        self.background_sigma[fi] = fit["background_sigma"].reshape(n_win, -1)
        self._store_intensity_covariance(fi, prob, fit["cov"])
        good_any = False
        for mi in range(len(prob.phases)):
            if self._store_phase(fi, prob, state, fit, signif[mi], mi, current, positive, opts):
                good_any = True
        if good_any:
            self.zero[fi] = theta[-1]
            if opts.zero_shift:
                self.zero_sigma[fi] = fit["sd"][fit["slot_of"][prob.n_full - 1]]
                current[-1] = theta[-1]

    def _store_intensity_covariance(self, fi, prob: _FrameProblem, cov):
        """Covariance of the summed intensities of every pair of phases of the model."""
        nf = prob.free.size
        for ma, sa in enumerate(prob.phases):
            for mb, sb in enumerate(prob.phases):
                block = cov[nf + prob.start[ma]:nf + prob.start[ma + 1],
                            nf + prob.start[mb]:nf + prob.start[mb + 1]]
                self.phase_intensity_cov[fi, sa.index, sb.index] = float(block.sum())

    def _store_phase(self, fi, prob: _FrameProblem, state, fit, signif, mi, current, positive,
                     opts) -> bool:
        """Intensities, cell and profile of the mi-th phase of the model; True when refined."""
        st, act = prob.phases[mi], prob.actives[mi]
        i = st.index
        lo, hi = prob.start[mi], prob.start[mi + 1]
        _record_intensities(self, fi, fit, prob, mi, act, signif[0])
        if not (signif[0] > opts.min_significance):
            self.fail(fi, st, STATUS_NO_INTENSITY,
                      _no_intensity_text(*signif, opts.min_significance))
            return False
        theta = state["theta"]
        p = theta[st.cell_slice()]
        values, jac, is_cell = _cell_values(p, st.columns, st.system)
        start_values, _, _ = _cell_values(current[st.cell_slice()], st.columns, st.system)
        failure = _cell_failure(values, start_values, is_cell, opts.max_relative_change)
        if failure is not None:
            self.fail(fi, st, *failure)
            self.intensity[i][fi] = self.intensity_sigma[i][fi] = np.nan
            self.phase_intensity[fi, i] = self.phase_intensity_sigma[fi, i] = np.nan
            self.phase_intensity_cov[fi, i, :] = self.phase_intensity_cov[fi, :, i] = np.nan
            return False
        self._store_cell(fi, prob, fit, st, p, values, jac, opts.zero_shift)
        sd, slot_of = fit["sd"], fit["slot_of"]
        prof = theta[st.profile_slice()]
        self.profile[fi, i] = prof
        self.profile_sigma[fi, i] = [
            sd[slot_of[st.offset + st.k + q]] if st.offset + st.k + q in slot_of else 0.0
            for q in range(4)
        ]
        self.position[i][fi, act] = state["pos"][lo:hi]
        self.fwhm[i][fi, act] = state["fw"][lo:hi]
        current[st.cell_slice()] = p
        current[st.profile_slice()] = prof
        positive[i][:] = False
        positive[i][act] = state["c"][lo:hi] > 0
        return True

    def _store_cell(self, fi, prob: _FrameProblem, fit, st, p, values, jac, zero_shift):
        """Cell of one phase and its covariance (G* parameters, then the zero shift)."""
        i = st.index
        slots = list(range(st.offset, st.offset + st.k))
        if zero_shift:
            slots.append(prob.n_full - 1)
        qi = [fit["slot_of"][s] for s in slots]
        cp = fit["cov"][np.ix_(qi, qi)]
        self.cov[i][fi] = cp
        self.params[i][fi] = p
        sig = _sd(np.einsum("kp,pq,kq->k", jac, cp[:st.k, :st.k], jac))
        for j, fixed in enumerate(_FIXED_ANGLES[st.system]):
            if fixed is not None:
                sig[3 + j] = 0.0
        self.cell[fi, i] = values
        self.cell_sigma[fi, i] = sig


def _cell_failure(values, start_values, is_cell, max_relative_change):
    """(status, reason) of a refined cell that is not a cell or moved too far, else None."""
    if not is_cell:
        return (STATUS_NOT_METRIC, "the refined reciprocal metric is not positive definite")
    rel = np.abs(values[:6] - start_values[:6]) / np.abs(start_values[:6])
    if np.any(rel > max_relative_change):
        q = int(np.argmax(rel))
        return (STATUS_IMPLAUSIBLE, (
            f"{_CELL_NAMES[q]} moved {100 * rel[q]:.3g}% from its starting value "
            f"{start_values[q]:.6g} to {values[q]:.6g} (limit "
            f"{100 * max_relative_change:.3g}%)"
        ))
    return None


def _sd(var):
    """Standard deviations from variances; NaN where negative or NaN."""
    with np.errstate(invalid="ignore"):
        return np.where(var >= 0, np.sqrt(np.abs(var)), np.nan)


def _frame_statistics(prob: _FrameProblem, state, cov, n_params, scale_cov):
    """Fit statistics of one frame, the covariance (scaled if asked) and background."""
    resid = state["resid"]
    chi2 = float(resid @ resid)
    redchi = chi2 / (prob.x.size - n_params)
    denom = float(prob.yw @ prob.yw)
    if scale_cov:
        cov = cov * redchi
    sd = _sd(np.diagonal(cov))
    off_bg = prob.free.size + prob.n_tot
    return {
        "redchi": redchi,
        "rwp": math.sqrt(chi2 / denom) if denom > 0 else np.nan,
        "cov": cov,
        "sd": sd,
        "slot_of": {int(s): q for q, s in enumerate(prob.free)},
        "c": state["c"],
        "cov_scale": redchi if scale_cov else 1.0,
        "background": prob.background(state) * prob.bg_scale,
        "background_sigma": sd[off_bg:] * prob.bg_scale,
    }


def _phase_sum(fit, prob: _FrameProblem, mi):
    """Summed intensity of the mi-th phase of the model and its standard uncertainty."""
    lo, hi = prob.free.size + prob.start[mi], prob.free.size + prob.start[mi + 1]
    block = fit["cov"][lo:hi, lo:hi]
    total = float(fit["c"][prob.start[mi]:prob.start[mi + 1]].sum())
    var = float(block.sum()) if np.all(np.isfinite(block)) else np.nan
    return total, math.sqrt(var) if var >= 0 else np.nan


def _phase_significance(fit, prob: _FrameProblem, state, mi):
    """Likelihood-ratio significance of the mi-th phase of the model.

    ``dchi2`` = chi^2 without the phase (its intensities set to zero, the other intensities
    and the background solved again) minus chi^2 of the fit, in units of the (scaled)
    weights; under the hypothesis that the phase is absent it follows roughly a chi-square
    distribution with ``nu`` = its positive intensities plus its free cell and profile
    parameters, and its upper tail is expressed as a one-sided Gaussian z (Wilson-Hilferty
    transform). Unlike the summed intensity over its marginal sigma, this is not fooled by
    a few reflections that coincide with those of another phase.
    Returns (z, dchi2, nu).
    """
    lo, hi = prob.start[mi], prob.start[mi + 1]
    c = state["c"]
    keep = np.ones(c.size, bool)
    keep[lo:hi] = False
    ap = state["ap"][:, keep]
    h = state["h"][np.ix_(keep, keep)]
    c_without, _ = _nnls_gram(h, ap.T @ prob.yp, c[keep] > 0)
    resid = prob.yp - ap @ c_without
    dchi2 = max(float(resid @ resid) - float(state["resid"] @ state["resid"]), 0.0)
    dchi2 /= fit["cov_scale"]
    st = prob.phases[mi]
    n_nonlin = int(np.count_nonzero((prob.free >= st.offset) & (prob.free < st.offset + st.n_par)))
    nu = int(np.count_nonzero(c[lo:hi] > 0)) + n_nonlin
    return _chi2_z(dchi2, max(nu, 1)), dchi2, nu


def _chi2_z(x, k):
    """Gaussian z of the upper tail of a chi-square with k degrees of freedom at x.

    Wilson-Hilferty: (x/k)^(1/3) is nearly normal with mean 1 - 2/(9k) and variance 2/(9k);
    accurate to a few 0.01 in z for k >= 3 and never under- or overflows.
    """
    v = 2.0 / (9.0 * k)
    return float(((x / k) ** (1.0 / 3.0) - (1.0 - v)) / math.sqrt(v))


def _record_intensities(out: _Outputs, frame, fit, prob: _FrameProblem, mi, act, z):
    i = prob.phases[mi].index
    out.significance[frame, i] = z
    lo, hi = prob.start[mi], prob.start[mi + 1]
    out.intensity[i][frame, act] = fit["c"][lo:hi]
    out.intensity_sigma[i][frame, act] = fit["sd"][prob.free.size + lo:prob.free.size + hi]
    out.phase_intensity[frame, i], out.phase_intensity_sigma[frame, i] = _phase_sum(fit, prob, mi)
    out.phase_intensity_cov[frame, i, i] = out.phase_intensity_sigma[frame, i] ** 2
    out.n_used[frame, i] = int(np.count_nonzero(fit["c"][lo:hi] > 0))


def _no_intensity_text(z, dchi2, nu, k):
    return (f"no intensity (significance {z:.3g} sigma, not above {k:g}: the phase lowers "
            f"chi^2 by {dchi2:.4g} with {nu} parameters)")


def _assemble(out: _Outputs, setups, names, zero_shift, win, centers, x, settings):
    status = out.status.astype(str)
    reason = out.reason.astype(str)
    cells: dict[str, CellFit] = {}
    for i, st in enumerate(setups):
        ok = status[:, i] == STATUS_OK
        cells[st.name] = CellFit(
            system=st.system,
            **{name: out.cell[:, i, q] for q, name in enumerate(_CELL_NAMES)},
            **{f"sigma_{name}": out.cell_sigma[:, i, q] for q, name in enumerate(_CELL_NAMES)},
            zero_shift_deg=np.where(ok, out.zero, np.nan),
            sigma_zero_shift_deg=np.where(ok, out.zero_sigma, np.nan),
            n_used=out.n_used[:, i],
            n_params=out.n_cov[i],
            reduced_chi2=np.where(ok, out.redchi, np.nan),
            status=status[:, i],
            reason=reason[:, i],
            params=out.params[i],
            covariance=out.cov[i],
            param_names=PARAMETER_NAMES[st.system] + (("zero_shift_deg",) if zero_shift else ()),
            phase=st.name,
        )
    return PawleyFits(
        phases=list(names),
        cells=cells,
        zero_shift_deg=out.zero,
        sigma_zero_shift_deg=out.zero_sigma,
        profile={st.name: out.profile[:, i] for i, st in enumerate(setups)},
        profile_sigma={st.name: out.profile_sigma[:, i] for i, st in enumerate(setups)},
        group_hkl={st.name: st.group_hkl for st in setups},
        group_position={st.name: out.position[i] for i, st in enumerate(setups)},
        group_fwhm={st.name: out.fwhm[i] for i, st in enumerate(setups)},
        intensity={st.name: out.intensity[i] for i, st in enumerate(setups)},
        intensity_sigma={st.name: out.intensity_sigma[i] for i, st in enumerate(setups)},
        phase_intensity=out.phase_intensity,
        phase_intensity_sigma=out.phase_intensity_sigma,
        phase_intensity_covariance=out.phase_intensity_cov,
        significance=out.significance,
        background=out.background,
        background_sigma=out.background_sigma,
        redchi=out.redchi,
        rwp=out.rwp,
        n_points=out.n_points,
        nfev=out.nfev,
        status=status,
        reason=reason,
        windows=win,
        window_center=centers,
        x=x,
        settings=settings,
    )
