"""pyFAI's OpenCL engine in the integrate stage.

Two kinds of tests:

- what happens without OpenCL (validation error listing what to do, fallback to cython with a
  warning, device selection, forked processes): these run everywhere, with the OpenCL lookup
  replaced where needed, also where pyopencl is not installed (CI installs only '.[test]');
- the OpenCL engine against the cython one on the same frames (masks, dummy, negative pixels,
  dark, flat, polarisation, solid angle, error models, caking, engine reuse, xpipe runs with
  one and several worker processes): these need pyopencl and an OpenCL device, and skip
  saying so otherwise. Any device will do; the pocl CPU runtime
  (pip install pyopencl pocl-binary-distribution) gives one on any Linux machine. Set
  XPIPE_TEST_OPENCL_DEVICE to 'gpu', 'cpu' or 'platform,device' to choose (default 'any').

Tolerances: pyFAI's OpenCL engines accumulate in float32 with error-compensated arithmetic, the
cython ones in float64 (https://pyfai.readthedocs.io/en/latest/performance.html). Intensities
and Poisson sigmas of the two agree to about 1.5e-7 relative on these frames (2.3e-7 on the
Pilatus 1M and Eiger 4M frames of benchmarks/bench_gpu.py: one or two float32 roundings); the
tests allow 1e-5. The 'azimuthal' error model's sigma is computed differently (the OpenCL
kernel merges partial variances of its work-items): median difference 0.2-0.5 %, at most 5 % in
bins of 30 pixels or more on these frames; the tests allow 2 % and 10 %.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import make_ai, ring_frame, write_recipe

from xpipe.recipe.model import load_recipe
from xpipe.recipe.schema import RecipeInvalid
from xpipe.xrd import opencl as xi
from xpipe.xrd.integrate import FrameIntegrator, IntegrationSettings
from xpipe.xrd.opencl import OpenCLDevice, OpenCLUnavailable, select_opencl

REL_TOL = 1e-5  # OpenCL float32 (compensated) against cython float64: intensity and Poisson sigma
AZIMUTHAL_MEDIAN_TOL = 0.02
AZIMUTHAL_MAX_TOL = 0.10  # over bins of >= 30 pixels

DEVICE = os.environ.get("XPIPE_TEST_OPENCL_DEVICE", "any")
OPENCL = ("bbox", "csr", "opencl")
CYTHON = ("bbox", "csr", "cython")


def _opencl_device():
    try:
        found, reason = select_opencl(1, "bbox", "csr", DEVICE)
    except Exception as exc:  # pragma: no cover - a broken driver
        return None, f"{type(exc).__name__}: {exc}"
    return found, reason


_FOUND, _WHY = _opencl_device()
needs_opencl = pytest.mark.skipif(
    _FOUND is None,
    reason=f"no OpenCL device ({DEVICE}) to test pyFAI's OpenCL engine on: {_WHY} "
    "(pip install pyopencl pocl-binary-distribution gives a CPU device)",
)

RECIPE = """\
name: opencl test
run:
  workers: 1
  chunk_frames: 2
xrd:
  frames:
    files: "frame_*.cbf"
  integrate:
    poni: geometry.poni
    npt: 400
    method: {method}
{extra}  figures:
    contour: false
