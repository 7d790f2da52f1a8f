"""One pseudo-Voigt for diffraction, photoemission and the generators."""

from __future__ import annotations

import numpy as np
import pytest

from xpipe import lineshapes
from xpipe.synth import powder
from xpipe.xps import lineshapes as xps_shapes
from xpipe.xrd import peaks


def test_every_technique_uses_the_shared_profiles():
    assert powder.pseudo_voigt is lineshapes.pseudo_voigt
    assert xps_shapes.gaussian is lineshapes.gaussian and xps_shapes.lorentzian is lineshapes.lorentzian
    x = np.linspace(-3, 3, 61)
    assert np.allclose(xps_shapes.pseudo_voigt(x, 0.2, 0.7, 0.3), lineshapes.pseudo_voigt(x, 0.2, 0.7, 0.3))
    assert np.allclose(peaks.pseudo_voigt(x, 0.2, 0.7, 5.0, 0.3), 5.0 * lineshapes.pseudo_voigt(x, 0.2, 0.7, 0.3))


@pytest.mark.parametrize("eta", [0.0, 0.35, 1.0])
def test_unit_area_and_true_fwhm(eta):
    x = np.linspace(-400, 400, 800001)
    y = lineshapes.pseudo_voigt(x, 0.0, 0.8, eta)
    # the Lorentzian part loses 2 / (pi * 1000) beyond 500 widths
    assert np.trapezoid(y, x) == pytest.approx(1.0 - eta * 2.0 / (np.pi * 1000.0), abs=2e-5)
    assert lineshapes.pseudo_voigt(0.4, 0.0, 0.8, eta) == pytest.approx(0.5 * lineshapes.pseudo_voigt(0.0, 0.0, 0.8, eta))
    # broadcasting: one row per peak
    rows = lineshapes.pseudo_voigt(x[None, ::100000], np.array([[0.0], [1.0]]), 0.8, eta)
    assert rows.shape == (2, 9)
