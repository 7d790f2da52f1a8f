"""Plain data of a scenario: detector, geometry, phases, per-frame truth."""

from __future__ import annotations

from dataclasses import dataclass

from ..operando_detector import Background
from . import physics

__all__ = ["DetectorSpec", "FrameSpec", "GeometrySpec", "PhaseSpec", "PhaseState", "Scenario"]


@dataclass(frozen=True)
class DetectorSpec:
    """The detector of a scenario and how its frames are stored.

    Parameters
    ----------
    name : str
        pyFAI detector name.
    file_format : str
        ``"cbf"`` (one file per frame) or ``"hdf5"`` (one stack).
    dtype : str
        Pixel data type (``"int32"`` or ``"uint32"``).
    shape : (int, int)
        Pixels (slow, fast).
    pixel_m : (float, float)
        Pixel size (slow, fast), metres.
    dead_pixels : int
        Randomly placed pixels written as invalid.

    Examples
    --------
    >>> d = DetectorSpec("Pilatus300k", "cbf", "int32", (619, 487), (172e-6, 172e-6), 5)
    >>> d.shape[0] * d.shape[1]
    301453
    """

    name: str  # pyFAI detector name
    file_format: str  # "cbf" (one file per frame) or "hdf5" (one stack)
    dtype: str
    shape: tuple[int, int]
    pixel_m: tuple[float, float]
    dead_pixels: int  # randomly placed, written as invalid


@dataclass(frozen=True)
class GeometrySpec:
    """Detector geometry of a scenario in pyFAI's PONI convention.

    Parameters
    ----------
    distance_m, poni1_m, poni2_m : float
        Sample-detector distance and point of normal incidence, metres.
    rot1_rad, rot2_rad, rot3_rad : float
        Detector rotations, radians.
    beam_position : str
        ``"centre"``, ``"edge"`` or ``"off"`` (beam outside the detector).
    beamstop_radius_px : float
        Beamstop shadow radius, pixels; 0 when the beam misses the detector.

    Examples
    --------
    >>> g = GeometrySpec(0.2, 0.05, 0.04, 0.0, 0.0, 0.0, "centre", 12.0)
    >>> g.beam_position, g.distance_m
    ('centre', 0.2)
    """

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
    """One candidate phase of a scenario: structure, role, peak profile, reaction, texture.

    Parameters
    ----------
    name : str
        Short name of the bundled structure.
    cif : str
        File name of the bundled CIF.
    space_group, system : str
        Space group (gemmi xHM) and crystal system.
    role : str
        major, minor, intermediate, collector or decoy.
    cif_cell : tuple of 6 floats
        CIF cell, angstrom and degrees.
    u_deg2, v_deg2, w_deg2, w_end_deg2, eta : float
        Caglioti U, V, W (deg^2; W at state of charge 0 and 1, linear in between) and the
        pseudo-Voigt mixing.
    po_hkl, po_r : optional
        March-Dollase texture direction and parameter (None: no texture).
    chain_index : int, optional
        Position in the reaction chain; None for a phase of constant mass.
    strain : tuple of 4 floats
        Relative change of a, b, c and the change of beta (deg) over the solid solution.
    ss_range : (float, float)
        State of charge range of the solid solution.
    constant_weight_fraction : float
        Pristine weight fraction of a phase of constant mass.

    Examples
    --------
    >>> p = PhaseSpec("Al", "Al_Fm-3m.cif", "F m -3 m", "cubic", "collector",
    ...               (4.0495, 4.0495, 4.0495, 90.0, 90.0, 90.0), 0.002, -0.0001, 0.001,
    ...               0.001, 0.3, po_hkl=(1, 1, 1), po_r=0.8)
    >>> p.texture
    ((1, 1, 1), 0.8)
    """

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
    """The truth of one phase in one frame.

    Parameters
    ----------
    weight_fraction : float
        Weight fraction (exactly 0 when absent).
    cell : tuple of 6 floats
        Cell, angstrom and degrees.
    w_deg2 : float
        Caglioti W of the frame, deg^2.

    Examples
    --------
    >>> st = PhaseState(0.5, (4.0, 4.0, 4.0, 90.0, 90.0, 90.0), 0.001)
    >>> round(st.volume_a3, 3)
    64.0
    """

    weight_fraction: float
    cell: tuple[float, ...]
    w_deg2: float

    @property
    def volume_a3(self) -> float:
        return physics.cell_volume_a3(self.cell)


@dataclass(frozen=True)
class FrameSpec:
    """One frame of a scenario: file, times, state of charge and the state of every phase.

    Parameters
    ----------
    file : str
        File of the frame (``frame_0001.cbf``... or ``frames.h5``).
    start_s, mid_time_s : float
        Start and middle of the exposure, seconds from the first exposure's start.
    soc : float
        State of charge xi (0 -> 1 on charge).
    phases : tuple of (str, PhaseState)
        The state of every phase, in the scenario's order.

    Examples
    --------
    >>> st = PhaseState(1.0, (4.0, 4.0, 4.0, 90.0, 90.0, 90.0), 0.001)
    >>> FrameSpec("frame_0001.cbf", 0.0, 30.0, 0.0, (("Al", st),)).state("Al").weight_fraction
    1.0
    """

    file: str
    start_s: float
    mid_time_s: float
    soc: float
    phases: tuple[tuple[str, PhaseState], ...]

    def state(self, name: str) -> PhaseState:
        return dict(self.phases)[name]


@dataclass(frozen=True)
class Scenario:
    """Everything a seed decides; plain, immutable data.

    Parameters
    ----------
    seed : int
        The seed it was drawn from.
    kind, description, material : str
        Scenario kind, a sentence, key of the material library.
    wavelength_a : float
        X-ray wavelength, angstrom.
    detector : DetectorSpec
    geometry : GeometrySpec
    two_theta_range_deg : (float, float)
        Useful 2theta range on the detector, degrees.
    time_source : str
        header, scan_log, hdf5 or hdf5_dataset.
    start_time_iso : str
        Start of the first exposure.
    exposure_s, period_s : float
        Exposure time and frame period, seconds.
    peak_counts : float
        Strongest peak of frame 0, counts per pixel at normal incidence.
    pixels_per_bin_1d : float
        Counting level of :func:`render_patterns_1d` relative to one pixel.
    background : Background
    phases : tuple of PhaseSpec
    frames : tuple of FrameSpec
    two_phase_windows : tuple of (str, str, int, int)
        Two phases and the first and last frame where both are present.

    Examples
    --------
    >>> from xpipe.synth.scenarios import make_scenario
    >>> s = make_scenario(6, n_frames=3)
    >>> s.kind, s.n_frames, s.phase(s.phases[0].name).role
    ('broadening', 3, 'major')
    """

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