"""


def _no_pyopencl(monkeypatch):
    """Make ``import pyopencl`` fail, as where it is not installed."""
    monkeypatch.setitem(sys.modules, "pyopencl", None)


def _significant(ref):
    return ref > 0.01 * np.nanmax(ref)


def _max_rel(a, b, ref):
    sel = _significant(ref)
    return float(np.max(np.abs(np.asarray(a, float) - b)[sel] / np.abs(np.asarray(b, float))[sel]))


# ----------------------------------------------------------------------------- without OpenCL


def test_validation_without_pyopencl_says_what_to_do(frame_set, monkeypatch):
    folder, _ = frame_set
    _no_pyopencl(monkeypatch)
    path = write_recipe(folder, RECIPE.format(method="bbox/csr/opencl", extra=""), "opencl_missing.yaml")
    with pytest.raises(RecipeInvalid) as err:
        load_recipe(path)
    (msg,) = [p.format("r") for p in err.value.problems]
    assert "xrd.integrate.method: 'bbox/csr/opencl' asks for OpenCL, which is not available here: pyopencl is not installed" in msg
    assert "pip install 'xpipe[gpu]'" in msg
    assert "use method 'bbox/csr/cython'" in msg
    assert "set xrd.integrate.opencl_fallback: true" in msg


@pytest.mark.parametrize("devices, device, expected", [
    ([], "gpu", "no OpenCL platform is installed"),
    ([OpenCLDevice(0, 0, "Portable Computing Language", "pthread-cpu", "CPU")], "gpu",
     "no OpenCL device of type GPU (found: CPU 'pthread-cpu' on platform 'Portable Computing Language' (0,0))"),
    ([OpenCLDevice(0, 0, "NVIDIA CUDA", "H100", "GPU")], "1,0", "no OpenCL device 1,0 (found: GPU 'H100'"),
])
def test_what_is_missing_is_named(frame_set, monkeypatch, devices, device, expected):
    folder, _ = frame_set
    why = None if devices else "no OpenCL platform is installed (no OpenCL driver for a GPU, or pocl for the CPU, was found)"
    monkeypatch.setattr(xi, "opencl_devices", lambda: (devices, why))
    found, reason = select_opencl(1, "bbox", "csr", device)
    assert found is None and expected in reason
    path = write_recipe(folder, RECIPE.format(method="bbox/csr/opencl", extra=f"    opencl_device: '{device}'\n"),
                        "opencl_device.yaml")
    with pytest.raises(RecipeInvalid, match=r"asks for OpenCL, which is not available here: " + expected[:20]):
        load_recipe(path)


def test_opencl_device_key_is_checked(frame_set):
    folder, _ = frame_set
    path = write_recipe(folder, RECIPE.format(method="bbox/csr/opencl", extra="    opencl_device: gpu0\n"),
                        "opencl_bad_device.yaml")
    with pytest.raises(RecipeInvalid) as err:
        load_recipe(path)
    msgs = [p.format("r") for p in err.value.problems]
    assert any("xrd.integrate.opencl_device: expected one of 'gpu', 'cpu', 'acc', 'any' or 'platform,device'" in m
               for m in msgs), msgs


def test_fallback_integrates_with_cython_and_warns(frame_set, monkeypatch, caplog):
    _no_pyopencl(monkeypatch)
    ai = make_ai()
    img = ring_frame(ai, [8.0, 12.5], np.random.default_rng(5))
    with pytest.raises(OpenCLUnavailable, match="pyopencl is not installed.*pip install 'xpipe\\[gpu\\]'"):
        FrameIntegrator(make_ai(), IntegrationSettings(npt=300, method=OPENCL))
    with caplog.at_level(logging.WARNING, logger="xpipe"):
        fb = FrameIntegrator(make_ai(), IntegrationSettings(npt=300, method=OPENCL, opencl_fallback=True))
    assert not fb.uses_opencl and fb.fallback_reason == "pyopencl is not installed"
    assert ("method 'bbox/csr/opencl' asks for OpenCL, but pyopencl is not installed; integrating with "
            "'bbox/csr/cython' instead") in caplog.text
    p = fb.integrate(img)
    ref = FrameIntegrator(make_ai(), IntegrationSettings(npt=300, method=CYTHON)).integrate(img)
    np.testing.assert_array_equal(p.intensity, ref.intensity)
    assert "cython" in fb.method_used and fb.engine_builds == 1


def test_fallback_run_records_the_method_used(frame_set, monkeypatch, tmp_path, caplog):
    from xpipe.runner import run

    folder, _ = frame_set
    _no_pyopencl(monkeypatch)
    path = write_recipe(folder, RECIPE.format(method="bbox/csr/opencl", extra="    opencl_fallback: true\n"),
                        "opencl_fallback.yaml")
    loaded = load_recipe(path)  # valid: the fallback is allowed
    with caplog.at_level(logging.WARNING, logger="xpipe"):
        report = run(loaded, tmp_path / "out", workers=1, quiet=True, use_cache=False)
    assert report.exit_code == 0
    assert "asks for OpenCL, but pyopencl is not installed; integrating with 'bbox/csr/cython'" in caplog.text
    with h5py.File(tmp_path / "out" / "results.h5") as h5:
        proc = h5["entry/xrd/integration"]
        assert proc["method_requested"][()].decode() == "bbox/csr/opencl"
        assert "cython" in proc["method_used"][()].decode()
        assert proc["opencl_fallback"][()]


def test_forked_copy_is_told_not_to_use_the_parents_opencl(monkeypatch):
    monkeypatch.setattr(xi, "_FORKED_AFTER_OPENCL", True)
    found, reason = select_opencl(1, "bbox", "csr", "any")
    assert found is None and "forked from one that had already loaded the OpenCL driver" in reason
    assert "spawn" in reason


def test_forked_copy_gets_advice_that_fits(monkeypatch):
    monkeypatch.setattr(xi, "_FORKED_AFTER_OPENCL", True)
    with pytest.raises(OpenCLUnavailable) as err:
        FrameIntegrator(make_ai(), IntegrationSettings(npt=100, method=OPENCL, opencl_device="any"))
    msg = str(err.value)
    assert "Either run with one worker process (--workers 1)" in msg and "pip install" not in msg


def test_opencl_worker_is_not_fork_safe(frame_set, monkeypatch):
    from xpipe.runner import build_stages

    folder, _ = frame_set
    cyt = build_stages(load_recipe(write_recipe(folder, RECIPE.format(method="bbox/csr/cython", extra=""),
                                                "fork_cython.yaml")))[0].worker()
    assert cyt.fork_safe

    monkeypatch.setattr(xi, "select_opencl", lambda dim, split, algo, device="gpu": (object(), None))
    ocl = build_stages(load_recipe(write_recipe(folder, RECIPE.format(method="bbox/csr/opencl", extra=""),
                                                "fork_opencl.yaml")))[0].worker()
    assert not ocl.fork_safe
    ocl.warm_up()  # builds nothing meant to be shared with forked processes
    assert ocl.integrator is None

    monkeypatch.setattr(xi, "select_opencl", lambda dim, split, algo, device="gpu": (None, "no device"))
    assert ocl.fork_safe  # will integrate with cython (fallback): forking is fine


# ----------------------------------------------------------------------------- with a device


@pytest.fixture(scope="module")
def frames():
    ai = make_ai()
    rng = np.random.default_rng(11)
    img = ring_frame(ai, [8.0, 12.5, 15.0], rng)
    img[:, 200:205] = -1  # dead column
    img[100, 300] = -2
    mask = np.zeros(img.shape, bool)
    mask[50:80, 100:300] = True
    dark = rng.uniform(0, 2, img.shape).astype(np.float32)
    flat = rng.uniform(0.9, 1.1, img.shape).astype(np.float32)
    return img, mask, dark, flat


def _pair(settings: dict, **arrays):
    cy = FrameIntegrator(make_ai(), IntegrationSettings(method=CYTHON, **settings), **arrays)
    oc = FrameIntegrator(make_ai(), IntegrationSettings(method=OPENCL, opencl_device=DEVICE, **settings), **arrays)
    assert oc.uses_opencl, oc.method_used
    return cy, oc


@needs_opencl
@pytest.mark.parametrize("error_model", ["poisson", "none"])
@pytest.mark.parametrize("corrections", [
    dict(),
    dict(polarization_factor=-0.5, correct_solid_angle=False),
    dict(polarization_factor=None, radial_range=(6.0, 16.0), azimuth_range_deg=(-180.0, 0.0)),
])
def test_opencl_matches_cython(frames, error_model, corrections):
    img, mask, dark, flat = frames
    cy, oc = _pair(dict(npt=500, error_model=error_model, **corrections), mask=mask, dark=dark, flat=flat)
    a, b = cy.integrate(img), oc.integrate(img)
    np.testing.assert_array_equal(a.radial, b.radial)
    assert a.valid_pixels == b.valid_pixels
    assert _max_rel(b.intensity, a.intensity, a.intensity) <= REL_TOL
    if error_model == "poisson":
        assert _max_rel(b.sigma, a.sigma, a.intensity) <= REL_TOL
    else:
        assert np.all(np.isnan(b.sigma))
    assert "OpenCL" in oc.method_used


@needs_opencl
def test_opencl_dummy_and_nan_pixels(frames):
    img, *_ = frames
    bad = img.astype(np.float32)
    bad[20:40, :] = 65535
    bad[60:70, :] = np.nan
    cy, oc = _pair(dict(npt=400, dummy=65535, delta_dummy=0.5))
    a, b = cy.integrate(bad), oc.integrate(bad)
    assert np.all(np.isfinite(b.intensity))
    assert _max_rel(b.intensity, a.intensity, a.intensity) <= REL_TOL


@needs_opencl
def test_opencl_azimuthal_error_model_is_close_to_cython(frames):
    img, mask, *_ = frames
    cy, oc = _pair(dict(npt=500, error_model="azimuthal"), mask=mask)
    a, b = cy.integrate(img), oc.integrate(img)
    assert _max_rel(b.intensity, a.intensity, a.intensity) <= REL_TOL
    count = cy.ai.integrate1d(img.astype(np.float32), 500, unit="2th_deg", method=CYTHON,
                              mask=cy.static_mask, polarization_factor=0.99).count
    rel = np.abs(b.sigma - a.sigma) / a.sigma
    sel = _significant(a.intensity)
    assert np.nanmedian(rel[sel]) <= AZIMUTHAL_MEDIAN_TOL
    assert np.nanmax(rel[sel & (count >= 30)]) <= AZIMUTHAL_MAX_TOL


@needs_opencl
def test_opencl_engine_is_built_once(frames):
    img, *_ = frames
    _, oc = _pair(dict(npt=500))
    rng = np.random.default_rng(2)
    for _ in range(6):
        frame = img.copy()
        frame[rng.integers(0, img.shape[0], 50), rng.integers(0, img.shape[1], 50)] = -1  # new bad pixels each frame
        oc.integrate(frame)
    assert oc.engine_builds == 1  # bad pixels per frame never rebuilt the engine (nor the CSR matrix under it)
    assert list(oc.engine_builds_by_process()) == [os.getpid()]


@needs_opencl
def test_opencl_cake_matches_cython(frames):
    img, mask, *_ = frames
    cy, oc = _pair(dict(npt=200, npt_azimuthal=36), mask=mask)
    a, b = cy.cake(img), oc.cake(img)
    np.testing.assert_allclose(b.azimuthal_deg, a.azimuthal_deg, rtol=1e-6)
    assert _max_rel(b.intensity, a.intensity, a.intensity) <= REL_TOL


@needs_opencl
def test_opencl_is_not_used_in_a_forked_copy():
    """A process forked after OpenCL was loaded must not touch it (it would hang): it is told so."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        found, reason = pool.apply(_probe_in_child)
    assert not found and "forked from one that had already loaded the OpenCL driver" in reason


