"""Settings of the sequential whole-pattern refinement (:mod:`xpipe.xrd.sequential`).

Plain data, so that the frame fit (:mod:`xpipe.xrd.framefit`) and the frame loop can both use
them without importing each other. The recipe keys of ``xrd.lattice`` map onto them
(:func:`xpipe.stages.xrd_phases.analysis_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RefinementSettings"]


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
