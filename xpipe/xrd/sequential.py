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

The frame fits are collected into one :class:`SequentialRefinement` by
:mod:`xpipe.xrd.refine_results`.

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

import numpy as np

from .blas import one_blas_thread
from .framefit import (
    Frame,
    FrameContext,
    FrameResult,
    cell_lengths,
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
from .refine_results import (
    AMBIGUOUS_CORRELATION,
    CELL_KEYS,
    STATUS_ABSENT,
    STATUS_AMBIGUOUS,
    STATUS_JUMP,
    STATUS_OK,
    STATUS_REFIT,
    STATUS_RUNAWAY,
    STATUS_WEAK,
    SequentialRefinement,
    _collect,
    absence_text,
)
from .refine_settings import RefinementSettings
from .wholepattern import PatternPhase, PhaseState, background_basis

log = logging.getLogger("xpipe")

__all__ = ["AMBIGUOUS_CORRELATION", "CELL_KEYS", "STATUS_ABSENT", "STATUS_AMBIGUOUS", "RefinementSettings",
           "SequentialRefinement", "absence_text", "refine_sequence"]

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
    fit, seeds, modes = _search_others(frame, fit, seeds, refs, modes, trials, seen, ctx)
    # presence by test, hysteresis for the phases present before
    z = _presence_z(frame, fit, trials, modes, seeds, ctx)
    keep = [p for p in fit.states if z[p] >= (s.stay_z if present_prev[p] else s.significance_z)]
    fit, modes, zi = _refine_kept(frame, fit, keep, z, trials, modes, seeds, seen, frozen, ctx)
    ctx.step_of.clear()
    ctx.profiled.update(p for p in keep if modes.get(p) == "first")
    status, reason = {}, {}
    for p in keep:
        status[p] = STATUS_OK if z[p] >= s.significance_z else STATUS_WEAK
        if status[p] == STATUS_WEAK:
            reason[p] = f"kept by hysteresis: z = {z[p]:.1f} < {s.significance_z:g}"
    return FrameResult(fit, {p: p in keep for p in range(n_ph)}, z, status, reason,
                        {p: fit.states[p] for p in keep}, list(seen), ctx.rel_width, zi)


def _search_others(frame: Frame, fit, seeds, refs, modes, trials, seen, ctx):
    """Greedy search of the phases not in ``fit``: ``(fit, seeds, modes)`` once none enters.

    Of the candidates the search finds (up to three, strongest first), the one that fits best
    once refined enters (a textured phase may look weaker than a wrong one before its texture
    is refined); the rest are searched again on the new model. ``trials`` gets the number of
    cells tried for each phase that enters.
    """
    s = frame.s
    searched = set()
    while True:
        found = []
        for p in range(len(frame.phases)):
            if p in fit.states or p in searched:
                continue
            rel = s.search_relative_seen if seen[p] else s.search_relative
            st, z, n_try = search_phase(frame, fit, p, refs[p], rel, ctx)
            if z < s.stay_z:
                searched.add(p)
            else:
                found.append((z, p, st, n_try))
        if not found:
            return fit, seeds, modes
        fit, p, seeds, modes, trials[p] = _best_entry(frame, fit, found, seeds, modes, seen, ctx)
        searched.add(p)


def _best_entry(frame: Frame, fit, found, seeds, modes, seen, ctx):
    """Of the three strongest ``(z, phase, state, cells tried)`` found, the one that fits best
    once refined with the model: ``(fit, phase, seeds, modes, cells tried)``."""
    s = frame.s
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
    return best


def _presence_z(frame: Frame, fit, trials, modes, seeds, ctx) -> dict[int, float]:
    """z of every phase in ``fit``; a weak one must be needed even when the others are refined
    without it."""
    s = frame.s
    z = {p: phase_test(frame, fit, p, trials[p]) for p in fit.states}
    for p in fit.states:
        if z[p] < s.refine_profile_z and z[p] >= s.stay_z:
            z[p] = phase_test(frame, fit, p, trials[p], modes=modes, seeds=seeds, ctx=ctx)
    return z


def _refine_kept(frame: Frame, fit, keep, z, trials, modes, seeds, seen, frozen, ctx):
    """The phases that passed, refined again without the others: ``(fit, modes, zi)``.

    A phase present that carries much intensity (plain F-test ``zi``, before the misfit
    calibration: a phase whose cell is off misfits its own peaks) has its cell, profile and
    texture refined. ``z`` is updated in place where the frame is refitted.
    """
    s = frame.s
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
    return fit, modes, zi


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
    x : ndarray
        Radial axis, increasing: 2theta in degrees (``2th_deg``) or Q in 1/A (``q_A^-1``).
    stack : ndarray
        ``[frame, point]`` intensities (counts) in time order; NaN points are ignored.
    sigma : ndarray or None
        Matching uncertainties (counts, e.g. Poisson from the integration), or None
        (``sqrt(max(y, 1))``).
    phases : list of PhaseModel
        Candidate phases (:func:`xpipe.xrd.phases.make_phase`).
    unit : str
        ``2th_deg`` or ``q_A^-1``.
    wavelength_a : float or None
        Wavelength in A; needed on 2theta axes and for Lorentz factors.
    settings : RefinementSettings, optional
        Tests, steps and checks (:class:`RefinementSettings`; its defaults when None).

    Returns
    -------
    SequentialRefinement
        Per frame and phase presence, cells (A, degrees), weight fractions, detection limits,
        profiles and statuses with their reasons.

    Examples
    --------
    A cubic cell that grows by 0.1 % from one frame to the next:

    >>> import numpy as np
    >>> from xpipe.xrd.phases import make_phase
    >>> from xpipe.xrd.reflections import Cell
    >>> from xpipe.xrd.sequential import refine_sequence
    >>> from xpipe.xrd.wholepattern import PatternPhase, PhaseState, evaluate
    >>> ph = make_phase("LaB6", space_group="P m -3 m", cell=Cell.cubic(4.1569), d_min_a=1.0)
    >>> pp = PatternPhase.from_model(ph, unit="2th_deg", wavelength_a=0.7749)
    >>> x = np.arange(10.0, 40.0, 0.01)
    >>> start = PhaseState.start(ph, w=0.0025)
    >>> stack = np.array([evaluate(pp, start.scaled(f), x).columns @ np.full(pp.n_columns, 100.0) + 20.0
    ...                   for f in (1.0, 1.001)])
    >>> res = refine_sequence(x, stack, None, [ph], unit="2th_deg", wavelength_a=0.7749)
    >>> np.round(res.cell["a_a"][:, 0], 4).tolist(), res.status[:, 0].tolist()
    ([4.1569, 4.1611], ['ok', 'ok'])
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
