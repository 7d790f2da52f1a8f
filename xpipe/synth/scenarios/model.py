"""Scenario description: what a seed decides (phases, reaction path, detector, geometry, noise).

:func:`make_scenario` draws everything from ``numpy.random.default_rng(seed)`` in a fixed
order and evaluates the reaction path at every frame, so a :class:`Scenario` already holds
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

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np

from .. import powder
from ..operando import Background
from . import physics

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

#: Reaction-path kinds, one per scenario (``seed % len(SCENARIO_KINDS)``).
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

# ------------------------------------------------------------------------- library

#: Detectors: pyFAI name -> (file format, pixel data type). All <= 1.1 Mpixel.
DETECTORS = {
    "Pilatus300k": ("cbf", "int32"),
    "Pilatus1M": ("cbf", "int32"),
    "Eiger500k": ("hdf5", "uint32"),
    "Eiger1M": ("hdf5", "uint32"),
}

#: Active materials: phases of the reaction chain, framework element (conserved), the
#: minor phases that commonly come with them, and plausible wrong guesses.
MATERIALS = {
    "LFP": {"chain": ("LiFePO4", "FePO4"), "framework": "Fe",
            "impurities": ("Li2O", "LiF"), "decoys": ("NiO", "Li2O", "V2O3", "LiF")},
    "LMO": {"chain": ("LiMn2O4", "lambda-MnO2"), "framework": "Mn",
            "impurities": ("Li2MnO3", "Li2O"), "decoys": ("Co3O4", "NiO", "Li2MnO3", "LiF")},
    "NVP": {"chain": ("Na3V2(PO4)3", "NaV2(PO4)3"), "framework": "V",
            "impurities": ("V2O3",), "decoys": ("V2O3", "LiF", "Al")},
    "LCO": {"chain": ("LiCoO2",), "framework": "Co",
            "impurities": ("Co3O4", "Li2O"), "decoys": ("Co3O4", "LiNiO2", "NiO", "LiF")},
    "LNO": {"chain": ("LiNiO2", "Li0.5NiO2", "Li0.3NiO2"), "framework": "Ni",
            "impurities": ("NiO", "Li2O"), "decoys": ("NiO", "Li2MnO3", "LiCoO2", "Co3O4")},
    "TiO2": {"chain": ("anatase-TiO2",), "framework": "Ti",
             "impurities": ("rutile-TiO2",), "decoys": ("rutile-TiO2", "Li2O", "Cu")},
}

#: Solid-solution strain of each phase over its solid-solution range: relative change of
#: a, b, c and the change of beta (deg). Typical literature magnitudes.
STRAINS = {
    "LiCoO2": (-0.003, -0.003, 0.020, 0.0),  # Li1 -> Li0.5: c expands about 2 %
    "LiNiO2": (-0.006, -0.006, 0.008, 0.0),  # H1 on charge
    "Li0.5NiO2": (-0.003, -0.004, 0.004, 0.3),
    "Li0.3NiO2": (-0.002, -0.002, 0.003, 0.0),
    "LiMn2O4": (-0.012, -0.012, -0.012, 0.0),  # 8.245 -> about 8.15 A
    "lambda-MnO2": (-0.002, -0.002, -0.002, 0.0),
    "Na3V2(PO4)3": (-0.0035, -0.0035, -0.0020, 0.0),
    "NaV2(PO4)3": (-0.001, -0.001, 0.0005, 0.0),
    "anatase-TiO2": (0.003, 0.003, -0.006, 0.0),  # dilute Li in anatase
    "LiFePO4": (-0.0025, -0.0015, 0.001, 0.0),  # narrow Li(1-a)FePO4 range
    "FePO4": (0.002, 0.0015, -0.001, 0.0),
}


@lru_cache(maxsize=64)
def phase_info(name: str) -> tuple[str, str, str, tuple[float, ...]]:
    """(CIF file name, space group (gemmi xHM), crystal system, CIF cell) of a bundled phase."""
    from ...xrd.reflections import crystal_system

    cif = powder.BUNDLED_STRUCTURES[name]
    st = powder.load_structure(powder.structure_path(cif))
    c = st.cell
    return cif, st.spacegroup.xhm(), crystal_system(st.spacegroup), (
        c.a, c.b, c.c, c.alpha, c.beta, c.gamma)


# ---------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class DetectorSpec:
    name: str  # pyFAI detector name
    file_format: str  # "cbf" (one file per frame) or "hdf5" (one stack)
    dtype: str
    shape: tuple[int, int]
    pixel_m: tuple[float, float]
    dead_pixels: int  # randomly placed, written as invalid


@dataclass(frozen=True)
class GeometrySpec:
    distance_m: float
    poni1_m: float
    poni2_m: float
    rot1_rad: float
    rot2_rad: float
    rot3_rad: float
    beam_position: str  # "centre", "edge" or "off" (beam outside the detector)
    beamstop_radius_px: float  # 0 when the beam misses the detector


@dataclass(frozen=True)
class PhaseSpec:
    name: str
    cif: str  # file name of the bundled CIF
    space_group: str
    system: str
    role: str  # major, minor, intermediate, collector, decoy
    cif_cell: tuple[float, ...]
    u_deg2: float
    v_deg2: float
    w_deg2: float  # Caglioti W at xi = 0
    w_end_deg2: float  # Caglioti W at xi = 1 (broadening changes linearly with xi)
    eta: float
    po_hkl: tuple[int, int, int] | None = None
    po_r: float | None = None
    chain_index: int | None = None  # position in the reaction chain, None if constant mass
    strain: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    ss_range: tuple[float, float] = (0.0, 1.0)
    constant_weight_fraction: float = 0.0  # pristine weight fraction of constant phases

    @property
    def texture(self) -> tuple | None:
        return None if self.po_hkl is None else (self.po_hkl, self.po_r)


@dataclass(frozen=True)
class PhaseState:
    weight_fraction: float
    cell: tuple[float, ...]
    w_deg2: float

    @property
    def volume_a3(self) -> float:
        return physics.cell_volume_a3(self.cell)


@dataclass(frozen=True)
class FrameSpec:
    file: str
    start_s: float
    mid_time_s: float
    soc: float
    phases: tuple[tuple[str, PhaseState], ...]

    def state(self, name: str) -> PhaseState:
        return dict(self.phases)[name]


@dataclass(frozen=True)
class Scenario:
    """Everything a seed decides; plain, immutable data."""

    seed: int
    kind: str
    description: str
    material: str
    wavelength_a: float
    detector: DetectorSpec
    geometry: GeometrySpec
    two_theta_range_deg: tuple[float, float]  # useful range on the detector
    time_source: str  # header, scan_log, hdf5, hdf5_dataset
    start_time_iso: str
    exposure_s: float
    period_s: float
    peak_counts: float  # strongest peak of frame 0, counts per pixel (normal incidence)
    pixels_per_bin_1d: float  # counting level of render_patterns_1d relative to one pixel
    background: Background
    phases: tuple[PhaseSpec, ...]
    frames: tuple[FrameSpec, ...]
    two_phase_windows: tuple[tuple[str, str, int, int], ...]

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    def phase(self, name: str) -> PhaseSpec:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)


# ------------------------------------------------------------------------ drawing


def _u(rng, lo, hi, nd=6):
    return round(float(rng.uniform(lo, hi)), nd)


def _profile(rng, kind: str) -> dict:
    """Caglioti U, V, W (deg^2) and eta: FWHM about 0.03-0.09 deg at low angle."""
    if kind == "sharp":  # large-grained metal foil
        w = _u(rng, 0.0006, 0.0015)
    elif kind == "broad":  # nanocrystalline impurity
        w = _u(rng, 0.003, 0.008)
    else:
        w = _u(rng, 0.0009, 0.004)
    u = _u(rng, 0.001, 0.02)
    v = round(-float(rng.uniform(0.0, 0.3)) * math.sqrt(u * w), 7)
    return {"u_deg2": u, "v_deg2": v, "w_deg2": w, "w_end_deg2": w, "eta": _u(rng, 0.1, 0.7, 3)}


def _phase(name, role, rng, profile="normal", **kw) -> PhaseSpec:
    cif, sg, system, cell = phase_info(name)
    return PhaseSpec(name=name, cif=cif, space_group=sg, system=system, role=role,
                     cif_cell=tuple(round(v, 6) for v in cell), **_profile(rng, profile), **kw)


def _strain(name: str, system: str, factor: float) -> tuple[float, float, float, float]:
    ea, eb, ec, db = STRAINS.get(name, (0.0, 0.0, 0.0, 0.0))
    if system == "cubic":
        eb = ec = ea
    elif system in ("tetragonal", "hexagonal", "rhombohedral"):
        eb = ea
    return (round(ea * factor, 6), round(eb * factor, 6), round(ec * factor, 6),
            round(db * factor, 4))


def _chain(material: str, rng, ss_factor: float, transitions, ss_ranges) -> list[PhaseSpec]:
    """PhaseSpecs of a material's chain with given transition and solid-solution ranges."""
    chain = MATERIALS[material]["chain"]
    out = []
    for k, name in enumerate(chain[: len(transitions) + 1]):
        _, _, system, _ = phase_info(name)
        role = "major" if k in (0, len(transitions)) else "intermediate"
        out.append(_phase(name, role, rng, chain_index=k,
                          strain=_strain(name, system, ss_factor * _u(rng, 0.7, 1.3)),
                          ss_range=ss_ranges[k]))
    return out


