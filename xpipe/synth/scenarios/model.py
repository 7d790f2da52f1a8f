"""Scenario description: what a seed decides (phases, reaction path, detector, geometry, noise).

:func:`make_scenario` draws everything from ``numpy.random.default_rng([seed, 7919])`` in a
fixed order and evaluates the reaction path at every frame, so a :class:`Scenario` already holds
the ground truth (cells, weight fractions, peak widths per frame). Nothing here renders
an image; see :mod:`.render`.

Reaction model
--------------
A state of charge ``xi`` (0 -> 1 on charge, back on discharge, linear in time at constant
current) drives one *material*: a chain of phases ``P0 -> P1 (-> P2)``. Transition ``k``
(``P_k -> P_k+1``) runs over ``[lo_k, hi_k]`` in ``xi`` with conversion
``c_k = clip((xi - lo_k) / (hi_k - lo_k), 0, 1)``; the amount (per framework atom: Fe, Mn,
Ni, Co, V or Ti) of ``P0`` is ``1 - c_0``, of ``P_k`` ``c_k-1 - c_k``, so a phase outside
its range has exactly 0. Overlapping ranges give three phases at once. Each phase's cell
moves linearly between its CIF cell and ``(1 + strain)`` times it over its own
``[s0, s1]`` range of ``xi`` (solid solution), and stays put elsewhere. Weight fractions
follow from the masses per framework atom of the CIFs; current collectors, impurities and
inactive components keep a constant mass.
"""


import math
from datetime import datetime, timedelta

import numpy as np
import pyFAI

from ...xrd.geometry import azimuthal_integrator
from ..operando_detector import Background
from . import physics
from .kinds import DETECTORS, MATERIALS, draw_reaction, new_phase, uniform
from .specs import DetectorSpec, FrameSpec, GeometrySpec, PhaseSpec, PhaseState, Scenario

__all__ = [
    "SCENARIO_KINDS",
    "DetectorSpec",
    "FrameSpec",
    "GeometrySpec",
    "PhaseSpec",
    "PhaseState",
    "Scenario",
    "make_scenario",
]

SCENARIO_KINDS = (
    "solid_solution",
    "biphasic",
    "solid_solution_biphasic",
    "intermediate",
    "three_phase",
    "overlap",
    "broadening",
    "texture",
    "impurity",
)

POLARIZATION_FACTOR = 0.99

# ------------------------------------------------------------------ reaction path


def _conversions(xi: float, transitions) -> list[float]:
    out = []
    for lo, hi in transitions:
        out.append(min(1.0, max(0.0, (xi - lo) / (hi - lo))))
    return out


def _cell_at(p: PhaseSpec, xi: float) -> tuple[float, ...]:
    s0, s1 = p.ss_range
    prog = 0.0 if s1 <= s0 else min(1.0, max(0.0, (xi - s0) / (s1 - s0)))
    ea, eb, ec, db = p.strain
    a, b, c, al, be, ga = p.cif_cell
    return (round(a * (1 + ea * prog), 6), round(b * (1 + eb * prog), 6),
            round(c * (1 + ec * prog), 6), al, round(be + db * prog, 6), ga)


def _states(xi: float, phases: tuple[PhaseSpec, ...], transitions, framework: str) -> dict:
    conv = _conversions(xi, transitions)
    chain = [p for p in phases if p.chain_index is not None]
    n_chain = len(chain)
    amounts = {}
    for p in chain:
        k = p.chain_index
        before = 1.0 if k == 0 else conv[k - 1]
        after = conv[k] if k < n_chain - 1 else 0.0
        amounts[p.name] = before - after
    # masses: the material's framework atoms are conserved
    c_total = sum(p.constant_weight_fraction for p in phases if p.chain_index is None)
    p0 = chain[0]
    mpf0 = physics.phase_model(p0.cif).cell_mass / physics.framework_count(p0.cif, framework)
    n_fw = (1.0 - c_total) / mpf0
    mass = {}
    for p in phases:
        if p.chain_index is not None:
            mpf = physics.phase_model(p.cif).cell_mass / physics.framework_count(p.cif, framework)
            mass[p.name] = n_fw * amounts[p.name] * mpf
        else:
            mass[p.name] = p.constant_weight_fraction
    total = sum(mass.values())
    out = {}
    for p in phases:
        w = mass[p.name] / total
        w = round(w, 7) if w > 0 else 0.0
        if w == 0.0 and mass[p.name] > 0:
            w = 1e-7
        w_deg2 = round(p.w_deg2 + (p.w_end_deg2 - p.w_deg2) * xi, 7)
        out[p.name] = PhaseState(w, _cell_at(p, xi), w_deg2)
    return out


