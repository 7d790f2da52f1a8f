"""xpipe watch: frames processed while a writer is still producing them (CBF files dropped into a
folder, some half-written first; a growing SWMR HDF5 stack), each exactly once, the same numbers
as a batch run, stop with SIGINT and restart, and results.h5 readable at every moment."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import make_ai, ring_frame, write_recipe

from xpipe.cli import main
from xpipe.executor import SerialExecutor
from xpipe.recipe.model import load_recipe
from xpipe.runner import run
from xpipe.store import CheckpointStore
from xpipe.watch import Watch, WatchOptions, load_live_recipe

RECIPE = """\
name: watch test
run:
  chunk_frames: 2
xrd:
  frames:
    files: {files}
{frames_extra}  integrate:
    poni: geometry.poni
    npt: 400
"""

FAST = ["--poll-s", "0.1", "--settle-s", "0.5", "--redraw-every", "2", "--redraw-s", "0.5"]

# Copies prepared frames into place one by one; a frame with "split" is written half first,
# flushed, and completed "split" seconds later, as a slow detector or network copy does.
CBF_WRITER = """\
import json, sys, time
for step in json.load(open(sys.argv[1])):
    time.sleep(step["wait"])
    data = open(step["src"], "rb").read()
    with open(step["dst"], "wb") as fh:
        half = len(data) // 2 if step["split"] else 0
        fh.write(data[:half])
        fh.flush()
        time.sleep(step["split"])
        fh.write(data[half:])
"""

# Appends frames to a resizable /entry/data/data in SWMR mode, each frame's time after it.
H5_WRITER = """\
import sys, time
import h5py, numpy as np
frames = np.load(sys.argv[2])
with h5py.File(sys.argv[1], "w", libver="latest") as h5:
    h5["/entry/start_time"] = "2025-03-14T09:00:00"
    data = h5.create_dataset("/entry/data/data", (0,) + frames.shape[1:], maxshape=(None,) + frames.shape[1:],
                             dtype=frames.dtype, chunks=(1,) + frames.shape[1:])
    times = h5.create_dataset("/entry/data/time_s", (0,), maxshape=(None,), dtype="f8")
    h5.swmr_mode = True
    for i, frame in enumerate(frames):
        time.sleep(float(sys.argv[3]))
        data.resize(i + 1, axis=0)
        data[i] = frame
        data.flush()
        times.resize(i + 1, axis=0)
        times[i] = 60.0 * i
        times.flush()
"""


def _header(i: int) -> dict:
    return {"_array_data.header_contents": f"# 2025-03-14T09:{i:02d}:00.000\r\n# Exposure_time 30.000000 s\r\n"}


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """12 CBF frames with a shifting ring, ready to be dropped into a watched folder."""
    import fabio

    folder = tmp_path_factory.mktemp("staged")
    ai = make_ai()
    ai.write(str(folder / "geometry.poni"))
    rng = np.random.default_rng(5)
    frames = []
    for i in range(12):
        img = ring_frame(ai, [8.0 + 0.05 * i, 12.5, 15.0], rng)
        fabio.cbfimage.CbfImage(data=img, header=_header(i)).write(str(folder / f"frame_{i + 1}.cbf"))
        frames.append(img)
    np.save(folder / "frames.npy", np.stack(frames[:8]))
    return folder


def _folder(staged: Path, tmp_path: Path, files: str, frames_extra: str = "") -> tuple[Path, Path]:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(staged / "geometry.poni", data)
    recipe = write_recipe(data, RECIPE.format(files=files, frames_extra=frames_extra))
    return data, recipe


def _start_writer(tmp_path: Path, staged: Path, data: Path, n: int, first: int = 1, wait_s: float = 0.2,
                  splits: dict[int, float] | None = None) -> subprocess.Popen:
    plan = [{"src": str(staged / f"frame_{i}.cbf"), "dst": str(data / f"frame_{i}.cbf"),
             "wait": wait_s, "split": (splits or {}).get(i, 0.0)} for i in range(first, first + n)]
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    (tmp_path / "writer.py").write_text(CBF_WRITER)
    return subprocess.Popen([sys.executable, str(tmp_path / "writer.py"), str(tmp_path / "plan.json")])


class Watcher:
    """``xpipe watch`` in a subprocess, its log in a file (no pipe to fill up)."""

    def __init__(self, recipe: Path, out: Path, *args: str, log: Path, own_group: bool = False) -> None:
        self.log = log
        self._fh = open(log, "w")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen([sys.executable, "-m", "xpipe", "watch", str(recipe), "-o", str(out), *args],
                                     stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=own_group)

    def text(self) -> str:
        return self.log.read_text()

    def started(self, timeout_s: float = 120.0) -> None:
        wait_for(lambda: "watching" in self.text() or self.proc.poll() is not None, timeout_s)
        assert self.proc.poll() is None, self.text()

    def wait(self, timeout_s: float = 180.0) -> int:
        try:
            rc = self.proc.wait(timeout_s)
        finally:
            self.kill()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._fh.close()


def wait_for(condition, timeout_s: float, every_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(every_s)


def checkpoints(out: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Keys of every frame done, and every failure recorded, over all chunks."""
    ok, failed = [], []
    for info, _ in CheckpointStore(out / ".xpipe" / "xrd.integrate").iter_chunks():
        ok.extend(info["ok_keys"])
        failed.extend(info["failures"])
    return ok, failed