def _draw_reaction(kind: str, rng) -> tuple[str, list[PhaseSpec], list, list[PhaseSpec], str]:
    """Material, chain phases, transitions [(lo, hi)], constant phases and a description."""
    consts: list[PhaseSpec] = []
    if kind in ("solid_solution", "broadening"):
        material = str(rng.choice(["LCO", "LMO", "NVP", "LNO", "TiO2"]))
        chain = _chain(material, rng, 1.0, [], [(0.0, 1.0)])
        what = f"solid solution of {chain[0].name} (cell linear in state of charge)"
        if kind == "broadening":
            p = chain[0]
            w_end = round(p.w_deg2 * _u(rng, 2.0, 5.0), 6)
            chain[0] = _replace(p, w_end_deg2=w_end)
            what += f"; Caglioti W grows from {p.w_deg2:g} to {w_end:g} deg^2 with state of charge"
        return material, chain, [], consts, what
    if kind == "biphasic":
        material = str(rng.choice(["LFP", "NVP", "LMO"]))
        lo, hi = _u(rng, 0.03, 0.12, 4), _u(rng, 0.88, 0.97, 4)
        chain = _chain(material, rng, _u(rng, 0.0, 0.1), [(lo, hi)], [(0.0, lo), (hi, 1.0)])
        what = f"two-phase reaction {chain[0].name} -> {chain[1].name} (cells nearly fixed)"
        return material, chain, [(lo, hi)], consts, what
    if kind == "solid_solution_biphasic":
        material = str(rng.choice(["LMO", "NVP", "LFP"]))
        lo, hi = _u(rng, 0.2, 0.45, 4), _u(rng, 0.9, 0.99, 4)
        factor = 1.0 if material != "LFP" else _u(rng, 1.0, 2.0)
        chain = _chain(material, rng, factor, [(lo, hi)], [(0.0, lo), (hi, 1.0)])
        what = (f"solid solution of {chain[0].name}, then two-phase reaction to "
                f"{chain[1].name}")
        return material, chain, [(lo, hi)], consts, what
    if kind in ("intermediate", "three_phase"):
        material = "LNO"
        if kind == "intermediate":
            t = [(_u(rng, 0.08, 0.18, 4), _u(rng, 0.3, 0.4, 4)),
                 (_u(rng, 0.55, 0.65, 4), _u(rng, 0.8, 0.92, 4))]
            ss = [(0.0, t[0][0]), (t[0][1], t[1][0]), (t[1][1], 1.0)]
        else:
            t = [(_u(rng, 0.05, 0.15, 4), _u(rng, 0.55, 0.68, 4)),
                 (_u(rng, 0.3, 0.45, 4), _u(rng, 0.85, 0.95, 4))]
            ss = [(0.0, t[0][0]), (t[0][1], t[0][1]), (t[1][1], 1.0)]
        chain = _chain(material, rng, 1.0, t, ss)
        names = " -> ".join(p.name for p in chain)
        what = (f"{names}: the monoclinic phase appears and vanishes" if kind == "intermediate"
                else f"{names} with overlapping transitions: three phases at once")
        return material, chain, t, consts, what
    if kind == "overlap":
        variant = str(rng.choice(["LNO+Li2MnO3", "LMO+Li2MnO3", "Al+LiF", "Cu+NiO"]))
        if variant == "LMO+Li2MnO3":
            material = "LMO"
            lo, hi = _u(rng, 0.25, 0.45, 4), _u(rng, 0.9, 0.99, 4)
            chain = _chain(material, rng, 1.0, [(lo, hi)], [(0.0, lo), (hi, 1.0)])
            t = [(lo, hi)]
        else:
            material = "LCO" if variant == "Al+LiF" else "LNO"
            chain = _chain(material, rng, 1.0, [], [(0.0, 1.0)])
            t = []
        if variant.endswith("Li2MnO3"):
            consts.append(_phase("Li2MnO3", "major", rng,
                                 constant_weight_fraction=_u(rng, 0.15, 0.4, 4)))
        else:
            coll, imp = variant.split("+")
            consts.append(_phase(coll, "collector", rng, "sharp",
                                 constant_weight_fraction=_u(rng, 0.05, 0.25, 4)))
            consts.append(_phase(imp, "minor", rng,
                                 constant_weight_fraction=_u(rng, 0.02, 0.05, 4)))
        what = f"overlapping strong peaks ({variant.replace('+', ' / ')}) over a " + (
            "solid solution" if not t else "solid-solution then two-phase reaction") + \
            f" of {chain[0].name}"
        return material, chain, t, consts, what
    if kind == "texture":
        target = str(rng.choice(["collector", "plate"]))
        r = _u(rng, 0.5, 0.9, 3)
        if target == "plate":
            material = str(rng.choice(["LCO", "LNO"]))
            chain = _chain(material, rng, 1.0, [], [(0.0, 1.0)])
            chain[0] = _replace(chain[0], po_hkl=(0, 0, 1), po_r=r)
            what = (f"solid solution of plate-like {chain[0].name} with preferred orientation "
                    f"(March-Dollase (0 0 1), r = {r:g})")
            return material, chain, [], consts, what
        material = str(rng.choice(["LFP", "LCO", "LMO", "NVP"]))
        if len(MATERIALS[material]["chain"]) > 1:
            lo, hi = _u(rng, 0.05, 0.3, 4), _u(rng, 0.85, 0.97, 4)
            t = [(lo, hi)]
            chain = _chain(material, rng, 1.0, t, [(0.0, lo), (hi, 1.0)])
        else:
            t = []
            chain = _chain(material, rng, 1.0, [], [(0.0, 1.0)])
        hkl = [(1, 1, 1), (1, 0, 0), (1, 1, 0)][int(rng.integers(3))]
        consts.append(_phase("Al", "collector", rng, "sharp", po_hkl=hkl, po_r=r,
                             constant_weight_fraction=_u(rng, 0.08, 0.3, 4)))
        what = (f"rolled Al current collector with preferred orientation (March-Dollase "
                f"({' '.join(map(str, hkl))}), r = {r:g}) over {chain[0].name}"
                + (f" -> {chain[1].name}" if t else " (solid solution)"))
        return material, chain, t, consts, what
    if kind == "impurity":
        material = str(rng.choice(list(MATERIALS)))
        chain_names = MATERIALS[material]["chain"]
        if len(chain_names) > 1:
            lo, hi = _u(rng, 0.1, 0.35, 4), _u(rng, 0.85, 0.97, 4)
            t = [(lo, hi)]
            chain = _chain(material, rng, 1.0, t, [(0.0, lo), (hi, 1.0)])
        else:
            t = []
            chain = _chain(material, rng, 1.0, [], [(0.0, 1.0)])
        pool = list(MATERIALS[material]["impurities"])
        n = min(len(pool), int(rng.integers(1, 3)))
        picks = [pool[i] for i in sorted(rng.permutation(len(pool))[:n])]
        for name in picks:
            consts.append(_phase(name, "minor", rng, "broad",
                                 constant_weight_fraction=_u(rng, 0.005, 0.05, 4)))
        what = (f"{' -> '.join(p.name for p in chain)} with minor "
                f"{', '.join(picks)} at constant mass")
        return material, chain, t, consts, what
    raise ValueError(f"unknown scenario kind {kind!r}")