def _windows(frames, phases) -> tuple:
    chain = [p.name for p in phases if p.chain_index is not None]
    out = []
    for i, a in enumerate(chain):
        for b in chain[i + 1:]:
            both = [f.state(a).weight_fraction > 0 and f.state(b).weight_fraction > 0
                    for f in frames]
            j = 0
            while j < len(both):
                if both[j]:
                    k = j
                    while k + 1 < len(both) and both[k + 1]:
                        k += 1
                    out.append((a, b, j, k))
                    j = k + 1
                else:
                    j += 1
    return tuple(sorted(out, key=lambda w: (w[2], w[0], w[1])))


# ------------------------------------------------------------------------ geometry


def _draw_geometry(rng, det_name: str, wavelength_a: float):
    """The pyFAI detector and a geometry: beam centre on, near or off it, a distance that
    reaches d of about 0.95-1.5 A at the far corner, small tilts, a beamstop."""
    det = pyFAI.detector_factory(det_name)
    ny, nx = det.shape
    p1, p2 = det.pixel1, det.pixel2
    pos = str(rng.choice(["centre", "edge", "off"], p=[0.3, 0.3, 0.4]))
    if pos == "centre":
        cy, cx = ny * uniform(rng, 0.35, 0.65), nx * uniform(rng, 0.35, 0.65)
    else:
        near = uniform(rng, 0.04, 0.15) if pos == "edge" else -uniform(rng, 0.03, 0.3)
        along = uniform(rng, 0.25, 0.75)
        side = int(rng.integers(4))
        fy, fx = [(near, along), (1 - near, along), (along, near), (along, 1 - near)][side]
        cy, cx = ny * fy, nx * fx
    # distance: reach a d-spacing of about 0.95-1.5 A at the far corner
    corners = [(0, 0), (0, nx), (ny, 0), (ny, nx)]
    r_far = max(math.hypot((y - cy) * p1, (x - cx) * p2) for y, x in corners)
    d_min = uniform(rng, 0.95, 1.5)
    tth_target = 2.0 * math.asin(min(0.99, wavelength_a / (2.0 * d_min)))
    dist_min = max(p1, p2) / math.tan(math.radians(0.06))  # pixel <= 0.06 deg
    dist = round(min(0.6, max(dist_min, r_far / math.tan(tth_target))), 5)
    rot1, rot2 = uniform(rng, -0.05, 0.05, 5), uniform(rng, -0.05, 0.05, 5)
    bs = round(uniform(rng, 1.5e-3, 3.0e-3) / p1, 2) if pos != "off" else 0.0
    geo = GeometrySpec(distance_m=dist, poni1_m=round(cy * p1, 7), poni2_m=round(cx * p2, 7),
                       rot1_rad=rot1, rot2_rad=rot2, rot3_rad=0.0, beam_position=pos,
                       beamstop_radius_px=bs)
    return det, geo


def integrator(scenario_or_geo, detector: str | None = None, wavelength_a: float | None = None):
    """pyFAI AzimuthalIntegrator of a scenario (or of a GeometrySpec, detector, wavelength).

    Parameters
    ----------
    scenario_or_geo : Scenario or GeometrySpec
        The scenario, or only its geometry.
    detector : str, optional
        pyFAI detector name (with a GeometrySpec).
    wavelength_a : float, optional
        Wavelength, angstrom (with a GeometrySpec).

    Returns
    -------
    pyFAI.integrator.azimuthal.AzimuthalIntegrator

    Examples
    --------
    >>> geo = GeometrySpec(0.2, 0.05, 0.04, 0.0, 0.0, 0.0, "centre", 12.0)
    >>> ai = integrator(geo, "Pilatus300k", 0.7)
    >>> round(ai.dist, 3), round(ai.wavelength * 1e10, 3)
    (0.2, 0.7)
    """
    if isinstance(scenario_or_geo, Scenario):
        g, detector, wavelength_a = (scenario_or_geo.geometry, scenario_or_geo.detector.name,
                                     scenario_or_geo.wavelength_a)
    else:
        g = scenario_or_geo
    return azimuthal_integrator(detector, g.distance_m, g.poni1_m, g.poni2_m, g.rot1_rad,
                                g.rot2_rad, g.rot3_rad, wavelength_a)