def integrated(path: Path) -> dict:
    with h5py.File(path) as h5:
        g = h5["entry/xrd/integrated"]
        out = {k: g[k][()] for k in ("intensity", "sigma", "frame_time_s", "source_file", "frame_index")}
        out["failed"] = h5["entry/xrd/failed/source_file"][()]
    return out


def batch(recipe: Path, out: Path) -> dict:
    report = run(load_recipe(recipe), out, executor=SerialExecutor(), quiet=True)
    assert report.exit_code == 0
    return integrated(out / "results.h5")


def assert_same(watched: dict, reference: dict) -> None:
    for key in ("intensity", "sigma", "frame_time_s", "source_file", "frame_index"):
        np.testing.assert_array_equal(watched[key], reference[key], err_msg=key)


def assert_exactly_once(out: Path, n: int) -> None:
    ok, failed = checkpoints(out)
    assert failed == []
    assert len(ok) == n and len(set(ok)) == n


# ----------------------------------------------------------------------------- CBF files


@pytest.fixture(scope="module")
def cbf_watch(staged, tmp_path_factory):
    """One watch over 10 CBF frames dropped in over a few seconds (three written in two halves,
    one of them paused longer than the settle time), results.h5 read all along."""
    tmp = tmp_path_factory.mktemp("cbf_watch")
    data, recipe = _folder(staged, tmp, '"frame_*.cbf"')
    out = tmp / "out"
    watcher = Watcher(recipe, out, *FAST, "--idle-timeout-s", "3", "--workers", "2", log=tmp / "watch.log")
    reads: list[int] = []
    errors: list[str] = []
    try:
        watcher.started()
        writer = _start_writer(tmp, staged, data, 10, splits={2: 0.3, 5: 0.3, 8: 1.2})
        while watcher.proc.poll() is None:
            if (out / "results.h5").exists():
                try:
                    with h5py.File(out / "results.h5", "r") as h5:
                        g = h5["entry/xrd/integrated"]
                        n = g["intensity"].shape[0]
                        assert g["source_file"].shape == (n,)
                        reads.append(n)
                except Exception as exc:  # noqa: BLE001 - recorded and asserted on below
                    errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.02)
        rc = watcher.wait()
        assert writer.wait(60) == 0
    finally:
        watcher.kill()
    return data, recipe, out, rc, watcher.text(), reads, errors


def test_every_frame_once_and_the_batch_numbers(cbf_watch):
    data, recipe, out, rc, log, _, _ = cbf_watch
    assert rc == 0, log
    assert "Traceback" not in log and "WARNING" not in log and "ERROR" not in log, log
    assert_exactly_once(out, 10)
    watched = integrated(out / "results.h5")
    assert watched["failed"].shape == (0,)
    assert_same(watched, batch(recipe, data / "batch"))
    # the final assembly is the complete one: summary and figures as xpipe run writes them
    assert (out / "summary.json").is_file() and (out / "figures" / "xrd_contour.png").is_file()
    with h5py.File(out / "results.h5") as h5:
        assert "xpipe_watch" not in h5.attrs
        assert json.loads(h5["entry/provenance/runs"][()])[-1]["mode"] == "watch"
    # a later plain xpipe run of the same files reuses the watch's checkpoints
    def chunks() -> list[tuple[str, int]]:
        return sorted((p.name, p.stat().st_mtime_ns) for p in (out / ".xpipe" / "xrd.integrate").glob("chunk_*.npz"))

    before = chunks()
    assert_same(batch(recipe, out), watched)
    assert chunks() == before
    assert_exactly_once(out, 10)


