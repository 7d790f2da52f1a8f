"""Synthetic data: powder diffraction from CIFs and the simulated demo data sets.

:mod:`xpipe.synth.powder` holds the physics (reflections, structure factors, Lorentz
factor, pseudo-Voigt profiles, multi-phase 1D patterns) on the bundled structures of
:mod:`xpipe.synth.crystal`; :mod:`xpipe.synth.operando` holds the Na3V2(PO4)3 operando
scenario (cell in :mod:`~xpipe.synth.operando_cell`, detector in
:mod:`~xpipe.synth.operando_detector`) and :func:`make_example_data`, which writes
``example_data/nvp_operando``. :mod:`xpipe.synth.xas` and :mod:`xpipe.synth.xps` write the
XANES and XPS series, :mod:`xpipe.synth.scenarios` generates operando XRD scenarios and
:mod:`xpipe.synth.scoreboard` scores a run against their truth. The operando module
(pyFAI, fabio) is imported on first use, so ``xpipe.synth.powder`` stays light.
"""

from .powder import (
    BUNDLED_STRUCTURES,
    Lattice,
    PeakProfile,
    Phase,
    ReflectionList,
    bragg_two_theta_deg,
    caglioti_fwhm_deg,
    cell_mass_amu,
    d_from_two_theta_deg,
    d_spacing_hexagonal_a,
    lattice_of,
    load_structure,
    lorentz_factor,
    phase_scale,
    powder_pattern,
    pseudo_voigt,
    reflections,
    structure_path,
    weight_fractions_from_scales,
    with_lattice,
    with_occupancy,
)

# names of xpipe.synth.operando (pyFAI, fabio), imported on first use
_OPERANDO_NAMES = ("make_example_data", "DEFAULT_N_FRAMES", "DEFAULT_SEED", "GENERATOR_VERSION")

__all__ = [
    "BUNDLED_STRUCTURES",
    "DEFAULT_N_FRAMES",
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "Lattice",
    "PeakProfile",
    "Phase",
    "ReflectionList",
    "bragg_two_theta_deg",
    "caglioti_fwhm_deg",
    "cell_mass_amu",
    "d_from_two_theta_deg",
    "d_spacing_hexagonal_a",
    "lattice_of",
    "load_structure",
    "lorentz_factor",
    "make_example_data",
    "phase_scale",
    "powder_pattern",
    "pseudo_voigt",
    "reflections",
    "structure_path",
    "weight_fractions_from_scales",
    "with_lattice",
    "with_occupancy",
]


def __getattr__(name):
    if name in _OPERANDO_NAMES:
        from . import operando  # pyFAI and fabio load on first use, not with the package

        return getattr(operando, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
