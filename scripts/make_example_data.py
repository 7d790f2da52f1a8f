"""Regenerate the simulated demo data: operando XRD (example_data/nvp_operando) and a V K-edge
XANES series at several states of charge with its standards (example_data/nvp_xanes), and an
ex situ XPS series (V 2p + O 1s, C 1s) at several voltages (example_data/nvp_xps).

    python scripts/make_example_data.py [--out example_data/nvp_operando] [--frames N] [--seed S]
                                        [--xanes-out example_data/nvp_xanes] [--xanes-states N]
                                        [--xps-out example_data/nvp_xps] [--xps-states N]

The output is deterministic: the same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from xpipe.synth.operando import DEFAULT_N_FRAMES, DEFAULT_SEED, make_example_data  # noqa: E402 - after the sys.path fallback above
from xpipe.synth.xas import make_xanes_series  # noqa: E402
from xpipe.synth.xps import make_xps_series  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "example_data" / "nvp_operando",
                        help="output directory (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=DEFAULT_N_FRAMES,
                        help="number of frames over the cycle (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="noise seed (default: %(default)s)")
    parser.add_argument("--xanes-out", type=Path, default=ROOT / "example_data" / "nvp_xanes",
                        help="output directory of the XANES series (default: %(default)s)")
    parser.add_argument("--xanes-states", type=int, default=6,
                        help="states of charge in the XANES series (default: %(default)s)")
    parser.add_argument("--xps-out", type=Path, default=ROOT / "example_data" / "nvp_xps",
                        help="output directory of the XPS series (default: %(default)s)")
    parser.add_argument("--xps-states", type=int, default=5,
                        help="voltages in the XPS series (default: %(default)s)")
    args = parser.parse_args(argv)
    truth = make_example_data(args.out, n_frames=args.frames, seed=args.seed)
    files = sorted(p for p in args.out.iterdir() if p.is_file())
    total = sum(p.stat().st_size for p in files)
    print(f"wrote {len(truth['frames'])} frames, {len(files)} files, "
          f"{total / 1e6:.2f} MB to {args.out}")
    xt = make_xanes_series(args.xanes_out, seed=args.seed, n_states=args.xanes_states)
    print(f"wrote {len(xt['states'])} XANES states and {len(xt['standards'])} standards to {args.xanes_out}")
    pt = make_xps_series(args.xps_out, seed=args.seed, n_states=args.xps_states)
    print(f"wrote {len(pt['states'])} XPS states to {args.xps_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
