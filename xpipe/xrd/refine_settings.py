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
    """Settings of :func:`xpipe.xrd.sequential.refine_sequence` (defaults a Rietveld user would
    start from).

    Parameters
    ----------
    background_spacing_fwhm : float
        Knot spacing of the B-spline background, in peak widths (FWHM of the first pattern).
    snip_background : bool
        Add each frame's SNIP baseline as one more background column.
    significance_z : float
        A phase enters where its presence test reaches this Gaussian z.
    stay_z : float
        Once present, it stays while its z is at least this (hysteresis).
    max_step : float
        Largest relative change of each cell length from one frame to the next.
    max_cell_change : float
        A cell further than this (relative) from its reference is refitted and flagged.
    search_relative, search_relative_seen : float
        Relative half-range of the cell search of a phase never seen, and of one seen before.
    refine_profile_z : float
        A phase refines its cell, profile and texture only while its intensity z reaches this.
    zero_shift : bool
        Refine a zero shift of the 2theta axis (degrees).
    direction : str
        ``forward``, or ``both`` to follow back from later frames where the phases found change.
    cut_fwhm : float
        Each peak is evaluated within this many FWHM of its centre.
    fraction_jump : float
        A weight fraction (0 to 1) further than this from the mean of both neighbours, which
        agree within it, is refitted from a neighbour and flagged.
    lorentz : str
        Lorentz geometry: ``area_detector`` or ``line_detector``.
    max_nfev : int
        Most model evaluations of one least-squares fit.
    texture : dict
        Phase name to ``(hkl, r_start, refine_r)``: March-Dollase direction (a reciprocal-lattice
        vector), starting ``r`` and whether it is refined.
    fixed_profile : dict
        Phase name to True where its profile is held.

    Examples
    --------
    >>> from xpipe.xrd.refine_settings import RefinementSettings
    >>> s = RefinementSettings(texture={"LiCoO2": ((0, 0, 3), 0.8, True)}, zero_shift=True)
    >>> s.significance_z, s.stay_z, s.texture["LiCoO2"][1]
    (5.0, 3.0, 0.8)
    """

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
