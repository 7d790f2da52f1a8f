"""Benchmark: how well each valence method and calibration curve predicts real standards.

    python benchmarks/bench_xas_valence.py [--data ../shared/data] [--markdown]

Data: the measured K-edge standards of ``../shared/data/xas/standards`` (V: foil, VO, V2O3,
VO2, V2O5, one APS 13-BM-D session; Fe: metal, FeO, Fe2O3). Each is processed as a series
would be (``xpipe.xas.series.process_spectrum``: fixed normalisation pre -100..-30, post
60..300 eV, nnorm 2; E0 at the main-edge derivative maximum; the pre-edge window -2..8 eV (V)
or -2..4 eV (Fe) and the main-edge window 8..45 eV around the tabulated edge).

For every method (edge at half height, derivative maximum, pre-edge centroid, pre-edge area,
LCF) and every curve (piecewise_linear, pchip, linear, quadratic) the script predicts:

- **leave-one-out**: each standard from a calibration through the others. A standard at
  either end is an extrapolation (marked ``*``); the RMS over the interior standards is what
  a sample between standards can expect.
- **mixtures**: no mixed-valence standard was measured, so mixed-valence compounds are made
  from the measured end members, weighted per absorber (normalised mu is per absorbing atom):
  magnetite Fe3O4 = 1/3 FeO + 2/3 Fe2O3 (2.67) on the calibration from Fe, FeO and Fe2O3; V 3.5
  = 1/2 V2O3 + 1/2 VO2 and V 4.67 = 1/3 VO2 + 2/3 V2O5 on the calibration from all V
  standards. Such a mixture is exactly a combination of the LCF references, so LCF finds it by
  construction: its mixture numbers are no evidence for LCF.

Prints one table per standard set (errors in valence units: predicted minus declared) and exits
1 when the default curve misses the magnetite check by more than 0.2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xpipe.xas.mixture import mixture  # noqa: E402
from xpipe.xas.readers import read_scan  # noqa: E402
from xpipe.xas.series import XanesSettings, process_spectrum  # noqa: E402
from xpipe.xas.valence import CALIBRATION_MODELS, lcf  # noqa: E402
from xpipe.xas.valence_check import calibrate_method, leave_one_out_lcf, spectrum_features  # noqa: E402
from xpipe.xas.xanes import NormSettings  # noqa: E402

NORM = NormSettings(pre1_ev=-100, pre2_ev=-30, norm1_ev=60, norm2_ev=300, nnorm=2)
FEATURES = ("edge_half_height", "edge_derivative", "pre_edge_centroid", "pre_edge_area")
TARGET = 0.2

#: name, element, tabulated edge (eV), pre-edge window (eV from the edge), standards, mixtures
SETS = (
    ("V: foil, VO, V2O3, VO2, V2O5", "V", 5465.0, (-2.0, 8.0),
     (("V foil", "V/V_foil.xdi", 0), ("VO", "V/VO.xdi", 2), ("V2O3", "V/V2O3.xdi", 3), ("VO2", "V/VO2.xdi", 4),
      ("V2O5", "V/V2O5.xdi", 5)),
     (("V3.5 (V2O3+VO2)", (("V2O3", 0.5), ("VO2", 0.5))), ("V4.67 (VO2+2 V2O5)", (("VO2", 1 / 3), ("V2O5", 2 / 3))))),
    ("V oxides: VO, V2O3, VO2, V2O5", "V", 5465.0, (-2.0, 8.0),
     (("VO", "V/VO.xdi", 2), ("V2O3", "V/V2O3.xdi", 3), ("VO2", "V/VO2.xdi", 4), ("V2O5", "V/V2O5.xdi", 5)),
     (("V3.5 (V2O3+VO2)", (("V2O3", 0.5), ("VO2", 0.5))),)),
    ("Fe: metal, FeO, Fe2O3", "Fe", 7112.0, (-2.0, 4.0),
     (("Fe", "Fe/Fe_metal_rt_01.xdi", 0), ("FeO", "Fe/FeO_rt_01.xdi", 2), ("Fe2O3", "Fe/Fe2O3_rt_01.xdi", 3)),
     (("Fe3O4 (FeO+2 Fe2O3)", (("FeO", 1 / 3), ("Fe2O3", 2 / 3))),)),
)


def _process(folder: Path, element, edge_ev, pre, standards, mixes):
    s = XanesSettings(element=element, edge="K", edge_ev=edge_ev, norm=NORM, reference="auto",
                      pre_edge_window_ev=pre, main_edge_window_ev=(8.0, 45.0))
    res = {name: process_spectrum(read_scan(str(folder / f)), s, label=name) for name, f, _ in standards}
    declared = {name: float(v) for name, _, v in standards}
    mixed = {}
    for name, parts in mixes:
        mixed[name] = mixture([res[p] for p, _ in parts], [w for _, w in parts], s, name)
        declared[name] = sum(w * declared[p] for p, w in parts)
    return s, res, mixed, declared


def _cell(err: float, extrapolated: bool = False) -> str:
    if not np.isfinite(err):
        return "-"
    return f"{err:+.2f}{'*' if extrapolated else ''}"


def _rows(s, res, mixed, declared, window):
    names = list(res)
    kw = dict(main_window_ev=s.windows_abs()[1], edge_method=s.edge_method, fraction=s.edge_fraction,
              smooth_ev=s.smooth_ev)
    fstd = {n: spectrum_features(r, **kw) for n, r in res.items()}
    fmix = {n: spectrum_features(r, **kw) for n, r in mixed.items()}
    rows = []
    for method in FEATURES:
        for model in CALIBRATION_MODELS:
            m = calibrate_method(method, [fmix[n][method][0] for n in mixed], [fmix[n][method][1] for n in mixed],
                                 [fstd[n][method][0] for n in names], [fstd[n][method][1] for n in names],
                                 [declared[n] for n in names], names, model=model)
            loo = m.loo
            by = {n: (e, x) for n, e, x in zip(loo.names, loo.error, loo.extrapolated)}
            err = np.array([by.get(n, (np.nan, False))[0] for n in names])
            extrap = np.array([by.get(n, (np.nan, False))[1] for n in names])
            mix_err = [m.valence[i] - declared[n] for i, n in enumerate(mixed)] if m.usable else [np.nan] * len(mixed)
            rows.append((method, model, err, extrap, loo.interior_rms, mix_err,
                         m.reason.split(";")[0][:60] if m.reason else ""))
    refs = [(n, r.energy_ev, r.norm) for n, r in res.items()]
    loo = leave_one_out_lcf(refs, [declared[n] for n in names], window_ev=window)
    mix_err = [lcf(r.energy_ev, r.norm, refs, [declared[n] for n in names], window_ev=window).valence - declared[n]
               for n, r in mixed.items()]
    rows.append(("lcf", "-", loo.error, loo.extrapolated, loo.interior_rms, mix_err, "mixtures exact by construction"))
    return rows


def _table(title, names, mixes, rows) -> list[str]:
    head = ["method", "curve"] + [f"LOO {n}" for n in names] + ["interior RMS"] + list(mixes) + ["note"]
    out = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, model, err, extrap, rms, mix_err, note in rows:
        verdict = "" if not np.isfinite(rms) else (" (ok)" if rms <= TARGET else " (> 0.2)")
        cells = [method, model] + [_cell(e, x) for e, x in zip(err, extrap)]
        cells += [("-" if not np.isfinite(rms) else f"{rms:.2f}") + verdict] + [_cell(e) for e in mix_err] + [note]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    folder = args.data / "xas" / "standards"
    if not folder.is_dir():
        print(f"no standards at {folder}: give --data (the shared real data)")
        return 2
    warnings.simplefilter("ignore")
    lines = ["Leave-one-out (LOO) and mixture errors, valence units (predicted minus declared);",
             "* = the standard lies outside the others' range (an extrapolation).", ""]
    magnetite = np.nan
    for title, element, edge_ev, pre, standards, mixes in SETS:
        s, res, mixed, declared = _process(folder, element, edge_ev, pre, standards, mixes)
        rows = _rows(s, res, mixed, declared, (edge_ev - 20.0, edge_ev + 40.0))
        lines += _table(title, list(res), list(mixed), rows)
        for method, model, *_rest in rows:
            if element == "Fe" and method == "edge_half_height" and model == "piecewise_linear":
                magnetite = _rest[3][0]
    print("\n".join(lines))
    print(f"default (edge_half_height, piecewise_linear) on magnetite: {magnetite:+.3f}")
    return 0 if abs(magnetite) <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
