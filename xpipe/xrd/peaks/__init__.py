"""Batched peak fitting across the frames of an operando pattern stack.

The science core of XRD peak tracking: arrays in, arrays out, no file names. The same set of
peaks is fitted in every frame of a stack ``intensity[frame, radial]``. Each peak lives in a
*window* ``[lo, hi]`` of the radial axis (one window may hold several overlapping peaks); each
window has its own linear background ``b0 + b1 (x - xc)`` with ``xc`` the window centre.

The peak shape is an area-normalised pseudo-Voigt with position ``x0``, full width at half
maximum ``w``, integrated area ``A`` and Lorentzian fraction ``eta``::

    f(x) = A [eta L(x; x0, w) + (1 - eta) G(x; x0, w)]
    G = sqrt(4 ln2 / pi) / w * exp(-4 ln2 (x - x0)^2 / w^2)
    L = 2 / (pi w) / (1 + 4 (x - x0)^2 / w^2)

All (frame, window) problems of a block of frames are solved together by one vectorised
Levenberg-Marquardt loop with analytic Jacobians (``J^T W J`` formed with ``einsum``, the small
systems solved with ``np.linalg.solve``), per-problem damping and acceptance, and bounds by
projection (``w > 0``, ``A >= 0``, ``x0`` inside its window, ``0 <= eta <= 1``). With warm start,
blocks are processed in time order and each block starts from the solution of the last frame of
the previous block, so drifting peaks are followed.

Units: every position, width and window is in the unit of the radial axis ``x`` (degrees 2theta,
1/angstrom, ...); areas are in intensity x radial unit.

Modules: :mod:`.baseline` (:func:`background`), :mod:`.find` (:func:`find_peaks_1d`,
:func:`peak_windows`), :mod:`.model` (the peak model and the batched solver),
:mod:`.layout` (windows and starting values) and :mod:`.fit` (:func:`fit_peaks`).

Example
-------
>>> import numpy as np
>>> from xpipe.xrd.peaks import fit_peaks, pseudo_voigt
>>> x = np.linspace(10, 12, 400)
>>> stack = np.stack([100 * pseudo_voigt(x, 11 + 0.01 * k, 0.05, 1.0, 0.3) + 5 for k in range(5)])
>>> fits = fit_peaks(x, stack, windows=[(10.7, 11.3)], initial=[(11.0, 0.05)])
>>> np.round(fits.position[:, 0], 3).tolist(), bool(fits.success.all())
([11.0, 11.01, 11.02, 11.03, 11.04], True)
"""


from .baseline import BackgroundEstimate, background
from .find import PeakCandidates, find_peaks_1d, peak_windows
from .fit import PeakFits, fit_peaks
from .model import _model_and_jacobian as _model_and_jacobian
from .model import pseudo_voigt

__all__ = [
    "BackgroundEstimate",
    "PeakCandidates",
    "PeakFits",
    "background",
    "find_peaks_1d",
    "fit_peaks",
    "peak_windows",
    "pseudo_voigt",
]
