"""End-to-end runs through the CLI: results layout, failures recorded, resume after kill -9,
several workers, dry runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import make_ai, ring_frame, write_recipe

from xpipe.results import open_results

RECIPE = """\
name: runner test
run:
  chunk_frames: {chunk}
xrd:
  frames:
    files: "frame_*.cbf"
  integrate:
    poni: geometry.poni
    npt: 400
{extra}"""


def xpipe(*args, check_rc=None, **kw):
    res = subprocess.run([sys.executable, "-m", "xpipe", *map(str, args)], capture_output=True, text=True, **kw)
    if check_rc is not None:
        assert res.returncode == check_rc, res.stderr + res.stdout
    return res


@pytest.fixture()
def frames(frame_set, tmp_path):
    folder, truth = frame_set
    dst = tmp_path / "data"
    shutil.copytree(folder, dst)
    return dst, truth


def test_run_writes_the_documented_layout(frames, monkeypatch):
    folder, truth = frames
    monkeypatch.setenv("XPIPE_ENGINE_CACHE", str(folder / "engines"))  # none kept yet: built here
    recipe = write_recipe(folder, RECIPE.format(chunk=3, extra="  export:\n    xye: true\n"))
    res = xpipe("run", recipe, "-o", folder / "out", check_rc=0)
    assert "Traceback" not in res.stderr
    out = folder / "out"
    assert (out / "figures" / "xrd_contour.png").stat().st_size > 10_000
    assert len(list((out / "xye").glob("*.xye"))) == 8
    with h5py.File(out / "results.h5") as h5:
        assert h5.attrs["default"] == "entry"
        g = h5["entry/xrd/integrated"]
        assert g.attrs["NX_class"] == "NXdata" and g.attrs["signal"] == "intensity"
        assert g["intensity"].shape == (8, 400) and g["sigma"].shape == (8, 400)
        assert g["radial"].attrs["units"] == "deg"
        np.testing.assert_array_equal(g["two_theta_deg"][()], g["radial"][()])
        # header times: one frame a minute, 30 s exposures -> mid-exposure 15 s, 75 s, ...
        np.testing.assert_allclose(g["frame_time_s"][()], 15 + 60 * np.arange(8))
        assert g["frame_time_s"].attrs["start_time"] == "2025-03-14T09:00:00"
        assert [Path(s.decode()).name for s in g["source_file"][()]] == [f"frame_{i}.cbf" for i in range(1, 9)]
        assert h5["entry/xrd/failed/reason"].shape == (0,)
        proc = h5["entry/xrd/integration"]
        assert proc["engine_builds"][()] == 1 and proc["engine_cache_file"][()] == b""
        assert proc["polarization_factor"][()] == pytest.approx(0.99)
        assert proc["geometry/wavelength_a"][()] == pytest.approx(0.7749)
        prov = h5["entry/provenance"]
        assert prov["recipe"][()].decode() == recipe.read_text()
        assert len(prov["recipe_sha256"][()].decode()) == 64
        for lib in ("xpipe", "pyFAI", "fabio", "numpy", "h5py"):
            assert prov[f"versions/{lib}"][()]
        paths = [p.decode() for p in prov["input_files/path"][()]]
        assert len([p for p in paths if p.endswith(".cbf")]) == 8
        assert all(len(s) == 64 for s in prov["input_files/sha256"][()])
    # the shifting ring at 8.0 + 0.05 i deg comes out where it was put
    stack = open_results(out / "results.h5").patterns()
    window = (stack.radial > 7.0) & (stack.radial < 9.5)
    for i, peaks in enumerate(truth):
        y = stack.intensity[i, window]
        x = stack.radial[window]
        top = y > 0.5 * y.max()
        assert np.sum(x[top] * y[top]) / np.sum(y[top]) == pytest.approx(peaks[0], abs=0.02)
    info = xpipe("info", out / "results.h5", check_rc=0).stdout
    assert "8 frames x 400 bins" in info and "engine builds 1" in info


def test_bad_frames_are_recorded_and_the_run_goes_on(frames):
    import fabio

    folder, _ = frames
    (folder / "frame_9.cbf").write_bytes(os.urandom(5000))  # not a CBF at all
    good = (folder / "frame_1.cbf").read_bytes()
    (folder / "frame_10.cbf").write_bytes(good[: len(good) // 2])  # truncated transfer
    fabio.cbfimage.CbfImage(data=np.ones((10, 10), np.int32)).write(str(folder / "frame_11.cbf"))  # wrong detector
    fabio.cbfimage.CbfImage(data=np.full((195, 487), -1, np.int32)).write(str(folder / "frame_12.cbf"))  # all masked
    recipe = write_recipe(folder, RECIPE.format(chunk=4, extra=""))
    res = xpipe("run", recipe, "-o", folder / "out", check_rc=1)
    assert "4 item(s) failed" in res.stderr and "Traceback" not in res.stderr
    with open_results(folder / "out" / "results.h5") as r:
        assert r.patterns().n_frames == 8
        failed = dict(r.failed())
    names = {Path(k).name: v for k, v in failed.items()}
    assert set(names) == {"frame_9.cbf", "frame_10.cbf", "frame_11.cbf", "frame_12.cbf"}
    assert "frame_9.cbf" in names["frame_9.cbf"]
    assert "(10, 10) does not match the detector shape (195, 487)" in names["frame_11.cbf"]
    assert "every pixel of the frame is masked" in names["frame_12.cbf"]
    table = (folder / "out" / "xrd_frames.csv").read_text().splitlines()
    assert len(table) == 13 and sum(",failed," in line for line in table) == 4


def _integrated(path: Path) -> dict:
    with h5py.File(path) as h5:
        g = h5["entry/xrd/integrated"]
        return {k: g[k][()] for k in ("intensity", "sigma", "radial", "frame_time_s", "frame_index", "source_file")}


@pytest.fixture()
def many_frames(tmp_path):
    """40 frames, slow enough per chunk (2D caking of every frame) to be killed mid-run."""
    import fabio

    ai = make_ai()
    ai.write(str(tmp_path / "geometry.poni"))
    rng = np.random.default_rng(11)
    base = ring_frame(ai, [8.0, 12.5, 15.0], rng)
    for i in range(40):
        img = rng.poisson(np.clip(base, 0, None)).astype(np.int32)
        hdr = {"_array_data.header_contents": f"# 2025-03-14T10:{i:02d}:00.000\r\n# Exposure_time 10.0 s\r\n"}
        fabio.cbfimage.CbfImage(data=img, header=hdr).write(str(tmp_path / f"frame_{i + 1}.cbf"))
    extra = "    cake: true\n    cake_every: 1\n    npt_azimuthal: 360\n    method: full/csr/cython\n"
    return tmp_path, write_recipe(tmp_path, RECIPE.format(chunk=1, extra=extra))


def test_resume_after_kill_gives_every_frame_once_and_same_numbers(many_frames):
    folder, recipe = many_frames
    xpipe("run", recipe, "-o", folder / "ref", "-q", check_rc=0)
    reference = _integrated(folder / "ref" / "results.h5")

    out = folder / "killed"
    chunks = out / ".xpipe" / "xrd.integrate"
    proc = subprocess.Popen([sys.executable, "-m", "xpipe", "run", str(recipe), "-o", str(out), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if chunks.is_dir() and len(list(chunks.glob("chunk_*.npz"))) >= 5:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.fail("the run finished before it could be killed; make the test workload heavier")
    # its worker processes notice and end too, instead of waiting forever for work
    deadline = time.time() + 10
    while time.time() < deadline and _processes_mentioning(str(out)):
        time.sleep(0.1)
    assert not _processes_mentioning(str(out))
    done_before = len(list(chunks.glob("chunk_*.npz")))
    assert not (out / "results.h5").exists()
    assert 5 <= done_before < 40
    # a half-written temporary from the kill must not confuse the resume
    (chunks / ".chunk_999999.npz.tmp123").write_bytes(b"partial")

    res = xpipe("run", recipe, "-o", out, "--resume", check_rc=0)
    assert f"{done_before} of 40 frames already done" in res.stderr
    resumed = _integrated(out / "results.h5")
    for key in ("intensity", "sigma", "radial", "frame_time_s", "frame_index"):
        np.testing.assert_array_equal(resumed[key], reference[key], err_msg=key)
    np.testing.assert_array_equal(resumed["source_file"], reference["source_file"])
    assert len(set(resumed["source_file"].tolist())) == 40
    # every frame processed exactly once across the two runs
    from xpipe.store import CheckpointStore

    keys = [k for info, _ in CheckpointStore(chunks).iter_chunks() for k in info["ok_keys"]]
    assert len(keys) == 40 and len(set(keys)) == 40


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line mentions ``text`` (Linux /proc; empty elsewhere)."""
    found = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmd.read_bytes().decode(errors="replace"):
                found.append(int(cmd.parent.name))
        except OSError:
            continue
    return found


