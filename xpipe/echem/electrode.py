"""The electrode: from charge passed to ion content x and state of charge.

For an intercalation electrode of formula A_x0 M (e.g. Na3V2(PO4)3, x0 = 3), the charge per unit
change of x is ``n * F * z / 3.6`` mAh, where ``n = m / M`` is the amount of active material
(m its mass, M the molar mass of the pristine formula) and z the charge of the mobile ion. On
charge a cathode gives up ions, so ``x = x0 - capacity / (mAh per x)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Faraday constant, C/mol: CODATA 2018 (exact since the 2019 SI redefinition: N_A * e).
FARADAY_C_PER_MOL = 96485.33212
COULOMB_PER_MAH = 3.6

_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)|(\()|(\))(\d*\.?\d*)")


def parse_formula(formula: str) -> dict[str, float]:
    """Element counts of a formula such as ``Na3V2(PO4)3`` or ``LiNi0.8Mn0.1Co0.1O2``.

    Nested parentheses are allowed; raises ``ValueError`` naming the formula otherwise.

    Parameters
    ----------
    formula : str
        Element symbols with counts (decimals allowed) and parentheses; spaces are ignored.

    Returns
    -------
    dict of str to float
        Atoms of each element per formula unit.

    Examples
    --------
    >>> parse_formula("Na3V2(PO4)3")
    {'Na': 3.0, 'V': 2.0, 'P': 3.0, 'O': 12.0}
    """
    stack: list[dict[str, float]] = [{}]
    pos = 0
    text = formula.replace(" ", "")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"formula {formula!r}: cannot read {text[pos:]!r} (expected an element symbol, a count or parentheses)")
        pos = m.end()
        if m.group(1):
            n = float(m.group(2)) if m.group(2) else 1.0
            stack[-1][m.group(1)] = stack[-1].get(m.group(1), 0.0) + n
        elif m.group(3):
            stack.append({})
        else:
            if len(stack) == 1:
                raise ValueError(f"formula {formula!r}: unbalanced ')'")
            n = float(m.group(5)) if m.group(5) else 1.0
            inner = stack.pop()
            for el, c in inner.items():
                stack[-1][el] = stack[-1].get(el, 0.0) + c * n
    if len(stack) != 1:
        raise ValueError(f"formula {formula!r}: unbalanced '('")
    if not stack[0]:
        raise ValueError(f"formula {formula!r} holds no element")
    return stack[0]


def molar_mass_g_mol(formula: str) -> float:
    """Molar mass from the IUPAC standard atomic weights (as tabulated by xraydb).

    Parameters
    ----------
    formula : str
        A formula :func:`parse_formula` reads.

    Returns
    -------
    float
        Molar mass in g/mol.

    Examples
    --------
    >>> round(molar_mass_g_mol("Na3V2(PO4)3"), 2)
    455.76
    """
    import xraydb  # heavy (opens its database); only the molar mass needs it

    total = 0.0
    for el, n in parse_formula(formula).items():
        try:
            total += n * float(xraydb.atomic_mass(el))
        except Exception:
            raise ValueError(f"formula {formula!r}: {el!r} is not an element symbol") from None
    return total


_SUBSCRIPT = str.maketrans("0123456789.x", "₀₁₂₃₄₅₆₇₈₉.ₓ")


def x_formula(formula: str, ion: str) -> str:
    """The formula with the ion's count replaced by x: ``Na3V2(PO4)3`` -> ``NaxV2(PO4)3``.

    Parameters
    ----------
    formula : str
        The pristine formula.
    ion : str
        Element symbol of the mobile ion.

    Returns
    -------
    str
        The formula with ``x`` as the ion's count.

    Examples
    --------
    >>> x_formula("LiFePO4", "Li")
    'LixFePO4'
    """
    m = re.search(rf"{ion}(?![a-z])(\d*\.?\d*)", formula)
    if m is None:
        raise ValueError(f"formula {formula!r} does not contain the ion {ion!r}")
    return formula[: m.start()] + ion + "x" + formula[m.end():]


def pretty_formula(formula: str) -> str:
    """Counts as subscripts, for figure labels: ``NaxV2(PO4)3`` -> ``NaₓV₂(PO₄)₃``.

    Parameters
    ----------
    formula : str
        A formula, counts written as digits or ``x``.

    Returns
    -------
    str
        The formula with Unicode subscript counts.

    Examples
    --------
    >>> pretty_formula("NaxV2(PO4)3")
    'NaₓV₂(PO₄)₃'
    """
    return re.sub(r"(?<=[A-Za-z)])([0-9.]+|x)", lambda m: m.group(1).translate(_SUBSCRIPT), formula)


@dataclass
class Electrode:
    """The working electrode's active material.

    Parameters
    ----------
    formula : str
        Pristine formula, e.g. ``Na3V2(PO4)3``.
    active_mass_mg : float
        Mass of active material in the electrode (mg).
    ion : str
        The mobile ion, e.g. ``Na``.
    ion_charge : int
        Its charge (1 for Li+/Na+/K+, 2 for Mg2+).
    x_start : float or None
        Ion content when the record starts (default: the count in ``formula``).
    x_min : float or None
        Ion content at full charge, for the state of charge (e.g. 1 for Na3V2(PO4)3 ->
        NaV2(PO4)3).
    theoretical_capacity_mah_g : float or None
        Specific capacity (mAh/g), the other way to give the state of charge.
    charge_removes_ion : bool
        True for a cathode (charge extracts the ion), False for an anode.

    Examples
    --------
    >>> e = Electrode("Na3V2(PO4)3", active_mass_mg=10.0, x_min=1.0)
    >>> round(e.mah_per_x, 4), round(e.capacity_full_mah, 4)
    (0.5881, 1.1761)
    >>> round(float(e.x(0.5)), 3), round(float(e.capacity_mah(2.5)), 4)
    (2.15, 0.294)
    >>> e.x_formula
    'NaxV2(PO4)3'
    """

    formula: str
    active_mass_mg: float
    ion: str = "Na"
    ion_charge: int = 1
    x_start: float | None = None
    x_min: float | None = None
    theoretical_capacity_mah_g: float | None = None
    charge_removes_ion: bool = True

    def __post_init__(self) -> None:
        counts = parse_formula(self.formula)
        if self.ion not in counts:
            raise ValueError(f"formula {self.formula!r} does not contain the ion {self.ion!r}")
        if self.x_start is None:
            self.x_start = counts[self.ion]
        if self.active_mass_mg <= 0:
            raise ValueError(f"active mass must be positive, found {self.active_mass_mg} mg")
        self.molar_mass_g_mol = molar_mass_g_mol(self.formula)

    @property
    def mah_per_x(self) -> float:
        """Charge (mAh) that moves x by one."""
        n_mol = self.active_mass_mg * 1e-3 / self.molar_mass_g_mol
        return n_mol * FARADAY_C_PER_MOL * self.ion_charge / COULOMB_PER_MAH

    @property
    def capacity_full_mah(self) -> float | None:
        """Charge between x_start and full charge (mAh), when x_min or a capacity is given."""
        if self.theoretical_capacity_mah_g is not None:
            return self.theoretical_capacity_mah_g * self.active_mass_mg * 1e-3
        if self.x_min is not None:
            return abs(self.x_start - self.x_min) * self.mah_per_x
        return None

    def x(self, capacity_mah) -> np.ndarray:
        """Ion content for net charge passed since the start (charge positive)."""
        sign = -1.0 if self.charge_removes_ion else 1.0
        return self.x_start + sign * np.asarray(capacity_mah, dtype=float) / self.mah_per_x

    def capacity_mah(self, x) -> np.ndarray:
        """Inverse of :meth:`x`."""
        sign = -1.0 if self.charge_removes_ion else 1.0
        return sign * (np.asarray(x, dtype=float) - self.x_start) * self.mah_per_x

    def soc(self, capacity_mah, practical_mah: float | None = None) -> tuple[np.ndarray, str]:
        """State of charge (0 at the start, 1 at full charge) and what it is relative to.

        Relative to the theoretical capacity when x_min or a specific capacity is known, else to
        ``practical_mah`` (e.g. the largest charge reached in the record).
        """
        full = self.capacity_full_mah
        basis = "theoretical capacity"
        if full is None:
            full, basis = practical_mah, "largest charge reached in the record"
        if not full:
            return np.full(np.shape(capacity_mah), np.nan), "unknown"
        return np.asarray(capacity_mah, dtype=float) / full, basis

    @property
    def x_formula(self) -> str:
        """The formula with ``x`` as the ion's count (``NaxV2(PO4)3``)."""
        return x_formula(self.formula, self.ion)