def beamstop_mask(ai, geo: GeometrySpec) -> np.ndarray:
    """Pixels in the shadow of the beamstop (disc on the direct beam and its holder arm).

    Parameters
    ----------
    ai : pyFAI.integrator.azimuthal.AzimuthalIntegrator
        Geometry and detector (:func:`integrator`).
    geo : GeometrySpec
        For the beamstop radius (pixels; 0: no beamstop).

    Returns
    -------
    numpy.ndarray of bool
        True in the shadow, detector shape.

    Examples
    --------
    >>> geo = GeometrySpec(0.2, 0.05, 0.04, 0.0, 0.0, 0.0, "centre", 10.0)
    >>> mask = beamstop_mask(integrator(geo, "Pilatus300k", 0.7), geo)
    >>> mask.shape, int(mask.sum())
    ((619, 487), 2541)
    """
    shape = ai.detector.shape
    if geo.beamstop_radius_px <= 0:
        return np.zeros(shape, bool)
    f2d = ai.getFit2D()
    cx, cy = f2d["centerX"], f2d["centerY"]
    yy, xx = np.mgrid[0: shape[0], 0: shape[1]].astype(float)
    r = geo.beamstop_radius_px
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    arm = (np.abs(xx - cx) <= 0.35 * r) & (yy >= cy)  # holder arm down to the edge
    return disc | arm


def useful_range(ai, geo: GeometrySpec) -> tuple[float, float]:
    """2theta range (deg) of the active pixels, trimmed of the sparsely covered ends.

    Parameters
    ----------
    ai : pyFAI.integrator.azimuthal.AzimuthalIntegrator
        Geometry and detector (:func:`integrator`).
    geo : GeometrySpec
        For the beamstop shadow, left out with the detector's own mask.

    Returns
    -------
    (float, float)
        Low and high 2theta, degrees (2 decimals): the 0.5 and 99.5 percentiles of a
        4-pixel sampling, the low end raised by 0.3 deg.

    Examples
    --------
    >>> geo = GeometrySpec(0.2, 0.05, 0.04, 0.0, 0.0, 0.0, "centre", 10.0)
    >>> useful_range(integrator(geo, "Pilatus300k", 0.7), geo)
    (1.49, 18.27)
    """
    shape = ai.detector.shape
    stride = 4
    yy, xx = np.mgrid[0: shape[0]: stride, 0: shape[1]: stride]
    tth = np.degrees(ai.tth(yy.astype(float), xx.astype(float)))
    bad = beamstop_mask(ai, geo)[::stride, ::stride]
    if ai.detector.mask is not None:
        bad = bad | ai.detector.mask[::stride, ::stride].astype(bool)
    vals = np.sort(tth[~bad])
    lo = float(vals[int(0.005 * (len(vals) - 1))]) + 0.3
    hi = float(vals[int(0.995 * (len(vals) - 1))])
    return round(lo, 2), round(hi, 2)


# ------------------------------------------------------------------------ scenario


