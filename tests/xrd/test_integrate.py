"""The integration core against pyFAI itself: golden LaB6 pattern, masks, dark, flat,
polarisation, units and engine reuse."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, make_ai, needs_shared, ring_frame

from xpipe.xrd.geometry import d_spacing_a
from xpipe.xrd.integrate import FrameError, FrameIntegrator, IntegrationSettings

METHOD = ("bbox", "csr", "cython")


@needs_shared
def test_golden_lab6_reproduces_pyfai_pattern():
    """Re-integrating the LaB6 Pilatus 300K-W frame with its .poni gives pyFAI's own .xy."""
    import fabio
    import pyFAI

    folder = SHARED / "xrd" / "lab6_pilatus300kw"
    ref = np.loadtxt(folder / "lab6_0008.xy")
    ai = pyFAI.load(str(folder / "lab6_0008.poni"))  # the last of the three calibrations
    fi = FrameIntegrator(ai, IntegrationSettings(npt=1024, unit="2th_deg", polarization_factor=None, error_model="none"))
    p = fi.integrate(fabio.open(str(folder / "lab6_0008.tif")).data)
    assert p.radial.shape == (1024,)
    assert np.max(np.abs(p.radial - ref[:, 0])) < 1e-4
    ok = ref[:, 1] > 0
    assert abs(np.median(p.intensity[ok] / ref[ok, 1]) - 1) < 1e-3
    assert fi.engine_builds == 1


@needs_shared
def test_lab6_strongest_peak_is_100_reflection():
    """LaB6 (NIST SRM 660c, a = 4.15689 A): the (100) line d = a lies at the strongest peak."""
    import fabio
    import pyFAI

    folder = SHARED / "xrd" / "lab6_pilatus300kw"
    ai = pyFAI.load(str(folder / "lab6_0008.poni"))
    fi = FrameIntegrator(ai, IntegrationSettings(npt=1024))
    p = fi.integrate(fabio.open(str(folder / "lab6_0008.tif")).data)
    d = d_spacing_a(p.radial, "2th_deg", ai.wavelength * 1e10)
    d_peak = d[np.nanargmax(p.intensity)]
    assert d_peak == pytest.approx(4.15689, abs=0.01)


@pytest.fixture(scope="module")
def frame():
    ai = make_ai()
    img = ring_frame(ai, [8.0, 12.5, 15.0], np.random.default_rng(1)).astype(np.float32)
    return ai, img


def _direct(ai, img, npt=500, **kw):
    base = dict(unit="2th_deg", method=METHOD, polarization_factor=0.99, correctSolidAngle=True, error_model="poisson")
    base.update(kw)
    return ai.integrate1d(img, npt, **base)