def test_resume_refuses_a_changed_recipe(frames):
    folder, _ = frames
    recipe = write_recipe(folder, RECIPE.format(chunk=4, extra=""))
    xpipe("run", recipe, "-o", folder / "out", "-q", check_rc=0)
    recipe.write_text(recipe.read_text().replace("npt: 400", "npt: 500"))
    res = xpipe("run", recipe, "-o", folder / "out", "--resume", check_rc=2)
    assert "different version of the recipe" in res.stderr
    res = xpipe("run", recipe, "-o", folder / "elsewhere", "--resume", check_rc=2)
    assert "nothing to resume" in res.stderr


def test_two_workers_give_the_same_numbers(frames):
    folder, _ = frames
    recipe = write_recipe(folder, RECIPE.format(chunk=2, extra=""))
    xpipe("run", recipe, "-o", folder / "one", "-q", check_rc=0)
    xpipe("run", recipe, "-o", folder / "two", "-q", "--workers", "2", check_rc=0)
    a, b = _integrated(folder / "one" / "results.h5"), _integrated(folder / "two" / "results.h5")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    with h5py.File(folder / "two" / "results.h5") as h5:
        integ = h5["entry/xrd/integration"]
        from_disk = integ["engine_cache_file"][()].decode() != ""  # the first run kept it
        assert integ["engine_builds"][()] + from_disk == 1  # one engine, shared by both workers


