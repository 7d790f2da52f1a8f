"""Benchmark: pyFAI's OpenCL engine against its cython CSR engine, plain and through xpipe.

    python benchmarks/bench_gpu.py [--frames 200] [--sizes pilatus1m,eiger4m] [--device gpu]
                                   [--cpu-workers N] [--opencl-workers 1] [--workdir DIR] [--keep]

For each detector size (Pilatus 1M, 1043 x 981; Eiger 4M, 2167 x 2070) the script makes
deterministic frames (Debye-Scherrer rings of two phases, Poisson noise, module gaps at -1, from
a fixed seed), writes ``--frames`` of them to files (Pilatus: CBF, one per frame; Eiger: one
HDF5 stack compressed with bitshuffle-LZ4, as the detectors write them), and integrates them
with identical settings (1D, 2000 bins in 2th_deg, bbox splitting, CSR, polarisation 0.99, solid
angle, Poisson error model, detector mask and negative pixels masked):

  (a) plain pyFAI loop, ``bbox/csr/cython``, frames in memory, OpenMP on every core
  (b) plain pyFAI loop, ``bbox/csr/opencl`` on the OpenCL device (``--device``: gpu, cpu, any)
  (c) ``xpipe run`` on the files, the recipe asking for ``bbox/csr/opencl`` (``--opencl-workers``)
  (d) ``xpipe run`` on the files with ``bbox/csr/cython``, 1 worker and ``--cpu-workers`` workers

(a) and (b) time ``--frames`` calls of ``ai.integrate1d`` after one untimed call that builds the
engine (its time is printed apart); frames cycle through 16 distinct ones held in memory. (c)
and (d) run as subprocesses; their seconds are the whole command (start-up, validation, engine
build, reading, checksums, results file). Beside them: xpipe's own rate of the stage (engine
build included) and the steady rate after each worker's first chunk of 16 frames, from the
times the checkpoints were written.

Agreement: OpenCL against cython (b vs a, c vs d) within 1e-5 relative (pyFAI's OpenCL engines
accumulate in float32 with error-compensated arithmetic, the cython ones in float64), xpipe
against the plain loop of the same engine (c vs b, d vs a) within 1e-6, over the bins above 1 %
of each frame's maximum, for intensity and sigma. The script exits 1 if a way fails or the
results disagree, 2 if there is no OpenCL device of the kind asked for.

The reference figure printed beside each rate is 1000 frames/s for a 1 Mpixel frame (1000
Mpixel/s), the low end of the 1000-2000 frames/s that pyFAI's performance notes give for a
high-end GPU (https://pyfai.readthedocs.io/en/latest/performance.html).

Not part of the test suite; run on demand (a few minutes on one GPU and 16 cores with the
defaults). Needs pyopencl and an OpenCL driver (``pip install 'xpipe[gpu]'``); on a machine
without a GPU, ``--device cpu`` with the pocl CPU runtime (pip install pocl-binary-distribution)
runs it too, slowly.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from bench_integrate import _peaks, bin_path
from machine import cpu_model

NPT = 2000
UNIT = "2th_deg"
POLARIZATION = 0.99
POOL = 16  # distinct frames held in memory for the plain loops; files cycle through them
SEED = 20250314
REL_TOL_ENGINES = 1e-5  # OpenCL (float32, compensated) against cython (float64)
REL_TOL_SAME = 1e-6  # xpipe against the plain loop of the same engine
REFERENCE_MPIX_S = 1000.0  # 1000 frames/s at 1 Mpixel

SIZES = {
    # name: (pyFAI detector, distance m, wavelength m, file format)
    "pilatus1m": ("Pilatus1M", 0.300, 0.73e-10, "cbf"),
    "eiger4m": ("Eiger4M", 0.150, 0.73e-10, "h5"),
}


# --------------------------------------------------------------------------------- data


def make_geometry(size: str):
    import pyFAI

    try:
        from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    except ImportError:  # older pyFAI
        from pyFAI.azimuthalIntegrator import AzimuthalIntegrator
    name, dist, wl, _ = SIZES[size]
    det = pyFAI.detector_factory(name)
    rows, cols = det.shape
    return AzimuthalIntegrator(dist=dist, poni1=0.47 * rows * det.pixel1, poni2=0.52 * cols * det.pixel2,
                               rot1=0.004, rot2=-0.003, rot3=0.0, wavelength=wl, detector=det)


def make_pool(ai, n: int, seed: int) -> list[np.ndarray]:
    """``n`` int32 frames: two phases exchanging weight, Poisson noise, module gaps at -1."""
    tth = np.linspace(0.0, 45.0, 9000)
    bg = 30.0 + 25.0 * np.exp(-tth / 6.0)
    a = _peaks(tth, [(6.05, 900, 0.10), (9.90, 400, 0.11), (11.62, 700, 0.12), (14.05, 250, 0.13),
                       (17.23, 350, 0.14), (19.82, 180, 0.15), (24.10, 150, 0.16)], bg)
    b = _peaks(tth, [(6.21, 800, 0.10), (10.15, 450, 0.11), (11.93, 600, 0.12), (14.42, 300, 0.13),
                       (17.68, 300, 0.14), (20.35, 200, 0.15), (24.60, 120, 0.16)], bg)
    kw = dict(dim1_unit="2th_deg", correctSolidAngle=True, polarization_factor=POLARIZATION)
    img_a, img_b = (ai.calcfrom1d(tth, p, **kw) for p in (a, b))
    img_a *= 1000.0 / max(img_a.max(), 1.0)
    img_b *= 1000.0 / max(img_b.max(), 1.0)
    gaps = np.asarray(ai.detector.mask, bool) if ai.detector.mask is not None else np.zeros(img_a.shape, bool)
    rng = np.random.default_rng(seed)
    pool = []
    for i in range(n):
        x = i / max(n - 1, 1)
        frame = rng.poisson((1.0 - x) * img_a + x * img_b).astype(np.int32)
        frame[gaps] = -1
        pool.append(frame)
    return pool


def write_frames(folder: Path, size: str, pool: list[np.ndarray], n: int) -> str:
    """Write ``n`` frames cycling through ``pool``; returns the recipe's ``files`` value."""
    fmt = SIZES[size][3]
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "cbf":
        import fabio

        start = datetime(2025, 3, 14, 9, 0, 0)
        for i in range(n):
            t = (start + timedelta(seconds=i)).isoformat(timespec="milliseconds")
            header = {"_array_data.header_convention": "PILATUS_1.2",
                      "_array_data.header_contents": f"# Detector: PILATUS 1M (simulated)\r\n# {t}\r\n"
                                                     "# Exposure_time 0.9000000 s\r\n# Exposure_period 1.0000000 s"}
            fabio.cbfimage.CbfImage(data=pool[i % len(pool)], header=header).write(str(folder / f"frame_{i:05d}.cbf"))
        return "frames/frame_*.cbf"
    import h5py
    import hdf5plugin

    shape = pool[0].shape
    with h5py.File(folder / "scan_master.h5", "w") as h5:
        d = h5.create_dataset("entry/data/data", shape=(n, *shape), dtype=np.int32, chunks=(1, *shape),
                              **hdf5plugin.Bitshuffle(cname="lz4"))
        for i in range(n):
            d[i] = pool[i % len(pool)]
    return "frames/scan_master.h5::/entry/data/data"