def test_results_file_is_readable_whenever_it_is_rewritten(cbf_watch):
    *_, rc, log, reads, errors = cbf_watch
    assert rc == 0, log
    assert errors == []
    assert reads, "results.h5 never appeared while the watch ran"
    assert len(set(reads)) >= 2, f"expected intermediate updates while frames arrived, read {sorted(set(reads))}"
    assert reads == sorted(reads)


# ----------------------------------------------------------------------------- growing HDF5


def test_growing_swmr_hdf5_stack(staged, tmp_path):
    extra = "    hdf5_time_dataset: /entry/data/time_s\n"
    data, recipe = _folder(staged, tmp_path, '"scan.h5::/entry/data/data"', extra)
    out = tmp_path / "out"
    (tmp_path / "h5writer.py").write_text(H5_WRITER)
    watcher = Watcher(recipe, out, *FAST, "--idle-timeout-s", "3", "--workers", "1", log=tmp_path / "watch.log")
    try:
        watcher.started()
        writer = subprocess.Popen([sys.executable, str(tmp_path / "h5writer.py"), str(data / "scan.h5"),
                                   str(staged / "frames.npy"), "0.3"])
        rc = watcher.wait()
        assert writer.wait(60) == 0
    finally:
        watcher.kill()
    log = watcher.text()
    assert rc == 0, log
    assert "Traceback" not in log and "WARNING" not in log and "ERROR" not in log, log
    assert_exactly_once(out, 8)
    watched = integrated(out / "results.h5")
    np.testing.assert_array_equal(watched["frame_time_s"], 60.0 * np.arange(8))  # no exposure time recorded
    assert_same(watched, batch(recipe, data / "batch"))


# ----------------------------------------------------------------------------- stop and restart


def test_stopped_with_sigint_then_restarted_continues(staged, tmp_path):
    data, recipe = _folder(staged, tmp_path, '"frame_*.cbf"')
    out = tmp_path / "out"
    first = Watcher(recipe, out, *FAST, "--idle-timeout-s", "0", "--workers", "1", log=tmp_path / "first.log")
    try:
        first.started()
        writer = _start_writer(tmp_path, staged, data, 12, wait_s=0.3, splits={3: 0.3, 9: 0.3})
        wait_for(lambda: len(checkpoints(out)[0]) >= 3, 120)
        first.proc.send_signal(signal.SIGINT)
        assert first.wait() == 0, first.text()
    finally:
        first.kill()
    assert "SIGINT" in first.text() and "Traceback" not in first.text()
    done_first = checkpoints(out)[0]
    # the results of the frames done so far were assembled on the way out
    assert integrated(out / "results.h5")["source_file"].shape == (len(done_first),)

    second = Watcher(recipe, out, *FAST, "--idle-timeout-s", "3", "--workers", "1", log=tmp_path / "second.log")
    try:
        rc = second.wait()
        assert writer.wait(60) == 0
    finally:
        second.kill()
    assert rc == 0, second.text()
    assert f"{len(set(done_first))} frames already done" in second.text()
    assert_exactly_once(out, 12)
    assert_same(integrated(out / "results.h5"), batch(recipe, data / "batch"))

    # a restart with a changed recipe is refused, and nothing is touched
    changed = write_recipe(data, recipe.read_text().replace("npt: 400", "npt: 500"), "changed.yaml")
    before = sorted(os.listdir(out / ".xpipe" / "xrd.integrate"))
    assert main(["watch", str(changed), "-o", str(out), "-q"]) == 2
    assert sorted(os.listdir(out / ".xpipe" / "xrd.integrate")) == before