def test_dry_run_writes_nothing(frames):
    folder, _ = frames
    recipe = write_recipe(folder, RECIPE.format(chunk=2, extra=""))
    res = xpipe("run", recipe, "-o", folder / "out", "--dry-run", check_rc=0)
    assert "8 frames" in res.stdout and "nothing was processed" in res.stdout
    assert not (folder / "out").exists()


def test_cli_usage_errors_exit_2(frames, tmp_path):
    folder, _ = frames
    assert xpipe("run", tmp_path / "missing.yaml").returncode == 2
    assert "recipe file does not exist" in xpipe("run", tmp_path / "missing.yaml").stderr
    assert xpipe("run").returncode == 2
    assert xpipe("info", tmp_path / "nope.h5").returncode == 2
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    res = xpipe("info", tmp_path / "junk.h5")
    assert res.returncode == 2 and "not a readable HDF5 results file" in res.stderr
    assert xpipe("--version").stdout.startswith("xpipe ")


def test_a_second_writer_into_the_same_folder_is_refused(frames):
    """While a watch (or another run) writes to OUTDIR, xpipe run refuses to start there: it
    would reset the other's checkpoints. The refusal names the holder and changes nothing."""
    from xpipe.store import WriterLock

    folder, _ = frames
    recipe = write_recipe(folder, RECIPE.format(chunk=4, extra=""))
    out = folder / "out"
    xpipe("run", recipe, "-o", out, "-q", check_rc=0)
    before = (out / "results.h5").stat().st_mtime_ns
    with WriterLock(out / ".xpipe", "xpipe watch"):
        res = xpipe("run", recipe, "-o", out, "--no-cache", check_rc=2)
        assert "xpipe watch (process" in res.stderr and str(out) in res.stderr
        assert "another output folder" in res.stderr and "Traceback" not in res.stderr
        res = xpipe("watch", recipe, "-o", out, "--idle-timeout-s", "1", check_rc=2)
        assert "xpipe watch (process" in res.stderr
    assert (out / "results.h5").stat().st_mtime_ns == before
    xpipe("run", recipe, "-o", out, "-q", "--no-cache", check_rc=0)  # free again once released