def _replace(p: PhaseSpec, **kw) -> PhaseSpec:
    from dataclasses import replace

    return replace(p, **kw)


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
    import pyFAI

    det = pyFAI.detector_factory(det_name)
    ny, nx = det.shape
    p1, p2 = det.pixel1, det.pixel2
    pos = str(rng.choice(["centre", "edge", "off"], p=[0.3, 0.3, 0.4]))
    if pos == "centre":
        cy, cx = ny * _u(rng, 0.35, 0.65), nx * _u(rng, 0.35, 0.65)
    else:
        near = _u(rng, 0.04, 0.15) if pos == "edge" else -_u(rng, 0.03, 0.3)
        along = _u(rng, 0.25, 0.75)
        side = int(rng.integers(4))
        fy, fx = [(near, along), (1 - near, along), (along, near), (along, 1 - near)][side]
        cy, cx = ny * fy, nx * fx
    # distance: reach a d-spacing of about 0.95-1.5 A at the far corner
    corners = [(0, 0), (0, nx), (ny, 0), (ny, nx)]
    r_far = max(math.hypot((y - cy) * p1, (x - cx) * p2) for y, x in corners)
    d_min = _u(rng, 0.95, 1.5)
    tth_target = 2.0 * math.asin(min(0.99, wavelength_a / (2.0 * d_min)))
    dist_min = max(p1, p2) / math.tan(math.radians(0.06))  # pixel <= 0.06 deg
    dist = round(min(0.6, max(dist_min, r_far / math.tan(tth_target))), 5)
    rot1, rot2 = _u(rng, -0.05, 0.05, 5), _u(rng, -0.05, 0.05, 5)
    bs = round(_u(rng, 1.5e-3, 3.0e-3) / p1, 2) if pos != "off" else 0.0
    geo = GeometrySpec(distance_m=dist, poni1_m=round(cy * p1, 7), poni2_m=round(cx * p2, 7),
                       rot1_rad=rot1, rot2_rad=rot2, rot3_rad=0.0, beam_position=pos,
                       beamstop_radius_px=bs)
    return det, geo