def _probe_in_child():
    found, reason = select_opencl(1, "bbox", "csr", DEVICE)
    return found is not None, reason


# ----------------------------------------------------------------------------- runs


@pytest.fixture()
def run_folder(frame_set, tmp_path):
    folder, _ = frame_set
    dst = tmp_path / "data"
    shutil.copytree(folder, dst)
    return dst


def _xpipe_run(recipe: Path, out: Path, *args):
    res = subprocess.run([sys.executable, "-m", "xpipe", "run", str(recipe), "-o", str(out), "-q", *args],
                         capture_output=True, text=True, timeout=300)
    return res


def _stack(path: Path):
    with h5py.File(path) as h5:
        g = h5["entry/xrd/integrated"]
        return (g["intensity"][()], g["sigma"][()], h5["entry/xrd/integration/method_used"][()].decode(),
                int(h5["entry/xrd/integration/engine_builds"][()]))


@needs_opencl
def test_xpipe_run_on_opencl_matches_cython(run_folder):
    cy = write_recipe(run_folder, RECIPE.format(method="bbox/csr/cython", extra=""), "cy.yaml")
    oc = write_recipe(run_folder, RECIPE.format(method="bbox/csr/opencl", extra=f"    opencl_device: '{DEVICE}'\n"),
                      "oc.yaml")
    for recipe, out in ((cy, "out_cy"), (oc, "out_oc")):
        res = _xpipe_run(recipe, run_folder / out, "--workers", "1")
        assert res.returncode == 0, res.stderr
    i_cy, s_cy, m_cy, _ = _stack(run_folder / "out_cy" / "results.h5")
    i_oc, s_oc, m_oc, builds = _stack(run_folder / "out_oc" / "results.h5")
    assert "OpenCL" in m_oc and "cython" in m_cy
    assert builds == 1
    assert i_oc.shape == i_cy.shape == (8, 400)
    assert _max_rel(i_oc, i_cy, i_cy) <= REL_TOL
    assert _max_rel(s_oc, s_cy, i_cy) <= REL_TOL


