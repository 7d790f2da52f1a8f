"""A run stopped at any point resumes to the results of an uninterrupted run.

The full recipe (every stage) is killed again and again, at points found by watching its output
folder: after some integration chunks, after some XAS chunks, while results.h5 is assembled; with
SIGKILL (nothing is flushed), SIGTERM to the whole process group (what a batch scheduler sends at
the wall-time limit) and SIGINT to the group (Ctrl-C in a terminal). Every later run continues
with --resume, and the last one's results.h5 equals the committed digest of an uninterrupted run.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from recipe_truth import compare, digest, load

import xpipe
from xpipe.store import CheckpointStore

ROOT = Path(__file__).resolve().parents[1]
TRUTH = Path(__file__).parent / "truth" / "nvp_full.json"


def _full_recipe(folder: Path) -> Path:
    """recipes/nvp_full.yaml with absolute paths, two workers, two items per chunk, and only the
    figures every stage draws (results.h5 is the same; the test is quicker)."""
    text = (ROOT / "recipes" / "nvp_full.yaml").read_text()
    text = text.replace("../", f"{ROOT}/").replace("library: xps/", f"library: {ROOT}/recipes/xps/")
    text = text.replace("workers: auto", "workers: 2").replace("chunk_frames: 8", "chunk_frames: 2")
    text = text.replace("formats: [png, svg]", "formats: [png]").replace("dpi: 300", "dpi: 72")
    for figure in ("contour", "lattice", "timeline"):
        text = text.replace(f"\n  {figure}:\n", f"\n  {figure}:\n    enabled: false\n", 1)
    path = folder / "nvp_full.yaml"
    path.write_text(text.replace("tracked: true", "tracked: false"))
    return path


def _science(found: dict) -> dict:
    """A results digest without the count of integration engines built (one per run that
    integrated, so it grows with every resume) and without the recorded recipe settings."""
    found = dict(found)
    found.pop("entry/xrd/integration/engine_builds", None)  # volatile in the digest too
    # each stage's process record holds the recipe as this test changed it (workers, figures)
    for key in [k for k in found if k.startswith("entry/process_") and k.endswith("/parameters/data")]:
        found.pop(key)
    shape, texts = found["entry/xrd/integration/settings_json"]
    found["entry/xrd/integration/settings_json"] = [
        shape, [re.sub(r'"engine_builds": \d+', '"engine_builds": 1', t) for t in texts]]
    return found


def _chunks(out: Path, stage: str) -> int:
    return len(list((out / ".xpipe" / stage).glob("chunk_*.npz")))


def _stop_when(recipe: Path, out: Path, resume: bool, ready, sig: int, group: bool = False):
    """Start ``xpipe run`` in its own process group; send ``sig`` once ``ready()`` is true (to
    the whole group with ``group``, as a terminal or a batch scheduler does). Returns the exit
    code and standard error."""
    cmd = [sys.executable, "-m", "xpipe", "run", str(recipe), "-o", str(out), "-q"]
    proc = subprocess.Popen(cmd + (["--resume"] if resume else []), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.003)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before it could be stopped: {proc.stderr.read()[-2000:]}")
    (os.killpg if group else os.kill)(proc.pid, sig)
    try:
        # a stopped run finishes the block in flight and writes what is done: seconds, but a
        # loaded machine can stretch that; a run that never ends still fails here, with its log
        _, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"the run did not end within 180 s of signal {sig}: {err[-2000:]}")
    return proc.returncode, err


def _assembling(out: Path, seconds: float):
    """True ``seconds`` after the temporary results file first appeared."""
    seen: list[float] = []

    def ready() -> bool:
        if not seen and any(out.glob(".results.h5*")):
            seen.append(time.monotonic())
        return bool(seen) and time.monotonic() - seen[0] >= seconds

    return ready


def _interrupted_line(sig: int, err: str) -> str:
    name = signal.Signals(sig).name
    lines = [ln for ln in err.splitlines() if f"interrupted by {name}; " in ln]
    assert len(lines) == 1, err
    assert "done and kept, continue with --resume" in lines[0], lines[0]
    return lines[0]


def test_full_recipe_stopped_at_any_point_resumes_to_the_uninterrupted_results(tmp_path):
    recipe = _full_recipe(tmp_path)
    out = tmp_path / "out"

    def after(stage: str, n: int):
        before = _chunks(out, stage)
        return lambda: _chunks(out, stage) >= max(n, before + 1)

    # SIGKILL: nothing flushed; killed early, --resume must still find the chunks
    for n, resume in ((1, False), (2, True), (4, True)):
        rc, err = _stop_when(recipe, out, resume, after("xrd.integrate", n), signal.SIGKILL)
        assert rc == -signal.SIGKILL, err
    # Ctrl-C in a terminal reaches the run and its workers: one line, no traceback from anyone
    rc, err = _stop_when(recipe, out, True, after("xrd.integrate", 8), signal.SIGINT, group=True)
    assert rc == 130, err
    assert "Traceback" not in err, err
    assert " of 38 frames done and kept" in _interrupted_line(signal.SIGINT, err)
    # SIGTERM to the whole group, in the second stage with items
    rc, err = _stop_when(recipe, out, True, after("xas", 1), signal.SIGTERM, group=True)
    assert rc == 128 + signal.SIGTERM, err  # 143, as the shell says for a run killed by it
    assert "Traceback" not in err, err
    assert " of 11 spectra done and kept" in _interrupted_line(signal.SIGTERM, err)
    rc, err = _stop_when(recipe, out, True, after("xas", 3), signal.SIGKILL)
    assert rc == -signal.SIGKILL, err
    # while results.h5 is assembled from the checkpoints
    rc, err = _stop_when(recipe, out, True, _assembling(out, 2.0), signal.SIGKILL)
    assert rc == -signal.SIGKILL, err
    assert not (out / "results.h5").exists()

    done = subprocess.run([sys.executable, "-m", "xpipe", "run", str(recipe), "-o", str(out), "-q",
                           "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    problems = compare(_science(digest(out / "results.h5")), _science(load(TRUTH)))
    assert not problems, "\n".join(problems[:20])
    # every item was processed exactly once across the runs, and no temporary is left
    for stage, n in (("xrd.integrate", 38), ("xas", 11)):
        ck = CheckpointStore(out / ".xpipe" / stage)
        keys = [k for info, _ in ck.iter_chunks() for k in info["ok_keys"]]
        assert len(keys) == len(set(keys)) == n, stage
        assert not [p.name for p in ck.folder.iterdir() if p.name.startswith(".")], stage


class _ReachedTheTest(Exception):
    """The test's own SIGTERM handler ran: the run did not handle the signal."""


