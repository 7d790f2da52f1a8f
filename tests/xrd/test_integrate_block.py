"""The folded-CSR block engine against pyFAI's own integrate1d: the same intensities, sigmas and
valid-pixel counts (within 1e-6 relative) for every correction and kind of invalid pixel, and
results that do not depend on how frames are grouped into blocks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_ai, ring_frame

from xpipe.xrd import blockcsr
from xpipe.xrd.blockcsr import BlockIntegrator
from xpipe.xrd.integrate import FrameError, FrameIntegrator, IntegrationSettings

REL_TOL = 1e-6


@pytest.fixture(scope="module")
def frames():
    ai = make_ai()
    rng = np.random.default_rng(7)
    out = [ring_frame(ai, [8.0 + 0.1 * i, 12.5, 15.0], rng) for i in range(11)]
    for f in out:
        f[rng.integers(0, f.shape[0], 40), rng.integers(0, f.shape[1], 40)] = -2  # dead pixels
        f[rng.integers(0, f.shape[0], 300), rng.integers(0, f.shape[1], 300)] = 0  # a few zero counts
    out[4][:60] = 0  # many zero counts: the dense variance column
    out[6][:, :30] = -1  # many invalid pixels outside the detector mask
    return out


def _compare(fi: FrameIntegrator, frames: list[np.ndarray]) -> None:
    assert fi.block_engine() is not None
    got = fi.integrate_many(frames)
    for frame, p in zip(frames, got):
        ref = fi._integrate_pyfai(frame)
        assert p.valid_pixels == ref.valid_pixels
        np.testing.assert_array_equal(p.radial, ref.radial)
        strong = np.abs(ref.intensity) > 0.01 * np.nanmax(np.abs(ref.intensity))
        np.testing.assert_allclose(p.intensity[strong], ref.intensity[strong], rtol=REL_TOL)
        np.testing.assert_allclose(p.intensity, ref.intensity, rtol=REL_TOL, atol=1e-6 * np.nanmax(ref.intensity))
        if fi.settings.error_model == "none":
            assert np.isnan(p.sigma).all() and np.isnan(ref.sigma).all()
        else:
            np.testing.assert_allclose(p.sigma[strong], ref.sigma[strong], rtol=REL_TOL)
            np.testing.assert_allclose(p.sigma, ref.sigma, rtol=REL_TOL, atol=1e-6 * np.nanmax(ref.sigma))


@pytest.mark.parametrize("settings", [
    IntegrationSettings(npt=400),
    IntegrationSettings(npt=300, unit="q_nm^-1", polarization_factor=None, correct_solid_angle=False),
    IntegrationSettings(npt=300, error_model="none"),
    IntegrationSettings(npt=300, radial_range=(5.0, 20.0), azimuth_range_deg=(-120.0, 60.0)),
    IntegrationSettings(npt=300, mask_negative=False, dummy=-2.0, delta_dummy=0.5),
    IntegrationSettings(npt=300, method=("no", "csr", "cython")),
], ids=["default", "q-no-corrections", "no-error-model", "ranges", "dummy-not-negative", "no-splitting"])
def test_block_engine_gives_pyfai_numbers(frames, settings):
    _compare(FrameIntegrator(make_ai(), settings), frames)


def test_dark_flat_and_user_mask(frames):
    rng = np.random.default_rng(3)
    shape = frames[0].shape
    dark = rng.uniform(0.0, 3.0, shape).astype(np.float32)
    flat = rng.uniform(0.8, 1.2, shape).astype(np.float32)
    mask = np.zeros(shape, bool)
    mask[50:60, 100:200] = True
    fi = FrameIntegrator(make_ai(), IntegrationSettings(npt=350), mask=mask, dark=dark, flat=flat)
    _compare(fi, frames)


def test_zero_flat_pixels_count_as_masked(frames):
    """pyFAI skips pixels whose flat field is 0; so does the block engine. (pyFAI's own result
    for such a flat depends on what it integrated first, so the reference masks them.)"""
    rng = np.random.default_rng(4)
    flat = rng.uniform(0.8, 1.2, frames[0].shape).astype(np.float32)
    zero = np.zeros(flat.shape, bool)
    zero[5, 5:9] = zero[100, 300:310] = True
    fi = FrameIntegrator(make_ai(), IntegrationSettings(npt=350), flat=np.where(zero, np.float32(0), flat))
    ref = FrameIntegrator(make_ai(), IntegrationSettings(npt=350), flat=flat, mask=zero)
    for frame, p in zip(frames[:3], fi.integrate_many(frames[:3])):
        r = ref._integrate_pyfai(frame)
        np.testing.assert_allclose(p.intensity, r.intensity, rtol=REL_TOL, atol=1e-6 * np.nanmax(r.intensity))
        np.testing.assert_allclose(p.sigma, r.sigma, rtol=REL_TOL, atol=1e-6 * np.nanmax(r.sigma))
        assert p.valid_pixels == r.valid_pixels + int(zero.sum())  # the flat decides, not the frame


def test_float_frames_with_nan(frames):
    floats = []
    for i, f in enumerate(frames[:5]):
        g = f.astype(np.float32) * 0.37  # counts below one too
        g[10 + i, :50] = np.nan
        g[20, 20] = np.inf
        floats.append(g)
    _compare(FrameIntegrator(make_ai(), IntegrationSettings(npt=300)), floats)


def test_results_do_not_depend_on_blocks(frames, monkeypatch):
    fi = FrameIntegrator(make_ai(), IntegrationSettings(npt=300))
    whole = fi.integrate_many(frames)
    one_by_one = [fi.integrate(f) for f in frames]
    for a, b in zip(whole, one_by_one):
        np.testing.assert_array_equal(a.intensity, b.intensity)
        np.testing.assert_array_equal(a.sigma, b.sigma)
    assert fi.engine_builds == 1
    assert fi.block_engine().block == 8 and fi.block_frames == 8  # a Pilatus 100K: the most
    monkeypatch.setattr(blockcsr, "BLOCK_BYTES", 3 * 8 * frames[0].size)  # room for three frames
    fi3 = FrameIntegrator(make_ai(), IntegrationSettings(npt=300))
    assert fi3.block_engine().block == 3 and fi3.block_frames == 3
    for a, b in zip(fi3.integrate_many(frames), whole):
        np.testing.assert_array_equal(a.intensity, b.intensity)
        np.testing.assert_array_equal(a.sigma, b.sigma)


def test_refused_frames_keep_their_place(frames):
    fi = FrameIntegrator(make_ai(), IntegrationSettings(npt=200))
    shape = frames[0].shape
    out = fi.integrate_many([frames[0], np.ones((3, 3)), np.full(shape, -1, np.int32), frames[1], np.ones(5)])
    assert [type(o).__name__ for o in out] == ["Pattern1D", "FrameError", "FrameError", "Pattern1D", "FrameError"]
    assert "does not match the detector shape" in str(out[1])
    assert str(out[2]) == "every pixel of the frame is masked or invalid"
    assert "expected a 2D frame" in str(out[4])
    with pytest.raises(FrameError, match="masked or invalid"):
        fi.integrate(np.full(shape, -1, np.int32))


@pytest.mark.parametrize("settings", [
    IntegrationSettings(npt=200, error_model="azimuthal"),
    IntegrationSettings(npt=200, method=("bbox", "histogram", "cython")),
    IntegrationSettings(npt=200, method=("bbox", "lut", "cython")),
])
def test_other_methods_go_through_pyfai(frames, settings):
    fi = FrameIntegrator(make_ai(), settings)
    assert fi.block_engine() is None
    got = fi.integrate_many(frames[:2])
    for frame, p in zip(frames[:2], got):
        ref = fi._integrate_pyfai(frame)
        np.testing.assert_array_equal(p.intensity, ref.intensity)


def test_engine_built_once_and_shared_after_fork(frames):
    fi = FrameIntegrator(make_ai(), IntegrationSettings(npt=200))
    fi.build_engines()
    engine = fi.block_engine()
    fi.integrate_many(frames[:4])
    assert fi.block_engine() is engine and fi.engine_builds == 1


def test_worker_with_several_loading_threads_gives_the_same_chunk(monkeypatch):
    """With a GPU engine the worker decodes in several threads; the chunk is the same."""
    import pathlib

    import xpipe
    from xpipe.stages.xrd_integrate import IntegrateWorker

    root = pathlib.Path(xpipe.__file__).parents[1]
    xrd = xpipe.load_recipe(root / "recipes" / "nvp_operando.yaml").recipe.xrd
    worker = IntegrateWorker(xrd.integrate, xrd.frames.refs)
    worker.setup()
    indices = list(range(11))
    one = worker.process(indices)
    monkeypatch.setattr(FrameIntegrator, "uses_opencl", property(lambda self: True))
    several = worker.process(indices)
    np.testing.assert_array_equal(one["arrays"]["intensity"], several["arrays"]["intensity"])
    np.testing.assert_array_equal(one["arrays"]["index"], indices)
    assert [m["sha256"] for m in one["meta"]] == [m["sha256"] for m in several["meta"]]


@pytest.mark.parametrize("mask_negative, dummy, variance", [(True, None, True), (False, None, True),
                                                              (True, -2.0, True), (False, -2.0, False)])
def test_the_scan_of_integer_counts_finds_what_the_general_scan_finds(mask_negative, dummy, variance):
    """Integer frames take a one-pass scan over the pixels outside the static mask; floats take
    the general one. Both must find the same invalid pixels, valid count and below-one pixels,
    pixels of the static mask outside the user mask (a zero correction) included."""
    rng = np.random.default_rng(3)
    shape = (40, 50)
    npix = shape[0] * shape[1]
    lut = (np.ones(npix, np.float32), np.arange(npix), np.linspace(0, npix, 21).astype(int))
    omega = np.ones(npix, np.float32)
    omega[[5, 77, 300]] = 0  # in the static mask, not in the user mask
    given = np.zeros(npix, bool)
    given[:100] = True
    bi = BlockIntegrator(lut, shape, omega, static_mask=given, variance=variance, mask_negative=mask_negative,
                         dummy=dummy, delta_dummy=0.5 if dummy is not None else None)
    frame = rng.poisson(1.5, shape).astype(np.int32)
    frame.flat[rng.integers(0, npix, 60)] = -2
    frame.flat[rng.integers(0, npix, 60)] = -1
    frame.flat[[5, 77]] = -2
    fast = bi.scan(frame)
    general = bi.scan(frame.astype(np.float64))
    for a, b in zip(fast, general):
        np.testing.assert_array_equal(a, b)
    assert fast[2].size > 100 or not variance  # zero counts found


def test_the_scan_of_unsigned_counts_finds_the_zero_counts():
    shape = (30, 40)
    npix = shape[0] * shape[1]
    lut = (np.ones(npix, np.float32), np.arange(npix), np.linspace(0, npix, 11).astype(int))
    given = np.zeros(npix, bool)
    given[:50] = True
    bi = BlockIntegrator(lut, shape, np.ones(npix, np.float32), static_mask=given)
    frame = np.random.default_rng(5).poisson(0.7, shape).astype(np.uint16)
    fast, general = bi.scan(frame), bi.scan(frame.astype(np.float64))
    for a, b in zip(fast, general):
        np.testing.assert_array_equal(a, b)
    assert fast[2].size == np.count_nonzero(frame.reshape(-1)[50:] == 0)