def make_scenario(seed: int, *, n_frames: int | None = None) -> Scenario:
    """Draw a scenario from ``seed``: pure and deterministic (same seed, same Scenario).

    Parameters
    ----------
    seed : int
        Non-negative integer; the kind is ``SCENARIO_KINDS[seed % len(SCENARIO_KINDS)]``,
        everything else comes from ``numpy.random.default_rng([seed, 7919])``.
    n_frames : int, optional
        Number of frames (default: drawn, 20 to 40).

    Returns
    -------
    Scenario
        The description and the truth of every frame (cells in angstrom, times in s).

    Raises
    ------
    ValueError
        For a negative seed or fewer than one frame.

    Examples
    --------
    >>> s = make_scenario(10, n_frames=4)
    >>> s.kind, s.detector.name, [(p.name, p.role) for p in s.phases]
    ('biphasic', 'Pilatus300k', [('LiMn2O4', 'major'), ('NiO', 'decoy'), ('lambda-MnO2', 'major')])
    >>> [round(f.state("lambda-MnO2").weight_fraction, 3) for f in s.frames]
    [0.056, 0.383, 0.718, 1.0]
    """
    seed = int(seed)
    if seed < 0:
        raise ValueError("seed must be >= 0")
    kind = SCENARIO_KINDS[seed % len(SCENARIO_KINDS)]
    rng = np.random.default_rng([seed, 7919])
    n = int(rng.integers(20, 41))
    if n_frames is not None:
        if n_frames < 1:
            raise ValueError("n_frames must be >= 1")
        n = int(n_frames)
    # every draw below comes from rng, in this order: phases, beam, counting, time axis
    material, framework, phases, transitions, what, notes = _draw_phases(kind, rng)
    wavelength = uniform(rng, 0.45, 1.0, 5)
    detector, geo, tth_range, time_source = _draw_detector(rng, wavelength)
    peak, background, pixels_per_bin = _draw_counting(rng, wavelength)
    period, exposure, start, socs = _draw_time_axis(rng, n, seed)
    frames = _frames(socs, period, exposure, phases, transitions, framework,
                     detector.file_format)
    beam = {"centre": "beam centre on the detector", "edge": "beam near the detector edge",
            "off": "beam off the detector"}[geo.beam_position]
    desc = (f"{what}; " + "".join(f"{x}; " for x in notes) + f"{detector.name} "
            f"{'CBF frames' if detector.file_format == 'cbf' else 'HDF5 stack'}, {beam}, "
            f"lambda {wavelength:.4f} A, 2theta {tth_range[0]:.1f}-{tth_range[1]:.1f} deg, "
            f"{n} frames of {exposure:g} s every {period:g} s")
    return Scenario(
        seed=seed, kind=kind, description=desc, material=material, wavelength_a=wavelength,
        detector=detector, geometry=geo, two_theta_range_deg=tth_range,
        time_source=time_source, start_time_iso=start.isoformat(timespec="milliseconds"),
        exposure_s=exposure, period_s=period, peak_counts=peak,
        pixels_per_bin_1d=pixels_per_bin, background=background, phases=phases,
        frames=frames, two_phase_windows=_windows(frames, phases),
    )


def _draw_phases(kind: str, rng):
    """Reaction and phases of the scenario: the kind's draw, then an Al current collector in
    some scenarios without one, then a wrong candidate in about a third of the recipes."""
    material, chain, transitions, consts, what = draw_reaction(kind, rng)
    framework = MATERIALS[material]["framework"]
    used = {p.name for p in chain} | {p.name for p in consts}
    notes = []
    # a current collector in the beam in some scenarios that do not have one yet
    if not any(p.role == "collector" for p in consts) and rng.random() < 0.35:
        if "Al" not in used:
            consts.append(new_phase("Al", "collector", rng, "sharp",
                                    constant_weight_fraction=uniform(rng, 0.05, 0.25, 4)))
            used.add("Al")
            notes.append(f"Al current collector ({consts[-1].constant_weight_fraction:.1%})")
    phases = chain + consts
    # a wrong guess in the recipe in about a third of the scenarios
    if rng.random() < 1.0 / 3.0:
        pool = [d for d in MATERIALS[material]["decoys"] if d not in used]
        decoy = new_phase(pool[int(rng.integers(len(pool)))], "decoy", rng)
        phases.insert(int(rng.integers(len(phases) + 1)), decoy)
        notes.append(f"recipe also lists {decoy.name}, which is never present")
    return material, framework, tuple(phases), transitions, what, notes


