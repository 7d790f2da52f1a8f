"""Regenerate the simulated operando XRD demo data set (example_data/nvp_operando).

    python scripts/make_example_data.py [--out example_data/nvp_operando] [--frames N] [--seed S]

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "example_data" / "nvp_operando",
                        help="output directory (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=DEFAULT_N_FRAMES,
                        help="number of frames over the cycle (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="noise seed (default: %(default)s)")
    args = parser.parse_args(argv)
    truth = make_example_data(args.out, n_frames=args.frames, seed=args.seed)
    files = sorted(p for p in args.out.iterdir() if p.is_file())
    total = sum(p.stat().st_size for p in files)
    print(f"wrote {len(truth['frames'])} frames, {len(files)} files, "
          f"{total / 1e6:.2f} MB to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