@needs_opencl
def test_xpipe_run_on_opencl_with_two_workers_spawns_them(run_folder):
    """Two worker processes (four chunks) on an OpenCL recipe without fallback: the executor
    starts them with 'spawn', each builds its own OpenCL engine, and the numbers agree with a
    cython run."""
    oc = write_recipe(run_folder, RECIPE.format(
        method="bbox/csr/opencl", extra=f"    opencl_device: '{DEVICE}'\n"), "oc2.yaml")
    cy = write_recipe(run_folder, RECIPE.format(method="bbox/csr/cython", extra=""), "cy2.yaml")
    res = _xpipe_run(oc, run_folder / "out_oc2", "--workers", "2")
    assert res.returncode == 0, res.stderr
    assert "forked" not in res.stderr
    assert _xpipe_run(cy, run_folder / "out_cy2", "--workers", "1").returncode == 0
    i_cy, *_ = _stack(run_folder / "out_cy2" / "results.h5")
    i_oc, _, method, builds = _stack(run_folder / "out_oc2" / "results.h5")
    assert "OpenCL" in method
    # one engine in each spawned process that got a chunk (a late starter may get none); a
    # forked worker could not have used OpenCL, and without fallback its frames would fail
    assert 1 <= builds <= 2
    assert _max_rel(i_oc, i_cy, i_cy) <= REL_TOL


