"""Edge and pre-edge windows derived from the absorbing element and its edge.

The windows are relative to the tabulated edge energy (eV) and scale with the core-hole width,
so the same defaults hold for the K edges of Ti to Zn (and beyond): the main-edge window starts
below the tabulated edge, where a metal foil's edge lies, and the main-edge search tells a
pre-edge peak from the edge by the spectrum itself (:func:`xpipe.xas.edge.main_edge_e0`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .edge import tabulated_edge_ev

#: How far a measured edge may sit from the tabulated one because of the monochromator's
#: calibration before any foil correction (eV): beamlines quote their energy scale to a few eV,
#: and the foils measured here sit 0.5 to 1.7 eV from xraydb's values.
MONO_TOLERANCE_EV = 3.0
#: Upper end of the main-edge window above the tabulated edge (eV). The largest K-edge shifts of
#: 3d-metal oxides are about +20 eV at half height (V2O5 +16.4 eV in the V standards of the
#: shared data, Cr(VI) and Mn(VII) similar); the white line lies within 10 to 15 eV above that.
MAIN_EDGE_TOP_EV = 45.0
#: Pre-edge peaks of 3d-metal K edges lie within about 8 eV above the tabulated edge (the 1s-3d
#: and 1s-(3d-4p) transitions; Ti(IV) up to about +8 eV, V(V) +6 eV, Fe(III) +1.5 eV; de Groot,
#: Vanko & Glatzel, J. Phys.: Condens. Matter 21 (2009) 104207).
PRE_EDGE_TOP_EV = 8.0


def core_width_ev(element: str, edge: str = "K") -> float:
    """Core-hole width (FWHM, eV) of an element's edge.

    The values are xraydb's: Krause & Oliver, J. Phys. Chem. Ref. Data 8 (1979) 329, and
    Keski-Rahkonen & Krause, At. Data Nucl. Data Tables 14 (1974) 139.

    Parameters
    ----------
    element : str
        Element symbol ('V', 'Fe').
    edge : str
        Edge name ('K', 'L3', ...).

    Returns
    -------
    float
        The width (eV). Raises ValueError for an unknown element or edge.

    Examples
    --------
    >>> core_width_ev("V"), core_width_ev("Fe", "K")
    (1.01, 1.25)
    """
    import xraydb  # slow to import (its database): only when a width is looked up

    try:
        width = xraydb.core_width(element, edge)
    except Exception as exc:  # xraydb raises several kinds for unknown names
        raise ValueError(f"unknown element/edge {element!r} {edge!r}: {exc}") from exc
    if width is None:
        raise ValueError(f"no core-hole width for {element!r} {edge!r} in xraydb")
    return float(width)


@dataclass(frozen=True)
class EdgeWindows:
    """The main-edge and pre-edge windows of one element and edge, relative to its tabulated edge.

    Parameters
    ----------
    element, edge : str
        Absorber and edge ('Fe', 'K').
    edge_ev : float
        Tabulated edge energy (eV), xraydb's.
    core_width_ev : float
        Core-hole width (FWHM, eV), xraydb's.
    main_edge_window_ev : (float, float)
        Where the main edge (E0, the half-height crossing) is searched (eV, relative).
    pre_edge_window_ev : (float, float)
        Where the pre-edge peaks may lie (eV, relative); the fit stops below the rising edge.

    Examples
    --------
    >>> w = edge_windows("Fe")
    >>> w.edge_ev, w.main_edge_window_ev, w.pre_edge_window_ev
    (7112.0, (-8.0, 45.0), (-8.0, 10.5))
    """

    element: str
    edge: str
    edge_ev: float
    core_width_ev: float
    main_edge_window_ev: tuple[float, float]
    pre_edge_window_ev: tuple[float, float]

    def as_dict(self) -> dict:
        """The windows as plain data (for the results file)."""
        return asdict(self)


def edge_windows(element: str, edge: str = "K") -> EdgeWindows:
    """Default main-edge and pre-edge windows of an element's edge.

    The main-edge window starts ``MONO_TOLERANCE_EV + 4 * core width`` below the tabulated edge
    (a foil's edge, where the tabulated value is measured, with its whole derivative peak even
    when the energy scale is off by the tolerance) and ends :data:`MAIN_EDGE_TOP_EV` above it.
    The pre-edge window (where the peaks may lie; the fit adds a stretch of baseline below it)
    starts there too and ends :data:`PRE_EDGE_TOP_EV` plus two core widths above the edge.

    Parameters
    ----------
    element : str
        Element symbol.
    edge : str
        Edge name.

    Returns
    -------
    EdgeWindows
        Raises ValueError for an unknown element or edge.

    Examples
    --------
    >>> w = edge_windows("V")
    >>> w.main_edge_window_ev, w.pre_edge_window_ev
    ((-7.04, 45.0), (-7.04, 10.02))
    >>> edge_windows("Cu").main_edge_window_ev
    (-9.2, 45.0)
    """
    edge_ev = tabulated_edge_ev(element, edge)
    width = core_width_ev(element, edge)
    main_lo = round(-(MONO_TOLERANCE_EV + 4.0 * width), 3)
    pre = (main_lo, round(PRE_EDGE_TOP_EV + 2.0 * width, 3))
    return EdgeWindows(element=element, edge=edge, edge_ev=edge_ev, core_width_ev=width,
                       main_edge_window_ev=(main_lo, MAIN_EDGE_TOP_EV), pre_edge_window_ev=pre)
