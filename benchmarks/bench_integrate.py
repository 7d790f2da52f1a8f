"""Benchmark: 1D azimuthal integration of a stack of Pilatus 1M frames, three ways.

    python benchmarks/bench_integrate.py [--frames 100] [--workdir DIR] [--keep] [--repeat 3]

Generates deterministic CBF frames (Debye-Scherrer rings, Poisson noise, module gaps at -1) and
integrates them with identical settings (1D, 2000 bins in 2th_deg, bbox/csr/cython, polarisation
0.99, solid angle, Poisson error model, detector mask + negative pixels masked) by

  (a) ``pyFAI-integrate --no-gui --json CONFIG.json -o OUTDIR FILES...``
  (b) a plain loop: ``pyFAI.load`` once, then ``fabio.open(f).data`` + ``ai.integrate1d`` per file
  (c) ``xpipe run RECIPE -o OUT -q``            (d) the same with ``--workers 2``
  (e) ``xpipe run`` on half of the frames, to show that peak memory does not grow with frames
  (f) (d) with the engine cache off: the integration engine built in the command, as on the
      first run of a geometry ((c) to (e) read the one an untimed first xpipe command kept)

Each way runs as its own subprocess: wall-clock seconds include interpreter start-up, imports and
the engine build. The ways run round-robin ``--repeat`` times and the fastest run of each is
reported (background load on a shared machine only ever slows a run down). Peak memory is the
child's max RSS (``os.wait4``: the largest single process), plus the peak of the summed PSS of
the whole process tree, sampled every 0.1 s (pool workers included, shared pages counted
proportionally). Frame generation is not timed. The script then checks that the ways give the
same intensities and exits non-zero if they do not (or if a way fails).

Not part of the test suite; run on demand. Linux only (``os.wait4``, ``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

# The measuring process stays small on purpose: a child started by a big parent inherits the
# parent's RSS in its max-RSS record (vfork/exec), so numpy/pyFAI are imported only in the
# generation subprocess and, after all timed runs, for the comparison.

NPT = 2000
UNIT = "2th_deg"
METHOD = ("bbox", "csr", "cython")
POLARIZATION = 0.99
DUMMY, DELTA_DUMMY = -1.0, 0.5
SHAPE = (1043, 981)  # Pilatus 1M, rows x columns
GEOMETRY = dict(dist=0.300, poni1=0.0908, poni2=0.0837, rot1=0.004, rot2=-0.003, rot3=0.0, wavelength=0.73e-10)
FORMAT_VERSION = 2  # bump when the generated data changes
REL_TOL_XPIPE = 1e-6  # xpipe vs plain loop (same float32 arithmetic in pyFAI)
REL_TOL_TEXT = 1e-5  # pyFAI-integrate .dat files hold 7 significant digits (%14.6e)


def bin_path(name: str) -> str:
    """A console script of the running interpreter's environment (the venv), else from PATH."""
    cand = Path(sys.executable).parent / name
    return str(cand) if cand.exists() else (shutil.which(name) or name)


def best_of(runs: dict[str, list[dict]]) -> dict[str, dict]:
    """The fastest run of each way, with the largest memory seen over its repeats and the
    spread of its times (slowest/fastest - 1)."""
    best = {}
    for key, rs in runs.items():
        b = min(rs, key=lambda r: r["seconds"])
        best[key] = dict(b, maxrss_mb=max(r["maxrss_mb"] for r in rs), tree_pss_mb=max(r["tree_pss_mb"] for r in rs),
                         spread=max(r["seconds"] for r in rs) / b["seconds"] - 1.0)
    return best


# --------------------------------------------------------------------------------- generation


def _peaks(tth, peaks, background):
    import numpy as np

    out = np.array(background, dtype=np.float64, copy=True)
    for centre, height, fwhm in peaks:
        s = fwhm / 2.3548
        out += height * np.exp(-0.5 * ((tth - centre) / s) ** 2)
    return out