@needs_opencl
def test_spawned_worker_processes_each_use_their_own_opencl_context(run_folder):
    """What an executor does for a worker that is not fork-safe: start processes with 'spawn'
    and set the worker up in each of them."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from xpipe.executor import _init_worker, _process
    from xpipe.runner import build_stages

    recipe = write_recipe(run_folder, RECIPE.format(method="bbox/csr/opencl", extra=f"    opencl_device: '{DEVICE}'\n"),
                          "spawn.yaml")
    worker = build_stages(load_recipe(recipe))[0].worker()
    assert not worker.fork_safe
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                             initargs=(worker, 1)) as pool:
        results = list(pool.map(_process, [[0, 1, 2, 3], [4, 5, 6, 7]]))
    assert all("OpenCL" in r["method_used"] for r in results)
    assert all(r["pid"] != os.getpid() for r in results)
    for r in results:
        assert sum(r["engine_builds"].values()) == 1  # one engine per process, none inherited
    serial = build_stages(load_recipe(recipe))[0].worker()
    serial.setup()
    ref = serial.process(list(range(8)))
    got = np.concatenate([r["arrays"]["intensity"] for r in results])
    np.testing.assert_array_equal(np.concatenate([r["arrays"]["index"] for r in results]), ref["arrays"]["index"])
    assert _max_rel(got, ref["arrays"]["intensity"], ref["arrays"]["intensity"]) <= 1e-6


def test_cif_to_feff_leaves_pyfai_opencl_switched_on():
    """larch.xrd switches OpenCL off in pyFAI when imported; xpipe's EXAFS path building
    imports it, and must not take OpenCL away from integration later in the same process."""
    import pyFAI

    from xpipe.xas.exafs import _structure2feffinp

    assert pyFAI.use_opencl
    assert callable(_structure2feffinp())
    assert pyFAI.use_opencl
