"""Pawley whole-window fits of one or more unit cells, frame after frame.

Where the peaks of a pattern overlap (two phases of a cathode during a two-phase reaction,
close reflections of a low-symmetry cell) single-peak fitting cannot give clean positions.
A Pawley fit (G. S. Pawley, J. Appl. Cryst. 14 (1981) 357) instead models every point of
the chosen windows of the radial axis ``x`` at once::

    y(x) = sum_phases sum_groups I_g PV(x; x_g, FWHM_p(x_g), eta_p) + background(x)

* Reflection positions ``x_g`` come from the cell of each phase, parameterised by the free
  components of the reciprocal metric tensor G* of its lattice system (the linear
  parameters of :mod:`xpipe.xrd.cell`, ``1/d^2 = row(hkl) . p``), so the symmetry
  constraints hold automatically, and the wavelength: ``2theta = 2 asin(lambda / 2d)`` in
  degrees (``axis="2th_deg"``, plus an optional zero shift, observed = true + shift) or
  ``Q = 2 pi / d`` in 1/A (``axis="q_A^-1"``).
* One free non-negative integrated intensity ``I_g`` per reflection group: the
  reflections of a phase whose d-spacings are equal for every cell of its lattice system
  (identical rows of the ``1/d^2`` design matrix, e.g. (h k l) and (k h l) in hexagonal
  axes, which are not always symmetry-equivalent) cannot be told apart and form one group.
  A group is fitted in a frame when its position at the frame's starting cell lies inside
  a window or within ``edge_margin_fwhm`` FWHM of it.
* One profile per phase: area-normalised pseudo-Voigt (as
  :func:`xpipe.xrd.peaks.pseudo_voigt`) with Lorentzian fraction ``0 <= eta <= 1`` and a
  Caglioti width, ``FWHM^2 = U tan^2(theta) + V tan(theta) + W`` (deg^2, theta = half the
  true Bragg angle) on the 2theta axis and ``FWHM^2 = U Q^2 + W`` (1/A^2; U dimensionless,
  strain-like, W size-like; V must be 0) on the Q axis. ``FWHM^2`` is kept above
  ``step^2`` (step = median point spacing) by a smooth floor,
  ``step^2 (1 + softplus((FWHM^2 - step^2) / step^2))``, which leaves widths of a few
  points and more unchanged.
* A polynomial background per window, ``sum_k b_k (x - x_c)^k`` (default linear), with
  ``x_c`` the window centre.

Method: intensities and background enter the model linearly, so the fit is separable
(variable projection, G. H. Golub & V. Pereyra, SIAM J. Numer. Anal. 10 (1973) 413): for
given non-linear parameters (cells, zero shift, profiles) the background is projected out
exactly and the intensities are solved by non-negative least squares (an active-set
Lawson-Hanson solver on the normal equations, warm-started from the previous active set);
:func:`scipy.optimize.least_squares` (trust-region reflective) optimises the few non-linear
parameters with the analytic Jacobian in Kaufman's form (L. Kaufman, BIT 15 (1975) 49).
The optimiser sees the free Caglioti parameters of a phase as FWHM^2 at reference points
over its reflections, bounded to ``[FWHM_0 / f, f FWHM_0]`` (``f = max_fwhm_factor``,
``FWHM_0`` from the starting profile, never below the point spacing), the cell
parameters bounded to three times ``max_relative_change`` around the frame's start and
eta to [0, 1]: a phase without intensity cannot run away to needle-sharp or
background-like peaks. At the solution the Jacobian of all parameters (intensities and
background included) gives the covariance, so the cell uncertainties contain their
correlation with the intensities; they are propagated to a, b, c, angles and volume with
the analytic Jacobian of :mod:`xpipe.xrd.cell`.

Checks per frame and phase: the likelihood-ratio significance of each phase (chi^2
without it minus chi^2 with it, against a chi-square with as many degrees of freedom as
the phase has positive intensities and free parameters, expressed as a Gaussian z) must
exceed ``min_significance``; otherwise the phase gets status ``no_intensity`` and, when
other phases remain, it is left out and the frame fitted again so that its free cell and
profile cannot spoil the others. The refined reciprocal metric must be positive definite
and a, b, c and the angles must stay within ``max_relative_change`` of the frame's
start. Frames are fitted in order, each started from the last successful solution (per
phase: cell and profile; the zero shift when any phase succeeded). Nothing is raised for
a bad frame: its phases get NaN values, a status and a reason.

Modules: :mod:`.model` (phases, reflection groups, positions and widths), :mod:`.jacobian`
(the separable problem of a frame and its Jacobian), :mod:`.inputs` (checks and setup),
:mod:`.fit` (:func:`pawley_fit`, frame after frame) and :mod:`.results`
(:class:`PawleyFits`).

Example
-------
>>> import numpy as np
>>> from xpipe.xrd.pawley import PawleyPhase, pawley_fit
>>> from xpipe.xrd.peaks import pseudo_voigt
>>> from xpipe.xrd.reflections import Cell
>>> hkl = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [2, 0, 0], [2, 1, 0]])
>>> d = 4.1569 / np.sqrt((hkl ** 2).sum(axis=1))
>>> x = np.arange(10.0, 25.0, 0.01)
>>> y = 10.0 + sum(100 * pseudo_voigt(x, 2 * np.degrees(np.arcsin(0.7749 / (2 * di))),
...                                   0.05, 1.0, 0.4) for di in d)
>>> phase = PawleyPhase("perovskite", "cubic", hkl, Cell.cubic(4.15),
...                     fwhm_u=0.0, fwhm_v=0.0, fwhm_w=0.0025)
>>> fit = pawley_fit(x, y, [(10.0, 25.0)], [phase], wavelength_a=0.7749)
>>> print(f"{fit.cells['perovskite'].a_a[0]:.4f} {fit.status[0, 0]}")
4.1569 ok
"""

from ...lineshapes import pseudo_voigt as pseudo_voigt
from .fit import pawley_fit
from .jacobian import _FrameProblem as _FrameProblem
from .model import (
    AXES,
    STATUS_ABSENT,
    STATUS_FAILED,
    STATUS_IMPLAUSIBLE,
    STATUS_NO_CONVERGENCE,
    STATUS_NO_DATA,
    STATUS_NO_INTENSITY,
    STATUS_NO_REFLECTIONS,
    STATUS_NOT_METRIC,
    STATUS_OK,
    PawleyPhase,
)
from .model import _Geometry as _Geometry
from .model import _PhaseSetup as _PhaseSetup
from .results import PawleyFits

__all__ = [
    "AXES",
    "PawleyFits",
    "PawleyPhase",
    "STATUS_ABSENT",
    "STATUS_FAILED",
    "STATUS_IMPLAUSIBLE",
    "STATUS_NO_CONVERGENCE",
    "STATUS_NO_DATA",
    "STATUS_NO_INTENSITY",
    "STATUS_NO_REFLECTIONS",
    "STATUS_NOT_METRIC",
    "STATUS_OK",
    "pawley_fit",
]