def _patterns(folder: Path, n: int) -> xpipe.recipe.model.LoadedRecipe:
    x = np.linspace(10.0, 20.0, 401)
    for i in range(n):
        y = 100 + 900 * np.exp(-((x - 15 - 0.01 * i) ** 2))
        np.savetxt(folder / f"p_{i:03d}.xy", np.column_stack([x, y]))
    (folder / "recipe.yaml").write_text("name: patterns\noutput: out\nrun: {chunk_frames: 2}\nxrd:\n"
                                        "  patterns: {files: 'p_*.xy', time_source: mtime}\n"
                                        "  figures: {contour: false}\n")
    return xpipe.load_recipe(folder / "recipe.yaml")


def test_sigterm_in_a_run_keeps_whole_chunks_and_restores_the_handlers(tmp_path, caplog):
    from xpipe.runner import RunInterrupted  # the exception the command line reports

    loaded = _patterns(tmp_path, 60)
    out = tmp_path / "out"
    folder = out / ".xpipe" / "xrd.patterns"
    main = threading.main_thread().ident

    def ours(signum, frame):
        raise _ReachedTheTest

    def send() -> None:
        deadline = time.monotonic() + 60
        while _chunks(out, "xrd.patterns") < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        signal.pthread_kill(main, signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, ours)
    try:
        threading.Thread(target=send, daemon=True).start()
        with caplog.at_level(logging.INFO, logger="xpipe"), pytest.raises(RunInterrupted) as info:
            xpipe.run(loaded, out, workers=1, quiet=True)
        assert signal.getsignal(signal.SIGTERM) is ours
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert info.value.signal == signal.SIGTERM and isinstance(info.value, KeyboardInterrupt)
    kept = len(CheckpointStore(folder).done_keys())
    assert 6 <= kept < 60
    line = f"interrupted by SIGTERM; {kept} of 60 patterns done and kept, continue with --resume"
    assert str(info.value) == line
    assert [r.getMessage() for r in caplog.records if "interrupted" in r.getMessage()] == [line]
    # every chunk file on disk is whole, and no temporary is left beside them
    assert len(list(CheckpointStore(folder).iter_chunks())) == _chunks(out, "xrd.patterns")
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="xpipe"):
        report = xpipe.run(loaded, out, workers=1, quiet=True, resume=True)
    assert report.exit_code == 0 and report.done == 60
    assert f"{kept} of 60 patterns already done, {60 - kept} to do" in caplog.text
