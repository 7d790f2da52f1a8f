"""Phase analysis through the recipe runner on generated scenarios it was not tuned to.

A few fixed scenarios of :mod:`xpipe.synth.scenarios` (detector frames, PONI, CIFs, recipe and
truth) are run with the same runner as ``xpipe run`` and scored with
:func:`xpipe.synth.scoreboard.score_results` against the scoreboard's targets. The benchmark
``benchmarks/bench_phase_accuracy.py`` runs 50 more, with other seeds.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from xpipe.synth.scenarios import make_scenario
from xpipe.synth.scoreboard import run_scenario

# seed -> kind: solid solution then biphasic, overlapping peaks, texture, minor impurities
SEEDS = [2, 5, 7, 8]


@pytest.mark.parametrize("seed", SEEDS)
def test_scenario_meets_the_scoreboard_targets(tmp_path, seed):
    sc = run_scenario(seed, tmp_path, n_frames=18)
    assert sc.error == ""
    assert sc.kind == make_scenario(seed).kind
    # never a phase reported where it is not
    assert sc.false_presence == 0, sc.notes
    assert sc.right >= 0.99 * sc.calls, sc.notes
    assert sc.cell_n > 0
    assert sc.a_ok >= 0.99 * sc.cell_n and sc.c_ok >= 0.99 * sc.cell_n
    assert sc.w_ok >= 0.99 * sc.w_n and sc.w_max <= 0.03
    assert sc.windows_ok == sc.windows, sc.notes
    assert sc.minor_found >= 0.95 * sc.minor_n


def test_results_say_why_a_phase_is_absent_and_never_ok_without_a_check(tmp_path):
    seed = next(s for s in range(100) if make_scenario(s).kind == "biphasic"
                and any(p.role == "decoy" for p in make_scenario(s).phases))
    run_scenario(seed, tmp_path, n_frames=12)
    truth = json.loads((tmp_path / "truth.json").read_text())
    decoy = next(p["name"] for p in truth["phases"] if p["role"] == "decoy")
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    text = summary["phases"][decoy]["text"]
    assert text.startswith("not detected; detection limit") and "wt%" in text
    with h5py.File(tmp_path / "results" / "results.h5") as h:
        lat = h["entry/xrd/lattice"]
        for name in lat:
            g = lat[name]
            status = np.array([s.decode() for s in g["status"][()]])
            present = g["present"][()]
            z = g["significance_z"][()]
            # "ok" only where the phase passed its test at the stated significance
            assert (z[status == "ok"] >= 5.0).all()
            assert (status[~present] == "absent").all()
            assert np.isfinite(g["detection_limit"][()]).all()
        ref = h["entry/xrd/refinement"]
        assert np.isfinite(ref["chi2_reduced"][()]).all() and ref["calculated"].shape[0] == 12
