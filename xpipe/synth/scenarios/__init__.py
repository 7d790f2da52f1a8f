"""Seeded operando XRD scenarios: many data sets, each with its ground truth.

A seed decides a reaction path (:data:`SCENARIO_KINDS`), the phases and their cells along
it, peak widths, texture, minor phases, a wrong candidate phase in about a third of the
recipes, the detector (Pilatus CBF frames or an Eiger HDF5 stack), its geometry (distance,
tilt, beam centre on, near or off the detector), the wavelength, the counting level and
the background. Scoreboards use it to test phase analysis on data it was not tuned on.

* :func:`make_scenario` -- pure description (:class:`Scenario`, plain frozen dataclasses)
  holding the truth of every frame;
* :func:`write_scenario` -- frames, ``geometry.poni``, ``structures/*.cif``, ``truth.json``
  and ``recipe.yaml`` (returns its path), byte-identical for the same scenario;
* :func:`render_patterns_1d` -- the same physics on a 1D 2theta grid, without a detector.

Physics: :mod:`xpipe.synth.scenarios.physics` (Rietveld scale ``S = w / (Z M V)``,
area-detector Lorentz factor, March-Dollase texture, pseudo-Voigt with a Caglioti width
per phase). Reaction model: :mod:`xpipe.synth.scenarios.model`.

``truth.json`` (frame indices 0-based)::

    {"seed", "kind", "description", "wavelength_a", "detector": {...}, "geometry": {...},
     "counting": {...},
     "phases": [{"name", "cif": "structures/<file>.cif", "space_group", "system",
                 "role": "major|minor|intermediate|collector|decoy",
                 "preferred_orientation": {"march_dollase_hkl", "march_dollase_r"} | null,
                 "profile": {"u_deg2", "v_deg2", "w_deg2", "w_end_deg2", "eta"}, "cif_cell"}],
     "frames": [{"file", "mid_time_s", "state_of_charge",
                 "phases": {name: {"weight_fraction", "a_a", "b_a", "c_a", "alpha_deg",
                                   "beta_deg", "gamma_deg", "volume_a3", "fwhm_w_deg2"}}}],
     "two_phase_windows": [{"phases": [name1, name2], "first_frame", "last_frame"}]}

Cells are in the setting of the phase's CIF (hexagonal axes for R-3m and R-3c). A phase
that is absent from a frame has weight fraction exactly 0; its cell is the one it would
have. ``mid_time_s`` counts from the start of the first exposure.
"""

from .model import (
    SCENARIO_KINDS,
    DetectorSpec,
    FrameSpec,
    GeometrySpec,
    PhaseSpec,
    PhaseState,
    Scenario,
    make_scenario,
)
from .physics import march_dollase, march_dollase_factors, reciprocal_metric
from .render import render_patterns_1d, truth_dict, write_scenario

__all__ = [
    "SCENARIO_KINDS",
    "DetectorSpec",
    "FrameSpec",
    "GeometrySpec",
    "PhaseSpec",
    "PhaseState",
    "Scenario",
    "make_scenario",
    "march_dollase",
    "march_dollase_factors",
    "reciprocal_metric",
    "render_patterns_1d",
    "truth_dict",
    "write_scenario",
]
