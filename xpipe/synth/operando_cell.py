"""The Na | Na3V2(PO4)3 half cell of the simulated operando XRD: cycling and structural path.

* electrochemistry: OCV rest, constant-current charge to 4.0 V, rest, constant-current
  discharge to 2.5 V, rest (:class:`CellProtocol`);
* structure: a short solid solution Na_x V2(PO4)3, 3.0 >= x >= 2.8, with a continuously
  contracting R-3c cell, then the two-phase reaction Na_2.8 V2(PO4)3 <-> NaV2(PO4)3 with
  fixed cells and phase fractions linear in capacity, reversed on discharge; a constant
  V2O3 impurity (:class:`ReactionPath`, :func:`phase_state`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gemmi
import numpy as np
from scipy.interpolate import PchipInterpolator

from . import powder

__all__ = [
    "IMPURITY",
    "NVP",
    "NVP1",
    "PHASE_NAMES",
    "CellProtocol",
    "ReactionPath",
    "molar_mass_na_x",
    "molar_mass_v2o3",
    "phase_state",
]

NVP, NVP1, IMPURITY = "Na3V2(PO4)3", "NaV2(PO4)3", "V2O3"
PHASE_NAMES = (NVP, NVP1, IMPURITY)

_ATOMIC_WEIGHT = {el: gemmi.Element(el).weight for el in ("Na", "V", "P", "O")}


def molar_mass_na_x(x_na: float) -> float:
    """Molar mass of Na_x V2(PO4)3 in g/mol.

    Parameters
    ----------
    x_na : float
        Na content x.

    Returns
    -------
    float
        Molar mass, g/mol.

    Examples
    --------
    >>> round(molar_mass_na_x(3.0), 2), round(molar_mass_na_x(1.0), 2)
    (455.77, 409.79)
    """
    w = _ATOMIC_WEIGHT
    return x_na * w["Na"] + 2 * w["V"] + 3 * w["P"] + 12 * w["O"]


def molar_mass_v2o3() -> float:
    """Molar mass of V2O3 in g/mol.

    Returns
    -------
    float
        Molar mass, g/mol.

    Examples
    --------
    >>> round(molar_mass_v2o3(), 2)
    149.88
    """
    return 2 * _ATOMIC_WEIGHT["V"] + 3 * _ATOMIC_WEIGHT["O"]


# ------------------------------------------------------------------ electrochemistry


@dataclass(frozen=True)
class CellProtocol:
    """Galvanostatic cycle of a Na | NVP half cell, Na content x in Na_x V2(PO4)3.

    The theoretical capacity 117.6 mAh/g is that of 2 Na per Na3V2(PO4)3
    (x = 3 -> 1). Times in seconds from the start of the first exposure.

    Parameters
    ----------
    active_mass_mg : float
        Mass of Na3V2(PO4)3 in the cell, mg.
    theoretical_capacity_mah_g : float
        Capacity of 2 Na per formula unit, mAh/g.
    c_rate : float
        Current in units of the theoretical capacity per hour.
    ocv_rest_s, top_rest_s, duration_s : float
        Rest before the charge, rest at the top of charge, whole protocol, seconds.
    x_start, x_top_of_charge, x_end_of_discharge : float
        Na content at the start, the end of the charge and the end of the discharge.
    v_min, v_max : float
        Voltage window, V vs Na+/Na.

    Examples
    --------
    >>> p = CellProtocol()
    >>> round(p.current_ma, 4), round(p.charge_time_s, 1)
    (0.1176, 10530.0)
    >>> st = p.state([0.0, 5000.0])
    >>> np.round(st["x_na"], 4).tolist(), st["step"].tolist()
    ([3.0, 2.1852], [0, 1])
    >>> np.round(p.voltage_v([0.0, 5000.0]), 3).tolist()
    [3.17, 3.408]
    """

    active_mass_mg: float = 3.0
    theoretical_capacity_mah_g: float = 117.6
    c_rate: float = 1.0 / 3.0
    ocv_rest_s: float = 600.0
    top_rest_s: float = 600.0
    duration_s: float = 22800.0
    x_start: float = 3.0
    x_top_of_charge: float = 1.05
    x_end_of_discharge: float = 2.97
    v_min: float = 2.5
    v_max: float = 4.0

    @property
    def capacity_per_na_mah(self) -> float:
        return self.active_mass_mg * 1e-3 * self.theoretical_capacity_mah_g / 2.0

    @property
    def current_ma(self) -> float:
        """Charge current; the C-rate refers to the theoretical capacity."""
        return self.active_mass_mg * 1e-3 * self.theoretical_capacity_mah_g * self.c_rate

    @property
    def charge_time_s(self) -> float:
        dx = self.x_start - self.x_top_of_charge
        return dx * self.capacity_per_na_mah / self.current_ma * 3600

    @property
    def discharge_time_s(self) -> float:
        dx = self.x_end_of_discharge - self.x_top_of_charge
        return dx * self.capacity_per_na_mah / self.current_ma * 3600

    def step_times_s(self) -> dict[str, float]:
        t1 = self.ocv_rest_s
        t2 = t1 + self.charge_time_s
        t3 = t2 + self.top_rest_s
        t4 = t3 + self.discharge_time_s
        if t4 > self.duration_s:
            raise ValueError("protocol longer than its duration")
        return {"charge_start_s": t1, "charge_end_s": t2, "discharge_start_s": t3,
                "discharge_end_s": t4, "end_s": self.duration_s}

    def state(self, t_s) -> dict[str, np.ndarray]:
        """x_na, current_ma (positive on charge), capacity_mah (net, since start), step."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        s = self.step_times_s()
        rate_x_per_s = self.current_ma / (self.capacity_per_na_mah * 3600)
        x = np.full_like(t, self.x_start)
        current = np.zeros_like(t)
        step = np.zeros(t.shape, dtype=int)  # 0 OCV, 1 charge, 2 rest, 3 discharge, 4 rest
        ch = (t >= s["charge_start_s"]) & (t < s["charge_end_s"])
        x[ch] = self.x_start - rate_x_per_s * (t[ch] - s["charge_start_s"])
        current[ch] = self.current_ma
        step[ch] = 1
        top = (t >= s["charge_end_s"]) & (t < s["discharge_start_s"])
        x[top] = self.x_top_of_charge
        step[top] = 2
        dis = (t >= s["discharge_start_s"]) & (t < s["discharge_end_s"])
        x[dis] = self.x_top_of_charge + rate_x_per_s * (t[dis] - s["discharge_start_s"])
        current[dis] = -self.current_ma
        step[dis] = 3
        end = t >= s["discharge_end_s"]
        x[end] = self.x_end_of_discharge
        step[end] = 4
        capacity = (self.x_start - x) * self.capacity_per_na_mah
        return {"x_na": x, "current_ma": current, "capacity_mah": capacity, "step": step}

    # voltage profile: monotone (PCHIP) curves through knots typical of NVP at C/3,
    # V3+/V4+ plateau near 3.4 V with ~25 mV polarisation either way
    _CHARGE_KNOTS = (
        (1.05, 4.000), (1.07, 3.620), (1.10, 3.480), (1.20, 3.435), (1.50, 3.420),
        (2.00, 3.410), (2.50, 3.405), (2.80, 3.395), (2.90, 3.360), (2.96, 3.300),
        (3.00, 3.200),
    )
    _DISCHARGE_KNOTS = (
        (1.05, 3.450), (1.08, 3.390), (1.15, 3.372), (1.50, 3.362), (2.00, 3.356),
        (2.50, 3.350), (2.80, 3.330), (2.88, 3.280), (2.93, 3.150), (2.955, 2.950),
        (2.97, 2.500),
    )

    def voltage_v(self, t_s) -> np.ndarray:
        """Cell voltage (V vs Na+/Na) at times ``t_s``."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        st = self.state(t)
        x, step = st["x_na"], st["step"]
        s = self.step_times_s()
        charge = PchipInterpolator(*np.array(self._CHARGE_KNOTS).T)
        discharge = PchipInterpolator(*np.array(self._DISCHARGE_KNOTS).T)
        v = np.empty_like(t)
        ocv = step == 0
        v[ocv] = 3.160 + 0.010 * np.exp(-t[ocv] / 300.0)
        m = step == 1
        v[m] = charge(np.clip(x[m], 1.05, 3.0))
        m = step == 2
        v[m] = 3.455 + (self.v_max - 3.455) * np.exp(-(t[m] - s["charge_end_s"]) / 150.0)
        m = step == 3
        v[m] = discharge(np.clip(x[m], 1.05, self.x_end_of_discharge))
        m = step == 4
        v[m] = 3.080 - (3.080 - self.v_min) * np.exp(-(t[m] - s["discharge_end_s"]) / 200.0)
        return v


# --------------------------------------------------------------- structural path


@dataclass(frozen=True)
class ReactionPath:
    """Structural response of Na_x V2(PO4)3 to the Na content x.

    * ``x >= x_boundary``: one R-3c phase (Na3V2(PO4)3 CIF) whose a and c shrink
      linearly from the CIF values to ``(1 + strain) *`` CIF at the boundary; Na is
      removed from the Na2 (18e) site.
    * ``x_desodiated < x < x_boundary``: two phases with fixed cells, the boundary
      Na_x V2(PO4)3 and NaV2(PO4)3 (CIF), molar fraction of the latter
      ``(x_boundary - x) / (x_boundary - x_desodiated)``.
    * V2O3: constant mass, ``impurity_weight_fraction`` of the pristine electrode.

    Parameters
    ----------
    x_pristine, x_boundary, x_desodiated : float
        Na content of the pristine phase, at the end of the solid solution, and of
        NaV2(PO4)3.
    strain_a_at_boundary, strain_c_at_boundary : float
        Relative change of a and c over the solid solution.
    na1_occupancy : float
        Occupancy of the Na1 (6b) site, kept over the whole path.
    impurity_weight_fraction : float
        Weight fraction of V2O3 in the pristine electrode.
    profiles : dict of str to PeakProfile
        Caglioti peak profile of every phase.

    Examples
    --------
    >>> path = ReactionPath()
    >>> path.x_boundary, path.profiles[NVP1].eta
    (2.8, 0.6)
    """

    x_pristine: float = 3.0
    x_boundary: float = 2.8
    x_desodiated: float = 1.0
    strain_a_at_boundary: float = -0.0035
    strain_c_at_boundary: float = -0.0020
    na1_occupancy: float = 0.84
    impurity_weight_fraction: float = 0.05
    profiles: dict[str, powder.PeakProfile] = field(default_factory=lambda: {
        NVP: powder.PeakProfile(u_deg2=0.004, v_deg2=-0.001, w_deg2=0.0025, eta=0.5),
        NVP1: powder.PeakProfile(u_deg2=0.012, v_deg2=-0.001, w_deg2=0.0040, eta=0.6),
        IMPURITY: powder.PeakProfile(u_deg2=0.004, v_deg2=-0.001, w_deg2=0.0030, eta=0.5),
    })


def phase_state(x_na: float, path: ReactionPath, base: dict[str, powder.Lattice]) -> dict:
    """Lattices, Na content and weight fractions of all phases at Na content ``x_na``.

    Parameters
    ----------
    x_na : float
        Na content x of the electrode.
    path : ReactionPath
        The structural path.
    base : dict of str to Lattice
        CIF cells of the three phases (:data:`PHASE_NAMES`).

    Returns
    -------
    dict
        ``{name: {"lattice", "x_na" (NVP phases), "mole_fraction", "weight_fraction"}}``
        for every phase (weight fraction 0 where absent; its cell is then the one it would
        have).

    Examples
    --------
    >>> base = {name: powder.lattice_of(powder.load_structure(name)) for name in PHASE_NAMES}
    >>> st = phase_state(1.9, ReactionPath(), base)
    >>> {name: round(st[name]["weight_fraction"], 4) for name in PHASE_NAMES}
    {'Na3V2(PO4)3': 0.4964, 'NaV2(PO4)3': 0.4508, 'V2O3': 0.0528}
    >>> round(st[NVP]["lattice"].a_a, 4)
    8.6982
    """
    xb = path.x_boundary
    if x_na >= xb:
        frac_ss = (path.x_pristine - x_na) / (path.x_pristine - xb)
        x_a, f_b = x_na, 0.0
    else:
        frac_ss = 1.0
        x_a = xb
        f_b = (xb - x_na) / (xb - path.x_desodiated)
    lat_a = base[NVP].scaled(1.0 + path.strain_a_at_boundary * frac_ss,
                             1.0 + path.strain_c_at_boundary * frac_ss)
    m_a = (1.0 - f_b) * molar_mass_na_x(x_a)
    m_b = f_b * molar_mass_na_x(path.x_desodiated)
    w_imp = path.impurity_weight_fraction
    m_imp = w_imp / (1.0 - w_imp) * molar_mass_na_x(path.x_pristine)
    total = m_a + m_b + m_imp
    return {
        NVP: {"lattice": lat_a, "x_na": x_a, "mole_fraction": 1.0 - f_b,
              "weight_fraction": m_a / total},
        NVP1: {"lattice": base[NVP1], "x_na": path.x_desodiated, "mole_fraction": f_b,
               "weight_fraction": m_b / total},
        IMPURITY: {"lattice": base[IMPURITY], "x_na": None, "mole_fraction": None,
                   "weight_fraction": m_imp / total},
    }


def _phases_for_state(state: dict, structures: dict, path: ReactionPath) -> list[powder.Phase]:
    """powder.Phase objects for one state of :func:`phase_state`."""
    phases = []
    for name in PHASE_NAMES:
        st = state[name]
        structure = powder.with_lattice(structures[name], st["lattice"])
        if name == NVP:
            # Na leaves the Na2 (18e) site: 6*occ(Na1) + 18*occ(Na2) = 6x per cell
            na2 = (6.0 * st["x_na"] - 6.0 * path.na1_occupancy) / 18.0
            structure = powder.with_occupancy(structure, {"Na1": path.na1_occupancy, "Na2": na2})
        phases.append(powder.Phase(name, structure, st["weight_fraction"], path.profiles[name]))
    return phases
