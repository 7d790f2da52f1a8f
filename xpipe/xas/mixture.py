"""Physical mixtures of processed XAS spectra: the check of a calibration on a mixed-valence
compound when no spectrum of it was measured (see docs/xas_valence.md)."""

from __future__ import annotations

import numpy as np

from .series import SpectrumResult, XanesSettings
from .xanes import XasEdgeError, edge_position, pre_edge_peak


def mixture(spectra: list[SpectrumResult], weights, s: XanesSettings, label: str) -> SpectrumResult:
    """A physical mixture of processed spectra: their normalised mu weighted per absorber.

    Normalised mu is per absorbing atom, so a compound whose absorbers are a fraction ``w_i`` in
    the state of spectrum ``i`` has, to first order, the normalised spectrum sum(w_i norm_i)
    (magnetite, Fe2+Fe3+2O4: 1/3 FeO and 2/3 Fe2O3). Site geometry is not mixed in: a real
    mixed-valence oxide differs where its sites differ from the end members' (magnetite's
    tetrahedral Fe3+), mostly in the pre-edge peak. The mixture is measured like a processed
    spectrum: its edge by the series' method, its pre-edge peak, on the first spectrum's grid.

    Parameters
    ----------
    spectra : list of SpectrumResult
        The end members.
    weights : array_like
        Fraction of the absorbers in each (normalised to sum to one).
    s : XanesSettings
        The series' settings (windows, edge method).
    label : str
        The mixture's name.

    Returns
    -------
    SpectrumResult
        With ``flags`` saying what it is made of.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xas.scan import XasScan
    >>> from xpipe.xas.xanes import NormSettings
    >>> e = np.linspace(5300.0, 5800.0, 1001)
    >>> from xpipe.xas.series import XanesSettings, process_spectrum
    >>> s = XanesSettings(element="V", edge="K", edge_ev=5465.0, norm=NormSettings(), reference="none")
    >>> a, b = (process_spectrum([XasScan(e, 0.5 + np.arctan((e - e0) / 2.0) / np.pi, source=n, label=n)], s)
    ...         for e0, n in ((5476.0, "V3+"), (5480.0, "V5+")))
    >>> m = mixture([a, b], [1, 1], s, "V4+")
    >>> round(m.edge_energy_ev, 2), m.flags
    (5478.05, ['mixture: 0.5 V3+ + 0.5 V5+'])
    """
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    first = spectra[0]
    e = first.energy_ev
    norm = sum(wi * np.interp(e, r.energy_ev, r.norm) for wi, r in zip(w, spectra))
    pre_w, main_w = s.windows_abs()
    edge = edge_position(e, norm, method=s.edge_method, window_ev=main_w, fraction=s.edge_fraction,
                         smooth_ev=s.smooth_ev, noise=first.noise, fixed_ev=s.e0_ev)
    recipe = " + ".join(f"{wi:.3g} {r.label}" for wi, r in zip(w, spectra))
    flags = [f"mixture: {recipe}"]
    try:
        pe = pre_edge_peak(e, norm, window_ev=pre_w, noise=first.noise)
        pre = (pe.centroid_ev, pe.centroid_err_ev, pe.area, pe.area_err, pe.height)
    except XasEdgeError as exc:  # a metal in the mixture leaves no room below its edge
        flags.append(f"pre_edge: not measured ({exc})")
        pre = (np.nan,) * 5
    return SpectrumResult(
        label=label, sources=[src for r in spectra for src in r.sources], energy_ev=e, mu=norm, norm=norm,
        flat=norm, calibrations=[], merged_used=[], glitches=[], e0_ev=float(np.dot(w, [r.e0_ev for r in spectra])),
        edge_step=1.0, noise=first.noise, edge_energy_ev=edge.energy_ev, edge_energy_err_ev=edge.energy_err_ev,
        pre_edge_centroid_ev=pre[0], pre_edge_centroid_err_ev=pre[1], pre_edge_area=pre[2],
        pre_edge_area_err=pre[3], pre_edge_height=pre[4], time_s=None, flags=flags)