def test_a_frame_read_too_early_is_tried_again_and_a_broken_one_recorded_once(staged, tmp_path):
    data, recipe = _folder(staged, tmp_path, '"frame_*.cbf"')
    shutil.copy(staged / "frame_1.cbf", data)
    (data / "frame_2.cbf").write_bytes(os.urandom(5000))  # never a frame
    whole = (staged / "frame_3.cbf").read_bytes()
    (data / "frame_3.cbf").write_bytes(whole[: len(whole) // 2])  # completed only once it was tried
    out = tmp_path / "out"
    options = WatchOptions(poll_s=0.05, settle_s=0.2, retry_s=1.0, idle_timeout_s=1.0, redraw_every=100, redraw_s=100)
    with Watch(load_live_recipe(recipe), out, options, quiet=True) as session:
        def complete() -> None:
            wait_for(lambda: any(k.endswith("frame_3.cbf") for k in list(session.first_failure)), 60)
            with open(data / "frame_3.cbf", "ab") as fh:
                fh.write(whole[len(whole) // 2 :])

        writer = threading.Thread(target=complete, daemon=True)
        writer.start()
        report = session.run(SerialExecutor())
        writer.join(10)
    ok, failed = checkpoints(out)
    assert sorted(Path(k).name for k in ok) == ["frame_1.cbf", "frame_3.cbf"]
    assert [Path(k).name for k, _ in failed] == ["frame_2.cbf"]  # recorded once, after the retries
    assert report.exit_code == 1 and "frame_2.cbf" in report.failed[0][1]
    watched = integrated(out / "results.h5")
    assert [Path(f.decode()).name for f in watched["failed"]] == ["frame_2.cbf"]


def test_recipe_without_frames_is_refused_naming_the_key(tmp_path, capsys):
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "nvp_xps.yaml"
    assert main(["watch", str(recipe), "-o", str(tmp_path / "out")]) == 2
    assert "has no xrd.frames (2D frames) or xrd.patterns" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_eiger_master_frames_wait_for_their_time_in_the_series(tmp_path):
    """With hdf5_time_dataset on an Eiger master of several data files, a frame of the second
    file waits for its own time: its place in the series, not its index in the file."""
    from xpipe.io.frames import expand_inputs
    from xpipe.watch import _Readiness

    for k, n in ((1, 3), (2, 2)):
        with h5py.File(tmp_path / f"s_data_{k:06d}.h5", "w") as h5:
            h5["entry/data/data"] = np.zeros((n, 4, 5), np.uint32)
    with h5py.File(tmp_path / "s_master.h5", "w") as h5:
        for k in (1, 2):
            h5[f"entry/data/data_{k:06d}"] = h5py.ExternalLink(f"s_data_{k:06d}.h5", "/entry/data/data")
        h5["entry/data/time_s"] = np.arange(4) * 0.5  # the fifth frame's time is not written yet
    refs = expand_inputs(str(tmp_path / "s_master.h5"), tmp_path)
    assert len(refs) == 5
    ready = _Readiness(0.0, "/entry/data/time_s").ready(refs, set(), now=0.0)
    assert ready == {r.key for r in refs[:4]}


@pytest.mark.parametrize("executor", [["--workers", "2"], ["--dask-local", "1"]], ids=["processes", "dask"])
def test_ctrl_c_to_the_whole_process_group_stops_cleanly(staged, tmp_path, executor):
    """Ctrl-C in a terminal signals the watch and every worker process it started; only the
    watch acts on it: the workers finish what they hold, nothing dies with a traceback, and
    the results of every frame done are assembled."""
    data, recipe = _folder(staged, tmp_path, '"frame_*.cbf"')
    out = tmp_path / "out"
    watcher = Watcher(recipe, out, *FAST, "--idle-timeout-s", "0", *executor, log=tmp_path / "watch.log",
                      own_group=True)
    try:
        watcher.started()
        writer = _start_writer(tmp_path, staged, data, 12, wait_s=0.2)
        wait_for(lambda: len(checkpoints(out)[0]) >= 4, 120)
        os.killpg(watcher.proc.pid, signal.SIGINT)
        rc = watcher.wait()
        assert writer.wait(60) == 0
    finally:
        watcher.kill()
    log = watcher.text()
    assert rc == 0, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
    ok, failed = checkpoints(out)
    assert failed == [] and len(ok) == len(set(ok)) >= 4
    assert integrated(out / "results.h5")["intensity"].shape[0] == len(ok)
