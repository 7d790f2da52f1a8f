"""Plain data of a scenario: detector, geometry, phases, per-frame truth."""

from __future__ import annotations

from dataclasses import dataclass

from ..operando import Background
from . import physics

__all__ = ["DetectorSpec", "FrameSpec", "GeometrySpec", "PhaseSpec", "PhaseState", "Scenario"]


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
