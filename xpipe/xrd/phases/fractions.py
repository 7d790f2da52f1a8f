"""Phase fractions from integrated intensities (Hill & Howard, see :mod:`.`)."""

from __future__ import annotations

import numpy as np


def area_on_two_theta(area, position, unit: str, wavelength_a: float | None):
    """Integrated intensities measured on a Q axis converted to a 2theta (degree) axis.

    ``dQ/d(2theta) = (4 pi / lambda) cos(theta) / 2`` per radian; areas on 2theta pass through.

    Parameters
    ----------
    area : array-like
        Integrated intensities (intensity x radial unit).
    position : array-like
        Peak positions in ``unit``.
    unit : str
        ``2th_deg``, ``q_A^-1`` or ``q_nm^-1``.
    wavelength_a : float or None
        Wavelength in angstrom; without one the areas pass through.

    Returns
    -------
    np.ndarray
        Areas in intensity x degree of 2theta.

    Examples
    --------
    >>> np.round(area_on_two_theta([1.0], [2.0], "q_A^-1", 0.7749), 4).tolist()
    [7.1206]
    """
    area = np.asarray(area, dtype=float)
    if unit == "2th_deg":
        return area
    q = np.asarray(position, dtype=float) / (10.0 if unit == "q_nm^-1" else 1.0)
    if not wavelength_a:
        return area  # without a wavelength only relative intensities of close peaks make sense
    theta = np.arcsin(np.clip(q * wavelength_a / (4.0 * np.pi), 0.0, 1.0))
    dq_dtth_deg = (4.0 * np.pi / wavelength_a) * np.cos(theta) / 2.0 * np.pi / 180.0
    scale = 10.0 if unit == "q_nm^-1" else 1.0
    return area / (dq_dtth_deg * scale)


def weight_fractions(observed: np.ndarray, calculated: np.ndarray, zmv: np.ndarray,
                     observed_sigma: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hill-Howard weight fractions from per-phase sums of observed and calculated intensity.

    Parameters
    ----------
    observed : ``[frame, phase]`` summed integrated intensities of a phase's observed groups
        (NaN where the phase is absent).
    calculated : ``[frame, phase]`` the calculated ``m |F|^2 L`` summed over the same groups.
        NaN (no structure): the scale is the observed intensity alone, i.e. fractions are
        shares of the diffracted intensity.
    zmv : (n_phases,) ``Z M V`` of each phase (g/mol x A^3); NaN: 1.
    observed_sigma : uncertainties of ``observed``.

    Returns
    -------
    (fraction, fraction_sigma)
        ``[frame, phase]`` weight fractions (0..1) and their uncertainties, NaN where a
        phase is absent.

    Examples
    --------
    >>> frac, sigma = weight_fractions(np.array([[100.0, 50.0]]), np.array([[10.0, 10.0]]),
    ...                                np.array([1.0, 2.0]), np.array([[1.0, 1.0]]))
    >>> np.round(frac, 3).tolist(), np.round(sigma, 4).tolist()
    ([[0.5, 0.5]], [[0.0056, 0.0056]])
    """
    obs = np.asarray(observed, dtype=float)
    calc = np.asarray(calculated, dtype=float)
    zmv = np.where(np.isfinite(zmv), np.asarray(zmv, dtype=float), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(np.isfinite(calc) & (calc > 0), obs / calc, obs)
    mass = scale * zmv[None, :]
    present = np.isfinite(mass)
    total = np.where(present, mass, 0.0).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(present & (total > 0), mass / total, np.nan)
    if observed_sigma is None:
        return frac, np.full_like(frac, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.asarray(observed_sigma, dtype=float) / obs
        # d w_p = w_p (1 - w_p) dS_p/S_p for the own phase, - w_p w_q dS_q/S_q for the others
        var = (frac * (1 - frac) * rel) ** 2
        other = (np.where(present, (frac * rel) ** 2, 0.0).sum(axis=1, keepdims=True)
                 - np.where(present, (frac * rel) ** 2, 0.0))
        var = var + frac**2 * other
    return frac, np.sqrt(var)
