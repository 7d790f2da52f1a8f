"""EXAFS with Larch as the engine: FEFF paths, background removal, Fourier transform, shell fits.

The science is Larch's (``autobk``, ``xftf``, ``feffit``) and FEFF's (feff6l / feff8l shipped with
xraylarch); these modules wrap them in typed results with units in the field names and every
fitted value beside its uncertainty. Everything is importable from here:

* :func:`run_feff` (:mod:`xpipe.xas.feff`) turns a ``feff.inp`` or a CIF into scattering paths,
  cached on disk by the hash of the FEFF input text and FEFF version, so a repeated call does
  not rerun FEFF; :func:`select_paths` picks paths by half path length, FEFF index or label.
* :func:`background` (:mod:`xpipe.xas.chi`) removes the post-edge background (Larch ``autobk``)
  and returns chi(k); :func:`fourier` transforms chi(k) to chi(R) (Larch ``xftf``).
* :func:`fit_shells` (:mod:`xpipe.xas.shellfit`) fits paths to one spectrum or a series (Larch
  ``feffit``), with parameters shared across the series or refined per spectrum.

Examples
--------
>>> import numpy as np
>>> from xpipe.xas.exafs import fourier
>>> k = np.arange(0.0, 14.0, 0.05)
>>> ft = fourier(k, 0.1 * np.sin(2 * 2.0 * k))
>>> round(float(ft.r_a[np.argmax(ft.chir_mag)]), 1)
2.0
"""

from __future__ import annotations

from .chi import Chi, Ft, background, find_e0, fourier
from .feff import FEFF_VERSIONS, FeffError, FeffPath, FeffPaths, run_feff, select_paths
from .feff import _structure2feffinp as _structure2feffinp
from .shellfit import (
    PARAMETER_KINDS,
    FitCurves,
    FitParameter,
    ShellFit,
    ShellResult,
    fit_shells,
)

__all__ = ["FEFF_VERSIONS", "PARAMETER_KINDS", "Chi", "FeffError", "FeffPath", "FeffPaths",
           "FitCurves", "FitParameter", "Ft", "ShellFit", "ShellResult", "background", "find_e0",
           "fit_shells", "fourier", "run_feff", "select_paths"]