def _draw_detector(rng, wavelength: float):
    """Detector, geometry, useful 2theta range and where the frame times come from."""
    det_name = str(rng.choice(list(DETECTORS)))
    det, geo = _draw_geometry(rng, det_name, wavelength)
    fmt, dtype = DETECTORS[det_name]
    detector = DetectorSpec(det_name, fmt, dtype, tuple(int(v) for v in det.shape),
                            (float(det.pixel1), float(det.pixel2)), int(rng.integers(0, 40)))
    tth_range = useful_range(integrator(geo, det_name, wavelength), geo)
    if fmt == "cbf":
        time_source = str(rng.choice(["header", "scan_log"], p=[0.6, 0.4]))
    else:
        time_source = str(rng.choice(["hdf5", "hdf5_dataset"], p=[0.6, 0.4]))
    return detector, geo, tth_range, time_source


def _draw_counting(rng, wavelength: float):
    """Peak counts, background (per pixel at normal incidence) and the 1D counting level."""
    peak = round(float(math.exp(rng.uniform(math.log(20.0), math.log(2000.0)))), 2)

    def tth_of_q(q):
        return 2.0 * math.degrees(math.asin(min(1.0, q * wavelength / (4.0 * math.pi))))

    q_win, q_el = uniform(rng, 1.0, 1.4), uniform(rng, 1.6, 2.2)
    dq_win, dq_el = uniform(rng, 0.4, 0.8), uniform(rng, 0.8, 1.5)
    background = Background(
        flat_counts=round(peak * uniform(rng, 0.02, 0.2), 4),
        air_counts=round(peak * uniform(rng, 0.0, 0.3), 4),
        air_decay_deg=uniform(rng, 3.0, 8.0, 3),
        window_counts=round(peak * uniform(rng, 0.0, 0.2), 4),
        window_center_deg=round(tth_of_q(q_win), 4),
        window_fwhm_deg=round(tth_of_q(q_win + dq_win / 2) - tth_of_q(q_win - dq_win / 2), 4),
        electrolyte_counts=round(peak * uniform(rng, 0.02, 0.2), 4),
        electrolyte_center_deg=round(tth_of_q(q_el), 4),
        electrolyte_fwhm_deg=round(tth_of_q(q_el + dq_el / 2) - tth_of_q(q_el - dq_el / 2), 4),
    )
    pixels_per_bin = round(float(math.exp(rng.uniform(math.log(30.0), math.log(1000.0)))), 1)
    return peak, background, pixels_per_bin


def _draw_time_axis(rng, n: int, seed: int):
    """Period, exposure, start and the state of charge of every frame: an optional rest,
    the charge to xi = 1 (at the middle of a frame), an optional discharge."""
    period = round(uniform(rng, 60.0, 600.0), 1)
    exposure = round(period * uniform(rng, 0.5, 0.95), 2)
    n_rest = int(rng.integers(0, 3)) if n >= 8 else 0
    f_charge = uniform(rng, 0.55, 1.0) if rng.random() < 0.5 else 1.0
    xi_end = uniform(rng, 0.0, 0.6)
    # the top of charge (xi = 1) falls on the middle of a frame
    k_top = min(n - 1, n_rest + max(1, int(round(f_charge * (n - n_rest))) - 1))
    t_charge = max(exposure / 2.0, (k_top - n_rest) * period + exposure / 2.0)
    start = datetime(2025, 1, 1, 8, 0, 0) + timedelta(days=seed % 365,
                                                     minutes=int(rng.integers(0, 600)))
    socs = []
    for i in range(n):
        t = i * period + exposure / 2.0 - n_rest * period
        if t <= 0:
            xi = 0.0
        elif t <= t_charge:
            xi = t / t_charge
        else:
            xi = max(xi_end, 1.0 - (t - t_charge) / t_charge)
        socs.append(round(xi, 6))
    return period, exposure, start, socs


def _frames(socs, period, exposure, phases, transitions, framework, fmt) -> tuple:
    """The frames at the states of charge ``socs``, with the truth of every phase."""
    frames = []
    for i, xi in enumerate(socs):
        t0 = i * period
        mid = t0 + exposure / 2.0
        st = _states(xi, phases, transitions, framework)
        fname = (f"frame_{i + 1:04d}.cbf" if fmt == "cbf" else "frames.h5")
        frames.append(FrameSpec(fname, round(t0, 3), round(mid, 3), xi,
                                tuple((p.name, st[p.name]) for p in phases)))
    return tuple(frames)
