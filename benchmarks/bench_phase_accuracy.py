"""Accuracy scoreboard of operando phase analysis, and the speed of the sequential refinement.

Usage::

    python benchmarks/bench_phase_accuracy.py [--scenarios 50] [--first-seed 1000] [--frames N]
                                              [--workdir DIR] [--markdown FILE]
    python benchmarks/bench_phase_accuracy.py --speed [--speed-frames 2000] [--points 3000]

Scoreboard: every scenario of :mod:`xpipe.synth.scenarios` (seed ``first-seed`` onwards; the
seeds are not the ones the tests use) is written as detector frames, a PONI, CIFs and a recipe,
run through the same runner as ``xpipe run`` (integration with pyFAI, then the sequential
whole-pattern refinement), and scored against its truth with
:func:`xpipe.synth.scoreboard.score_results`. It prints one line per scenario, the targets
of :data:`xpipe.synth.scoreboard.TARGETS`, and whether each is met; ``--markdown`` also writes
the table to a file (the README shows the latest).

Speed: ``--speed-frames`` frames of ``--points`` 2theta points with three phases, made with
``render_patterns_1d`` of a three-phase scenario, refined with
:func:`xpipe.xrd.sequential.refine_sequence`; the peer, refined on the first frames only, is
the same whole-pattern model fitted the plain way: ``scipy.optimize.least_squares`` over every
parameter (scales and background included) with finite-difference derivatives, each frame
started from the previous one. Both give their time per frame and the ratio.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import cpu_model  # noqa: E402

from xpipe.synth.scoreboard import format_table, run_scenario, totals  # noqa: E402


def scoreboard(args) -> int:
    scores = []
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="xpipe-phase-"))
    t0 = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.scenarios):
        sc = run_scenario(seed, work / f"s{seed}", n_frames=args.frames)
        scores.append(sc)
        flag = f"error {sc.error}" if sc.error else (f"{sc.right}/{sc.calls} calls right, "
                                                      f"{sc.false_presence} false, max |dw| {sc.w_max:.3f}")
        print(f"seed {seed:5d} {sc.kind:24s} {flag} ({sc.seconds:.1f} s)", flush=True)
        for note in sc.notes[:5]:
            print(f"           {note}")
    tot = totals(scores)
    table = format_table(scores, tot)
    print()
    print(f"{len(scores)} scenarios in {time.perf_counter() - t0:.0f} s on {cpu_model()}")
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    return 0 if all(tot["met"].values()) and not tot["errors"] else 1


def _peer_fit(x, stack, sigma, phases, wavelength_a, n_frames):
    """The whole-pattern model fitted over all parameters with finite differences."""
    from scipy.optimize import least_squares

    from xpipe.xrd.sequential import RefinementSettings
    from xpipe.xrd.wholepattern import PatternPhase, PhaseState, background_basis, evaluate

    pps = [PatternPhase.from_model(p, unit="2th_deg", wavelength_a=wavelength_a) for p in phases]
    s = RefinementSettings()
    basis = background_basis(x, int(np.ceil((x[-1] - x[0]) / (s.background_spacing_fwhm * 0.05))))
    states = [PhaseState.start(p, w=0.003, u=0.0) for p in phases]
    n_cell = [pp.n_cell for pp in pps]
    theta = np.concatenate([np.concatenate([st.g, [st.w, st.u, st.eta, 1.0]]) for st in states]
                           + [np.zeros(basis.shape[1])])
    theta[-basis.shape[1]] = float(np.median(stack[0]))

    def model(th):
        y = np.zeros_like(x)
        i = 0
        for pp, st, nc in zip(pps, states, n_cell):
            st.g = th[i:i + nc]
            st.w, st.u, st.eta = abs(th[i + nc]) + 1e-6, abs(th[i + nc + 1]), min(max(th[i + nc + 2], 0.0), 1.0)
            y += th[i + nc + 3] * evaluate(pp, st, x).columns[:, 0]
            i += nc + 4
        return y + basis @ th[i:]

    t0 = time.perf_counter()
    for f in range(n_frames):
        w = 1.0 / sigma[f]
        if f == 0:
            # scales from a linear start at the reference cells
            cols = np.column_stack([evaluate(pp, st, x).columns[:, 0] for pp, st in zip(pps, states)] + [basis])
            lin = np.linalg.lstsq(cols * w[:, None], stack[f] * w, rcond=None)[0]
            i = 0
            for k, nc in enumerate(n_cell):
                theta[i + nc + 3] = max(lin[k], 0.0)
                i += nc + 4
            theta[i:] = lin[len(pps):]
        theta = least_squares(lambda th, f=f, w=w: (stack[f] - model(th)) * w, theta, method="trf",
                              max_nfev=40 * theta.size).x
    return (time.perf_counter() - t0) / n_frames


def speed(args) -> int:
    from xpipe.synth.scenarios import make_scenario, render_patterns_1d
    from xpipe.xrd.phases import make_phase
    from xpipe.xrd.sequential import refine_sequence

    seed = next(s for s in range(2000, 3000) if make_scenario(s).kind == "three_phase")
    scn = make_scenario(seed, n_frames=args.speed_frames)
    data = render_patterns_1d(scn, n_points=args.points)
    x, stack, sigma = data["two_theta_deg"], data["counts"], data["sigma"]
    lam = data["wavelength_a"]
    d_min = lam / (2 * math.sin(math.radians(x[-1] / 2))) * 0.95
    d_max = lam / (2 * math.sin(math.radians(x[0] / 2))) * 1.05
    from xpipe.synth import powder

    phases = [make_phase(p.name, cif=powder.structure_path(p.cif), d_min_a=d_min, d_max_a=d_max) for p in scn.phases]
    print(f"scenario {seed} ({scn.kind}): {stack.shape[0]} frames x {stack.shape[1]} points, "
          f"{len(phases)} phases ({', '.join(p.name for p in phases)}), {cpu_model()}")
    t0 = time.perf_counter()
    res = refine_sequence(x, stack, sigma, phases, unit="2th_deg", wavelength_a=lam)
    t_seq = time.perf_counter() - t0
    per = t_seq / stack.shape[0]
    print(f"xpipe sequential refinement: {t_seq:.1f} s, {1e3 * per:.1f} ms per frame "
          f"(median reduced chi^2 {np.nanmedian(res.chi2_nu):.2f})")
    n_peer = min(args.peer_frames, stack.shape[0])
    per_peer = _peer_fit(x, stack, sigma, phases, lam, n_peer)
    print(f"plain least_squares, finite differences, {n_peer} frames: {1e3 * per_peer:.1f} ms per frame")
    print(f"ratio: xpipe is {per_peer / per:.1f}x faster per frame")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=50)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=None, help="frames per scenario (default: the scenario's)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--markdown", default=None)
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--speed-frames", type=int, default=2000)
    ap.add_argument("--points", type=int, default=3000)
    ap.add_argument("--peer-frames", type=int, default=20)
    args = ap.parse_args(argv)
    return speed(args) if args.speed else scoreboard(args)


if __name__ == "__main__":
    raise SystemExit(main())
