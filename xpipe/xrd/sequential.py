"""Sequential whole-pattern refinement of an operando stack, with presence by statistics.

Every frame is refined as a whole pattern (:mod:`xpipe.xrd.wholepattern`), all candidate
phases at once, and each frame starts from the previous frame's result, as sequential
refinements are run in GSAS-II and TOPAS:

1. The phases present and strong (``z >= refine_profile_z``) in the previous frame are
   refined: cell (bounded to ``max_step`` relative change of each length per frame), Caglioti
   U and W and eta (V in the first such frame only: it mostly carries the instrument),
   March-Dollase ``r`` where a texture is declared, and the zero shift when asked. A weak phase (entering, fading, minor) keeps the best isotropic scaling
   of its reference cell (the last one refined while strong), so that it cannot slide onto
   another phase's peaks.
2. Every other candidate is searched for: its cell, scaled isotropically over
   ``+- search_relative`` around its reference (its last confirmed cell, or the recipe's / CIF's
   for a phase never seen), is tried on top of the current model; the best scale enters the
   model when it passes the test below, and the model is refined again. Greedy, strongest
   first.
3. Presence is a statistical test: the phase's intensity columns are removed, the linear
   parameters refitted, and the rise of chi^2 is judged by an F-test against the residual
   variance, ``F = (dchi2 / k) / (chi2 / nu)`` with ``k`` the phase's intensity columns plus
   its refined non-linear parameters (plus one for the cell search), expressed as a Gaussian
   z (one-sided), with the residual variance taken where the phase's own reflections are
   (misfit gathers at the strong peaks of the other phases) and a Bonferroni factor for the
   cells tried by the search. A phase enters at ``z >= significance_z`` and, once present,
   stays while ``z >= stay_z`` (hysteresis, so that noise does not make it blink). Seeds come
   only from frames where the phase passed.
4. The frame is refined again with the present phases only; uncertainties come from the
   Jacobian of all parameters at the solution, scaled by the reduced chi^2.
5. Checks: a cell outside ``max_cell_change`` of its reference, or stuck at its per-frame bound,
   is refitted from the previous frame's solution and flagged; a weight fraction that spikes
   between its neighbours beyond ``fraction_jump`` is refitted from a neighbour and flagged.
6. A phase that first appears late is followed backwards from where it is strong.

Every candidate phase gets a detection limit in every frame: the weight fraction whose
expected chi^2 rise, ``S^2 || c_perp ||^2`` with ``c_perp`` the phase's calculated pattern
orthogonal to the rest of the model (its overlaps with other phases and the background taken
out), would just reach ``significance_z``.

Example
-------
>>> import numpy as np
>>> from xpipe.xrd.phases import make_phase
>>> from xpipe.xrd.reflections import Cell
>>> from xpipe.xrd.sequential import RefinementSettings, refine_sequence
>>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, evaluate
>>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
>>> x = np.arange(10.0, 40.0, 0.01)
>>> truth = PhaseState.start(make_phase("t", space_group="P m -3 m", cell=Cell.cubic(4.16),
...                          d_min_a=1.0), w=0.0025)
>>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
>>> col = evaluate(pp, truth, x).columns @ np.full(pp.n_columns, 100.0)
>>> stack = np.random.default_rng(0).poisson(col + 20.0, size=(3, x.size)).astype(float)
>>> res = refine_sequence(x, stack, np.sqrt(np.maximum(stack, 1)), [ph], unit="2th_deg",
...                       wavelength_a=0.7749)
>>> bool(res.present[:, 0].all()), f"{res.cell['a_a'][0, 0]:.4f}"
(True, '4.1600')
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np

from .blas import one_blas_thread
from .cell import _cells_from_gstar, design_columns
from .framefit import (
    Frame,
    FrameContext,
    FrameResult,
    cell_lengths,
    covariance,
    detection_limit,
    dof,
    fit_frame,
    initial_width,
    intensity_z,
    phase_test,
    search_phase,
    weight_fractions_of,
)
from .peaks import background
from .phases import PhaseModel
from .presence import Z_CLEAR
from .refine_settings import RefinementSettings
from .wholepattern import PatternPhase, PhaseState, background_basis, evaluate

log = logging.getLogger("xpipe")

__all__ = ["CELL_KEYS", "RefinementSettings", "SequentialRefinement", "absence_text", "refine_sequence"]

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
    """Per frame and phase results of :func:`refine_sequence` (``[frame, phase]`` arrays)."""

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


# ------------------------------------------------------------------------ statistics


def _full(p: int, ctx) -> str:
    """``first`` for a phase whose Caglioti V has not been refined yet, else ``full``."""
    return "full" if p in ctx.profiled else "first"


def _refine_frame(frame: Frame, seeds: dict[int, PhaseState], refs: dict[int, PhaseState], present_prev,
                  seen, strong_prev, ctx, frozen=()) -> FrameResult:
    """One frame: refine the strong phases, search the others in, test, refine what stays.

    A phase refines its cell and profile only while it is strong (``z >= refine_profile_z``);
    a weak one (entering, fading, minor) keeps the best isotropic scaling of its reference
    cell, so that it cannot slide onto another phase's peaks. ``frozen`` phases keep their
    seed entirely (a refit after a failed check).
    """
    s = frame.s
    n_ph = len(frame.phases)
    active = [p for p in range(n_ph) if present_prev[p] and (strong_prev[p] or p in frozen)]
    modes = {p: ("fixed" if p in frozen else "full") for p in active}
    fit = fit_frame(frame, {p: seeds[p] for p in active}, seeds, modes, ctx.zero, ctx)
    trials = {p: 1 for p in active}
    searched = set()
    # greedy: of the candidates the search finds (up to three, strongest first), the one that
    # fits best once refined enters (a textured phase may look weaker than a wrong one before
    # its texture is refined); the rest are searched again on the new model
    while True:
        found = []
        for p in range(n_ph):
            if p in fit.states or p in searched:
                continue
            rel = s.search_relative_seen if seen[p] else s.search_relative
            st, z, n_try = search_phase(frame, fit, p, refs[p], rel, ctx)
            if z < s.stay_z:
                searched.add(p)
            else:
                found.append((z, p, st, n_try))
        if not found:
            break
        best = None
        for z, p, st, n_try in sorted(found, key=lambda t: -t[0])[:3]:
            new_states = dict(fit.states)
            new_states[p] = st
            seeds_p = dict(seeds)
            seeds_p[p] = st
            modes_p = dict(modes)
            # a phase never seen may differ from its CIF cell anisotropically: its cell is refined
            # once, within the search range (with its profile and texture when it is plainly
            # strong); afterwards a weak phase keeps its cell
            modes_p[p] = "fixed" if seen[p] else (_full(p, ctx) if z >= Z_CLEAR else "cell")
            if not seen[p]:
                ctx.step_of[p] = s.search_relative
            trial = fit_frame(frame, new_states, seeds_p, modes_p, fit.zero, ctx)
            ctx.step_of.pop(p, None)
            if best is None or trial.chi2 < best[0].chi2:
                best = (trial, p, seeds_p, modes_p, n_try)
        fit, p, seeds, modes, trials[p] = best
        searched.add(p)
    # presence by test, hysteresis for the phases present before
    z = {p: phase_test(frame, fit, p, trials[p]) for p in fit.states}
    for p in fit.states:  # a weak phase must be needed even when the others are refined without it
        if z[p] < s.refine_profile_z and z[p] >= s.stay_z:
            z[p] = phase_test(frame, fit, p, trials[p], modes=modes, seeds=seeds, ctx=ctx)
    present = {p: z[p] >= (s.stay_z if present_prev[p] else s.significance_z) for p in fit.states}
    keep = [p for p in fit.states if present[p]]
    # a phase present that carries much intensity (plain F-test, before the misfit calibration:
    # a phase whose cell is off misfits its own peaks) has its cell, profile and texture refined
    zi = {p: intensity_z(frame, fit, p) for p in keep}
    new_modes = {p: ("fixed" if p in frozen else
                     _full(p, ctx) if zi[p] >= s.refine_profile_z else
                     modes.get(p) if modes.get(p) in ("cell", "full", "first") and not seen[p] else "fixed")
                 for p in keep}
    for p in keep:
        if new_modes[p] != "fixed" and not seen[p]:
            ctx.step_of[p] = s.search_relative
    if len(keep) != len(fit.states) or any(new_modes[p] != modes.get(p) for p in keep):
        modes = new_modes
        fit = fit_frame(frame, {p: fit.states[p] for p in keep}, seeds, modes, fit.zero, ctx)
        for p in keep:
            z[p] = phase_test(frame, fit, p, trials[p], modes=modes if z[p] < s.refine_profile_z else None,
                               seeds=seeds, ctx=ctx)
            zi[p] = intensity_z(frame, fit, p)
    ctx.step_of.clear()
    ctx.profiled.update(p for p in keep if modes.get(p) == "first")
    status, reason = {}, {}
    for p in keep:
        status[p] = STATUS_OK if z[p] >= s.significance_z else STATUS_WEAK
        if status[p] == STATUS_WEAK:
            reason[p] = f"kept by hysteresis: z = {z[p]:.1f} < {s.significance_z:g}"
    return FrameResult(fit, {p: p in keep for p in range(n_ph)}, z, status, reason,
                        {p: fit.states[p] for p in keep}, list(seen), ctx.rel_width, zi)


def _check(frame: Frame, fr: FrameResult, refs0: dict[int, np.ndarray], s: RefinementSettings,
           prev: dict | None = None, last_step: dict | None = None) -> list[int]:
    """Phases whose cell left its possible range, sits on its per-frame bound, or jumped.

    A jump is a step of a cell length from the previous frame (where the phase was refined too)
    more than four times its previous step and more than 0.1 %: cells follow the state of
    charge smoothly, and a phase fading out of the pattern must not jump onto another's peaks.
    """
    bad = []
    for p, st in fr.states.items():
        pp = frame.phases[p]
        lengths = cell_lengths(st.g, pp.system)
        off_range = np.any(np.abs(lengths / refs0[p] - 1.0) > s.max_cell_change)
        on_bound = False
        for j, (q, name) in enumerate(fr.fit.names):
            if q == p and name.startswith("g"):
                span = fr.fit.hi[j] - fr.fit.lo[j]
                if min(fr.fit.theta[j] - fr.fit.lo[j], fr.fit.hi[j] - fr.fit.theta[j]) < 1e-3 * span:
                    on_bound = True
        jump = False
        if prev and p in prev and last_step is not None and any(q == p for q, _ in fr.fit.names):
            step = float(np.max(np.abs(lengths / cell_lengths(prev[p].g, pp.system) - 1.0)))
            jump = step > max(4.0 * last_step.get(p, s.max_step / 4.0), 1e-3)
        if off_range or on_bound or jump:
            bad.append(p)
    return bad


@one_blas_thread
def refine_sequence(
    x: np.ndarray,
    stack: np.ndarray,
    sigma: np.ndarray | None,
    phases: list[PhaseModel],
    *,
    unit: str,
    wavelength_a: float | None,
    settings: RefinementSettings | None = None,
) -> SequentialRefinement:
    """Refine every frame of ``stack`` as a whole pattern, all ``phases`` at once, in sequence.

    Parameters
    ----------
    x : radial axis, increasing (``2th_deg`` in degrees or ``q_A^-1``).
    stack : ``[frame, point]`` intensities in time order; NaN points are ignored.
    sigma : matching uncertainties (e.g. Poisson from the integration), or None
        (``sqrt(max(y, 1))``).
    phases : candidate phases (:func:`xpipe.xrd.phases.make_phase`).
    unit, wavelength_a : the radial axis; the wavelength is needed on 2theta axes and for
        Lorentz factors.
    settings : :class:`RefinementSettings`.

    Returns
    -------
    SequentialRefinement
    """
    s = settings or RefinementSettings()
    run = _Sequence(np.asarray(x, dtype=float), np.atleast_2d(np.asarray(stack, dtype=float)), sigma, phases,
                    unit, wavelength_a, s)
    run.forward()
    if s.direction == "both":
        run.backward()
    _fraction_spikes(run.frames, run.pps, s, run.ctx)
    return _collect(run.frames, phases, run.pps, s, run.ctx)


class _Sequence:
    """The state of one sequential refinement: the frames done, each phase's seed, reference
    cell and history."""

    def __init__(self, x, stack, sigma, phases, unit, wavelength_a, s: RefinementSettings):
        self.x, self.stack, self.phases, self.s = x, stack, phases, s
        self.sig = None if sigma is None else np.broadcast_to(np.asarray(sigma, dtype=float), stack.shape)
        self.pps = [PatternPhase.from_model(ph, unit=unit, wavelength_a=wavelength_a, lorentz=s.lorentz,
                                            texture_hkl=s.texture[ph.name][0] if ph.name in s.texture else None)
                    for ph in phases]
        width = initial_width(x, stack[0] - background(x, np.nan_to_num(stack[0]), "snip").baseline)
        self.ctx = FrameContext(x, unit, wavelength_a, width * width, width / float(np.median(x)))
        self.ctx.zero = 0.0
        self.ctx.step_of = {}
        self.ctx.profiled = set()
        self.splines = background_basis(x, max(int(math.ceil((x[-1] - x[0]) / (s.background_spacing_fwhm * width))), 4))
        self.ref_states = {p: PhaseState.start(ph, w=width * width,
                                               r=(s.texture[ph.name][1] if ph.name in s.texture else 1.0))
                           for p, ph in enumerate(phases)}
        self.refs0 = {p: cell_lengths(self.ref_states[p].g, ph.system) for p, ph in enumerate(phases)}
        self.frames: list = [None] * stack.shape[0]
        self.last_step: dict[int, float] = {}

    def frame(self, f: int) -> Frame:
        return Frame(self.x, self.stack[f], None if self.sig is None else self.sig[f], self.pps, self.s, self.splines)

    def forward(self) -> None:
        """Every frame in time order, seeded by the one before."""
        n_ph = len(self.phases)
        seeds = {p: st.copy() for p, st in self.ref_states.items()}
        refs = {p: st.copy() for p, st in self.ref_states.items()}
        present_prev, seen, strong = [False] * n_ph, [False] * n_ph, [False] * n_ph
        for f in range(len(self.frames)):
            frame = self.frame(f)
            refined_prev = {p: seeds[p] for p in range(n_ph) if present_prev[p] and strong[p]}
            fr = self._checked(frame, seeds, refs, present_prev, seen, strong, refined_prev)
            self.frames[f] = (frame, fr)
            self.ctx.zero = fr.fit.zero
            for p in range(n_ph):
                present_prev[p] = fr.present[p]
                if fr.present[p] and fr.status[p] != STATUS_RUNAWAY:
                    if p in refined_prev and any(q == p for q, _ in fr.fit.names):
                        self.last_step[p] = float(np.max(np.abs(
                            cell_lengths(fr.states[p].g, self.phases[p].system)
                            / cell_lengths(refined_prev[p].g, self.phases[p].system) - 1.0)))
                    seeds[p] = fr.states[p].copy()
                    strong[p] = fr.zi.get(p, 0.0) >= self.s.refine_profile_z
                    if strong[p] or not seen[p]:  # only a strong phase, or its entry, moves its reference
                        refs[p] = fr.states[p].copy()
                        seen[p] = True
                elif not fr.present[p]:
                    strong[p] = False

    def _checked(self, frame, seeds, refs, present_prev, seen, strong, refined_prev) -> FrameResult:
        """One frame refined, then refitted with the phases that failed a check held."""
        s = self.s
        fr = _refine_frame(frame, seeds, refs, present_prev, seen, strong, self.ctx)
        bad = _check(frame, fr, self.refs0, s, refined_prev, self.last_step)
        if not bad:
            return fr
        fr2 = _refine_frame(frame, seeds, refs, present_prev, seen, strong, self.ctx,
                            frozen=[p for p in bad if present_prev[p]])
        if fr2.fit.chi2 > 1.5 * fr.fit.chi2:
            return fr  # the pattern itself demands the change: holding the cell spoils the fit
        bad2 = _check(frame, fr2, self.refs0, s)
        for p in bad:
            if p not in fr2.states:
                continue
            if p in bad2:
                fr2.status[p] = STATUS_RUNAWAY
                fr2.reason[p] = "cell left its possible range or stayed on its per-frame bound after a refit"
            else:
                fr2.status[p] = STATUS_REFIT
                fr2.reason[p] = "cell jumped or ran to its bound; refitted with the previous frame's cell and profile"
        return fr2

    def backward(self) -> None:
        """Where the phases found change from one frame to the next, the frame is refined again
        from the later frame's solution (a phase that appears late is followed back from where it
        is strong; a wrong choice made where a phase entered is undone); the solution that fits
        better stays, and every phase in it has passed its test."""
        s, n_ph = self.s, len(self.phases)
        for f in range(len(self.frames) - 2, -1, -1):
            frame, old = self.frames[f]
            nxt = self.frames[f + 1][1]
            if set(old.states) == set(nxt.states):
                continue
            late = [q for q in nxt.states if q not in old.states]
            seeds = {q: (nxt.states[q] if q in nxt.states else old.states[q] if q in old.states
                         else self.ref_states[q]).copy() for q in range(n_ph)}
            strong_next = [q in nxt.states and nxt.zi.get(q, 0) >= s.refine_profile_z for q in range(n_ph)]
            refs = {q: (nxt.states[q] if strong_next[q] else seeds[q]).copy() for q in range(n_ph)}
            prev = [q in nxt.states for q in range(n_ph)]
            # a phase that appears later is searched for at its later cell, never refined freely
            # here: where it is faint it must not take up the others' misfit
            strong = [strong_next[q] and q not in late for q in range(n_ph)]
            fr = _refine_frame(frame, seeds, refs, prev, strong_next, strong, self.ctx)
            if fr.fit.chi2 < old.fit.chi2 and all(fr.z.get(q, 0.0) >= s.stay_z for q in fr.states):
                self.frames[f] = (frame, fr)


_JUMP_REASON = "weight fraction jumps away from both neighbouring frames"


def _fraction_spikes(frames, pps, s: RefinementSettings, ctx) -> None:
    """Refit a frame whose weight fraction spikes away from both neighbours."""
    n_ph = len(pps)
    w = [weight_fractions_of(fr, pps)[2] for _, fr in frames]  # each frame's fractions, once
    for f in range(1, len(frames) - 1):
        (frame, fr), prev, nxt = frames[f], frames[f - 1][1], frames[f + 1][1]
        wp, wn = w[f - 1], w[f + 1]
        spiky = [p for p in w[f] if p in wp and p in wn and abs(w[f][p] - 0.5 * (wp[p] + wn[p])) > s.fraction_jump
                 and abs(wp[p] - wn[p]) < s.fraction_jump]
        if not spiky:
            continue
        best = None
        for nb in (prev, nxt):
            if not all(q in nb.states or q not in fr.states for q in range(n_ph)):
                continue
            seeds = {q: (nb.states[q] if q in nb.states else fr.fit.states.get(q)) for q in range(n_ph)}
            seeds = {q: (st if st is not None else PhaseState(g=np.zeros(0))) for q, st in seeds.items()}
            cand = _refine_frame(frame, seeds, seeds, [q in nb.states for q in range(n_ph)], [True] * n_ph,
                                 [False] * n_ph, ctx)
            if best is None or cand.fit.chi2 < best.fit.chi2:
                best = cand
        if best is None or best.fit.chi2 > fr.fit.chi2 * 1.02:
            for p in spiky:
                fr.status[p] = STATUS_JUMP
                fr.reason[p] = _JUMP_REASON
            continue
        wb = weight_fractions_of(best, pps)[2]
        for p in best.states:
            if p in spiky:
                still = p in wb and abs(wb[p] - 0.5 * (wp[p] + wn[p])) > s.fraction_jump
                best.status[p] = STATUS_JUMP if still else STATUS_REFIT
                best.reason[p] = _JUMP_REASON if still else "weight fraction spiked; refitted from a neighbouring frame"
        frames[f] = (frame, best)
        w[f] = wb


def absence_text(detection_limit: np.ndarray) -> str:
    """What to say of a phase found in no frame: its detection limit over the frames (weight
    fractions), or why there is none."""
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


def _collect(frames, phases, pps, s: RefinementSettings, ctx) -> SequentialRefinement:
    n_frames, n_ph = len(frames), len(phases)
    nan = np.full((n_frames, n_ph), np.nan)
    out = SequentialRefinement(
        phases=[p.name for p in phases], present=np.zeros((n_frames, n_ph), bool), z=nan.copy(),
        status=np.full((n_frames, n_ph), STATUS_ABSENT, dtype=object),
        reason=np.full((n_frames, n_ph), "", dtype=object),
        cell={k: nan.copy() for k in CELL_KEYS}, cell_sigma={k: nan.copy() for k in CELL_KEYS},
        scale=nan.copy(), scale_sigma=nan.copy(), fraction=nan.copy(), fraction_sigma=nan.copy(),
        detection_limit=nan.copy(), fwhm_u=nan.copy(), fwhm_w=nan.copy(), eta=nan.copy(),
        texture_r=nan.copy(), texture_r_sigma=nan.copy(), chi2_nu=np.full(n_frames, np.nan),
        rwp=np.full(n_frames, np.nan), zero=np.zeros(n_frames),
        calculated=np.full((n_frames, frames[0][0].x.size), np.nan),
        background=np.full((n_frames, frames[0][0].x.size), np.nan), gstar=[], settings={})
    last_state = {p: PhaseState.start(ph, w=ctx.ref_w) for p, ph in enumerate(phases)}
    for f, (frame, fr) in enumerate(frames):
        fit = fr.fit
        nu = dof(frame, fit)
        out.chi2_nu[f] = fit.chi2 / nu
        yw = frame.yw
        out.rwp[f] = math.sqrt(fit.chi2 / max(float(yw @ yw), 1e-300))
        out.zero[f] = fit.zero
        out.calculated[f] = fit.a @ fit.sol.coef
        nb = frame.basis.shape[1]
        out.background[f] = fit.a[:, :nb] @ fit.sol.coef[:nb]
        scale, scale_sig, frac, frac_sig = weight_fractions_of(fr, pps)
        cov = covariance(fit)
        m = fit.a.shape[1]
        gstars = []
        for p, ph in enumerate(phases):
            st = fr.states.get(p)
            if st is not None:
                last_state[p] = st
            gstars.append(None if st is None else np.array(st.g))
            if p in fit.states:
                out.z[f, p] = fr.z.get(p, np.nan)
            if st is None:
                out.z[f, p] = fr.z.get(p, 0.0)
                dl = detection_limit(frame, fr, p, last_state[p], pps, s, scale)
                out.detection_limit[f, p] = dl
                z_txt = f"z = {out.z[f, p]:.1f} < {s.significance_z:g}"
                out.reason[f, p] = (f"not detected ({z_txt}); detection limit {100 * dl:.2g} wt%"
                                    if np.isfinite(dl) else f"not detected ({z_txt}); no structure, so no "
                                    "detection limit in weight")
                continue
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
        out.gstar.append(gstars)
        _flag_ambiguous(out, f, frame, fr, pps, last_state, s)
    out.settings = {k: (v if not isinstance(v, dict) else {n: list(map(str, t)) if isinstance(t, tuple) else t
                                                            for n, t in v.items()})
                    for k, v in asdict(s).items()}
    out.settings["initial_fwhm"] = math.sqrt(ctx.ref_w)
    out.settings["method"] = ("sequential whole-pattern refinement: Rietveld scales where the structure is known, "
                              "Pawley intensities where it is not; presence by F-test with hysteresis")
    return out
