"""Inputs of a Pawley fit: the options checked, the data weighted, the phases set up.

Every check that raises runs here, before the first frame is fitted, in one fixed order;
:func:`_settings` records every setting that decided the numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from .model import (
    _PROFILE_NAMES,
    AXES,
    PawleyPhase,
    _active_groups,
    _Geometry,
    _PhaseSetup,
)


@dataclass(frozen=True)
class _Options:
    """The keyword settings of one call of :func:`pawley_fit`, as given."""

    wavelength_a: float | None
    axis: str
    sigma: object
    absolute_sigma: bool | None
    zero_shift: bool
    zero_shift_deg: float
    background_order: int
    present: object
    refine_profile: object
    max_relative_change: float
    min_significance: float
    max_fwhm_factor: float
    edge_margin_fwhm: float
    max_nfev: int
    ftol: float
    xtol: float
    gtol: float


@dataclass(frozen=True)
class _Data:
    """Weighted intensities of all frames and the windows they are fitted in."""

    x: np.ndarray
    y: np.ndarray  # (n_frames, n_points), NaN set to 0
    weights: np.ndarray  # 1 / sigma^2, 0 where a point is ignored
    scale_cov: bool
    win: np.ndarray
    win_id: np.ndarray  # window of every point of x, -1 outside
    centers: np.ndarray
    half_widths: np.ndarray
    order: int
    f2_floor: float

    @property
    def n_win(self) -> int:
        return self.win.shape[0]

    @property
    def in_win(self) -> np.ndarray:
        return self.win_id >= 0


def _check_inputs(x, stack, opts: _Options):
    """x and stack as float arrays ((n_frames, n_points)) and the options, checked."""
    axis = opts.axis
    if axis not in AXES:
        raise ValueError(f"unknown axis {axis!r}; expected one of {', '.join(AXES)}")
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"x must be a 1D array of at least 2 points, got shape {x.shape}")
    stack = np.asarray(stack, dtype=float)
    if stack.ndim == 1:
        stack = stack[None, :]
    if stack.ndim != 2 or stack.shape[1] != x.size:
        raise ValueError(
            f"stack must be (n_frames, {x.size}) or ({x.size},) to match x, got shape "
            f"{np.shape(stack)}"
        )
    wavelength_a = opts.wavelength_a
    if axis == "2th_deg":
        if wavelength_a is None or not (wavelength_a > 0):
            raise ValueError(
                f"axis '2th_deg' needs wavelength_a > 0 (angstrom), got {wavelength_a}"
            )
        wavelength_a = float(wavelength_a)
    if opts.zero_shift and axis != "2th_deg":
        raise ValueError("a zero shift can only be refined on the '2th_deg' axis")
    if axis != "2th_deg" and opts.zero_shift_deg != 0.0:
        raise ValueError("zero_shift_deg must be 0 on the 'q_A^-1' axis")
    background_order = opts.background_order
    if int(background_order) != background_order or background_order < 0:
        raise ValueError(f"background_order must be an integer >= 0, got {background_order}")
    if not (opts.max_relative_change > 0):
        raise ValueError(f"max_relative_change must be > 0, got {opts.max_relative_change}")
    if not (opts.max_fwhm_factor > 1):
        raise ValueError(f"max_fwhm_factor must be > 1, got {opts.max_fwhm_factor}")
    if int(opts.max_nfev) < 1:
        raise ValueError(f"max_nfev must be >= 1, got {opts.max_nfev}")
    return x, stack, replace(opts, wavelength_a=wavelength_a)


def _prepare_data(x, stack, windows, opts: _Options) -> _Data:
    """Weights, windows and the floor of FWHM^2 (the squared median point spacing)."""
    order = int(opts.background_order)
    y_all, weights, scale_cov = _weights(stack, opts.sigma, opts.absolute_sigma)
    win, win_id_all = _check_windows(x, windows, order)
    centers = win.mean(axis=1)
    half_widths = 0.5 * (win[:, 1] - win[:, 0])
    in_win = win_id_all >= 0
    step = float(np.median(np.abs(np.diff(np.sort(x[in_win])))))
    f2_floor = step**2 if step > 0 else 1e-12
    return _Data(x, y_all, weights, scale_cov, win, win_id_all, centers, half_widths, order,
                 f2_floor)


def _check_phases(phases) -> tuple[list[PawleyPhase], list[str]]:
    """The phases as a list and their names (unique)."""
    if isinstance(phases, PawleyPhase):
        phases = [phases]
    phases = list(phases)
    if not phases:
        raise ValueError("no phases given; expected at least one PawleyPhase")
    for i, ph in enumerate(phases):
        if not isinstance(ph, PawleyPhase):
            raise ValueError(f"phases[{i}] must be a PawleyPhase, got {type(ph).__name__}")
    names = [ph.name for ph in phases]
    if len(set(names)) != len(names):
        raise ValueError(f"phase names must be unique, got {names}")
    return phases, names


def _parse_refine(refine_profile, axis) -> tuple[str, ...]:
    if refine_profile is True:
        names = _PROFILE_NAMES
    elif refine_profile is False or refine_profile is None:
        names = ()
    elif isinstance(refine_profile, str):
        names = (refine_profile,)
    elif isinstance(refine_profile, Iterable):
        names = tuple(refine_profile)
    else:
        raise ValueError(f"refine_profile must be a bool or names among {_PROFILE_NAMES}")
    bad = [n for n in names if n not in _PROFILE_NAMES]
    if bad:
        raise ValueError(
            f"refine_profile names {bad} unknown; expected a subset of {list(_PROFILE_NAMES)}"
        )
    if axis == "q_A^-1":
        names = tuple(n for n in names if n != "v")
    return tuple(n for n in _PROFILE_NAMES if n in names)


def _check_windows(x, windows, order):
    """Windows as a (n, 2) array and the window index of every point of x (-1 outside)."""
    try:
        win = np.asarray(windows, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"windows must be a list of (lo, hi) pairs, got {windows!r}") from None
    if win.ndim != 2 or win.shape[1] != 2 or win.shape[0] == 0:
        raise ValueError(f"windows must be a non-empty list of (lo, hi) pairs, got {windows!r}")
    if not np.all(np.isfinite(win)) or np.any(win[:, 1] <= win[:, 0]):
        raise ValueError(f"every window needs finite lo < hi, got {win.tolist()}")
    win_id = np.full(x.size, -1)
    for j, (lo, hi) in enumerate(win):
        sel = (x >= lo) & (x <= hi)
        if np.any(sel & (win_id >= 0)):
            raise ValueError(f"window {j} {win[j].tolist()} overlaps another window")
        if sel.sum() < order + 2:
            raise ValueError(
                f"window {j} {win[j].tolist()} holds {int(sel.sum())} points of x "
                f"(range {x.min():.6g} .. {x.max():.6g}); at least {order + 2} expected"
            )
        win_id[sel] = j
    return win, win_id


def _weights(stack, sigma, absolute_sigma):
    """Intensities with NaN set to 0, weights 1/sigma^2 (0 = ignored), covariance scaling."""
    n_frames, n_pts = stack.shape
    if sigma is None:
        weights = np.ones_like(stack)
        scale_cov = True
    else:
        try:
            sig = np.broadcast_to(np.asarray(sigma, dtype=float), stack.shape)
        except ValueError:
            raise ValueError(
                f"sigma must be a scalar, ({n_pts},) or ({n_frames}, {n_pts}) to match stack, "
                f"got shape {np.shape(sigma)}"
            ) from None
        with np.errstate(divide="ignore", invalid="ignore"):
            weights = np.where(np.isfinite(sig) & (sig > 0), 1.0 / (sig * sig), 0.0)
        scale_cov = absolute_sigma is False
    finite = np.isfinite(stack)
    return np.where(finite, stack, 0.0), np.where(finite, weights, 0.0), scale_cov


def _present_mask(present, n_frames, n_ph):
    if present is None:
        return np.ones((n_frames, n_ph), bool)
    arr = np.asarray(present, dtype=bool)
    if arr.shape == (n_ph,):
        arr = np.broadcast_to(arr, (n_frames, n_ph))
    if arr.shape != (n_frames, n_ph):
        raise ValueError(
            f"present must be ({n_frames}, {n_ph}) (frames, phases) or ({n_ph},), got shape "
            f"{np.shape(present)}"
        )
    return arr


def _phase_setups(phases: list[PawleyPhase], axis: str) -> list[_PhaseSetup]:
    """One :class:`_PhaseSetup` per phase, each with its slots in the parameter vector."""
    setups: list[_PhaseSetup] = []
    offset = 0
    for i, ph in enumerate(phases):
        if axis == "q_A^-1" and ph.fwhm_v != 0.0:
            raise ValueError(
                f"phase {ph.name!r}: on the Q axis FWHM^2 = U Q^2 + W, fwhm_v must be 0, got "
                f"{ph.fwhm_v}"
            )
        st = _PhaseSetup(ph, i, offset)
        setups.append(st)
        offset += st.n_par
    return setups


def _start_vector(setups: list[_PhaseSetup], zero_shift_deg: float) -> np.ndarray:
    """Starting parameters of the first frame: every cell and profile, the zero shift last."""
    n_full = sum(st.n_par for st in setups) + 1
    current = np.zeros(n_full)
    for st in setups:
        current[st.cell_slice()] = st.p0
        current[st.profile_slice()] = st.profile0
    current[-1] = float(zero_shift_deg)
    return current


def _check_start(setups, current, geo: _Geometry, win, opts: _Options) -> None:
    """Every phase has reflections inside the windows and a positive FWHM^2 at its start."""
    for st in setups:
        act = _active_groups(st, current, geo, win, opts.edge_margin_fwhm)
        if act is None or act.size == 0:
            raise ValueError(
                f"phase {st.name!r} has no reflection inside the windows {win.tolist()} at its "
                f"starting cell ({st.n_groups} reflection groups given)"
            )
        _, _, t, _ = geo.positions(st.rows[act], st.p0, 0.0)
        u, v, w = st.profile0[:3]
        f2 = u * t * t + (v * t if opts.axis == "2th_deg" else 0.0) + w
        if np.any(f2 <= 0):
            raise ValueError(
                f"phase {st.name!r}: starting profile (U, V, W) = "
                f"{tuple(st.profile0[:3].tolist())} gives FWHM^2 <= 0 inside the windows"
            )


def _settings(opts: _Options, data: _Data, refine, present_arr, setups, phases) -> dict:
    """Every setting that decided the numbers (for provenance)."""
    axis, order, sigma = opts.axis, data.order, opts.sigma
    return {
        "model": "Pawley: pseudo-Voigt per reflection group, Caglioti FWHM per phase, "
                 f"polynomial background of order {order} per window",
        "axis": axis,
        "wavelength_a": opts.wavelength_a,
        "windows": data.win.tolist(),
        "background_order": order,
        "zero_shift": bool(opts.zero_shift),
        "zero_shift_start_deg": float(opts.zero_shift_deg),
        "refine_profile": list(refine),
        "fwhm_form": ("FWHM^2 = U tan^2(theta) + V tan(theta) + W (deg^2)" if axis == "2th_deg"
                      else "FWHM^2 = U Q^2 + W (1/A^2)"),
        "fwhm2_floor": data.f2_floor,
        "sigma": ("unit weights, covariance scaled by reduced chi-square" if sigma is None
                  else "given"),
        "absolute_sigma": bool(sigma is not None and not data.scale_cov),
        "present": "all" if opts.present is None else present_arr.tolist(),
        "max_relative_change": opts.max_relative_change,
        "min_significance": opts.min_significance,
        "max_fwhm_factor": opts.max_fwhm_factor,
        "edge_margin_fwhm": opts.edge_margin_fwhm,
        "max_nfev": int(opts.max_nfev),
        "ftol": opts.ftol,
        "xtol": opts.xtol,
        "gtol": opts.gtol,
        "warm_start": "each frame starts from the last successful solution",
        "solver": "variable projection: background projected out, intensities by active-set "
                  "NNLS, non-linear parameters by scipy.optimize.least_squares (trf, Kaufman "
                  "Jacobian); covariance from the Jacobian of all parameters",
        "phases": [
            {
                "name": st.name,
                "system": st.system,
                "start_cell": [ph.cell.a_a, ph.cell.b_a, ph.cell.c_a, ph.cell.alpha_deg,
                               ph.cell.beta_deg, ph.cell.gamma_deg],
                "start_profile": st.profile0.tolist(),
                "n_reflections": int(len(ph.hkl)),
                "n_groups": st.n_groups,
            }
            for st, ph in zip(setups, phases)
        ],
    }