RECIPE = """name: bench-gpu {size} {impl}
description: GPU benchmark (generated)
run:
  workers: {workers}
  chunk_frames: 16
xrd:
  frames:
    files: {files}
  integrate:
    poni: geometry.poni
    npt: {npt}
    unit: {unit}
    method: bbox/csr/{impl}
    opencl_device: {device}
    polarization_factor: {pol}
    correct_solid_angle: true
    error_model: poisson
    use_detector_mask: true
    mask_negative: true
  figures:
    contour: false
"""


# --------------------------------------------------------------------------------- ways


def opencl_method(device: str):
    """pyFAI's 1D bbox/csr/opencl method on ``device``, chosen with pyFAI's own API."""
    import pyFAI.integrator.load_engines  # noqa: F401  (registers the OpenCL engines)
    from pyFAI.method_registry import IntegrationMethod

    if "," in device:
        p, d = (int(x) for x in device.split(","))
        hits = IntegrationMethod.select_method(1, "bbox", "csr", "opencl", target=(p, d), degradable=False)
    else:
        hits = IntegrationMethod.select_method(1, "bbox", "csr", "opencl",
                                               target_type=None if device == "any" else device, degradable=False)
    return hits[0] if hits else None


def plain_loop(ai, pool, n: int, method) -> dict:
    """``n`` timed integrate1d calls after one untimed (engine-building) call."""
    kw = dict(unit=UNIT, method=method, polarization_factor=POLARIZATION, correctSolidAngle=True,
              error_model="poisson", dummy=-1.0, delta_dummy=0.5)
    t0 = time.perf_counter()
    ai.integrate1d(pool[0], NPT, **kw)
    build = time.perf_counter() - t0
    out_i = [None] * len(pool)
    out_s = [None] * len(pool)
    t0 = time.perf_counter()
    for i in range(n):
        res = ai.integrate1d(pool[i % len(pool)], NPT, **kw)
        if i < len(pool):
            out_i[i], out_s[i] = res.intensity, res.sigma
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "build_s": build, "frames": n, "intensity": np.stack(out_i[: min(n, len(pool))]),
            "sigma": np.stack(out_s[: min(n, len(pool))]), "method": str(res.method)}


