"""Crystalline phases of an operando experiment: reflections, indexing of tracks, phase fractions.

A :class:`PhaseModel` holds what xpipe knows of one phase before fitting: its space group,
an approximate cell (from a CIF or given), the allowed reflections in the measured range with
multiplicities (and |F|^2 when a structure is given), grouped so that reflections whose
d-spacing coincides for *every* cell of the lattice system (e.g. (h k l) and (k h l) of a
trigonal group) count as one observable. Arrays in, arrays out; no file names beyond the CIF.

Indexing of tracks (:func:`assign_tracks`) goes frame by frame with a running cell per phase:
a phase is *anchored* when enough tracks match its predicted reflections within a relative
tolerance (the approximate cell may be off by a few tenths of a percent) and a cell refined
from them predicts every one of them within a fraction of a FWHM; from then on its cell
follows the frames and matching is tight. A track matching reflections of two phases is
ambiguous, one matching two reflections of one phase is an overlap; neither is used for the
peak-based cell, both are left to the whole-window (Pawley) fit.

Phase fractions (:func:`weight_fractions`) follow the quantitative phase analysis of
Hill & Howard, J. Appl. Cryst. 20 (1987) 467: with the scale ``S_p`` of each phase (observed
integrated intensities over calculated ``m |F|^2 L``),
``w_p = S_p (Z M V)_p / sum_q S_q (Z M V)_q``.

Modules: :mod:`.model` (:class:`PhaseModel`, :func:`make_phase`), :mod:`.indexing`
(:func:`assign_tracks`) and :mod:`.fractions` (:func:`weight_fractions`).
"""

from .fractions import area_on_two_theta, weight_fractions
from .indexing import Assignment, assign_tracks, positions_kw, refine_cell_once
from .model import (
    UNITS,
    PhaseModel,
    cell_mass_amu,
    lorentz_factor,
    make_phase,
    radial_from_d,
    set_families,
)

__all__ = [
    "UNITS",
    "Assignment",
    "PhaseModel",
    "area_on_two_theta",
    "assign_tracks",
    "cell_mass_amu",
    "lorentz_factor",
    "make_phase",
    "positions_kw",
    "refine_cell_once",
    "set_families",
    "radial_from_d",
    "weight_fractions",
]
