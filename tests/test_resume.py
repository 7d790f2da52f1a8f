"""Exactly-once resume: a run killed with SIGKILL at random moments, again and again, and resumed
each time, ends with the numbers of an uninterrupted run; every frame is integrated once, and
results.h5 is never left unreadable at any moment in between."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from conftest import make_ai, ring_frame, write_recipe

from xpipe.store import CheckpointStore

N_FRAMES = 30

RECIPE = """\
name: kill loop
run:
  chunk_frames: 2
  workers: {workers}
xrd:
  frames:
    files: "frame_*.cbf"
  integrate:
    poni: geometry.poni
    npt: 600
    method: bbox/csr/cython
    cake: true
    cake_every: 1
    npt_azimuthal: 180
  peaks: {{}}
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import fabio

    folder = tmp_path_factory.mktemp("killloop")
    ai = make_ai()
    ai.write(str(folder / "geometry.poni"))
    rng = np.random.default_rng(5)
    for i in range(N_FRAMES):
        img = ring_frame(ai, [8.0 + 0.01 * i, 12.5, 15.0 - 0.01 * i], rng)
        hdr = {"_array_data.header_contents": f"# 2025-03-14T11:{i:02d}:00.000\r\n# Exposure_time 20.0 s\r\n"}
        fabio.cbfimage.CbfImage(data=img, header=hdr).write(str(folder / f"frame_{i + 1}.cbf"))
    return folder


def _xpipe(*args):
    return [sys.executable, "-m", "xpipe", *map(str, args)]


def _numbers(path):
    with h5py.File(path) as h5:
        e = h5["entry"]
        out = {k: e[f"xrd/integrated/{k}"][()] for k in ("intensity", "sigma", "radial", "frame_time_s", "source_file")}
        out["cake"] = e["xrd/cake/intensity"][()]
        peaks = e["xrd/peaks"]
        for name in ("position", "position_error", "fwhm", "area"):
            if name in peaks:
                out[f"peaks/{name}"] = peaks[name][()]
    return out


def _readable_or_absent(path) -> bool:
    if not path.exists():
        return True
    with h5py.File(path, "r") as h5:  # raises if the file were half-written
        return h5["entry/xrd/integrated/intensity"].shape[1] == 600


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_at_random_moments_then_resume_equals_an_uninterrupted_run(data, workers, tmp_path):
    recipe = write_recipe(data, RECIPE.format(workers=workers), f"kill_{workers}.yaml")
    t0 = time.perf_counter()
    subprocess.run(_xpipe("run", recipe, "-o", tmp_path / "ref", "-q"), check=True, capture_output=True)
    full_s = time.perf_counter() - t0
    reference = _numbers(tmp_path / "ref" / "results.h5")
    assert "peaks/position" in reference

    out = tmp_path / "killed"
    results = out / "results.h5"
    chunks = out / ".xpipe" / "xrd.integrate"
    rng = random.Random(1000 + workers)
    kills = 0
    for _ in range(6):
        resume = (chunks / "manifest.json").exists()
        proc = subprocess.Popen(_xpipe("run", recipe, "-o", out, "-q", *(["--resume"] if resume else [])),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # spread the kills over the whole run: start-up, integration, assembly, figures
        deadline = time.perf_counter() + rng.uniform(0.2, 1.1) * full_s
        while time.perf_counter() < deadline and proc.poll() is None:
            assert _readable_or_absent(results)
            time.sleep(0.02)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        err = proc.stderr.read().decode()
        assert proc.returncode in (0, -signal.SIGKILL), err
        assert _readable_or_absent(results)
    assert kills >= 3, "the runs finished before they could be killed; make the workload heavier"

    done = subprocess.run(_xpipe("run", recipe, "-o", out, "--resume"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = _numbers(results)
    assert got.keys() == reference.keys()
    for key in reference:
        np.testing.assert_array_equal(got[key], reference[key], err_msg=key)
    # exactly once: every frame's key is in exactly one finished chunk, across all the runs
    keys = [k for info, _ in CheckpointStore(chunks).iter_chunks() for k in info["ok_keys"]]
    assert len(keys) == N_FRAMES and len(set(keys)) == N_FRAMES
    # no worker outlived its killed run
    time.sleep(1.0)
    assert not [p for p in _processes_mentioning(str(out)) if p != os.getpid()]


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for cmd in os.scandir("/proc"):
        if not cmd.name.isdigit():
            continue
        try:
            with open(f"/proc/{cmd.name}/cmdline", "rb") as fh:
                if text in fh.read().decode(errors="replace"):
                    found.append(int(cmd.name))
        except OSError:
            continue
    return found


def test_a_changed_checkpoint_is_done_again_on_resume(tmp_path, caplog):
    """A chunk changed since it was written (here: another chunk copied over it) is ignored with
    a warning naming it, and its items are done again: the numbers of an untouched run."""
    import logging
    import shutil
    from pathlib import Path

    import xpipe

    recipe = xpipe.load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "nvp_xanes.yaml")
    recipe.recipe.run.chunk_frames = 3  # spectra per checkpoint
    ref, out = tmp_path / "ref", tmp_path / "out"
    xpipe.run(recipe, ref, workers=1)
    shutil.copytree(ref, out, symlinks=True)
    chunks = out / ".xpipe" / "xas"
    files = sorted(chunks.glob("chunk_*.npz"))
    assert len(files) >= 2
    shutil.copy(files[1], files[0])
    with caplog.at_level(logging.WARNING, logger="xpipe"):
        report = xpipe.run(recipe, out, workers=1, resume=True)
    assert report.exit_code == 0
    assert str(files[0]) in caplog.text
    keys = [k for info, _ in CheckpointStore(chunks).iter_chunks() for k in info["ok_keys"]]
    assert len(keys) == len(set(keys)) == report.done

    def series(path):
        with h5py.File(path, "r") as h5:
            found = {}
            h5["entry/xas"].visititems(lambda n, o: found.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
            return found

    got, want = series(out / "results.h5"), series(ref / "results.h5")
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(want[name]), err_msg=name)
