"""Benchmark: how ``xpipe run`` scales with workers and executors, and what memory a long
stream of 4-Mpixel frames takes.

    python benchmarks/bench_scale.py [--frames 400] [--repeat 3] [--workdir DIR] [--keep]
    python benchmarks/bench_scale.py --memory [--memory-frames 2000] [--memory-workers 2] [--workdir DIR] [--keep]

Throughput (the default mode). The Pilatus 1M CBF frames of ``bench_integrate.py`` (its
generator, its recipe: 1D, 2000 bins in 2th_deg, bbox/csr/cython, polarisation 0.99, solid
angle, Poisson error model, detector mask + negative pixels masked) are integrated by

  (a) ``xpipe run RECIPE --workers 1``      one process (serial executor)
  (b) ``xpipe run RECIPE --workers 2``      two local processes
  (c) ``xpipe run RECIPE --dask-local 1``   a Dask LocalCluster of one worker process
  (d) ``xpipe run RECIPE --dask-local 2``   a Dask LocalCluster of two worker processes
  (e) the plain loop of bench_integrate.py: ``pyFAI.load`` once, ``fabio.open`` + ``integrate1d``
      per file, same settings

Each way runs as its own subprocess, round-robin ``--repeat`` times; the table shows the
fastest run of each. Wall seconds include interpreter start-up, imports, the engine build and,
for Dask, starting and stopping the cluster. Memory: the largest single process (``wait4``'s
max RSS, which covers every descendant that was waited for, cross-checked with the sampled
VmHWM of every process seen) and the sampled peak of the summed PSS of the whole process tree
(pool workers, Dask's worker processes started by the nanny, the multiprocessing resource
tracker). Every way must give the same intensities and sigmas as (a), bin for bin, to 1e-12
relative (they are expected to be identical); otherwise the script exits 1.

Memory (``--memory``). ``--memory-frames`` (default 2000) frames of a 2048 x 2048 detector with
75 um pixels are written as an Eiger-like HDF5 set: data files of ``--memory-frames``/10 frames
each (uint32, bitshuffle-LZ4 through hdf5plugin, one chunk per frame) and master files whose
``/entry/data/data_NNNNNN`` are external links to them: one master with the first data file
only, one with all. The frames are Poisson noise (a seed per frame) over Debye-Scherrer rings
of two phases that exchange weight over the series, at the low counts of a real 4M frame (mean
below one count per pixel, rings up to about 20). ``xpipe run`` then integrates the first tenth
and all of the frames with the same recipe except the master file, and the script prints the
peak memory of both: it should not depend on the number of frames. Generation is not timed.

Not part of the test suite; run on demand. Linux only (``os.wait4``, ``/proc``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bench_integrate as bi  # the frame generator, recipe, loop script and measuring helpers
from machine import cpu_model

# The measuring process stays small (see bench_integrate.py): numpy, h5py, pyFAI and xpipe are
# imported only in the generation subprocess and, after all timed runs, for the comparison.

REL_TOL = 1e-12  # every executor against the serial run (expected: identical)

MEM_SHAPE = (2048, 2048)
MEM_PIXEL_M = 75e-6
MEM_GEOMETRY = dict(dist=0.150, poni1=0.0772, poni2=0.0760, rot1=0.003, rot2=-0.002, rot3=0.0, wavelength=0.5e-10)
MEM_PEAK_COUNTS = 20.0  # counts at the strongest ring's maximum
MEM_FRAME_TIME_S = 0.1
MEM_FORMAT_VERSION = 1  # bump when the generated data change
MEM_EST_MB_PER_FRAME = 2.0  # compressed size per frame assumed for the disk check (measured: about 1.1)


# --------------------------------------------------------------------------------- measuring


def _stat(pid: int) -> tuple[float, int] | None:
    """(user+system CPU seconds, VmHWM KiB) of a live process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        hwm = 0
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                    break
        return cpu, hwm
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class TreeSampler(threading.Thread):
    """Samples a process tree: peak summed PSS, peak process count, and per process its peak
    PSS, VmHWM and last CPU time. Children are found through ``/proc/PID/task/*/children``, so
    processes started by any means (fork, spawn, a Dask nanny) are counted while they live."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.peak_procs = 0
        self.procs: dict[int, dict] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            todo, seen = [self.pid], []
            while todo:
                p = todo.pop()
                seen.append(p)
                todo.extend(bi._children(p))
            total = 0
            for p in seen:
                pss = bi._pss_kb(p)
                total += pss
                st = _stat(p)
                rec = self.procs.get(p)
                if rec is None:
                    rec = self.procs[p] = {"cmd": _cmdline(p), "pss_kb": 0, "hwm_kb": 0, "cpu_s": 0.0}
                rec["pss_kb"] = max(rec["pss_kb"], pss)
                if st is not None:
                    rec["cpu_s"] = max(rec["cpu_s"], st[0])
                    rec["hwm_kb"] = max(rec["hwm_kb"], st[1])
            self.peak_kb = max(self.peak_kb, total)
            self.peak_procs = max(self.peak_procs, len(seen))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def kinds(self) -> list[tuple[str, float]]:
        """(kind, peak PSS MB) of every process seen, the measured command first."""
        root = self.procs.get(self.pid, {}).get("cmd", "")
        out = []
        for pid, rec in sorted(self.procs.items(), key=lambda kv: (kv[0] != self.pid, kv[0])):
            cmd = rec["cmd"]
            if pid == self.pid:
                kind = "main"
            elif not cmd:
                kind = "short-lived"  # gone before its command line was read
            elif "resource_tracker" in cmd:
                kind = "resource tracker"
            elif "spawn_main" in cmd or "forkserver" in cmd:
                kind = "spawned worker"
            elif cmd == root:
                kind = "forked worker"
            else:
                kind = Path(cmd.split(" ", 1)[0]).name or "?"
            out.append((kind, rec["pss_kb"] / 1024.0))
        return out


def run_measured(label: str, cmd: list[str], log: Path, cwd: Path, interval: float = 0.1) -> dict:
    """Run ``cmd`` as a child; wall seconds, CPU, largest process and tree PSS peak."""
    with open(log, "wb") as fh:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd)
        sampler = TreeSampler(p.pid, interval)
        sampler.start()
        _, status, ru = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t0
        sampler.stop()
    rc = os.waitstatus_to_exitcode(status)
    wait4_mb = ru.ru_maxrss / 1024.0
    hwm_mb = max((r["hwm_kb"] for r in sampler.procs.values()), default=0) / 1024.0
    return {"label": label, "cmd": cmd, "rc": rc, "seconds": seconds,
            "cpu_s": ru.ru_utime + ru.ru_stime,
            "cpu_sampled_s": sum(r["cpu_s"] for r in sampler.procs.values()),
            "maxrss_mb": max(wait4_mb, hwm_mb), "wait4_mb": wait4_mb, "hwm_mb": hwm_mb,
            "tree_pss_mb": sampler.peak_kb / 1024.0, "procs": sampler.peak_procs,
            "kinds": sampler.kinds(), "log": log, "proc_cpu": {p: r["cpu_s"] for p, r in sampler.procs.items()}}


def _failed(r: dict) -> bool:
    if r["rc"] == 0:
        return False
    print(f"  FAILED with exit code {r['rc']}; last lines of {r['log']}:", file=sys.stderr)
    print("".join(r["log"].read_text(errors="replace").splitlines(True)[-20:]), file=sys.stderr)
    return True


def _kinds_text(kinds: list[tuple[str, float]]) -> str:
    """'main 340, 2 x spawned worker 300/310, resource tracker 12' (peak PSS MB)."""
    groups: dict[str, list[float]] = {}
    for kind, mb in kinds:
        groups.setdefault(kind, []).append(mb)
    parts = []
    for kind, mbs in groups.items():
        vals = "/".join(f"{m:.0f}" for m in mbs)
        parts.append(f"{len(mbs)} x {kind} {vals}" if len(mbs) > 1 else f"{kind} {vals}")
    return ", ".join(parts)


def _header(mode: str) -> None:
    print(f"{mode}; {os.cpu_count()} CPUs ({cpu_model()}); load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)


def _cross_check(best: dict[str, dict]) -> None:
    """Say so when the sampled processes show more than wait4 saw (a process not waited for)."""
    for key, r in best.items():
        if r["hwm_mb"] > 1.05 * r["wait4_mb"] + 5:
            print(f"note ({key}): a process reached {r['hwm_mb']:.0f} MB (sampled VmHWM) but wait4 reports "
                  f"{r['wait4_mb']:.0f} MB; max RSS shows the larger")
        if r["cpu_sampled_s"] > 1.05 * r["cpu_s"] + 1.0:
            print(f"note ({key}): the sampled processes used {r['cpu_sampled_s']:.1f} CPU s, more than wait4's "
                  f"{r['cpu_s']:.1f} s (a process not waited for)")


# --------------------------------------------------------------------------------- comparing


def compare(a, b) -> tuple[float, bool]:
    """(max relative difference over the finite bins, bitwise identical); inf when the shapes or
    the NaN bins differ. Bins where ``b`` is 0 count by their absolute difference."""
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf"), False
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb):
        return float("inf"), False
    d = np.abs(a[fb] - b[fb])
    den = np.abs(b[fb])
    rel = np.where(den > 0, d / np.where(den > 0, den, 1.0), d)
    return (float(rel.max()) if rel.size else 0.0), bool(np.array_equal(a, b, equal_nan=True))


def read_stack(results: Path):
    """(source keys, intensity, sigma, frame_time_s) of a results file."""
    from xpipe.results import open_results

    with open_results(results) as res:
        s = res.patterns()
    return list(s.source_file), s.intensity, s.sigma, s.frame_time_s


# --------------------------------------------------------------------------------- throughput


def bench_throughput(args, workdir: Path) -> int:
    n = args.frames
    repeat = args.repeat or 3
    _header("throughput")
    print(f"work folder {workdir}", flush=True)
    gen = subprocess.run([sys.executable, bi.__file__, "--generate-only", "--frames", str(n),
                          "--workdir", str(workdir), "--seed", str(args.seed)])
    if gen.returncode:
        print("frame generation failed", file=sys.stderr)
        return 2
    files = [workdir / "frames" / f"frame_{i:05d}.cbf" for i in range(n)]
    xp = bi.bin_path("xpipe")
    plan = [  # key, label, command, output folder
        ("a", "xpipe run --workers 1", [xp, "run", "recipe.yaml", "-o", "out_a", "-q", "--workers", "1"], "out_a"),
        ("b", "xpipe run --workers 2", [xp, "run", "recipe.yaml", "-o", "out_b", "-q", "--workers", "2"], "out_b"),
        ("c", "xpipe run --dask-local 1", [xp, "run", "recipe.yaml", "-o", "out_c", "-q", "--dask-local", "1"], "out_c"),
        ("d", "xpipe run --dask-local 2", [xp, "run", "recipe.yaml", "-o", "out_d", "-q", "--dask-local", "2"], "out_d"),
        ("e", "plain pyFAI loop", [sys.executable, "loop.py", "geometry.poni", "files.txt", "out_e/loop.npy"], "out_e"),
    ]
    runs: dict[str, list[dict]] = {key: [] for key, *_ in plan}
    load_before = os.getloadavg()
    t_all = time.perf_counter()
    for rep in range(repeat):
        for key, label, cmd, out in plan:  # round-robin: background load hits every way alike
            out_dir = workdir / out
            shutil.rmtree(out_dir, ignore_errors=True)
            out_dir.mkdir()
            print(f"[{rep + 1}/{repeat}] ({key}) {label} ...", end=" ", flush=True)
            r = run_measured(label, cmd, workdir / f"log_{key}.txt", workdir)
            runs[key].append(r)
            print(f"{r['seconds']:.2f} s, load {os.getloadavg()[0]:.2f}", flush=True)
            if _failed(r):
                return 1
    load_after = os.getloadavg()
    best = bi.best_of(runs)
    fps = {k: n / r["seconds"] for k, r in best.items()}
    print()
    print(f"{n} frames {bi.SHAPE[0]}x{bi.SHAPE[1]} int32 CBF; 1D, npt {bi.NPT}, {bi.UNIT}, {'/'.join(bi.METHOD)}, "
          f"polarisation {bi.POLARIZATION}, solid angle, poisson; {os.cpu_count()} CPUs; best of {repeat} "
          f"({time.perf_counter() - t_all:.0f} s in all); load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after")
    head = (f"{'way':<30} {'seconds':>8} {'frames/s':>8} {'vs loop':>8} {'vs 1 worker':>11} {'CPU s':>6} "
            f"{'max RSS MB':>10} {'tree PSS MB':>11} {'procs':>5} {'spread':>6}")
    print(head)
    print("-" * len(head))
    for key, *_ in plan:
        r = best[key]
        print(f"({key}) {r['label']:<26} {r['seconds']:>8.2f} {fps[key]:>8.2f} {fps[key] / fps['e']:>7.2f}x "
              f"{fps[key] / fps['a']:>10.2f}x {r['cpu_s']:>6.1f} {r['maxrss_mb']:>10.0f} {r['tree_pss_mb']:>11.0f} "
              f"{r['procs']:>5} {100 * r['spread']:>5.0f}%")
    print("seconds: whole command incl. start-up (fastest run); CPU s: user+sys of the process tree; max RSS: "
          "largest single process; tree PSS: sampled peak of the summed PSS of all its processes; procs: most "
          "processes alive at once; spread: slowest/fastest - 1")
    print("processes (peak PSS MB each, fastest run):")
    for key, *_ in plan:
        print(f"  ({key}) {_kinds_text(best[key]['kinds'])}")
    _cross_check(best)

    # ---- agreement with the serial run (last run of each way)
    import numpy as np

    ok = True
    keys_a, int_a, sig_a, _ = read_stack(workdir / "out_a" / "results.h5")
    want = [str(f) for f in files]
    if [Path(k).name for k in keys_a] != [Path(w).name for w in want]:
        print(f"(a) holds {len(keys_a)} frames, not the {n} expected in order", file=sys.stderr)
        return 1
    print()
    print(f"{'agreement with (a)':<30} {'max rel dI':>10} {'identical':>9} {'max rel dsigma':>14} {'identical':>9}")
    others = []
    for key in "bcd":
        k, i, s, _ = read_stack(workdir / f"out_{key}" / "results.h5")
        if k != keys_a:
            others.append((key, float("inf"), False, float("inf"), False))
            continue
        others.append((key, *compare(i, int_a), *compare(s, sig_a)))
    loop = np.load(workdir / "out_e" / "loop.npy")
    others.append(("e", *compare(loop[1], int_a), *compare(loop[2], sig_a)))
    for key, di, same_i, ds, same_s in others:
        passed = di <= REL_TOL and ds <= REL_TOL
        ok &= passed
        print(f"({key}) {best[key]['label']:<26} {di:>10.2e} {str(same_i):>9} {ds:>14.2e} {str(same_s):>9}  "
              f"{'ok' if passed else 'FAILED'}")
    print(f"relative differences over all {n} x {bi.NPT} bins, tolerance {REL_TOL:.0e}")
    if not ok:
        print("the ways disagree", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------------- memory: data

_IMAGES = None  # the two noiseless phase images, inherited by the forked writers


def _mem_layout(n: int) -> tuple[int, int]:
    """(frames per data file, data files): ten files, the first one being the short run."""
    per_file = max(1, n // 10)
    return per_file, math.ceil(n / per_file)


def _write_part(task: tuple) -> tuple[str, int]:
    import h5py
    import hdf5plugin
    import numpy as np

    path, first, count, n_total, seed = task
    img_a, img_b = _IMAGES
    tmp = Path(path).with_suffix(".tmp")
    with h5py.File(tmp, "w") as h5:
        entry = h5.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        grp = entry.create_group("data")
        grp.attrs["NX_class"] = "NXdata"
        ds = grp.create_dataset("data", (count, *MEM_SHAPE), dtype=np.uint32, chunks=(1, *MEM_SHAPE),
                                **hdf5plugin.Bitshuffle(cname="lz4"))
        ds.attrs["image_nr_low"] = first + 1
        ds.attrs["image_nr_high"] = first + count
        for j in range(count):
            i = first + j
            x = i / max(n_total - 1, 1)
            mean = (1.0 - x) * img_a + x * img_b
            ds[j] = np.random.default_rng([seed, i]).poisson(mean).astype(np.uint32)
    os.replace(tmp, path)
    return str(path), os.path.getsize(path)


def _write_master(path: Path, parts: list[Path], n: int) -> None:
    import h5py
    import numpy as np

    path.unlink(missing_ok=True)
    with h5py.File(path, "w") as h5:
        entry = h5.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        for k, part in enumerate(parts, 1):
            data[f"data_{k:06d}"] = h5py.ExternalLink(part.name, "/entry/data/data")
        det = entry.create_group("instrument/detector")
        det.attrs["NX_class"] = "NXdetector"
        det["description"] = "simulated 2048 x 2048 hybrid pixel detector, 75 um pixels"
        det["count_time"] = MEM_FRAME_TIME_S * 0.95
        det["frame_time"] = MEM_FRAME_TIME_S
        det["x_pixel_size"] = MEM_PIXEL_M
        det["y_pixel_size"] = MEM_PIXEL_M
        det["detector_distance"] = MEM_GEOMETRY["dist"]
        det["bit_depth_image"] = np.int32(32)
        spec = det.create_group("detectorSpecific")
        spec["data_collection_date"] = "2025-03-14T09:00:00.000"
        spec["nimages"] = np.int64(n)
        spec["ntrigger"] = np.int64(1)
        spec["x_pixels_in_detector"] = np.int32(MEM_SHAPE[1])
        spec["y_pixels_in_detector"] = np.int32(MEM_SHAPE[0])
        beam = entry.create_group("instrument/beam")
        beam["incident_wavelength"] = MEM_GEOMETRY["wavelength"] * 1e10
        beam["incident_wavelength"].attrs["units"] = "angstrom"


def generate_memory(workdir: Path, n: int, seed: int) -> None:
    """Data files, master files, .poni and recipes of the memory mode into ``workdir``."""
    global _IMAGES
    import multiprocessing

    import h5py
    import hdf5plugin
    import numpy as np
    import pyFAI
    from pyFAI.detectors import Detector

    try:
        from pyFAI.integrator.azimuthal import AzimuthalIntegrator
    except ImportError:  # older pyFAI
        from pyFAI.azimuthalIntegrator import AzimuthalIntegrator

    per_file, n_files = _mem_layout(n)
    stamp = {"format": MEM_FORMAT_VERSION, "frames": n, "per_file": per_file, "seed": seed, "shape": MEM_SHAPE,
             "pixel": MEM_PIXEL_M, "geometry": MEM_GEOMETRY, "peak_counts": MEM_PEAK_COUNTS,
             "numpy": np.__version__, "pyFAI": pyFAI.version, "h5py": h5py.__version__,
             "hdf5plugin": hdf5plugin.version}
    data_dir = workdir / "eiger"
    stamp_path = workdir / "eiger.json"
    parts = [data_dir / f"scan_data_{k:06d}.h5" for k in range(1, n_files + 1)]
    poni = workdir / "geometry.poni"
    masters = {"short": data_dir / "scan_short_master.h5", "long": data_dir / "scan_master.h5"}
    reuse = (stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp and poni.is_file()
             and all(p.is_file() for p in parts) and all(m.is_file() for m in masters.values()))
    if reuse:
        size = sum(p.stat().st_size for p in parts)
        print(f"reusing {n} frames in {data_dir} ({size / 1e9:.2f} GB)", flush=True)
    else:
        need = n * MEM_EST_MB_PER_FRAME * 1e6 + 1e9
        free = shutil.disk_usage(workdir).free
        print(f"disk: {free / 1e9:.1f} GB free in {workdir}; the frames need about {need / 1e9:.1f} GB "
              f"({n} x ~{MEM_EST_MB_PER_FRAME:.1f} MB compressed, + 1 GB for the outputs)", flush=True)
        if free < need:
            raise SystemExit(f"not enough disk space in {workdir}: {free / 1e9:.1f} GB free, about "
                             f"{need / 1e9:.1f} GB needed; use --workdir elsewhere or fewer --memory-frames")
        t0 = time.perf_counter()
        if data_dir.exists():
            shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True)
        stamp_path.unlink(missing_ok=True)
        det = Detector(pixel1=MEM_PIXEL_M, pixel2=MEM_PIXEL_M, max_shape=MEM_SHAPE)
        ai = AzimuthalIntegrator(detector=det, **MEM_GEOMETRY)
        poni.unlink(missing_ok=True)  # ai.write appends to an existing file
        ai.write(str(poni))
        # Two phases exchanging weight (the 1M frames' phases, at 0.5 A instead of 0.73 A), on a
        # weak background; scaled to a few counts per pixel as a 4M frame of a short exposure.
        tth = np.linspace(0.0, 45.0, 9000)
        bg = 0.02 + 0.03 * np.exp(-tth / 8.0)
        scale = MEM_GEOMETRY["wavelength"] / bi.GEOMETRY["wavelength"]

        def at(t):  # the same d-spacing at the shorter wavelength
            return float(np.degrees(2 * np.arcsin(scale * np.sin(np.radians(t / 2)))))

        peaks_a = [(6.05, 900, 0.10), (9.90, 400, 0.11), (11.62, 700, 0.12), (14.05, 250, 0.13),
                   (17.23, 350, 0.14), (19.82, 180, 0.15)]
        peaks_b = [(6.21, 800, 0.10), (10.15, 450, 0.11), (11.93, 600, 0.12), (14.42, 300, 0.13),
                   (17.68, 300, 0.14), (20.35, 200, 0.15)]
        kw = dict(dim1_unit="2th_deg", correctSolidAngle=True, polarization_factor=bi.POLARIZATION)
        images = []
        for peaks in (peaks_a, peaks_b):
            profile = bi._peaks(tth, [(at(c), h / 900.0, w * scale) for c, h, w in peaks], bg)
            img = ai.calcfrom1d(tth, profile, **kw)
            images.append(img * (MEM_PEAK_COUNTS / img.max()))
        _IMAGES = tuple(images)
        tasks = [(str(p), k * per_file, min(per_file, n - k * per_file), n, seed) for k, p in enumerate(parts)]
        procs = min(os.cpu_count() or 1, len(tasks))
        done = 0
        with multiprocessing.get_context("fork").Pool(procs) as pool:
            for path, size in pool.imap_unordered(_write_part, tasks):
                done += 1
                print(f"  {Path(path).name}: {size / 1e6:.0f} MB ({done}/{len(tasks)}, "
                      f"{time.perf_counter() - t0:.0f} s)", flush=True)
        _write_master(masters["short"], parts[:1], min(per_file, n))
        _write_master(masters["long"], parts, n)
        size = sum(p.stat().st_size for p in parts)
        stamp_path.write_text(json.dumps(stamp, indent=1))
        print(f"generated {n} frames {MEM_SHAPE[0]}x{MEM_SHAPE[1]} uint32 bitshuffle-LZ4 in {n_files} data files "
              f"of {per_file} frames: {size / 1e9:.2f} GB, {size / n / 1e6:.2f} MB per frame, mean "
              f"{float(_IMAGES[0].mean()):.2f} counts per pixel ({time.perf_counter() - t0:.0f} s, not timed)",
              flush=True)
    for key, master in masters.items():
        rel = master.relative_to(workdir)
        (workdir / f"recipe_{key}.yaml").write_text(
            bi.RECIPE.format(name=f"bench-scale-memory-{key}", files=f"{rel}::/entry/data"))


# --------------------------------------------------------------------------------- memory: runs


def bench_memory(args, workdir: Path) -> int:
    n = args.memory_frames
    repeat = args.repeat or 1
    per_file, _ = _mem_layout(n)
    short = min(per_file, n)
    _header("memory")
    print(f"work folder {workdir}", flush=True)
    t_gen = time.perf_counter()
    gen = subprocess.run([sys.executable, __file__, "--generate-memory", "--memory-frames", str(n),
                          "--workdir", str(workdir), "--seed", str(args.seed)])
    if gen.returncode:
        print("frame generation failed", file=sys.stderr)
        return 2
    t_gen = time.perf_counter() - t_gen
    xp = bi.bin_path("xpipe")
    w = str(args.memory_workers)
    plan = [  # key, frames, command, output folder
        ("short", short, [xp, "run", "recipe_short.yaml", "-o", "out_short", "-q", "--workers", w], "out_short"),
        ("long", n, [xp, "run", "recipe_long.yaml", "-o", "out_long", "-q", "--workers", w], "out_long"),
    ]
    runs: dict[str, list[dict]] = {key: [] for key, *_ in plan}
    load_before = os.getloadavg()
    t_all = time.perf_counter()
    for rep in range(repeat):
        for key, frames, cmd, out in plan:
            out_dir = workdir / out
            shutil.rmtree(out_dir, ignore_errors=True)
            out_dir.mkdir()
            label = f"xpipe run --workers {w}, {frames} frames"
            print(f"[{rep + 1}/{repeat}] {label} ...", end=" ", flush=True)
            r = run_measured(label, cmd, workdir / f"log_{key}.txt", workdir, interval=0.25)
            r["frames"] = frames
            runs[key].append(r)
            print(f"{r['seconds']:.1f} s, load {os.getloadavg()[0]:.2f}", flush=True)
            if _failed(r):
                return 1
    load_after = os.getloadavg()
    best = bi.best_of(runs)
    print()
    print(f"{MEM_SHAPE[0]}x{MEM_SHAPE[1]} uint32 frames, 75 um pixels, Eiger-like HDF5 (bitshuffle-LZ4, one chunk per "
          f"frame, {per_file} frames per data file); 1D, npt {bi.NPT}, {bi.UNIT}, {'/'.join(bi.METHOD)}; "
          f"{os.cpu_count()} CPUs; {'best of ' + str(repeat) if repeat > 1 else 'one run each'} "
          f"({time.perf_counter() - t_all:.0f} s in all, generation {t_gen:.0f} s); load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after")
    head = (f"{'run':<36} {'frames':>6} {'seconds':>8} {'frames/s':>8} {'CPU s':>7} {'max RSS MB':>10} "
            f"{'tree PSS MB':>11} {'procs':>5}")
    print(head)
    print("-" * len(head))
    for key, *_ in plan:
        r = best[key]
        print(f"{r['label']:<36} {r['frames']:>6} {r['seconds']:>8.1f} {r['frames'] / r['seconds']:>8.2f} "
              f"{r['cpu_s']:>7.1f} {r['maxrss_mb']:>10.0f} {r['tree_pss_mb']:>11.0f} {r['procs']:>5}")
    s, lg = best["short"], best["long"]
    print(f"{'difference':<36} {lg['frames'] - s['frames']:>6} {lg['seconds'] - s['seconds']:>8.1f} "
          f"{(lg['frames'] - s['frames']) / (lg['seconds'] - s['seconds']):>8.2f} {lg['cpu_s'] - s['cpu_s']:>7.1f} "
          f"{lg['maxrss_mb'] - s['maxrss_mb']:>+10.0f} {lg['tree_pss_mb'] - s['tree_pss_mb']:>+11.0f}")
    print("max RSS: largest single process; tree PSS: sampled peak (every 0.25 s) of the summed PSS of all its "
          "processes; the difference row's frames/s is the marginal rate")
    print("processes (peak PSS MB each):")
    for key, *_ in plan:
        print(f"  {best[key]['label']}: {_kinds_text(best[key]['kinds'])}")
    _cross_check(best)

    # ---- the short run's patterns are the long run's first ones
    import numpy as np

    ks, i_s, s_s, t_s = read_stack(workdir / "out_short" / "results.h5")
    kl, i_l, s_l, t_l = read_stack(workdir / "out_long" / "results.h5")
    ok = len(ks) == short and len(kl) == n and [k.split("::", 1)[1] for k in ks] == [k.split("::", 1)[1] for k in kl[:short]]
    di, same_i = compare(i_s, i_l[:short]) if ok else (float("inf"), False)
    ds, same_s = compare(s_s, s_l[:short]) if ok else (float("inf"), False)
    ok = ok and di <= REL_TOL and ds <= REL_TOL
    print(f"\nagreement: the {short}-frame run against the first {short} frames of the {n}-frame run: max rel dI "
          f"{di:.2e} (identical: {same_i}), dsigma {ds:.2e} (identical: {same_s})  {'ok' if ok else 'FAILED'}")
    steps = np.diff(t_l)
    if t_l.size > 1 and not np.all(steps > 0):
        back = int(np.sum(steps <= 0))
        print(f"note: frame_time_s of the {n}-frame run is not increasing: it goes back {back} time(s), e.g. "
              f"{t_l[per_file - 1]:.1f} s -> {t_l[min(per_file, n - 1)]:.1f} s at frame {per_file} "
              f"(the second data file); expected {MEM_FRAME_TIME_S} s steps")
    if not ok:
        print("the runs disagree", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=400, help="throughput: Pilatus 1M frames (default 400)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs of each way, round-robin; the tables show the fastest (default 3; 1 with --memory)")
    ap.add_argument("--workdir", type=Path, help="work folder (kept; frames in it are reused when they match)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    ap.add_argument("--seed", type=int, default=20250314, help="random seed of the frames")
    ap.add_argument("--memory", action="store_true", help="memory mode: 2048x2048 HDF5 frames, short and long run")
    ap.add_argument("--memory-frames", type=int, default=2000,
                    help="memory mode: frames of the long run; the short run takes the first tenth (default 2000)")
    ap.add_argument("--memory-workers", type=int, default=2,
                    help="memory mode: xpipe run --workers N (default 2, what 'auto' gives on 2 cores)")
    ap.add_argument("--generate-memory", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.frames < 2:
        ap.error("--frames must be >= 2")
    if args.repeat is not None and args.repeat < 1:
        ap.error("--repeat must be >= 1")
    if args.memory_frames < 20:
        ap.error("--memory-frames must be >= 20")
    if args.memory_workers < 1:
        ap.error("--memory-workers must be >= 1")

    if args.generate_memory:
        generate_memory(args.workdir, args.memory_frames, args.seed)
        return 0

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="xpipe-scale-")) if temporary else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return bench_memory(args, workdir) if args.memory else bench_throughput(args, workdir)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work folder kept: {workdir}")


if __name__ == "__main__":
    sys.exit(main())
