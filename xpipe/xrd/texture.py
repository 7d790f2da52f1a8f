"""March-Dollase preferred orientation of a powder (W. A. Dollase, J. Appl. Cryst. 19 (1986) 267).

Platelets or needles that lie in the sample along one direction change the intensities of the
reflections by ``P_h = mean over the equivalents of h of (r^2 cos^2 a + sin^2 a / r)^(-3/2)``,
``a`` the angle between the reciprocal-lattice vector of the equivalent and the texture
direction ``H`` (given as a reciprocal-lattice vector ``hkl``); ``r = 1`` is no texture. Used
by the whole-pattern model (:mod:`xpipe.xrd.wholepattern`).
"""

from __future__ import annotations

import math

import numpy as np

from .cell import _gstar_matrix, gstar6
from .phases import PhaseModel
from .reflections import _equivalent_hkl, _space_group

__all__ = ["march_dollase"]


def march_dollase(cos2: np.ndarray, counts: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """March-Dollase factor per reflection and its derivative with respect to ``r``.

    Parameters
    ----------
    cos2 : ndarray
        cos^2 of the angle to the texture direction for every equivalent of every reflection,
        flattened.
    counts : ndarray of int
        Equivalents per reflection, in order.
    r : float
        March-Dollase parameter (dimensionless; 1 is no texture, below 1 platelets along the
        direction).

    Returns
    -------
    p, dp_dr : ndarray
        ``(n_reflections,)`` factor (mean over the equivalents) and its derivative by ``r``.

    Examples
    --------
    A reflection along the texture direction gains, one perpendicular to it (two equivalents)
    loses:

    >>> import numpy as np
    >>> from xpipe.xrd.texture import march_dollase
    >>> p, dp = march_dollase(np.array([1.0, 0.0, 0.0]), np.array([1, 2]), 0.8)
    >>> p.round(4).tolist(), march_dollase(np.array([1.0, 0.0, 0.0]), np.array([1, 2]), 1.0)[0].tolist()
    ([1.9531, 0.7155], [1.0, 1.0])
    """
    sin2 = 1.0 - cos2
    base = r * r * cos2 + sin2 / r
    term = base ** -1.5
    dterm = -1.5 * base ** -2.5 * (2.0 * r * cos2 - sin2 / (r * r))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    p = np.add.reduceat(term, starts) / counts
    dp = np.add.reduceat(dterm, starts) / counts
    return p, dp


def _texture_cos2(phase: PhaseModel, hkl: np.ndarray, direction_hkl) -> tuple[np.ndarray, np.ndarray]:
    ops = _space_group(phase.space_group).operations()
    gs = _gstar_matrix(gstar6(phase.cell)[None, :])[0]
    hdir = np.asarray(direction_hkl, dtype=float)
    nh = math.sqrt(hdir @ gs @ hdir)
    cos2, counts = [], []
    for h in hkl:
        eq = np.array(sorted(_equivalent_hkl(ops, tuple(int(v) for v in h))), dtype=float)
        dots = eq @ gs @ hdir
        norms = np.sqrt(np.einsum("ij,jk,ik->i", eq, gs, eq))
        cos2.append((dots / (norms * nh)) ** 2)
        counts.append(len(eq))
    return np.concatenate(cos2) if cos2 else np.zeros(0), np.asarray(counts, dtype=int)
