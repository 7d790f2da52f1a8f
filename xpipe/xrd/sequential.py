"""Sequential whole-pattern refinement of an operando stack, with presence by statistics.

Every frame is refined as a whole pattern (:mod:`xpipe.xrd.wholepattern`), all candidate
phases at once, and each frame starts from the previous frame's result, as sequential
refinements are run in GSAS-II and TOPAS:

1. The phases present and strong (``z >= refine_profile_z``) in the previous frame are
   refined: cell (bounded to ``max_step`` relative change of each length per frame), Caglioti
   width (U, V, W) and eta, March-Dollase ``r`` where a texture is declared, and the zero
   shift when asked. A weak phase (entering, fading, minor) keeps the best isotropic scaling
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
>>> pp = PatternPhase.from_model(ph, x, unit="2th_deg", wavelength_a=0.7749)
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
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats
from scipy.optimize import least_squares

from .blas import one_blas_thread
from .cell import _cells_from_gstar, design_columns
from .peaks import background, find_peaks_1d
from .phases import PhaseModel
from .wholepattern import (
    PatternPhase,
    PhaseState,
    background_basis,
    cell_of,
    derivative_columns,
    evaluate,
    project_out,
    solve_linear,
)

log = logging.getLogger("xpipe")

__all__ = ["CELL_KEYS", "RefinementSettings", "SequentialRefinement", "critical_dchi2", "refine_sequence",
           "serial_correlation_factor", "z_of_f"]

CELL_KEYS = ("a_a", "b_a", "c_a", "alpha_deg", "beta_deg", "gamma_deg", "volume_a3")

STATUS_OK = "ok"
STATUS_WEAK = "weak"  # kept by hysteresis: stay_z <= z < significance_z
STATUS_REFIT = "refit"  # a check failed, refitted from a neighbour, then passed
STATUS_ABSENT = "absent"
STATUS_RUNAWAY = "runaway"
STATUS_JUMP = "fraction_jump"


@dataclass(frozen=True)
class RefinementSettings:
    """Settings of :func:`refine_sequence` (defaults a Rietveld user would start from)."""

    background_spacing_fwhm: float = 25.0
    snip_background: bool = True
    significance_z: float = 5.0
    stay_z: float = 3.0
    max_step: float = 0.004
    max_cell_change: float = 0.06
    search_relative: float = 0.01
    search_relative_seen: float = 0.003
    refine_profile_z: float = 10.0
    zero_shift: bool = False
    direction: str = "both"
    cut_fwhm: float = 25.0
    fraction_jump: float = 0.08
    lorentz: str = "area_detector"
    max_nfev: int = 40
    texture: dict = field(default_factory=dict)  # phase name -> (hkl, r_start, refine_r)
    fixed_profile: dict = field(default_factory=dict)  # phase name -> True: profile not refined


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


class _Frame:
    """One pattern, its weights, background basis and the candidate phases."""

    def __init__(self, x, y, sigma, phases: list[PatternPhase], s: RefinementSettings, n_intervals: int):
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
        self.basis = background_basis(x, n_intervals, extra)
        self.yw = self.y * self.wt
        self.phases = phases
        self.s = s

    def model(self, states: dict[int, PhaseState], zero: float, deriv=True):
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
        return solve_linear(a, self.yw, self.wt, self.basis.shape[1])


@dataclass
class _Fit:
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


def _names_for(p: int, pp: PatternPhase, mode: str, s: RefinementSettings, unit: str) -> list:
    if mode == "fixed":
        return []
    names = [(p, f"g{j}") for j in range(pp.n_cell)]
    if mode == "full":
        if not s.fixed_profile.get(pp.name):
            names += [(p, "w"), (p, "u"), (p, "v"), (p, "eta")]
        if pp.texture_cos2 is not None and s.texture.get(pp.name, (None, 1.0, True))[2]:
            names.append((p, "r"))
    return names


def _bounds(name, st: PhaseState, seed: PhaseState, ref_w: float, t_max: float, s: RefinementSettings, gi=None,
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


def _fit(frame: _Frame, states: dict[int, PhaseState], seeds: dict[int, PhaseState], modes: dict[int, str],
         zero: float, ctx) -> _Fit:
    """Least squares on the non-linear parameters (variable projection), linear ones exact."""
    s = frame.s
    states = {p: st.copy() for p, st in states.items()}
    names = []
    for p, mode in modes.items():
        names += _names_for(p, frame.phases[p], mode, s, ctx.unit)
    if s.zero_shift and ctx.unit == "2th_deg" and states:
        names.append((-1, "zero"))
    lo, hi, x0 = [], [], []
    for p, name in names:
        if p < 0:
            b = _bounds(name, None, None, ctx.ref_w, ctx.t_max, s)
            v = zero
        else:
            gi = int(name[1:]) if name.startswith("g") else None
            b = _bounds(name, states[p], seeds[p], ctx.ref_w, ctx.t_max, s, gi, step=ctx.step_of.get(p))
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
        out = np.empty((frame.x.size, len(names)))
        for j, (p, name) in enumerate(names):
            if p < 0:
                d = sum(derivative_columns(frame.phases[q], evs[q], sol.coef[spans[q][0]:spans[q][1]], ("zero",),
                                           frame.x.size)[:, 0] for q in states)
            else:
                d = derivative_columns(frame.phases[p], evs[p], sol.coef[spans[p][0]:spans[p][1]], (name,),
                                       frame.x.size)[:, 0]
            out[:, j] = -project_out(sol.q, frame.wt * d)
        return out

    theta = np.array(x0, dtype=float)
    if names:
        res = least_squares(fun, theta, jac=jac, bounds=(np.array(lo), np.array(hi)), method="trf",
                            x_scale="jac", max_nfev=s.max_nfev, xtol=1e-10, ftol=1e-10)
        theta = res.x
    z, evs, a, spans, sol = run(theta)
    z = apply(theta)
    return _Fit(states, z, sol, spans, evs, a, names, frame, np.array(lo), np.array(hi), theta)


def _dof(frame: _Frame, fit: _Fit) -> int:
    return max(frame.n_valid - int(fit.sol.active.sum()) - len(fit.names), 1)


def _local_chi2_nu(frame: _Frame, column: np.ndarray, residual: np.ndarray, global_chi2_nu: float) -> float:
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


def _decoy_variance(frame: _Frame, a: np.ndarray, active: np.ndarray, chi2_without: float, pp: PatternPhase,
                    state: PhaseState, zero: float) -> float:
    """Residual variance per point as a phase-shaped pattern sees it where the phase is not.

    The phase's own pattern with its cell scaled by 1.5 to 3 % (:data:`DECOY_SCALES`) is fitted
    in place of the phase; what such decoys gain is misfit and correlated noise, not phase.
    Under the null a non-negative scale gains ``k / 2`` times the variance on average, so the
    variance is ``2 mean(dchi2) / k`` over the decoys, the three largest left out (a decoy may
    fall on another phase's reflections).
    """
    gains = []
    for f in DECOY_SCALES:
        ev = evaluate(pp, state.scaled(f), frame.x, zero=zero, cut_fwhm=frame.s.cut_fwhm)
        aa = np.column_stack([a, ev.columns])
        act = np.concatenate([active, np.ones(ev.columns.shape[1], dtype=bool)])
        sol = solve_linear(aa, frame.yw, frame.wt, frame.basis.shape[1], active=act)
        gains.append(max(chi2_without - sol.chi2, 0.0))
    gains = np.sort(gains)[: len(gains) - 3]
    return 2.0 * float(np.mean(gains)) / pp.n_columns


def _phase_test(frame: _Frame, fit: _Fit, p: int, trials: int = 1, modes: dict | None = None,
                seeds: dict | None = None, ctx=None) -> float:
    """z of phase ``p`` in ``fit``: chi^2 rise when its intensity columns are removed.

    The variance the rise is judged against is the residual variance where the phase's
    reflections are; below :data:`Z_CLEAR` it is inflated for serial correlation
    (:func:`serial_correlation_factor`) and never less than what decoys of the phase gain
    (:func:`_decoy_variance`). With ``modes`` (the refinement modes of ``fit``), the others are
    also refined again without ``p``, so that a phase is not credited with misfit the others'
    profiles can take up.
    """
    i0, i1 = fit.spans[p]
    act = fit.sol.active.copy()
    n_cols = int(act[i0:i1].sum())
    if n_cols == 0:
        return 0.0
    act[i0:i1] = False
    without = solve_linear(fit.a, frame.yw, frame.wt, frame.basis.shape[1], active=act)
    chi2_without = without.chi2
    k = n_cols + sum(1 for q, _ in fit.names if q == p)
    nu = _dof(frame, fit)
    contrib = fit.a[:, i0:i1] @ fit.sol.coef[i0:i1]
    local = _local_chi2_nu(frame, contrib, fit.sol.residual, fit.chi2 / nu)
    z = z_of_f(chi2_without - fit.chi2, k, local, nu, trials)
    if z >= Z_CLEAR:
        return z
    keep = np.ones(fit.a.shape[1], dtype=bool)
    keep[i0:i1] = False
    var = _decoy_variance(frame, fit.a[:, keep], act[keep], chi2_without, frame.phases[p], fit.states[p], fit.zero)
    local *= serial_correlation_factor(fit.sol.residual)
    if modes is not None and any(m != "fixed" for q, m in modes.items() if q != p):
        others = {q: st for q, st in fit.states.items() if q != p}
        refit = _fit(frame, others, seeds, {q: modes[q] for q in others}, fit.zero, ctx)
        chi2_without = min(chi2_without, refit.chi2)
    return z_of_f(chi2_without - fit.chi2, k, max(local, var), nu, trials)


def _intensity_z(frame: _Frame, fit: _Fit, p: int) -> float:
    """Plain F-test z of phase ``p`` against the pattern's reduced chi^2: how much of the
    pattern it carries (decides whether its cell and profile are refined, not its presence)."""
    i0, i1 = fit.spans[p]
    act = fit.sol.active.copy()
    n_cols = int(act[i0:i1].sum())
    if n_cols == 0:
        return 0.0
    act[i0:i1] = False
    without = solve_linear(fit.a, frame.yw, frame.wt, frame.basis.shape[1], active=act)
    nu = _dof(frame, fit)
    return z_of_f(without.chi2 - fit.chi2, n_cols, fit.chi2 / nu, nu)


def _search(frame: _Frame, base: _Fit, p: int, state: PhaseState, rel: float, ctx) -> tuple[PhaseState, float, int]:
    """Best isotropic scaling of phase ``p``'s cell on top of ``base``; (state, z, cells tried)."""
    pp = frame.phases[p]
    step = max(0.25 * ctx.rel_width, 2e-4)
    n = int(math.ceil(rel / step))
    best = (state, 0.0, -1.0)
    nu = _dof(frame, base)
    for k in range(-n, n + 1):
        st = state.scaled(1.0 + k * step)
        ev = evaluate(pp, st, frame.x, zero=base.zero, cut_fwhm=frame.s.cut_fwhm)
        a = np.column_stack([base.a, ev.columns])
        act = np.concatenate([base.sol.active, np.ones(ev.columns.shape[1], dtype=bool)])
        sol = solve_linear(a, frame.yw, frame.wt, frame.basis.shape[1], active=act)
        d = base.chi2 - sol.chi2
        if d > best[2]:
            best = (st, d, d)
    st, d, _ = best
    # a gate only: phases not yet in the model are still in the residual, so its variance is
    # not the noise; the presence test proper runs on the complete model
    return st, z_of_f(d, pp.n_columns, base.chi2 / nu, nu, trials=2 * n + 1), 2 * n + 1


class _Context:
    def __init__(self, x, unit, wavelength_a, ref_w, rel_width):
        self.unit = unit
        self.wavelength_a = wavelength_a
        self.ref_w = ref_w
        self.rel_width = rel_width
        if unit == "2th_deg":
            self.t_max = math.tan(math.radians(x[-1] / 2.0))
        else:
            self.t_max = float(x[-1])


def _initial_width(x, y) -> float:
    """Median FWHM of the prominent peaks of one pattern (radial unit)."""
    ok = np.isfinite(y)
    cands = find_peaks_1d(x[ok], y[ok])
    if cands.fwhm.size == 0:
        return float(10.0 * np.median(np.diff(x)))
    strong = cands.prominence >= np.quantile(cands.prominence, 0.5)
    return float(np.median(cands.fwhm[strong]))


# ----------------------------------------------------------------------------- frames


@dataclass
class _FrameResult:
    fit: _Fit
    present: dict[int, bool]
    z: dict[int, float]
    status: dict[int, str]
    reason: dict[int, str]
    states: dict[int, PhaseState]
    seen: list | None = None
    rel_width: float = 0.0
    zi: dict = field(default_factory=dict)  # plain F-test z: how much intensity the phase carries


def _refine_frame(frame: _Frame, seeds: dict[int, PhaseState], refs: dict[int, PhaseState], present_prev,
                  seen, strong_prev, ctx, frozen=()) -> _FrameResult:
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
    fit = _fit(frame, {p: seeds[p] for p in active}, seeds, modes, ctx.zero, ctx)
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
            st, z, n_try = _search(frame, fit, p, refs[p], rel, ctx)
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
            modes_p[p] = "fixed" if seen[p] else ("full" if z >= Z_CLEAR else "cell")
            if not seen[p]:
                ctx.step_of[p] = s.search_relative
            trial = _fit(frame, new_states, seeds_p, modes_p, fit.zero, ctx)
            ctx.step_of.pop(p, None)
            if best is None or trial.chi2 < best[0].chi2:
                best = (trial, p, seeds_p, modes_p, n_try)
        fit, p, seeds, modes, trials[p] = best
        searched.add(p)
    # presence by test, hysteresis for the phases present before
    z = {p: _phase_test(frame, fit, p, trials[p]) for p in fit.states}
    for p in fit.states:  # a weak phase must be needed even when the others are refined without it
        if z[p] < s.refine_profile_z and z[p] >= s.stay_z:
            z[p] = _phase_test(frame, fit, p, trials[p], modes=modes, seeds=seeds, ctx=ctx)
    present = {p: z[p] >= (s.stay_z if present_prev[p] else s.significance_z) for p in fit.states}
    keep = [p for p in fit.states if present[p]]
    # a phase present that carries much intensity (plain F-test, before the misfit calibration:
    # a phase whose cell is off misfits its own peaks) has its cell, profile and texture refined
    zi = {p: _intensity_z(frame, fit, p) for p in keep}
    new_modes = {p: ("fixed" if p in frozen else "full" if zi[p] >= s.refine_profile_z else
                     modes.get(p) if modes.get(p) in ("cell", "full") and not seen[p] else "fixed") for p in keep}
    for p in keep:
        if new_modes[p] != "fixed" and not seen[p]:
            ctx.step_of[p] = s.search_relative
    if len(keep) != len(fit.states) or any(new_modes[p] != modes.get(p) for p in keep):
        modes = new_modes
        fit = _fit(frame, {p: fit.states[p] for p in keep}, seeds, modes, fit.zero, ctx)
        for p in keep:
            z[p] = _phase_test(frame, fit, p, trials[p], modes=modes if z[p] < s.refine_profile_z else None,
                               seeds=seeds, ctx=ctx)
            zi[p] = _intensity_z(frame, fit, p)
    ctx.step_of.clear()
    status, reason = {}, {}
    for p in keep:
        status[p] = STATUS_OK if z[p] >= s.significance_z else STATUS_WEAK
        if status[p] == STATUS_WEAK:
            reason[p] = f"kept by hysteresis: z = {z[p]:.1f} < {s.significance_z:g}"
    return _FrameResult(fit, {p: p in keep for p in range(n_ph)}, z, status, reason,
                        {p: fit.states[p] for p in keep}, list(seen), ctx.rel_width, zi)


def _lengths(g, system) -> np.ndarray:
    c = cell_of(g, system)
    return np.array([c.a_a, c.b_a, c.c_a])


def _check(frame: _Frame, fr: _FrameResult, refs0: dict[int, np.ndarray], s: RefinementSettings,
           prev: dict | None = None, last_step: dict | None = None) -> list[int]:
    """Phases whose cell left its possible range, sits on its per-frame bound, or jumped.

    A jump is a step of a cell length from the previous frame (where the phase was refined too)
    more than four times its previous step and more than 0.1 %: cells follow the state of
    charge smoothly, and a phase fading out of the pattern must not jump onto another's peaks.
    """
    bad = []
    for p, st in fr.states.items():
        pp = frame.phases[p]
        lengths = _lengths(st.g, pp.system)
        off_range = np.any(np.abs(lengths / refs0[p] - 1.0) > s.max_cell_change)
        on_bound = False
        for j, (q, name) in enumerate(fr.fit.names):
            if q == p and name.startswith("g"):
                span = fr.fit.hi[j] - fr.fit.lo[j]
                if min(fr.fit.theta[j] - fr.fit.lo[j], fr.fit.hi[j] - fr.fit.theta[j]) < 1e-3 * span:
                    on_bound = True
        jump = False
        if prev and p in prev and last_step is not None and any(q == p for q, _ in fr.fit.names):
            step = float(np.max(np.abs(lengths / _lengths(prev[p].g, pp.system) - 1.0)))
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
    x = np.asarray(x, dtype=float)
    stack = np.atleast_2d(np.asarray(stack, dtype=float))
    n_frames, n_ph = stack.shape[0], len(phases)
    sig = None if sigma is None else np.broadcast_to(np.asarray(sigma, dtype=float), stack.shape)
    pps = []
    for ph in phases:
        tex = s.texture.get(ph.name)
        pps.append(PatternPhase.from_model(ph, x, unit=unit, wavelength_a=wavelength_a, lorentz=s.lorentz,
                                           texture_hkl=None if tex is None else tex[0]))
    width = _initial_width(x, stack[0] - background(x, np.nan_to_num(stack[0]), "snip").baseline)
    ref_w = width * width
    centre = float(np.median(x))
    ctx = _Context(x, unit, wavelength_a, ref_w, width / centre)
    ctx.zero = 0.0
    ctx.step_of = {}
    n_knots = max(int(math.ceil((x[-1] - x[0]) / (s.background_spacing_fwhm * width))), 4)
    ref_states = {p: PhaseState.start(ph, w=ref_w, r=(s.texture[ph.name][1] if ph.name in s.texture else 1.0))
                  for p, ph in enumerate(phases)}
    refs0 = {p: _lengths(ref_states[p].g, ph.system) for p, ph in enumerate(phases)}

    frames = [None] * n_frames
    last_step: dict[int, float] = {}

    def run_forward(order, seeds, refs, present_prev, seen, strong):
        for f in order:
            frame = _Frame(x, stack[f], None if sig is None else sig[f], pps, s, n_knots)
            fr = _refine_frame(frame, seeds, refs, present_prev, seen, strong, ctx)
            refined_prev = {p: seeds[p] for p in range(n_ph) if present_prev[p] and strong[p]}
            bad = _check(frame, fr, refs0, s, refined_prev, last_step)
            if bad:
                # refit with those phases held at the previous frame's solution, then test again
                fr2 = _refine_frame(frame, seeds, refs, present_prev, seen, strong, ctx,
                                    frozen=[p for p in bad if present_prev[p]])
                bad2 = _check(frame, fr2, refs0, s)
                # the pattern itself demands the change when holding the cell spoils the fit
                demanded = fr2.fit.chi2 > 1.5 * fr.fit.chi2
                if not demanded:
                    fr = fr2
                for p in ([] if demanded else bad):
                    if p in fr.states:
                        if p in bad2:
                            fr.status[p] = STATUS_RUNAWAY
                            fr.reason[p] = "cell left its possible range or stayed on its per-frame bound after a refit"
                        else:
                            fr.status[p] = STATUS_REFIT
                            fr.reason[p] = ("cell jumped or ran to its bound; refitted with the previous "
                                            "frame's cell and profile")
            frames[f] = (frame, fr)
            ctx.zero = fr.fit.zero
            for p in range(n_ph):
                present_prev[p] = fr.present[p]
                if fr.present[p] and fr.status[p] != STATUS_RUNAWAY:
                    if p in refined_prev and any(q == p for q, _ in fr.fit.names):
                        last_step[p] = float(np.max(np.abs(_lengths(fr.states[p].g, phases[p].system)
                                                           / _lengths(refined_prev[p].g, phases[p].system) - 1.0)))
                    seeds[p] = fr.states[p].copy()
                    strong[p] = fr.zi.get(p, 0.0) >= s.refine_profile_z
                    if strong[p] or not seen[p]:  # only a strong phase, or its entry, moves its reference
                        refs[p] = fr.states[p].copy()
                        seen[p] = True
                elif not fr.present[p]:
                    strong[p] = False

    seeds = {p: st.copy() for p, st in ref_states.items()}
    refs = {p: st.copy() for p, st in ref_states.items()}
    run_forward(range(n_frames), seeds, refs, [False] * n_ph, [False] * n_ph, [False] * n_ph)

    # backwards: where the phases found change from one frame to the next, the frame is refined
    # again from the later frame's solution (a phase that appears late is followed back from
    # where it is strong; a wrong choice made where a phase entered is undone); the solution
    # that fits better stays, and every phase in it has passed its test
    if s.direction == "both":
        for f in range(n_frames - 2, -1, -1):
            frame, old = frames[f]
            nxt = frames[f + 1][1]
            if set(old.states) == set(nxt.states):
                continue
            late = [q for q in nxt.states if q not in old.states]
            seeds_b = {q: (nxt.states[q] if q in nxt.states else old.states[q] if q in old.states
                           else ref_states[q]).copy() for q in range(n_ph)}
            refs_b = {q: (nxt.states[q] if q in nxt.states and nxt.zi.get(q, 0) >= s.refine_profile_z
                          else seeds_b[q]).copy() for q in range(n_ph)}
            seen_b = [q in nxt.states and nxt.zi.get(q, 0) >= s.refine_profile_z for q in range(n_ph)]
            prev = [q in nxt.states for q in range(n_ph)]
            # a phase that appears later is searched for at its later cell, never refined freely
            # here: where it is faint it must not take up the others' misfit
            strong_b = [q not in late and q in nxt.states and nxt.zi.get(q, 0) >= s.refine_profile_z
                        for q in range(n_ph)]
            fr = _refine_frame(frame, seeds_b, refs_b, prev, seen_b, strong_b, ctx)
            if fr.fit.chi2 < old.fit.chi2 and all(fr.z.get(q, 0.0) >= s.stay_z for q in fr.states):
                frames[f] = (frame, fr)

    _fraction_spikes(frames, pps, s, ctx)
    return _collect(frames, phases, pps, s, ctx, refs0)


def _fractions(fr: _FrameResult, pps) -> tuple[dict, dict, dict, dict]:
    """Scales, weight fractions and their esds (Hill & Howard) of a frame's present phases."""
    fit = fr.fit
    cov = _covariance(fit)
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


def _covariance(fit: _Fit) -> np.ndarray | None:
    """Covariance of (all linear columns, then the non-linear parameters), scaled by chi^2_nu.

    Dropped intensity columns keep zero variance.
    """
    if fit.cov is not None:
        return fit.cov
    frame = fit.frame
    act = np.flatnonzero(fit.sol.active)
    aw = fit.a[:, act] * frame.wt[:, None]
    cols = [aw]
    for p, name in fit.names:
        if p < 0:
            d = sum(derivative_columns(frame.phases[q], fit.evs[q], fit.sol.coef[fit.spans[q][0]:fit.spans[q][1]],
                                       ("zero",), frame.x.size)[:, 0] for q in fit.states)
        else:
            d = derivative_columns(frame.phases[p], fit.evs[p], fit.sol.coef[fit.spans[p][0]:fit.spans[p][1]],
                                   (name,), frame.x.size)[:, 0]
        cols.append((frame.wt * d)[:, None])
    j = np.column_stack(cols)
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


def _fraction_spikes(frames, pps, s: RefinementSettings, ctx) -> None:
    """Refit a frame whose weight fraction spikes away from both neighbours."""
    n = len(frames)
    for f in range(1, n - 1):
        (frame, fr), (_, prev), (_, nxt) = frames[f], frames[f - 1], frames[f + 1]
        w = _fractions(fr, pps)[2]
        wp, wn = _fractions(prev, pps)[2], _fractions(nxt, pps)[2]
        spiky = [p for p in w if p in wp and p in wn and abs(w[p] - 0.5 * (wp[p] + wn[p])) > s.fraction_jump
                 and abs(wp[p] - wn[p]) < s.fraction_jump]
        if not spiky:
            continue
        best = None
        for nb in (prev, nxt):
            seeds = {q: (nb.states[q] if q in nb.states else fr.fit.states.get(q)) for q in range(len(pps))}
            seeds = {q: (st if st is not None else PhaseState(g=np.zeros(0))) for q, st in seeds.items()}
            pres = [q in nb.states for q in range(len(pps))]
            if not all(q in nb.states or q not in fr.states for q in range(len(pps))):
                continue
            cand = _refine_frame(frame, seeds, seeds, pres, [True] * len(pps), [False] * len(pps), ctx)
            if best is None or cand.fit.chi2 < best.fit.chi2:
                best = cand
        if best is None:
            for p in spiky:
                fr.status[p] = STATUS_JUMP
                fr.reason[p] = "weight fraction jumps away from both neighbouring frames"
            continue
        wb = _fractions(best, pps)[2]
        still = [p for p in spiky if p in wb and abs(wb[p] - 0.5 * (wp[p] + wn[p])) > s.fraction_jump]
        if best.fit.chi2 <= fr.fit.chi2 * 1.02:
            for p in best.states:
                if p in spiky:
                    best.status[p] = STATUS_JUMP if p in still else STATUS_REFIT
                    best.reason[p] = ("weight fraction jumps away from both neighbouring frames" if p in still
                                      else "weight fraction spiked; refitted from a neighbouring frame")
            frames[f] = (frame, best)
        else:
            for p in spiky:
                fr.status[p] = STATUS_JUMP
                fr.reason[p] = "weight fraction jumps away from both neighbouring frames"


def _chi2_without(frame: _Frame, fit: _Fit, p: int) -> float:
    i0, i1 = fit.spans[p]
    act = fit.sol.active.copy()
    act[i0:i1] = False
    return solve_linear(fit.a, frame.yw, frame.wt, frame.basis.shape[1], active=act).chi2


def _detection_limit(frame: _Frame, fr: _FrameResult, p: int, state: PhaseState, pps, s, scales) -> float:
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
    aw = fit.a[:, others] * frame.wt[:, None]
    q, _ = np.linalg.qr(aw)
    c = project_out(q, frame.wt * ev.columns[:, 0])
    info = float(c @ c)
    if info <= 0:
        return math.nan
    nu = _dof(frame, fit)
    local = _local_chi2_nu(frame, ev.columns[:, 0], fit.sol.residual, fit.chi2 / nu)
    var = _decoy_variance(frame, fit.a[:, others], np.ones(others.size, dtype=bool),
                          fit.chi2 if p not in fit.spans else _chi2_without(frame, fit, p), pp, state, fit.zero)
    # the test it would have to pass: searched over cells, its cell refined if never seen
    seen = bool(fr.seen[p]) if fr.seen is not None else True
    rel = s.search_relative_seen if seen else s.search_relative
    trials = 2 * int(math.ceil(rel / max(0.25 * fr.rel_width, 2e-4))) + 1
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


def _collect(frames, phases, pps, s: RefinementSettings, ctx, refs0) -> SequentialRefinement:
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
        nu = _dof(frame, fit)
        out.chi2_nu[f] = fit.chi2 / nu
        yw = frame.yw
        out.rwp[f] = math.sqrt(fit.chi2 / max(float(yw @ yw), 1e-300))
        out.zero[f] = fit.zero
        out.calculated[f] = fit.a @ fit.sol.coef
        nb = frame.basis.shape[1]
        out.background[f] = fit.a[:, :nb] @ fit.sol.coef[:nb]
        scale, scale_sig, frac, frac_sig = _fractions(fr, pps)
        cov = _covariance(fit)
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
                dl = _detection_limit(frame, fr, p, last_state[p], pps, s, scale)
                out.detection_limit[f, p] = dl
                z_txt = f"z = {out.z[f, p]:.1f} < {s.significance_z:g}"
                out.reason[f, p] = (f"not detected ({z_txt}); detection limit {100 * dl:.2g} wt%"
                                    if np.isfinite(dl) else f"not detected ({z_txt}); no structure, so no "
                                    "detection limit in weight")
                continue
            out.present[f, p] = True
            out.status[f, p] = fr.status.get(p, STATUS_OK)
            out.reason[f, p] = fr.reason.get(p, "")
            out.detection_limit[f, p] = _detection_limit(frame, fr, p, st, pps, s, scale)
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
    out.settings = {k: (v if not isinstance(v, dict) else {n: list(map(str, t)) if isinstance(t, tuple) else t
                                                            for n, t in v.items()})
                    for k, v in asdict(s).items()}
    out.settings["initial_fwhm"] = math.sqrt(ctx.ref_w)
    out.settings["method"] = ("sequential whole-pattern refinement: Rietveld scales where the structure is known, "
                              "Pawley intensities where it is not; presence by F-test with hysteresis")
    return out