def xpipe_run(workdir: Path, size: str, impl: str, workers: int, files: str, device: str, n: int) -> dict:
    recipe = workdir / f"recipe_{impl}_{workers}.yaml"
    recipe.write_text(RECIPE.format(size=size, impl=impl, workers=workers, files=files, npt=NPT, unit=UNIT,
                                    pol=POLARIZATION, device=device))
    out = workdir / f"out_{impl}_{workers}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [bin_path("xpipe"), "run", str(recipe), "-o", str(out), "-q", "--workers", str(workers)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    seconds = time.perf_counter() - t0
    row = {"seconds": seconds, "frames": n, "rc": res.returncode, "stderr": res.stderr, "cmd": " ".join(cmd)}
    if res.returncode != 0:
        return row
    import h5py

    with h5py.File(out / "results.h5") as h5:
        g = h5["entry/xrd/integrated"]
        row["intensity"], row["sigma"] = g["intensity"][()], g["sigma"][()]
        proc = h5["entry/xrd/integration"]
        row["method"] = proc["method_used"][()].decode()
        row["engine_builds"] = int(proc["engine_builds"][()])
    runs = json.loads((out / ".xpipe" / "runs.json").read_text())
    row["stage_rate"] = next((r.get("rate_per_s") for r in runs if r.get("stage") == "xrd.integrate"), None)
    row["steady_rate"] = steady_rate(out / ".xpipe" / "xrd.integrate", workers)
    return row


def steady_rate(folder: Path, workers: int) -> float | None:
    """Frames/s of the chunks that finished after the first chunk of every worker, from the
    times the checkpoints were written (in finishing order): start-up and engine builds left out.
    None with too few chunks."""
    chunks = sorted(folder.glob("chunk_*.npz"))
    k = min(workers, len(chunks)) - 1  # the first chunk of the last worker to deliver one
    if len(chunks) - k < 3:
        return None
    later = 0
    for path in chunks[k + 1:]:
        with np.load(path, allow_pickle=False) as npz:
            later += npz["index"].size
    span = chunks[-1].stat().st_mtime - chunks[k].stat().st_mtime
    return later / span if span > 0 else None


# --------------------------------------------------------------------------------- checks


def max_rel(a, b, ref) -> float:
    """Max |a-b|/|b| over the bins where ``ref`` exceeds 1 % of its frame's maximum."""
    a, b, ref = (np.asarray(x, np.float64) for x in (a, b, ref))
    if a.shape != b.shape:
        return float("inf")
    sel = ref > 0.01 * np.nanmax(ref, axis=-1, keepdims=True)
    d = np.abs(a - b)[sel] / np.abs(b[sel])
    return float(np.nanmax(d)) if d.size else float("inf")


def cycled(stack: np.ndarray, n: int) -> np.ndarray:
    """The loop's results (one per pool frame) in the order of ``n`` files."""
    return stack[np.arange(n) % len(stack)]


# --------------------------------------------------------------------------------- main


def versions() -> str:
    import fabio
    import h5py
    import pyFAI

    import xpipe

    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}", f"pyFAI {pyFAI.version}",
             f"fabio {fabio.version}", f"h5py {h5py.__version__}", f"xpipe {xpipe.__version__}"]
    try:
        import pyopencl

        parts.append(f"pyopencl {pyopencl.VERSION_TEXT}")
    except ImportError:
        parts.append("pyopencl not installed")
    return ", ".join(parts)