@pytest.mark.parametrize("unit", ["2th_deg", "q_nm^-1", "q_A^-1"])
def test_units_agree_with_pyfai(frame, unit):
    ai, img = frame
    fi = FrameIntegrator(make_ai(), IntegrationSettings(npt=500, unit=unit))
    p = fi.integrate(img)
    r = _direct(make_ai(), img, unit=unit, mask=make_ai().detector.mask)
    np.testing.assert_allclose(p.radial, r.radial, rtol=1e-12)
    np.testing.assert_allclose(p.intensity, r.intensity, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(p.sigma, r.sigma, rtol=1e-6, atol=1e-6)


def test_q_axis_and_d_spacing_are_consistent(frame):
    ai, img = frame
    tth = FrameIntegrator(make_ai(), IntegrationSettings(npt=500, unit="2th_deg")).integrate(img)
    q = FrameIntegrator(make_ai(), IntegrationSettings(npt=500, unit="q_A^-1")).integrate(img)
    d_from_tth = d_spacing_a(tth.radial, "2th_deg", 0.7749)
    q_expected = 4 * np.pi / 0.7749 * np.sin(np.deg2rad(tth.radial) / 2)
    np.testing.assert_allclose(2 * np.pi / q_expected, d_from_tth, rtol=1e-12)
    # peak at 2theta = 12.5 deg <-> Q = 4 pi sin(6.25 deg) / lambda
    window = (q.radial > 1.6) & (q.radial < 1.9)
    q_peak = q.radial[window][np.argmax(q.intensity[window])]
    assert q_peak == pytest.approx(4 * np.pi * np.sin(np.deg2rad(6.25)) / 0.7749, abs=0.01)


def test_user_mask_dark_flat_polarisation_agree_with_pyfai(frame):
    ai, img = frame
    rng = np.random.default_rng(3)
    mask = np.zeros(img.shape, bool)
    mask[50:80, 100:300] = True
    dark = rng.uniform(0, 2, img.shape).astype(np.float32)
    flat = rng.uniform(0.9, 1.1, img.shape).astype(np.float32)
    fi = FrameIntegrator(make_ai(), IntegrationSettings(npt=500, polarization_factor=-0.5), mask=mask, dark=dark, flat=flat)
    p = fi.integrate(img)
    r = _direct(make_ai(), img, mask=mask | make_ai().detector.mask.astype(bool), dark=dark, flat=flat, polarization_factor=-0.5)
    np.testing.assert_allclose(p.intensity, r.intensity, rtol=1e-5, atol=1e-5)
    # and the corrections really act: without them the numbers differ
    plain = FrameIntegrator(make_ai(), IntegrationSettings(npt=500, polarization_factor=None)).integrate(img)
    assert np.nanmax(np.abs(plain.intensity - p.intensity)) > 0.01 * np.nanmax(p.intensity)


def test_solid_angle_switch_agrees_with_pyfai(frame):
    ai, img = frame
    p = FrameIntegrator(make_ai(), IntegrationSettings(npt=500, correct_solid_angle=False)).integrate(img)
    r = _direct(make_ai(), img, correctSolidAngle=False, mask=make_ai().detector.mask)
    np.testing.assert_allclose(p.intensity, r.intensity, rtol=1e-6, atol=1e-6)


def test_azimuthal_error_model_and_ranges(frame):
    ai, img = frame
    s = IntegrationSettings(npt=300, error_model="azimuthal", radial_range=(6.0, 16.0), azimuth_range_deg=(-180, 0))
    p = FrameIntegrator(make_ai(), s).integrate(img)
    r = _direct(make_ai(), img, npt=300, error_model="azimuthal", radial_range=(6.0, 16.0), azimuth_range=(-180, 0),
                mask=make_ai().detector.mask)
    assert p.radial[0] >= 6.0 and p.radial[-1] <= 16.0
    np.testing.assert_allclose(p.sigma, r.sigma, rtol=1e-5, atol=1e-5)


def test_negative_pixels_are_masked_like_pyfai_dummy_without_rebuild(frame):
    ai, img = frame
    fi = FrameIntegrator(make_ai(), IntegrationSettings(npt=500))
    clean = fi.integrate(img)
    bad = img.copy()
    bad[:, 10:60] = -1
    bad[100, 300] = -2
    p = fi.integrate(bad)
    r = _direct(make_ai(), bad, dummy=-1.5, delta_dummy=0.6, mask=make_ai().detector.mask)
    np.testing.assert_allclose(p.intensity, r.intensity, rtol=1e-6, atol=1e-6)
    assert p.valid_pixels < clean.valid_pixels
    for _ in range(5):
        fi.integrate(img)
    assert fi.engine_builds == 1  # masking bad pixels per frame never rebuilt the engine


def test_nan_pixels_and_dummy_value(frame):
    ai, img = frame
    bad = img.copy()
    bad[20:40, :] = np.nan
    p = FrameIntegrator(make_ai(), IntegrationSettings(npt=500)).integrate(bad)
    assert np.all(np.isfinite(p.intensity))
    dummy = img.copy()
    dummy[20:40, :] = 65535
    q = FrameIntegrator(make_ai(), IntegrationSettings(npt=500, dummy=65535, delta_dummy=0.5)).integrate(dummy)
    np.testing.assert_allclose(p.intensity, q.intensity, rtol=1e-6)


def test_bad_frames_raise_frame_error(frame):
    ai, img = frame
    fi = FrameIntegrator(make_ai(), IntegrationSettings(npt=100))
    with pytest.raises(FrameError, match="does not match the detector shape"):
        fi.integrate(img[:-1])
    with pytest.raises(FrameError, match="2D frame"):
        fi.integrate(img[0])
    with pytest.raises(FrameError, match="every pixel"):
        fi.integrate(np.full(img.shape, -1, np.int32))
    with pytest.raises(FrameError, match="mask has shape"):
        FrameIntegrator(make_ai(), IntegrationSettings(), mask=np.zeros((3, 3), bool))


def test_cake_shape_and_consistency(frame):
    ai, img = frame
    fi = FrameIntegrator(make_ai(), IntegrationSettings(npt=200, npt_azimuthal=36))
    cake = fi.cake(img)
    assert cake.intensity.shape == (36, 200)
    assert cake.azimuthal_deg.shape == (36,)


WORKER_RECIPE = """\
name: worker reuse
xrd:
  frames:
    files: "frame_*.cbf"
  integrate:
    poni: geometry.poni
    npt: {npt}
    mask: mask.npy
"""


def _worker(folder, npt=300):
    from conftest import write_recipe

    from xpipe.recipe.model import load_recipe
    from xpipe.runner import build_stages

    return build_stages(load_recipe(write_recipe(folder, WORKER_RECIPE.format(npt=npt), f"reuse_{npt}.yaml")))[0].worker()


def test_worker_setup_reuses_the_integrator_built_for_the_same_settings(frame_set, tmp_path):
    """Live mode and Dask workers set a worker up again for every batch: same settings and same
    geometry/mask files -> the integrator (engine included) built the first time is reused."""
    import shutil

    folder = tmp_path / "data"
    shutil.copytree(frame_set[0], folder)
    mask = np.zeros((195, 487), bool)
    mask[:20] = True
    np.save(folder / "mask.npy", mask)
    first = _worker(folder)
    first.setup()
    a = first.process([0, 1])
    again = _worker(folder)  # loaded afresh from the recipe: equal settings, new objects
    again.setup()
    assert again.integrator is first.integrator
    b = again.process([0, 1])
    np.testing.assert_array_equal(a["arrays"]["intensity"], b["arrays"]["intensity"])
    assert again.integrator.engine_builds == 1  # not rebuilt for the second worker

    other = _worker(folder, npt=301)  # another setting
    other.setup()
    assert other.integrator is not first.integrator
    mask[:30] = True  # same mask file name, new contents
    np.save(folder / "mask.npy", mask)
    changed = _worker(folder)
    changed.setup()
    assert changed.integrator is not first.integrator
    assert changed.process([0])["meta"][0]["valid_pixels"] < a["meta"][0]["valid_pixels"]
