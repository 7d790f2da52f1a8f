"""Beam path of the simulated XANES series: samples, V foil, ion chambers, counts.

Transmission XAS at a bending-magnet beamline with a Si(111) double-crystal monochromator
and three N2 ion chambers (I0 before the sample, It after it, Iref after a V metal foil
placed downstream of It). The absorption coefficient (dimensionless mu*t) of a sample is

* background: every element of the beam path except the V K edge, from the Elam tables
  (:func:`xraydb.mu_elam`): matrix (Na, P, O, C, F, H), binder, windows, electrolyte,
  plus the V cross-section below its K edge;
* V K edge: ``m_V * [mu_below(E) + J(E) * n(E)]`` with ``mu_below`` and ``mu_above``
  power laws fitted to the Elam V cross-section on either side of the edge,
  ``J = mu_above - mu_below`` the atomic edge jump, and ``n(E)`` the normalised XANES of
  the compound (:mod:`xpipe.synth.xas_spectra`).

Counts are Poisson-distributed (I0 about 2e6 to 7e6 per point), with a common-mode beam
fluctuation that cancels in the ratios.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .xas_spectra import EDGE_HALF_HEIGHT_EV, NAVP, NVP, V2O3, V2O5, V_FOIL_EDGE_EV, VO2, Compound

__all__ = ["CHAMBER_LENGTH_CM", "STANDARDS", "CellModel"]

#: d(111) of Si written by the beamline (a = 5.431 A; XDI specification example value).
SI111_D_SPACING_A = 3.13551
#: Photon flux reaching the I0 chamber, photons/s at 5465 eV (falls as E^-1 over the scan).
FLUX_PER_S = 1.0e7
BEAM_NOISE_REL = 0.002
#: Ion chambers: N2 at 1 atm, 293 K (density 1.165e-3 g/cm3), active lengths in cm.
N2_DENSITY_G_CM3 = 1.165e-3
CHAMBER_LENGTH_CM = {"i0": 10.0, "itrans": 30.0, "irefer": 30.0}

#: Reference pellets: (compound, edge step, cellulose filler g/cm2), in measuring order.
STANDARDS = (
    (V2O3, 1.05, 0.020),
    (VO2, 0.95, 0.020),
    (V2O5, 0.90, 0.025),
    (NVP, 1.10, 0.015),
    (NAVP, 0.85, 0.015),
)
#: Kapton tape holding each pellet, g/cm2 (2 x 50 um at 1.42 g/cm3, glue included).
STANDARD_TAPE_G_CM2 = 2 * 50e-4 * 1.42


@dataclass(frozen=True)
class CellModel:
    """Beam path through the operando cell, areal densities in g/cm2.

    Electrode: NVP with 10 wt % carbon black and 10 wt % PVDF, loading chosen for a V K edge
    step of ``edge_step`` (about 8.7 mg/cm2 of NVP); Kapton windows 2 x 25 um (1.42 g/cm3);
    a 25 um separator soaked with propylene carbonate (1.2 g/cm3). The Na anode is pierced
    where the beam passes.

    Parameters
    ----------
    edge_step : float
        V K edge step of the electrode (mu*t, dimensionless) at the V3+ edge.
    carbon_wt, binder_wt : float
        Weight fractions of carbon black and PVDF binder in the electrode.
    window_g_cm2, electrolyte_g_cm2 : float
        Areal densities of the two windows together and of the wet separator, g/cm2.

    Examples
    --------
    >>> cell = CellModel()
    >>> cell.edge_step, round(cell.window_g_cm2, 6)
    (1.0, 0.0071)
    """

    edge_step: float = 1.0
    carbon_wt: float = 0.10
    binder_wt: float = 0.10
    window_g_cm2: float = 2 * 25e-4 * 1.42
    electrolyte_g_cm2: float = 25e-4 * 1.2


# ------------------------------------------------------------------- cross-sections


class _CrossSections:
    """Elam mass attenuation coefficients (cm2/g) from xraydb, V split at its K edge.

    Every cross-section is smooth between 5.2 and 6.2 keV (no other edge of the elements
    used), so it is represented by a fit of ln(mu) to a polynomial in ln(E) (quadratic;
    linear for V below its K edge), accurate to 1e-4.
    """

    def __init__(self):
        import xraydb  # with SQLAlchemy, about 0.6 s to import; only this generator needs it

        self._xraydb = xraydb
        self._fits: dict = {}
        below = np.arange(5200.0, 5461.0, 10.0)
        above = np.arange(5470.0, 6201.0, 10.0)
        self.below_fit = np.polyfit(np.log(below / V_FOIL_EDGE_EV),
                                    np.log(xraydb.mu_elam("V", below)), 1)
        self.above_fit = np.polyfit(np.log(above / V_FOIL_EDGE_EV),
                                    np.log(xraydb.mu_elam("V", above)), 2)

    def mu_elam(self, element: str, e) -> np.ndarray:
        if element not in self._fits:
            grid = np.arange(5200.0, 6201.0, 10.0)
            self._fits[element] = np.polyfit(np.log(grid / V_FOIL_EDGE_EV),
                                             np.log(self._xraydb.mu_elam(element, grid)), 2)
        return np.exp(np.polyval(self._fits[element], np.log(np.asarray(e) / V_FOIL_EDGE_EV)))

    def v_below(self, e):
        return np.exp(np.polyval(self.below_fit, np.log(np.asarray(e) / V_FOIL_EDGE_EV)))

    def v_jump(self, e):
        x = np.log(np.asarray(e) / V_FOIL_EDGE_EV)
        return np.exp(np.polyval(self.above_fit, x)) - np.exp(np.polyval(self.below_fit, x))

    def composition(self, formula: str) -> dict:
        return {el: float(n) for el, n in self._xraydb.chemparse(formula).items()}

    def molar_mass(self, formula: str) -> float:
        return sum(n * self._xraydb.atomic_mass(el) for el, n in self.composition(formula).items())

    def v_mass_fraction(self, formula: str) -> float:
        comp = self.composition(formula)
        return comp.get("V", 0.0) * self._xraydb.atomic_mass("V") / self.molar_mass(formula)

    def mu_rho_without_v(self, formula: str, e) -> np.ndarray:
        """Mass attenuation of a compound without its V atoms, cm2 per g of compound."""
        comp = self.composition(formula)
        m = self.molar_mass(formula)
        out = np.zeros_like(np.asarray(e, dtype=float))
        for el, n in comp.items():
            if el != "V":
                out += n * self._xraydb.atomic_mass(el) / m * self.mu_elam(el, e)
        return out

    def layers_mu(self, layers, e) -> np.ndarray:
        """Absorption (mu*t) of (formula, g/cm2) layers, V excluded."""
        out = np.zeros_like(np.asarray(e, dtype=float))
        for formula, areal in layers:
            out += areal * self.mu_rho_without_v(formula, e)
        return out


@dataclass
class _Absorber:
    """mu*t of one sample at true energies: background + m_V * (below + J * n)."""

    layers: list  # (formula, g/cm2), V atoms excluded from their attenuation
    m_v: float  # g/cm2 of V

    def mu(self, xs: _CrossSections, e: np.ndarray, norm: np.ndarray) -> np.ndarray:
        return xs.layers_mu(self.layers, e) + self.m_v * (xs.v_below(e) + xs.v_jump(e) * norm)


def _electrode_absorber(xs: _CrossSections, cell: CellModel, x_na: float) -> _Absorber:
    """Operando cell at Na content x (V amount fixed by the edge step at the V3+ edge)."""
    m_v = cell.edge_step / float(xs.v_jump(EDGE_HALF_HEIGHT_EV[3]))
    m_nvp_pristine = m_v / xs.v_mass_fraction("Na3V2(PO4)3")
    formula = f"Na{x_na:.6f}V2(PO4)3"
    m_active = m_v / xs.v_mass_fraction(formula)
    m_electrode = m_nvp_pristine / (1.0 - cell.carbon_wt - cell.binder_wt)
    layers = [
        (formula, m_active),
        ("C", cell.carbon_wt * m_electrode),
        ("C2H2F2", cell.binder_wt * m_electrode),
        ("C22H10N2O5", cell.window_g_cm2),
        ("C4H6O3", cell.electrolyte_g_cm2),
    ]
    return _Absorber(layers, m_v)


def _standard_absorber(xs: _CrossSections, c: Compound, step: float,
                       filler: float) -> _Absorber:
    m_v = step / float(xs.v_jump(c.edge_half_height_ev))
    layers = [
        (c.formula, m_v / xs.v_mass_fraction(c.formula)),
        ("C6H10O5", filler),
        ("C22H10N2O5", STANDARD_TAPE_G_CM2),
    ]
    return _Absorber(layers, m_v)


# ---------------------------------------------------------------------- ion chambers


def _chamber_absorption(xs: _CrossSections, e: np.ndarray, name: str) -> np.ndarray:
    return N2_DENSITY_G_CM3 * CHAMBER_LENGTH_CM[name] * xs.mu_elam("N", e)


def _simulate_counts(xs, e_true, mu_sample, mu_foil, dwell, rng):
    """Expected and Poisson counts of the three chambers."""
    a0 = _chamber_absorption(xs, e_true, "i0")
    a1 = _chamber_absorption(xs, e_true, "itrans")
    a2 = _chamber_absorption(xs, e_true, "irefer")
    beam = FLUX_PER_S * (e_true / V_FOIL_EDGE_EV) ** -1 * dwell
    beam = beam * (1.0 + BEAM_NOISE_REL * rng.standard_normal(e_true.shape))
    i0 = beam * (1.0 - np.exp(-a0))
    behind_sample = beam * np.exp(-a0 - mu_sample)
    it = behind_sample * (1.0 - np.exp(-a1))
    iref = behind_sample * np.exp(-a1 - mu_foil) * (1.0 - np.exp(-a2))
    return (rng.poisson(i0).astype(np.int64), rng.poisson(it).astype(np.int64),
            rng.poisson(iref).astype(np.int64))