def device_line(method) -> str:
    from pyFAI.opencl import ocl

    p, d = method.target
    dev = ocl.platforms[p].devices[d]
    return (f"OpenCL device ({p},{d}): {dev.name} [{dev.type}], platform {ocl.platforms[p].name} "
            f"{ocl.platforms[p].version}, driver {getattr(dev, 'driver_version', '?')}, "
            f"{dev.memory / 2**30:.1f} GiB, {dev.cores} compute units")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200, help="frames per size and way (default 200)")
    ap.add_argument("--sizes", default="pilatus1m,eiger4m", help="comma-separated: pilatus1m, eiger4m")
    ap.add_argument("--device", default="gpu", help="OpenCL device: gpu (default), cpu, any or 'platform,device'")
    ap.add_argument("--cpu-workers", type=int, default=os.cpu_count() or 1,
                    help="workers of the parallel cython xpipe run (default: CPU count)")
    ap.add_argument("--opencl-workers", type=int, default=1, help="workers of the OpenCL xpipe run (default 1)")
    ap.add_argument("--no-xpipe", action="store_true", help="only the plain loops (a) and (b)")
    ap.add_argument("--workdir", type=Path, help="work folder (kept)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    args = ap.parse_args(argv)
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad or not sizes:
        ap.error(f"unknown size(s) {bad}; choose from {', '.join(SIZES)}")
    if args.frames < 2:
        ap.error("--frames must be >= 2")

    print(versions())
    print(f"{os.cpu_count()} CPUs ({cpu_model()}); load average {os.getloadavg()[0]:.2f}")
    method = opencl_method(args.device)
    if method is None:
        from xpipe.xrd.opencl import select_opencl

        print(f"no OpenCL device '{args.device}': {select_opencl(1, 'bbox', 'csr', args.device)[1]}", file=sys.stderr)
        return 2
    print(device_line(method))
    print(f"settings: 1D, {NPT} bins in {UNIT}, bbox/csr, polarisation {POLARIZATION}, solid angle, poisson; "
          f"{args.frames} frames per way; tolerances {REL_TOL_ENGINES:g} (OpenCL vs cython), "
          f"{REL_TOL_SAME:g} (xpipe vs plain loop)", flush=True)

    temporary = args.workdir is None
    root = Path(tempfile.mkdtemp(prefix="xpipe-bench-gpu-")) if temporary else args.workdir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    ok = True
    tables = []
    try:
        for size in sizes:
            good, table = bench_size(args, size, root / size, method)
            ok &= good
            tables.append(table)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"work folder kept: {root}")
    if len(tables) > 1:
        print()
        for table in tables:
            print(table + "\n")
    if not ok:
        print("FAILED: a way failed or the results disagree", file=sys.stderr)
        return 1
    return 0