def integrator(scenario_or_geo, detector: str | None = None, wavelength_a: float | None = None):
    """pyFAI AzimuthalIntegrator of a scenario (or of a GeometrySpec, detector, wavelength)."""
    from ...xrd.integrate import azimuthal_integrator

    if isinstance(scenario_or_geo, Scenario):
        g, detector, wavelength_a = (scenario_or_geo.geometry, scenario_or_geo.detector.name,
                                     scenario_or_geo.wavelength_a)
    else:
        g = scenario_or_geo
    return azimuthal_integrator(detector, g.distance_m, g.poni1_m, g.poni2_m, g.rot1_rad,
                                g.rot2_rad, g.rot3_rad, wavelength_a)


def beamstop_mask(ai, geo: GeometrySpec) -> np.ndarray:
    """Pixels in the shadow of the beamstop (disc on the direct beam and its holder arm)."""
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
    """2theta range (deg) of the active pixels, trimmed of the sparsely covered ends."""
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
        everything else comes from ``numpy.random.default_rng(seed)``.
    n_frames : int, optional
        Number of frames (default: drawn, 20 to 40).
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

    material, chain, transitions, consts, what = _draw_reaction(kind, rng)
    framework = MATERIALS[material]["framework"]
    used = {p.name for p in chain} | {p.name for p in consts}
    notes = []
    # a current collector in the beam in some scenarios that do not have one yet
    if not any(p.role == "collector" for p in consts) and rng.random() < 0.35:
        if "Al" not in used:
            consts.append(_phase("Al", "collector", rng, "sharp",
                                 constant_weight_fraction=_u(rng, 0.05, 0.25, 4)))
            used.add("Al")
            notes.append(f"Al current collector ({consts[-1].constant_weight_fraction:.1%})")
    phases = chain + consts
    # a wrong guess in the recipe in about a third of the scenarios
    if rng.random() < 1.0 / 3.0:
        pool = [d for d in MATERIALS[material]["decoys"] if d not in used]
        decoy = _phase(pool[int(rng.integers(len(pool)))], "decoy", rng)
        phases.insert(int(rng.integers(len(phases) + 1)), decoy)
        notes.append(f"recipe also lists {decoy.name}, which is never present")
    phases = tuple(phases)

    # beam, detector, geometry
    wavelength = _u(rng, 0.45, 1.0, 5)
    det_name = str(rng.choice(list(DETECTORS)))
    det, geo = _draw_geometry(rng, det_name, wavelength)
    fmt, dtype = DETECTORS[det_name]
    detector = DetectorSpec(det_name, fmt, dtype, tuple(int(v) for v in det.shape),
                            (float(det.pixel1), float(det.pixel2)), int(rng.integers(0, 40)))
    ai = integrator(geo, det_name, wavelength)
    tth_range = useful_range(ai, geo)
    if fmt == "cbf":
        time_source = str(rng.choice(["header", "scan_log"], p=[0.6, 0.4]))
    else:
        time_source = str(rng.choice(["hdf5", "hdf5_dataset"], p=[0.6, 0.4]))

    # counting and background (per pixel at normal incidence)
    peak = round(float(math.exp(rng.uniform(math.log(20.0), math.log(2000.0)))), 2)

    def tth_of_q(q):
        return 2.0 * math.degrees(math.asin(min(1.0, q * wavelength / (4.0 * math.pi))))

    q_win, q_el = _u(rng, 1.0, 1.4), _u(rng, 1.6, 2.2)
    dq_win, dq_el = _u(rng, 0.4, 0.8), _u(rng, 0.8, 1.5)
    background = Background(
        flat_counts=round(peak * _u(rng, 0.02, 0.2), 4),
        air_counts=round(peak * _u(rng, 0.0, 0.3), 4),
        air_decay_deg=_u(rng, 3.0, 8.0, 3),
        window_counts=round(peak * _u(rng, 0.0, 0.2), 4),
        window_center_deg=round(tth_of_q(q_win), 4),
        window_fwhm_deg=round(tth_of_q(q_win + dq_win / 2) - tth_of_q(q_win - dq_win / 2), 4),
        electrolyte_counts=round(peak * _u(rng, 0.02, 0.2), 4),
        electrolyte_center_deg=round(tth_of_q(q_el), 4),
        electrolyte_fwhm_deg=round(tth_of_q(q_el + dq_el / 2) - tth_of_q(q_el - dq_el / 2), 4),
    )
    pixels_per_bin = round(float(math.exp(rng.uniform(math.log(30.0), math.log(1000.0)))), 1)

    # time axis and state of charge: optional rest, charge to xi = 1, optional discharge
    period = round(_u(rng, 60.0, 600.0), 1)
    exposure = round(period * _u(rng, 0.5, 0.95), 2)
    n_rest = int(rng.integers(0, 3)) if n >= 8 else 0
    f_charge = _u(rng, 0.55, 1.0) if rng.random() < 0.5 else 1.0
    xi_end = _u(rng, 0.0, 0.6)
    # the top of charge (xi = 1) falls on the middle of a frame
    k_top = min(n - 1, n_rest + max(1, int(round(f_charge * (n - n_rest))) - 1))
    t_charge = max(exposure / 2.0, (k_top - n_rest) * period + exposure / 2.0)
    start = datetime(2025, 1, 1, 8, 0, 0) + timedelta(days=seed % 365,
                                                     minutes=int(rng.integers(0, 600)))
    frames = []
    for i in range(n):
        t0 = i * period
        mid = t0 + exposure / 2.0
        t = mid - n_rest * period
        if t <= 0:
            xi = 0.0
        elif t <= t_charge:
            xi = t / t_charge
        else:
            xi = max(xi_end, 1.0 - (t - t_charge) / t_charge)
        xi = round(xi, 6)
        st = _states(xi, phases, transitions, framework)
        fname = (f"frame_{i + 1:04d}.cbf" if fmt == "cbf" else "frames.h5")
        frames.append(FrameSpec(fname, round(t0, 3), round(mid, 3), xi,
                                tuple((p.name, st[p.name]) for p in phases)))
    frames = tuple(frames)

    beam = {"centre": "beam centre on the detector", "edge": "beam near the detector edge",
            "off": "beam off the detector"}[geo.beam_position]
    desc = (f"{what}; " + "".join(f"{x}; " for x in notes) + f"{det_name} "
            f"{'CBF frames' if fmt == 'cbf' else 'HDF5 stack'}, {beam}, "
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