def generate(workdir: Path, n: int, seed: int) -> None:
    """Frames, .poni, pyFAI-integrate JSON config, loop script and recipes into ``workdir``."""
    import fabio
    import numpy as np
    import pyFAI
    from pyFAI.detectors import detector_factory

    try:
        from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    except ImportError:  # older pyFAI
        from pyFAI.azimuthalIntegrator import AzimuthalIntegrator

    stamp = {"format": FORMAT_VERSION, "frames": n, "seed": seed, "geometry": GEOMETRY,
             "pyFAI": pyFAI.version, "fabio": fabio.version}
    frames_dir = workdir / "frames"
    stamp_path = workdir / "frames.json"
    files = [frames_dir / f"frame_{i:05d}.cbf" for i in range(n)]
    poni = workdir / "geometry.poni"
    reuse = (stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp
             and poni.is_file() and all(f.is_file() for f in files))
    if reuse:
        print(f"reusing {n} frames in {frames_dir}", flush=True)
    else:
        t0 = time.perf_counter()
        if frames_dir.exists():
            shutil.rmtree(frames_dir)
        frames_dir.mkdir(parents=True)
        det = detector_factory("Pilatus1M")
        assert tuple(det.shape) == SHAPE, det.shape
        ai = AzimuthalIntegrator(detector=det, **GEOMETRY)
        poni.unlink(missing_ok=True)  # ai.write appends to an existing file
        ai.write(str(poni))
        gaps = np.asarray(det.mask, dtype=bool)
        # Two phases exchanging weight over the series (an operando two-phase reaction) on a
        # smooth background; intensities of a few hundred counts per pixel on the rings.
        tth = np.linspace(0.0, 30.0, 6000)
        bg = 30.0 + 25.0 * np.exp(-tth / 6.0)
        phase_a = _peaks(tth, [(6.05, 900, 0.10), (9.90, 400, 0.11), (11.62, 700, 0.12),
                               (14.05, 250, 0.13), (17.23, 350, 0.14), (19.82, 180, 0.15)], bg)
        phase_b = _peaks(tth, [(6.21, 800, 0.10), (10.15, 450, 0.11), (11.93, 600, 0.12),
                               (14.42, 300, 0.13), (17.68, 300, 0.14), (20.35, 200, 0.15)], bg)
        kw = dict(dim1_unit="2th_deg", correctSolidAngle=True, polarization_factor=POLARIZATION)
        img_a = ai.calcfrom1d(tth, phase_a, **kw)
        img_b = ai.calcfrom1d(tth, phase_b, **kw)
        # calcfrom1d includes the solid angle, which is ~1 near the PONI: keep counts in range
        img_a *= 1.0 / max(img_a.max(), 1.0) * 1000.0
        img_b *= 1.0 / max(img_b.max(), 1.0) * 1000.0
        rng = np.random.default_rng(seed)
        start = datetime(2025, 3, 14, 9, 0, 0)  # one frame every 10 s, in the Pilatus header
        for i, path in enumerate(files):
            x = i / max(n - 1, 1)
            mean = (1.0 - x) * img_a + x * img_b
            frame = rng.poisson(mean).astype(np.int32)
            frame[gaps] = -1
            t = (start + timedelta(seconds=10 * i)).isoformat(timespec="milliseconds")
            header = {
                "_array_data.header_convention": "PILATUS_1.2",
                "_array_data.header_contents": "\r\n".join([
                    "# Detector: PILATUS 1M (simulated)", f"# {t}",
                    "# Pixel_size 172e-6 m x 172e-6 m", "# Exposure_time 9.5000000 s",
                    "# Exposure_period 10.0000000 s"]),
            }
            fabio.cbfimage.CbfImage(data=frame, header=header).write(str(path))
        stamp_path.write_text(json.dumps(stamp, indent=1))
        print(f"generated {n} frames {SHAPE[0]}x{SHAPE[1]} int32 CBF in {frames_dir} "
              f"({time.perf_counter() - t0:.1f} s, not timed)", flush=True)
    write_inputs(workdir, files, poni)


