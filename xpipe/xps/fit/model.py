"""The model a spectroscopist writes: components, spin-orbit doublets and their tables.

A fit model is a list of :class:`Component` (one peak) and :class:`Doublet` (a spin-orbit pair
of two linked lines) on a binding-energy axis in eV. This module holds those descriptions, the
spin-orbit tables they default to, and the checks that turn a description into valid starting
values; :mod:`xpipe.xps.fit.compiled` turns them into lmfit parameters.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from ..lineshapes import LINESHAPES

#: j labels (major, minor) of the spin-orbit pair of a p, d or f level.
J_LABELS: dict[str, tuple[str, str]] = {"p": ("3/2", "1/2"), "d": ("5/2", "3/2"), "f": ("7/2", "5/2")}
#: Minor/major area ratio from the degeneracy (2j + 1): p 2:4, d 4:6, f 6:8.
DEGENERACY_RATIO: dict[str, float] = {"p": 0.5, "d": 2.0 / 3.0, "f": 0.75}
#: Typical spin-orbit splittings (eV) of the metal or its common oxide (Ti 2p: TiO2). They move
#: by a few 0.1 eV with the chemical state (V 2p of the oxides is quoted between 7.3 and 7.6 eV,
#: Fe 2p 13.1 eV in the metal, about 13.6 eV in the oxides): set ``splitting`` explicitly when it
#: matters, or fit it (``vary_splitting=True``, best shared over a series).
SPIN_ORBIT_SPLITTING: dict[str, float] = {
    "Au 4f": 3.67, "Pt 4f": 3.33, "W 4f": 2.18, "Ag 3d": 6.00, "Pd 3d": 5.26, "Mo 3d": 3.13,
    "Sn 3d": 8.41, "Ti 2p": 5.7, "V 2p": 7.4, "Fe 2p": 13.1, "Co 2p": 15.0, "Ni 2p": 17.3,
    "Cu 2p": 19.75, "Zn 2p": 23.0, "S 2p": 1.18,
}
#: Background kinds a fit accepts.
BACKGROUNDS = ("shirley", "active_shirley", "linear", "tougaard", "none")
_QUANTITY_ALIASES = {"position": "center", "centre": "center", "width": "fwhm", "ratio": "area_ratio",
                     "split": "splitting", "so_splitting": "splitting"}
_DOUBLET_QUANTITIES = ("splitting", "area_ratio", "fwhm_ratio")


@dataclass
class Component:
    """One peak of the fit model.

    Parameters
    ----------
    name : str
        Name of the component, unique in the model (runs of white space count as one space).
    center : float
        Starting binding energy of the peak centre, eV.
    shape : str
        Lineshape, a key of :data:`xpipe.xps.lineshapes.LINESHAPES` (default ``"gl"``).
    fwhm : float
        Starting width parameter of the lineshape, eV (the true FWHM is reported after the fit).
    area : float or None
        Starting area, intensity x eV; ``None`` estimates it from the data (non-negative least
        squares of the data above the background on the starting profiles).
    shape_params : dict of str to float
        Values of the lineshape's own parameters (``m`` of GL, ``alpha`` of DS, ...); those not
        given take the lineshape default. They are held unless ``vary`` frees them.
    center_bounds : (float, float) or None
        Absolute bounds of the centre, eV; ``None``: ``center`` +- 1.5 eV.
    fwhm_bounds : (float, float)
        Bounds of the width parameter, eV.
    vary : dict of str to bool
        Which parameters are fitted, e.g. ``{"center": False, "m": True}``; centre, width and
        area vary by default, lineshape parameters are held.
    label_valence : float or None
        Valence of the chemical state, used for the mean valence.
    sensitivity : float
        Relative sensitivity factor dividing the area in the fractions (dimensionless, > 0).

    Examples
    --------
    >>> c = Component("C-C", 284.8, fwhm=1.1, shape_params={"m": 30})
    >>> c.shape, c.fwhm_bounds
    ('gl', (0.3, 4.0))
    """

    name: str
    center: float  # eV (binding)
    shape: str = "gl"
    fwhm: float = 1.2  # width parameter of the lineshape, eV
    area: float | None = None
    shape_params: dict[str, float] = field(default_factory=dict)
    center_bounds: tuple[float, float] | None = None  # absolute eV; default center +- 1.5 eV
    fwhm_bounds: tuple[float, float] = (0.3, 4.0)
    vary: dict[str, bool] = field(default_factory=dict)  # e.g. {"center": False, "m": True}
    label_valence: float | None = None
    sensitivity: float = 1.0  # relative sensitivity factor


@dataclass
class Doublet:
    """A spin-orbit pair of lines, described by its major line (j = l + 1/2) and total area.

    The minor line (j = l - 1/2) sits at ``center + splitting``, has width
    ``fwhm * fwhm_ratio`` and area ``area * r / (1 + r)`` with ``r = area_ratio``.

    Parameters
    ----------
    name : str
        Name of the pair; its lines are ``"<name><j>"`` when the name ends in the level
        (``"V5+ 2p"`` -> ``"V5+ 2p3/2"``), otherwise ``"<name> <j>"``.
    orbital : str
        ``"p"``, ``"d"`` or ``"f"``.
    center : float
        Starting binding energy of the major line, eV.
    splitting : float or None
        Minor minus major binding energy, eV; ``None`` takes the typical value of
        :data:`SPIN_ORBIT_SPLITTING` for the element and level read from the name
        (``"V5+ 2p"`` -> ``"V 2p"``).
    shape : str
        Lineshape of both lines (default ``"gl"``).
    fwhm : float
        Starting width parameter of the major line, eV.
    area : float or None
        Starting TOTAL area of both lines, intensity x eV; ``None``: estimated from the data.
    shape_params : dict of str to float
        Lineshape parameters of both lines.
    area_ratio : float or None
        Minor / major area (dimensionless); ``None``: from the degeneracy, :data:`DEGENERACY_RATIO`.
    fwhm_ratio : float
        Width of the minor line over the major one (Coster-Kronig broadening, dimensionless).
    vary_splitting : bool
        Fit the splitting within +- max(0.3 eV, 10 %).
    vary_area_ratio : bool
        Fit the area ratio within 0.5-1.5 x its starting value.
    center_bounds, fwhm_bounds, vary, label_valence
        As for :class:`Component`; ``vary`` may also name ``splitting``, ``area_ratio`` and
        ``fwhm_ratio``.
    sensitivity : float
        Relative sensitivity factor of the total area of the pair.

    Examples
    --------
    >>> d = Doublet("V5+ 2p", "p", 517.2, splitting=7.4)
    >>> d.line_names()
    ('V5+ 2p3/2', 'V5+ 2p1/2')
    """

    name: str
    orbital: str  # "p", "d" or "f"
    center: float  # eV, major line (j = l + 1/2)
    splitting: float | None = None  # eV, minor line - major line (binding energy)
    shape: str = "gl"
    fwhm: float = 1.2
    area: float | None = None  # total of both lines
    shape_params: dict[str, float] = field(default_factory=dict)
    area_ratio: float | None = None  # minor / major; None: degeneracy
    fwhm_ratio: float = 1.0  # width of the minor line / major (Coster-Kronig broadening)
    vary_splitting: bool = False
    vary_area_ratio: bool = False
    center_bounds: tuple[float, float] | None = None
    fwhm_bounds: tuple[float, float] = (0.3, 4.0)
    vary: dict[str, bool] = field(default_factory=dict)
    label_valence: float | None = None
    sensitivity: float = 1.0  # for the total area of the pair

    def line_names(self) -> tuple[str, str]:
        """Names of the (major, minor) lines."""
        j1, j2 = J_LABELS[self.orbital]
        if re.search(r"\d[spdf]$", self.name):
            return self.name + j1, self.name + j2
        return f"{self.name} {j1}", f"{self.name} {j2}"


ModelEntry = Component | Doublet


def _norm_name(name: str) -> str:
    return " ".join(str(name).split())


def _doublet_splitting(d: Doublet) -> float:
    if d.splitting is not None:
        return float(d.splitting)
    m_el = re.match(r"\s*([A-Z][a-z]?)", d.name)
    m_lv = re.search(r"(\d[spdf])", d.name)
    key = f"{m_el.group(1)} {m_lv.group(1)}" if m_el and m_lv else None
    if key in SPIN_ORBIT_SPLITTING:
        return SPIN_ORBIT_SPLITTING[key]
    raise ValueError(f"doublet {d.name!r}: no splitting given and none tabulated for {key or 'its name'}; "
                     f"set splitting= (eV); tabulated: {', '.join(SPIN_ORBIT_SPLITTING)}")


def _shape_param_specs(entry: ModelEntry) -> dict[str, tuple[float, float, float]]:
    if entry.shape not in LINESHAPES:
        raise ValueError(f"{entry.name!r}: unknown lineshape {entry.shape!r}; expected one of {', '.join(LINESHAPES)}")
    spec = LINESHAPES[entry.shape].params
    unknown = set(entry.shape_params) - set(spec)
    if unknown:
        raise ValueError(f"{entry.name!r}: lineshape {entry.shape!r} has no parameter(s) {', '.join(sorted(unknown))}; "
                         f"its parameters: {', '.join(spec) or 'none'}")
    out = {}
    for k, (default, lo, hi) in spec.items():
        val = float(entry.shape_params.get(k, default))
        if not lo <= val <= hi:
            raise ValueError(f"{entry.name!r}: {entry.shape} parameter {k}={val} outside its range [{lo}, {hi}]")
        out[k] = (val, lo, hi)
    return out


def _model_settings(model) -> list[dict]:
    """The model as plain data, with the defaults a doublet took filled in (for the results)."""
    out = []
    for e in model:
        d = asdict(e)
        d["type"] = type(e).__name__
        if isinstance(e, Doublet):
            d["splitting"] = _doublet_splitting(e)
            d["area_ratio"] = e.area_ratio if e.area_ratio is not None else DEGENERACY_RATIO.get(e.orbital)
            d["lines"] = list(e.line_names())
            d["area_means"] = "total of both lines"
        d["shape_params"] = {k: v[0] for k, v in _shape_param_specs(e).items()}
        out.append(d)
    return out
