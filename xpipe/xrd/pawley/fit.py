"""Pawley fits frame after frame: :func:`pawley_fit` and the steps of one frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from ..blas import one_blas_thread
from .inputs import (
    _check_inputs,
    _check_phases,
    _check_start,
    _Data,
    _Options,
    _parse_refine,
    _phase_setups,
    _prepare_data,
    _present_mask,
    _settings,
    _start_vector,
)
from .jacobian import _FrameProblem
from .model import (
    _PROFILE_NAMES,
    STATUS_ABSENT,
    STATUS_FAILED,
    STATUS_NO_CONVERGENCE,
    STATUS_NO_DATA,
    STATUS_NO_INTENSITY,
    STATUS_NO_REFLECTIONS,
    PawleyPhase,
    _active_groups,
    _Geometry,
    _ModelError,
    _PhaseSetup,
)
from .results import (
    PawleyFits,
    _assemble,
    _frame_statistics,
    _no_intensity_text,
    _Outputs,
    _phase_significance,
    _record_intensities,
)


@one_blas_thread
def pawley_fit(
    x, stack, windows: Sequence[tuple[float, float]], phases: Sequence[PawleyPhase], *,
    wavelength_a: float | None = None, axis: str = "2th_deg", sigma=None,
    absolute_sigma: bool | None = None, zero_shift: bool = False, zero_shift_deg: float = 0.0,
    background_order: int = 1, present=None, refine_profile: bool | Sequence[str] = True,
    max_relative_change: float = 0.05, min_significance: float = 5.0,
    max_fwhm_factor: float = 10.0, edge_margin_fwhm: float = 0.5, max_nfev: int = 200,
    ftol: float = 1e-6, xtol: float = 1e-8, gtol: float = 1e-8,
) -> PawleyFits:
    """Pawley fit of one or more cells in the given windows of every frame of a stack.

    Parameters
    ----------
    x : (n_points,) radial axis: 2theta in degrees (``axis="2th_deg"``) or Q in 1/A.
    stack : (n_frames, n_points) or (n_points,) intensities; NaN points are ignored.
    windows : ``[(lo, hi), ...]`` ranges of ``x`` (unit of ``x``), each with its own polynomial
        background; reflections inside (or within ``edge_margin_fwhm`` FWHM of) a window at
        a frame's starting cell are fitted in that frame.
    phases : the :class:`PawleyPhase` to fit (unique names).
    wavelength_a : wavelength in angstrom (needed on the 2theta axis).
    axis : ``"2th_deg"`` or ``"q_A^-1"``.
    sigma : standard uncertainty of ``stack``: scalar, (n_points,) or (n_frames, n_points);
        points with sigma <= 0 or NaN are ignored. None: unit weights, covariance scaled by
        the reduced chi-square.
    absolute_sigma : with ``sigma``, True (default) takes the covariance as it is, False
        scales it by the reduced chi-square.
    zero_shift : refine a 2theta zero shift (observed = true + shift); 2theta axis only.
    zero_shift_deg : starting (or, when not refined, fixed) zero shift in degrees.
    background_order : degree of the polynomial background of each window (1 linear).
    present : optional (n_frames, n_phases) (or (n_phases,)) booleans; a phase marked absent
        is left out of that frame and gets NaN values and status ``absent``.
    refine_profile : True (U, V, W and eta), False (held at the start), or a subset of
        ``("u", "v", "w", "eta")``; V is never refined on the Q axis.
    max_relative_change : fraction by which a, b, c or an angle may move from the frame's
        start before the status is ``implausible_change``; the optimiser keeps the cell
        within three times this range.
    min_significance : smallest likelihood-ratio significance (Gaussian z, see
        :attr:`PawleyFits.significance`) of a phase; below it the phase gets status
        ``no_intensity`` and the frame is fitted again without it. An absent phase chasing
        the noise reaches z of about 3.5 on synthetic data, hence the default.
    max_fwhm_factor : the FWHM of a phase stays within ``[FWHM_0 / f, f FWHM_0]`` of its
        starting profile (and not below the point spacing).
    edge_margin_fwhm : reflections this many FWHM outside a window are fitted too.
    max_nfev, ftol, xtol, gtol : limits of :func:`scipy.optimize.least_squares` per frame;
        the default ``ftol`` stops when chi^2 changes by less than 2e-6 of itself.

    Returns
    -------
    PawleyFits
        Cells (angstrom, degrees) with uncertainties, profiles, group intensities, background,
        statistics, status and reason per frame and phase. BLAS runs on one thread.

    Raises
    ------
    ValueError
        Bad inputs (shapes, axis, system, windows, a phase without reflections in the windows,
        a starting cell or profile that does not fit); never for one bad frame.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.lineshapes import pseudo_voigt
    >>> from xpipe.xrd.reflections import Cell
    >>> q = np.arange(1.4, 3.2, 0.002)
    >>> y = 10 + sum(50 * pseudo_voigt(q, 2 * np.pi * np.sqrt(n) / 4.1569, 0.02, 0.5)
    ...              for n in (1, 2, 3, 4))
    >>> hkl = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 0, 0]])
    >>> phase = PawleyPhase("LaB6", "cubic", hkl, Cell.cubic(4.15), 0.0, 0.0, 4e-4)
    >>> fit = pawley_fit(q, y, [(1.4, 3.2)], [phase], axis="q_A^-1")
    >>> round(float(fit.cells["LaB6"].a_a[0]), 4), str(fit.status[0, 0])
    (4.1569, 'ok')
    """
    opts = _Options(
        wavelength_a, axis, sigma, absolute_sigma, zero_shift, zero_shift_deg,
        background_order, present, refine_profile, max_relative_change, min_significance,
        max_fwhm_factor, edge_margin_fwhm, max_nfev, ftol, xtol, gtol,
    )
    return _pawley_fit(x, stack, windows, phases, opts)


@dataclass
class _Run:
    """What the frames of one fit share, and the starting point each passes to the next."""

    opts: _Options
    data: _Data
    geo: _Geometry
    setups: list[_PhaseSetup]
    refine_idx: list[int]
    current: np.ndarray  # starting parameters of the next frame
    positive: list[np.ndarray]  # per phase: groups with positive intensity in the last frame
    out: _Outputs


def _pawley_fit(x, stack, windows, phases, opts: _Options) -> PawleyFits:
    """:func:`pawley_fit` on checked options: set up, fit every frame in turn, assemble."""
    x, stack, opts = _check_inputs(x, stack, opts)
    data = _prepare_data(x, stack, windows, opts)
    phases, names = _check_phases(phases)
    refine = _parse_refine(opts.refine_profile, opts.axis)
    setups = _phase_setups(phases, opts.axis)
    n_frames = stack.shape[0]
    present_arr = _present_mask(opts.present, n_frames, len(setups))
    geo = _Geometry(opts.axis, opts.wavelength_a, data.f2_floor)
    current = _start_vector(setups, opts.zero_shift_deg)
    _check_start(setups, current, geo, data.win, opts)
    run = _Run(
        opts, data, geo, setups, [_PROFILE_NAMES.index(n) for n in refine], current,
        [np.zeros(st.n_groups, bool) for st in setups],
        _Outputs(setups, n_frames, data.n_win, data.order, opts.zero_shift),
    )
    for fi in range(n_frames):
        _fit_frame(run, fi, present_arr[fi])
    settings = _settings(opts, data, refine, present_arr, setups, phases)
    return _assemble(run.out, setups, names, opts.zero_shift, data.win, data.centers, x,
                     settings)


def _fit_frame(run: _Run, fi: int, present_row) -> None:
    """Fit one frame and store its results; a failed frame gets statuses and reasons."""
    valid = run.data.in_win & (run.data.weights[fi] > 0)
    run.out.n_points[fi] = int(valid.sum())
    model_phases, actives = _frame_phases(run, fi, present_row)
    solved = _fit_model(run, fi, valid, model_phases, actives)
    if solved is None:
        return
    prob, state, fit, signif = solved
    run.out.store_frame(fi, prob, state, fit, signif, run.current, run.positive, run.opts)


def _frame_phases(run: _Run, fi: int, present_row):
    """Phases of the frame's model and their groups inside the windows at the frame's start."""
    model_phases, actives = [], []
    for st in run.setups:
        if not present_row[st.index]:
            run.out.fail(fi, st, STATUS_ABSENT, "marked absent in this frame")
            continue
        act = _active_groups(st, run.current, run.geo, run.data.win, run.opts.edge_margin_fwhm)
        if act is None or act.size == 0:
            run.out.fail(fi, st, STATUS_NO_REFLECTIONS,
                         "no reflection inside the windows at the starting cell of this frame")
            continue
        model_phases.append(st)
        actives.append(act)
    return model_phases, actives


def _free_slots(model_phases, refine_idx, zero_shift: bool, n_full: int) -> np.ndarray:
    """Slots of the parameter vector refined in a frame: cells, profiles, zero shift."""
    free = []
    for st in model_phases:
        free.extend(range(st.offset, st.offset + st.k))
        free.extend(st.offset + st.k + q for q in refine_idx)
    if zero_shift and model_phases:
        free.append(n_full - 1)
    return np.array(free, dtype=int)


def _too_few_points(n_points: int, n_params: int, counts, order: int) -> str | None:
    """Why a frame cannot be fitted for want of points, or None."""
    if n_points <= n_params or np.any(counts < order + 1):
        return (
            f"too few valid points ({n_points}) for {n_params} parameters"
            if n_points <= n_params else
            f"window(s) {np.flatnonzero(counts < order + 1).tolist()} hold too few "
            "valid points"
        )
    return None


def _fit_model(run: _Run, fi: int, valid, model_phases, actives):
    """Fit the phases of one frame: (problem, state, statistics, significances) or None.

    A phase without significant intensity is taken out of the model and the others are
    fitted again, so that its free cell and profile cannot spoil them.
    """
    out, opts, data = run.out, run.opts, run.data
    while True:
        free = _free_slots(model_phases, run.refine_idx, opts.zero_shift, run.current.size)
        n_params = free.size + sum(a.size for a in actives) + data.n_win * (data.order + 1)
        counts = np.bincount(data.win_id[valid], minlength=data.n_win)
        text = _too_few_points(out.n_points[fi], n_params, counts, data.order)
        if text is not None:
            for st in model_phases:
                out.fail(fi, st, STATUS_NO_DATA, text)
            return None
        prob, state, cov, error = _solve_model(run, fi, valid, model_phases, actives, free)
        out.nfev[fi] += state["nfev"] if state is not None else 0
        if error is not None:
            for st in model_phases:
                out.fail(fi, st, *error)
            return None
        try:
            fit = _frame_statistics(prob, state, cov, n_params, data.scale_cov)
            signif = [_phase_significance(fit, prob, state, mi)
                      for mi in range(len(model_phases))]
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            for st in model_phases:
                out.fail(fi, st, STATUS_FAILED, f"the fit statistics failed: {exc}")
            return None
        weak = [mi for mi, z in enumerate(signif) if not (z[0] > opts.min_significance)]
        if not weak or len(model_phases) == 1:
            return prob, state, fit, signif
        mi = min(weak, key=lambda q: signif[q][0])
        _record_intensities(out, fi, fit, prob, mi, actives[mi], signif[mi][0])
        out.fail(fi, model_phases[mi], STATUS_NO_INTENSITY,
                 _no_intensity_text(*signif[mi], opts.min_significance))
        del model_phases[mi], actives[mi]


def _solve_model(run: _Run, fi: int, valid, model_phases, actives, free):
    """The separable problem of one frame and its solution: (prob, state, cov, error)."""
    data, opts = run.data, run.opts
    prob = _FrameProblem(
        model_phases, actives, run.geo, data.x[valid], data.y[fi, valid],
        np.sqrt(data.weights[fi, valid]), data.win_id[valid], data.n_win, data.centers,
        data.half_widths, data.order, run.current.copy(), free,
    )
    # intensities positive in the last good frame start the active set of the NNLS
    prob.passive = np.concatenate([np.zeros(0, bool)] + [
        run.positive[st.index][act] for st, act in zip(model_phases, actives)])
    start_profiles = [st.profile0 for st in run.setups]
    state, cov, error = _solve_frame(prob, start_profiles, opts.max_relative_change,
                                     opts.max_fwhm_factor, opts.max_nfev, opts.ftol, opts.xtol,
                                     opts.gtol)
    return prob, state, cov, error


def _optimizer_space(prob: _FrameProblem, start_profiles, max_relative_change, fwhm_factor):
    """Variables, bounds and starting point of the optimiser for one frame.

    Cell parameters are bounded to ``3 x max_relative_change`` around the frame's start (a
    safety net: moves beyond ``max_relative_change`` are reported as implausible anyway),
    eta to [0, 1]. The free Caglioti parameters of a phase are replaced by FWHM^2 at as
    many reference points spread over its reflections (a linear map), bounded to
    ``[max(step, FWHM_0 / f), f FWHM_0]^2`` with ``FWHM_0`` the width of the given starting
    profile and ``f = fwhm_factor``: a phase without intensity cannot run to needle-sharp
    or background-like peaks.
    """
    free = prob.free
    nf = free.size
    theta = prob.theta0
    pos_of = {int(s): q for q, s in enumerate(free)}
    lb = np.full(nf, -np.inf)
    ub = np.full(nf, np.inf)
    geo = prob.geo
    for mi, st in enumerate(prob.phases):
        p = theta[st.cell_slice()]
        scale = np.maximum(np.abs(p), 0.1 * np.max(np.abs(p)))
        for k in range(st.k):
            q = pos_of[st.offset + k]
            lb[q] = p[k] - 3.0 * max_relative_change * scale[k]
            ub[q] = p[k] + 3.0 * max_relative_change * scale[k]
        o = st.offset + st.k
        if o + 3 in pos_of:
            lb[pos_of[o + 3]], ub[pos_of[o + 3]] = 0.0, 1.0
        s_idx = [j for j in range(3) if o + j in pos_of]
        if not s_idx:
            continue
        _, _, t, _ = geo.positions(prob.rows[mi], p, theta[-1])
        t_lo, t_hi = float(t.min()), float(t.max())
        ref = {1: [0.5 * (t_lo + t_hi)], 2: [t_lo, t_hi],
               3: [t_lo, 0.5 * (t_lo + t_hi), t_hi]}[len(s_idx)]
        ref = np.array(ref)
        rows = np.stack([ref * ref, ref if geo.axis == "2th_deg" else 0.0 * ref,
                         np.ones_like(ref)], axis=1)
        a_s = rows[:, s_idx]
        if np.linalg.cond(a_s) > 1e10:
            continue  # reflections too close together: keep U, V, W (unbounded)
        fixed = [j for j in range(3) if j not in s_idx]
        inv = np.linalg.inv(a_s)
        cols = [pos_of[o + j] for j in s_idx]
        prob.map_b[np.ix_(cols, cols)] = inv
        if fixed:
            prob.map_c[cols] = -inv @ (rows[:, fixed] @ theta[o + np.array(fixed, int)])
        f0 = rows @ start_profiles[st.index][:3]
        f0 = np.maximum(f0, geo.f2_floor)
        lb[cols] = np.maximum(geo.f2_floor, f0 / fwhm_factor**2)
        ub[cols] = f0 * fwhm_factor**2
    z0 = np.linalg.solve(prob.map_b, theta[free] - prob.map_c)
    lb = np.minimum(lb, ub)
    return np.clip(z0, lb, ub), lb, ub


def _solve_frame(prob: _FrameProblem, start_profiles, max_relative_change, fwhm_factor,
                 max_nfev, ftol, xtol, gtol):
    """Run the optimiser on one frame: (state, covariance, None) or (state|None, None, error)."""
    nfev = 0
    try:
        z0, lb, ub = _optimizer_space(prob, start_profiles, max_relative_change, fwhm_factor)
        error = None
        z = z0
        if z0.size:
            res = least_squares(
                prob.residual, z0, jac=prob.jacobian, bounds=(lb, ub), method="trf",
                x_scale="jac", max_nfev=int(max_nfev), ftol=ftol, xtol=xtol, gtol=gtol,
            )
            z, nfev = res.x, int(res.nfev)
            if res.status == 0:
                error = (STATUS_NO_CONVERGENCE,
                         f"the fit did not converge in {max_nfev} model evaluations")
            elif res.status < 0:
                error = (STATUS_FAILED, f"the fit failed: {res.message}")
        state = dict(prob.evaluate(z), nfev=nfev)
        if error is not None:
            return state, None, error
        return state, prob.covariance(state), None
    except (_ModelError, np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        return None, None, (STATUS_FAILED, f"the fit failed: {exc}")