def bench_size(args, size: str, workdir: Path, ocl_method) -> tuple[bool, str]:
    n = args.frames
    workdir.mkdir(parents=True, exist_ok=True)
    ai = make_geometry(size)
    rows_px, cols_px = ai.detector.shape
    mpix = rows_px * cols_px / 1e6
    print(f"\n== {size}: {rows_px} x {cols_px} ({mpix:.2f} Mpixel)", flush=True)
    t0 = time.perf_counter()
    pool = make_pool(ai, min(POOL, n), SEED)
    (workdir / "geometry.poni").unlink(missing_ok=True)
    ai.write(str(workdir / "geometry.poni"))
    files = write_frames(workdir / "frames", size, pool, n) if not args.no_xpipe else None
    print(f"frames made and written in {time.perf_counter() - t0:.1f} s (not timed)", flush=True)

    rows: list[tuple[str, dict]] = []
    print("(a) plain loop, bbox/csr/cython ...", end=" ", flush=True)
    a = plain_loop(ai, pool, n, ("bbox", "csr", "cython"))
    print(f"{a['seconds']:.2f} s", flush=True)
    rows.append(("(a) pyFAI loop, cython CSR", a))
    print("(b) plain loop, bbox/csr/opencl ...", end=" ", flush=True)
    b = plain_loop(ai, pool, n, ocl_method)
    print(f"{b['seconds']:.2f} s", flush=True)
    rows.append(("(b) pyFAI loop, OpenCL CSR", b))
    ai.reset_engines()
    del ai

    checks = [("(b) OpenCL loop vs (a) cython loop", b, a, REL_TOL_ENGINES)]
    failures = []
    if not args.no_xpipe:
        plan = [(f"(c) xpipe run, opencl, {args.opencl_workers} worker(s)", "opencl", args.opencl_workers),
                ("(d) xpipe run, cython, 1 worker", "cython", 1)]
        if args.cpu_workers > 1:
            plan.append((f"(d) xpipe run, cython, {args.cpu_workers} workers", "cython", args.cpu_workers))
        runs = {}
        for label, impl, workers in plan:
            print(f"{label} ...", end=" ", flush=True)
            r = xpipe_run(workdir, size, impl, workers, files, args.device, n)
            print(f"{r['seconds']:.2f} s" + ("" if r["rc"] == 0 else f" FAILED (exit {r['rc']})"), flush=True)
            if r["rc"] != 0:
                failures.append(f"{label}: exit {r['rc']}\n{r['stderr'][-3000:]}")
                continue
            rows.append((label, r))
            runs[(impl, workers)] = r
        c = runs.get(("opencl", args.opencl_workers))
        d = runs.get(("cython", 1))
        loop_a = dict(intensity=cycled(a["intensity"], n), sigma=cycled(a["sigma"], n))
        loop_b = dict(intensity=cycled(b["intensity"], n), sigma=cycled(b["sigma"], n))
        if c is not None:
            checks.append(("(c) xpipe opencl vs (b) OpenCL loop", c, loop_b, REL_TOL_SAME))
        if d is not None:
            checks.append(("(d) xpipe cython vs (a) cython loop", d, loop_a, REL_TOL_SAME))
        if c is not None and d is not None:
            checks.append(("(c) xpipe opencl vs (d) xpipe cython", c, d, REL_TOL_ENGINES))
        for (impl, workers), r in runs.items():
            if impl == "cython" and workers > 1:
                checks.append((f"(d) {workers} workers vs (a) cython loop", r, loop_a, REL_TOL_SAME))

    base = rows[0][1]["frames"] / rows[0][1]["seconds"]
    lines = [f"{size}: {rows_px} x {cols_px} ({mpix:.2f} Mpixel), {n} frames",
             f"{'way':<40} {'seconds':>8} {'frames/s':>9} {'Mpix/s':>8} {'vs (a)':>7} {'vs 1000 Mpix/s':>14} "
             f"{'engine s':>8} {'stage f/s':>9} {'steady f/s':>10}  method used"]
    lines.append("-" * len(lines[1]))
    for label, r in rows:
        fps = r["frames"] / r["seconds"]
        build = f"{r['build_s']:.2f}" if "build_s" in r else ""
        stage = f"{r['stage_rate']:.1f}" if r.get("stage_rate") else ""
        steady = f"{r['steady_rate']:.1f}" if r.get("steady_rate") else ""
        lines.append(f"{label:<40} {r['seconds']:>8.2f} {fps:>9.1f} {fps * mpix:>8.0f} {fps / base:>6.2f}x "
                     f"{100 * fps * mpix / REFERENCE_MPIX_S:>13.1f}% {build:>8} {stage:>9} {steady:>10}  "
                     f"{r.get('method', '')}" + (f" [{r['engine_builds']} engine build(s)]" if "engine_builds" in r else ""))
    lines.append("seconds: (a), (b) integrate1d calls only, engine built before (engine s); (c), (d) the whole "
                 "'xpipe run' command; stage f/s: xpipe's own rate of the integrate stage (engine build and "
                 "reading included); steady f/s: after each worker's first chunk of 16 frames, from checkpoint "
                 "times; "
                 "vs 1000 Mpix/s: share of 1000 frames/s at 1 Mpixel (frames/s column)")
    ok = not failures
    lines.append(f"{'agreement':<44} {'max rel dI':>10} {'max rel dsigma':>14} {'tolerance':>9}")
    for name, x, y, tol in checks:
        di = max_rel(x["intensity"], y["intensity"], y["intensity"])
        ds = max_rel(x["sigma"], y["sigma"], y["intensity"])
        passed = di <= tol and ds <= tol
        ok &= passed
        lines.append(f"{name:<44} {di:>10.2e} {ds:>14.2e} {tol:>9.0e}  {'ok' if passed else 'FAILED'}")
    lines.append("relative differences over the bins above 1 % of each frame's maximum")
    lines.extend(failures)
    table = "\n".join(lines)
    print(table, flush=True)
    return ok, table


if __name__ == "__main__":
    sys.exit(main())