def write_inputs(workdir: Path, files: list[Path], poni: Path) -> None:
    """pyFAI-integrate config (checked by loading it into a pyFAI Worker), loop script, recipes."""
    from pyFAI.io.integration_config import WorkerConfig
    from pyFAI.io.ponifile import PoniFile
    from pyFAI.worker import Worker

    cfg = {
        "application": "worker",
        "version": 5,
        "poni": PoniFile(str(poni)).as_dict(),
        "nbpt_rad": NPT,
        "nbpt_azim": 1,
        "unit": UNIT,
        "polarization_description": [POLARIZATION, 0.0],
        "correct_solid_angle": True,
        "val_dummy": DUMMY,
        "delta_dummy": DELTA_DUMMY,
        "error_model": "poisson",
        "method": list(METHOD),
        "mask_file": None,  # the detector's own mask (module gaps) is used
        "dark_current": None,
        "flat_field": None,
    }
    cfg_path = workdir / "pyfai_integrate.json"
    cfg_path.write_text(json.dumps(cfg, indent=2))
    # Make sure pyFAI reads back exactly the settings meant (the app goes the same way:
    # WorkerConfig.from_file -> Worker.set_config).
    w = Worker()
    w.set_config(WorkerConfig.from_file(str(cfg_path)))
    m = w._method
    got = {
        "npt": w.nbpt_rad, "2D": w.do_2D(), "unit": str(w.unit),
        "method": (m.split_lower, m.algo_lower, m.impl_lower),
        "polarization": w.polarization_factor, "solid_angle": w.correct_solid_angle,
        "error_model": str(w.error_model.as_str() if hasattr(w.error_model, "as_str") else w.error_model).lower(),
        "dummy": (w.dummy, w.delta_dummy), "detector": w.ai.detector.name,
        "mask_pixels": int(w.ai.detector.mask.sum()),
        "dist": w.ai.dist,
    }
    want = {
        "npt": NPT, "2D": False, "unit": UNIT, "method": METHOD, "polarization": POLARIZATION,
        "solid_angle": True, "error_model": "poisson", "dummy": (DUMMY, DELTA_DUMMY),
        "detector": "Pilatus 1M", "dist": GEOMETRY["dist"],
    }
    bad = {k: (got[k], v) for k, v in want.items() if got[k] != v}
    if bad or got["mask_pixels"] == 0:
        raise SystemExit(f"pyFAI-integrate config does not apply the intended settings: {bad} {got}")

    (workdir / "files.txt").write_text("".join(f"{f}\n" for f in files))
    (workdir / "loop.py").write_text(LOOP_SCRIPT.format(npt=NPT, unit=UNIT, method=METHOD, pol=POLARIZATION,
                                                        dummy=DUMMY, delta=DELTA_DUMMY))
    rel = [str(f.relative_to(workdir)) for f in files]
    (workdir / "recipe.yaml").write_text(RECIPE.format(name="bench-integrate", files="frames/frame_*.cbf"))
    half = "\n" + "".join(f"      - {r}\n" for r in rel[: max(1, len(rel) // 2)])
    (workdir / "recipe_half.yaml").write_text(RECIPE.format(name="bench-integrate-half", files=half.rstrip("\n")))


LOOP_SCRIPT = '''"""Plain pyFAI loop: one integrator, fabio.open + integrate1d per file, one npy at the end."""
import sys
import numpy as np
import fabio
import pyFAI

poni, file_list, out = sys.argv[1:4]
files = open(file_list).read().splitlines()
ai = pyFAI.load(poni)
radial, intensity, sigma = None, [], []
for f in files:
    data = fabio.open(f).data
    res = ai.integrate1d(data, {npt}, unit="{unit}", method={method!r}, polarization_factor={pol},
                         correctSolidAngle=True, error_model="poisson", dummy={dummy}, delta_dummy={delta})
    radial = res.radial
    intensity.append(res.intensity)
    sigma.append(res.sigma)
np.save(out, np.stack([np.broadcast_to(radial, (len(files), radial.size)), np.stack(intensity), np.stack(sigma)]))
'''

RECIPE = """name: {name}
description: integration benchmark (generated)
run:
  workers: 1
xrd:
  frames:
    files: {files}
  integrate:
    poni: geometry.poni
    npt: 2000
    unit: 2th_deg
    method: bbox/csr/cython
    polarization_factor: 0.99
    correct_solid_angle: true
    error_model: poisson
    use_detector_mask: true
    mask_negative: true
  figures:
    contour: false
"""


# --------------------------------------------------------------------------------- breakdown


def memory_bandwidth_gbs(mb: int = 256, threads: int = 1, repeat: int = 5) -> float:
    """GB/s of a numpy copy of an ``mb`` MB float64 array (bytes read + bytes written), best of
    ``repeat``; with ``threads`` > 1 the array is copied in that many slices at once (numpy's copy
    releases the GIL)."""
    import numpy as np

    src = np.ones(mb * 2**20 // 8)
    dst = np.empty_like(src)
    parts = np.array_split(np.arange(src.size), threads)
    bounds = [(int(p[0]), int(p[-1]) + 1) for p in parts]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        if threads == 1:
            np.copyto(dst, src)
        else:
            ts = [threading.Thread(target=np.copyto, args=(dst[a:b], src[a:b])) for a, b in bounds]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


def breakdown(workdir: Path, n: int) -> dict:
    """Per-frame cost of each step of xpipe's integration, with the bytes each step moves, on the
    first ``n`` frames (one thread); the plain loop's two steps for comparison."""
    import hashlib
    import io

    import fabio
    import fabio.cbfimage
    import numpy as np
    import pyFAI
    from threadpoolctl import threadpool_limits

    from xpipe.io.frames.images import _check_cbf_layout, _read_cbf, _section_of, check_cbf_binary
    from xpipe.xrd.integrate import FrameIntegrator, IntegrationSettings

    threadpool_limits(1, "openmp")
    files = [workdir / "frames" / f"frame_{i:05d}.cbf" for i in range(n)]
    ai = pyFAI.load(str(workdir / "geometry.poni"))
    fi = FrameIntegrator(ai, IntegrationSettings(npt=NPT, unit=UNIT, method=METHOD, polarization_factor=POLARIZATION))
    fi.build_engines()
    bi = fi.block_engine()
    npix = bi.npix
    steps: dict[str, list[float]] = {}
    nbytes: dict[str, float] = {}

    @contextmanager
    def clock(name, first, count=1):
        """Time the block of code; frames ``first`` .. ``first + count - 1`` get equal shares."""
        t0 = time.perf_counter()
        yield
        dt = (time.perf_counter() - t0) / count
        got = steps.setdefault(name, [])
        got.extend([0.0] * (first + count - len(got)))
        for i in range(first, first + count):
            got[i] += dt

    frames = []
    for no, f in enumerate(files):
        with clock("read file", no):
            raw = f.read_bytes()
        with clock("CBF checks (layout, MD5)", no):
            section = _section_of(raw)
            _check_cbf_layout(str(f), section)
        with clock("decode (byte offset; fabio: header)", no):
            _, data = _read_cbf(raw, section)
        with clock("CBF checks (layout, MD5)", no):
            check_cbf_binary(str(f), data.shape, section=section)
        with clock("SHA-256 (provenance)", no):
            hashlib.sha256(f.read_bytes()).hexdigest()
        frames.append(data)
    blob = len(section[1])
    size = files[0].stat().st_size
    nbytes["read file"] = size
    nbytes["CBF checks (layout, MD5)"] = 2 * blob
    nbytes["decode (byte offset; fabio: header)"] = blob + 4 * npix  # reads the section, writes int32
    nbytes["SHA-256 (provenance)"] = 2 * size
    k = bi.block
    mat = bi.stacked.data.nbytes + bi.stacked.indices.nbytes + bi.stacked.indptr.nbytes
    for start in range(0, n - k + 1, k):
        part = frames[start:start + k]
        scans = []
        for i, fr in enumerate(part):
            with clock("valid pixels", start + i):
                scans.append(bi.scan(fr))
        block = bi._block_buffer("frames", k)
        with clock("block fill (to float64)", start, k):
            bi._fill_block(block, part, [sc[0] for sc in scans])
        with clock("CSR product [C; C^2] x block", start, k):
            bi.stacked @ block
        with clock("whole integration (all above)", start, k):
            res = bi.integrate(part)
        with clock("write (checkpoint of the block)", start, k):
            np.savez(io.BytesIO(), intensity=res.intensity, sigma=res.sigma)
    frames_done = (n // k) * k
    steps = {key: v[:frames_done] if len(v) >= frames_done else v for key, v in steps.items()}
    nbytes["valid pixels"] = 4 * npix  # one pass over the int32 frame
    nbytes["block fill (to float64)"] = 4 * npix * 3 + 8 * npix  # staged (read + write), transposed
    nbytes["CSR product [C; C^2] x block"] = mat / k + 8 * npix
    nbytes["write (checkpoint of the block)"] = 2 * 4 * NPT
    plain = {}
    kw = dict(unit=UNIT, method=METHOD, polarization_factor=POLARIZATION, correctSolidAngle=True,
              error_model="poisson", dummy=DUMMY, delta_dummy=DELTA_DUMMY)
    for no, f in enumerate(files[: min(n, 16)]):
        with clock("plain: fabio.open", no):
            data = fabio.open(str(f)).data
        with clock("plain: pyFAI integrate1d", no):
            ai.integrate1d(data, NPT, **kw)
    plain["plain: fabio.open"] = size + 2 * blob + 4 * npix
    # the preprocessed frame (16 bytes a pixel) written and gathered entry by entry, and the matrix
    nnz = bi.stacked.nnz // 2  # entries of C alone
    plain["plain: pyFAI integrate1d"] = 4 * npix + 16 * npix + 16 * nnz + mat / 2
    return {"steps": {k: float(np.median(v)) for k, v in steps.items()}, "bytes": {**nbytes, **plain},
            "bw1": memory_bandwidth_gbs(threads=1), "bw2": memory_bandwidth_gbs(threads=2),
            "nnz": int(nnz), "matrix_mb": mat / 1e6, "block": k, "frames": n}


def print_breakdown(b: dict) -> float:
    """Print the breakdown table; returns the bound in ms per frame (bytes / 2-thread bandwidth)."""
    print(f"\nCost per frame, one thread, median over {b['frames']} frames (Pilatus 1M, {b['nnz'] / 1e6:.2f} M "
          f"matrix entries, [C; C^2] {b['matrix_mb']:.0f} MB float64, blocks of {b['block']} frames)")
    print(f"{'step':<36} {'ms':>7} {'MB moved':>9} {'GB/s':>6}")
    own = [k for k in b["steps"] if not k.startswith("plain") and k != "whole integration (all above)"
           and k != "CSR product [C; C^2] x block"]
    own.insert(own.index("block fill (to float64)") + 1, "CSR product [C; C^2] x block")
    total_ms = total_mb = 0.0
    for key in own + ["whole integration (all above)", "plain: fabio.open", "plain: pyFAI integrate1d"]:
        ms = 1e3 * b["steps"][key]
        mb = b["bytes"].get(key)
        mbs = f"{mb / 1e6:9.1f}" if mb is not None else f"{'':>9}"
        gbs = f"{mb / 1e6 / ms:6.2f}" if mb is not None and ms > 0 else f"{'':>6}"
        print(f"{key:<36} {ms:7.2f} {mbs} {gbs}")
        if key in own:
            total_ms += ms
            total_mb += b["bytes"][key]
    bound_ms = total_mb / 1e6 / b["bw2"]
    print(f"{'xpipe, sum of the steps':<36} {total_ms:7.2f} {total_mb / 1e6:9.1f} {total_mb / 1e6 / total_ms:6.2f}")
    print(f"memory bandwidth (numpy copy of 256 MB, read + write): {b['bw1']:.2f} GB/s one thread, "
          f"{b['bw2']:.2f} GB/s two threads")
    print(f"memory-bandwidth bound of xpipe's steps: {total_mb / 1e6:.1f} MB / {b['bw2']:.2f} GB/s = {bound_ms:.2f} ms "
          f"per frame; one thread's sum of the steps is {total_ms / bound_ms:.2f}x that")
    return bound_ms


# --------------------------------------------------------------------------------- measuring


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    out.extend(int(c) for c in fh.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def _pss_kb(pid: int) -> int:
    for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            with open(f"/proc/{pid}/{name}") as fh:
                for line in fh:
                    if line.startswith(key):
                        return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return 0


class TreeSampler(threading.Thread):
    """Peak of the summed PSS of a process and all its descendants, sampled periodically."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            todo, seen = [self.pid], []
            while todo:
                p = todo.pop()
                seen.append(p)
                todo.extend(_children(p))
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(p) for p in seen))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_measured(label: str, cmd: list[str], log: Path, cwd: Path, env: dict | None = None) -> dict:
    """Run ``cmd`` as a child process (``env`` added to the environment); wall seconds, child
    max RSS and tree PSS peak."""
    with open(log, "wb") as fh:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, **(env or {})})
        sampler = TreeSampler(p.pid)
        sampler.start()
        _, status, ru = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t0
        sampler.stop()
    p.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss (KiB on Linux) covers the child and its reaped descendants: the largest one.
    return {"label": label, "cmd": cmd, "rc": p.returncode, "seconds": seconds,
            "cpu_s": ru.ru_utime + ru.ru_stime,
            "maxrss_mb": ru.ru_maxrss / 1024.0, "tree_pss_mb": sampler.peak_kb / 1024.0,
            "log": log}


# --------------------------------------------------------------------------------- checking


def max_rel(a, b, intensity=None) -> float:
    """Max |a-b|/|b| over the bins where ``intensity`` (default ``b``) exceeds 1% of the
    frame's maximum."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ref = b if intensity is None else np.asarray(intensity, np.float64)
    if a.shape != b.shape:
        return float("inf")
    sel = ref > 0.01 * np.nanmax(ref, axis=-1, keepdims=True)
    d = np.abs(a - b)[sel] / np.abs(b[sel])
    return float(np.nanmax(d)) if d.size else float("inf")


def load_pyfai_dat(outdir: Path, files: list[Path]):
    import numpy as np

    rad, inten, sig = [], [], []
    for f in files:
        arr = np.loadtxt(outdir / (f.stem + ".dat"), comments="#")
        rad.append(arr[:, 0])
        inten.append(arr[:, 1])
        sig.append(arr[:, 2] if arr.shape[1] > 2 else np.full(arr.shape[0], np.nan))
    return np.stack(rad), np.stack(inten), np.stack(sig)


def load_xpipe(results: Path, files: list[Path]):
    import numpy as np

    from xpipe.results import open_results

    with open_results(results) as res:
        s = res.patterns()
    names = [Path(p).name for p in s.source_file]
    want = [f.name for f in files[: len(names)]]
    if names != want:
        raise SystemExit(f"{results}: frames out of order or missing ({len(names)} frames)")
    return np.broadcast_to(s.radial, s.intensity.shape), s.intensity, s.sigma


# --------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=100, help="number of frames (default 100)")
    ap.add_argument("--workdir", type=Path, help="work folder (kept; frames in it are reused when they match)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    ap.add_argument("--seed", type=int, default=20250314, help="random seed of the frames")
    ap.add_argument("--workers", type=int, default=2, help="workers of the parallel xpipe run (default 2)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each way, round-robin; the table shows the fastest (default 3)")
    ap.add_argument("--breakdown-frames", type=int, default=64,
                    help="frames of the per-step cost breakdown (default 64; 0: none)")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--breakdown-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.frames < 2:
        ap.error("--frames must be >= 2")
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    if args.breakdown_only is not None:
        if args.workdir is None:
            ap.error("--breakdown-only needs --workdir")
        result = breakdown(args.workdir, min(args.frames, args.breakdown_frames))
        args.breakdown_only.write_text(json.dumps(result))
        return 0

    if args.generate_only:
        if args.workdir is None:
            ap.error("--generate-only needs --workdir")
        generate(args.workdir, args.frames, args.seed)
        return 0

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="xpipe-bench-")) if temporary else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(args, workdir)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work folder kept: {workdir}")


def _bench(args, workdir: Path) -> int:
    n = args.frames
    print(f"work folder {workdir}", flush=True)
    gen = subprocess.run([sys.executable, __file__, "--generate-only", "--frames", str(n),
                          "--workdir", str(workdir), "--seed", str(args.seed)])
    if gen.returncode:
        print("frame generation failed", file=sys.stderr)
        return 2
    files = [workdir / "frames" / f"frame_{i:05d}.cbf" for i in range(n)]
    half = max(1, n // 2)
    xp = bin_path("xpipe")
    w = str(args.workers)
    # xpipe keeps its folded integration engine in a folder of this run (emptied here): an
    # untimed first xpipe command builds and keeps it, (c) to (e) read it; (f) builds it every time
    engines = workdir / "engines"
    shutil.rmtree(engines, ignore_errors=True)
    cached, uncached = {"XPIPE_ENGINE_CACHE": str(engines)}, {"XPIPE_ENGINE_CACHE": "off"}
    plan = [  # key, label, command, output folder, frames, environment
        ("a", "pyFAI-integrate", [bin_path("pyFAI-integrate"), "--no-gui", "--json", "pyfai_integrate.json",
                                  "-o", "out_a"] + [str(f) for f in files], "out_a", n, None),
        ("b", "plain loop", [sys.executable, "loop.py", "geometry.poni", "files.txt", "out_b/loop.npy"], "out_b", n,
         None),
        ("c", "xpipe run", [xp, "run", "recipe.yaml", "-o", "out_c", "-q", "--workers", "1"], "out_c", n, cached),
        ("d", f"xpipe run --workers {w}", [xp, "run", "recipe.yaml", "-o", "out_d", "-q", "--workers", w], "out_d",
         n, cached),
        ("e", f"xpipe run, {half} frames", [xp, "run", "recipe_half.yaml", "-o", "out_e", "-q", "--workers", "1"],
         "out_e", half, cached),
        ("f", "(d), engine cache off", [xp, "run", "recipe.yaml", "-o", "out_f", "-q", "--workers", w], "out_f",
         n, uncached),
    ]
    shutil.rmtree(workdir / "out_warm", ignore_errors=True)  # a finished run there would be replayed
    warm = subprocess.run([xp, "run", "recipe_half.yaml", "-o", "out_warm", "-q", "--workers", "1"], cwd=workdir,
                          env={**os.environ, **cached}, stdout=subprocess.DEVNULL)
    if warm.returncode:  # untimed: builds and keeps the engine that (c) to (e) read
        print("the untimed first xpipe run failed", file=sys.stderr)
        return 1
    runs: dict[str, list[dict]] = {key: [] for key, *_ in plan}
    load_before = os.getloadavg()
    for rep in range(args.repeat):
        for key, label, cmd, out, frames, env in plan:  # round-robin: background load hits every way alike
            out_dir = workdir / out
            shutil.rmtree(out_dir, ignore_errors=True)
            out_dir.mkdir()
            print(f"[{rep + 1}/{args.repeat}] ({key}) {label} ...", end=" ", flush=True)
            r = run_measured(label, cmd, workdir / f"log_{key}.txt", workdir, env)
            r["frames"] = frames
            runs[key].append(r)
            print(f"{r['seconds']:.2f} s, max RSS {r['maxrss_mb']:.0f} MB", flush=True)
            if r["rc"] != 0:
                print(f"  FAILED with exit code {r['rc']}; last lines of {r['log']}:", file=sys.stderr)
                print("".join(r["log"].read_text(errors="replace").splitlines(True)[-20:]), file=sys.stderr)
                return 1
    load_after = os.getloadavg()
    parent_mb = _own_maxrss_mb()

    # ---- table: best (shortest) of the repeats; memory: the largest seen
    best = best_of(runs)
    fps = {k: r["frames"] / r["seconds"] for k, r in best.items()}
    print()
    print(f"{n} frames {SHAPE[0]}x{SHAPE[1]} int32 CBF; 1D, npt {NPT}, {UNIT}, {'/'.join(METHOD)}, polarisation "
          f"{POLARIZATION}, solid angle, poisson; {os.cpu_count()} CPUs; best of {args.repeat}; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after")
    head = (f"{'way':<28} {'frames':>6} {'seconds':>8} {'frames/s':>8} {'vs pyFAI-int':>12} {'vs loop':>8} "
            f"{'CPU s':>6} {'max RSS MB':>10} {'tree PSS MB':>11} {'spread':>6}")
    print(head)
    print("-" * len(head))
    for key, *_ in plan:
        r = best[key]
        print(f"({key}) {r['label']:<24} {r['frames']:>6} {r['seconds']:>8.2f} {fps[key]:>8.2f} "
              f"{fps[key] / fps['a']:>11.2f}x {fps[key] / fps['b']:>7.2f}x {r['cpu_s']:>6.1f} "
              f"{r['maxrss_mb']:>10.0f} {r['tree_pss_mb']:>11.0f} {100 * r['spread']:>5.0f}%")
    print(f"seconds: whole command incl. start-up (best of {args.repeat}); CPU s: user+sys of the process tree; "
          f"max RSS: largest single process; tree PSS: sampled peak of the summed PSS of all its processes; "
          f"spread: slowest/fastest - 1 (measuring parent: {parent_mb:.0f} MB)")
    e, c = best["e"], best["c"]
    if c["seconds"] > e["seconds"]:
        marginal = (c["frames"] - e["frames"]) / (c["seconds"] - e["seconds"])
        fixed = f"marginal {marginal:.1f} frames/s, fixed cost ~{e['seconds'] - e['frames'] / marginal:.1f} s"
    else:
        fixed = "marginal rate not measurable (noise)"
    print(f"memory vs frame count (xpipe, 1 worker): max RSS {e['maxrss_mb']:.0f} MB for {e['frames']} frames, "
          f"{c['maxrss_mb']:.0f} MB for {c['frames']} ({c['maxrss_mb'] - e['maxrss_mb']:+.0f} MB); {fixed}")

    # ---- where the time goes, and the memory-bandwidth bound (after the timed runs)
    bound_ms = None
    if args.breakdown_frames > 0:
        bfile = workdir / "breakdown.json"
        rc = subprocess.run([sys.executable, __file__, "--breakdown-only", str(bfile), "--workdir", str(workdir),
                             "--frames", str(n), "--breakdown-frames", str(args.breakdown_frames)]).returncode
        if rc == 0:
            bound_ms = print_breakdown(json.loads(bfile.read_text()))
        else:
            print("the breakdown failed", file=sys.stderr)
    workers = max(1, args.workers)
    steady = steady_rate(workdir / "out_d" / ".xpipe" / "xrd.integrate", workers)
    if bound_ms is not None:
        for label, rate in (("(d) steady rate after each worker's first chunk", steady),
                            ("(d) whole command", fps["d"])):
            if rate:
                print(f"{label}: {rate:.1f} frames/s = {1e3 / rate:.2f} ms per frame = "
                      f"{1e3 / rate / bound_ms:.2f}x the memory-bandwidth bound")

    print_targets(n, fps, best, steady, bound_ms)

    # ---- agreement (last run of each way)
    import numpy as np

    loop = np.load(workdir / "out_b" / "loop.npy")
    l_rad, l_int, l_sig = loop[0], loop[1], loop[2]
    ok = True
    checks = []
    for key in "cdef":
        rad, inten, sig = load_xpipe(workdir / f"out_{key}" / "results.h5", files)
        k = inten.shape[0]
        if k != best[key]["frames"]:
            print(f"({key}) holds {k} frames, expected {best[key]['frames']}")
            ok = False
            continue
        d_int = max_rel(inten, l_int[:k])
        d_sig = max_rel(sig, l_sig[:k], intensity=l_int[:k])
        d_rad = float(np.max(np.abs(rad - l_rad[:k]) / np.maximum(np.abs(l_rad[:k]), 1e-12)))
        passed = d_int <= REL_TOL_XPIPE and d_rad <= REL_TOL_XPIPE
        ok &= passed
        checks.append((f"({key}) xpipe vs (b) plain loop", d_int, d_sig, d_rad, REL_TOL_XPIPE, passed))
    rad, inten, sig = load_pyfai_dat(workdir / "out_a", files)
    d_int = max_rel(inten, l_int)
    d_sig = max_rel(sig, l_sig, intensity=l_int)
    d_rad = float(np.max(np.abs(rad - l_rad) / np.maximum(np.abs(l_rad), 1e-12)))
    passed = d_int <= REL_TOL_TEXT and d_rad <= REL_TOL_TEXT
    ok &= passed
    checks.append(("(a) pyFAI-integrate .dat vs (b)", d_int, d_sig, d_rad, REL_TOL_TEXT, passed))
    rad_c, inten_c, sig_c = load_xpipe(workdir / "out_c" / "results.h5", files)
    d_int = max_rel(inten_c, inten)
    d_sig = max_rel(sig_c, sig, intensity=inten)
    passed = d_int <= REL_TOL_TEXT
    ok &= passed
    checks.append(("(c) xpipe vs (a) pyFAI-integrate .dat", d_int, d_sig, None, REL_TOL_TEXT, passed))
    print()
    print(f"{'agreement':<38} {'max rel dI':>10} {'max rel dsigma':>14} {'max rel dradial':>15} {'tolerance':>9}")
    for name, di, ds, dr, tol, passed in checks:
        drs = "-" if dr is None else f"{dr:.2e}"
        print(f"{name:<38} {di:>10.2e} {ds:>14.2e} {drs:>15} {tol:>9.0e}  {'ok' if passed else 'FAILED'}")
    print("relative differences over the bins where the intensity exceeds 1% of the frame's maximum; "
          "pyFAI-integrate writes .dat text with 7 significant digits")
    if not ok:
        print("the ways disagree", file=sys.stderr)
        return 1
    return 0


def print_targets(n: int, fps: dict, best: dict, steady: float | None, bound_ms: float | None) -> None:
    """The speed targets of a 2-core machine, each as met or not met by this run's numbers."""
    growth = best["c"]["maxrss_mb"] / best["e"]["maxrss_mb"] - 1
    rows = [
        ("(d) vs pyFAI-integrate", fps["d"] / fps["a"], ">= 3x", fps["d"] / fps["a"] >= 3),
        ("(d) vs plain loop", fps["d"] / fps["b"], ">= 2x", fps["d"] / fps["b"] >= 2),
        ("(c) max RSS, 2x the frames of (e)", growth, "<= +10 %", growth <= 0.10),
    ]
    if steady and bound_ms:
        ratio = 1e3 / steady / bound_ms
        rows.append(("(d) steady rate vs memory-bandwidth bound", ratio, "<= 3x", ratio <= 3))
    print()
    print(f"targets ({n} frames{'' if n >= 300 else ': fewer than the 300 the targets speak of'}; "
          f"{os.cpu_count()} CPUs)")
    for name, value, target, met in rows:
        shown = f"{100 * value:+.0f} %" if "%" in target else f"{value:.2f}x"
        print(f"  {name:<44} {shown:>8}  target {target:<9} {'met' if met else 'NOT MET'}")
    print(f"  {'(f) engine cache off, vs pyFAI-integrate':<44} {fps['f'] / fps['a']:>7.2f}x  "
          f"(first run of a geometry; vs plain loop {fps['f'] / fps['b']:.2f}x)")


def steady_rate(folder: Path, workers: int) -> float | None:
    """Frames/s of the chunks that finished after the first chunk of every worker, from the
    times their checkpoints were written: start-up and the engine build left out. None with
    fewer than three such chunks."""
    import numpy as np

    chunks = sorted(folder.glob("chunk_*.npz"))
    k = min(workers, len(chunks)) - 1
    if len(chunks) - k < 4:
        return None
    later = 0
    for path in chunks[k + 1:]:
        with np.load(path, allow_pickle=False) as npz:
            later += npz["intensity"].shape[0]
    span = chunks[-1].stat().st_mtime - chunks[k].stat().st_mtime
    return later / span if span > 0 else None


def _own_maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


if __name__ == "__main__":
    sys.exit(main())
