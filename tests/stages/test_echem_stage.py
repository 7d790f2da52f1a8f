"""The echem section through recipes: /entry/echem, the clock offset, bad cycler files, and the
real coin-cell set (Mythen patterns + Neware record + scan log) on one time axis."""

from datetime import datetime, timedelta
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import needs_shared

from xpipe.cli import main
from xpipe.echem.readers import read_cycler

ROOT = Path(__file__).resolve().parents[2]
CYCLER = ROOT / "example_data" / "nvp_operando" / "cycler.csv"
START = datetime(2025, 3, 14, 9, 0, 0)


def write_patterns(folder: Path, n: int = 4) -> None:
    """A few tiny 2theta patterns with one peak, and a scan log (60 s exposures every 600 s)."""
    x = np.linspace(10, 20, 400)
    rows = ["file,start_time,end_time"]
    for i in range(n):
        y = 100 + 1000 * np.exp(-0.5 * ((x - 15 - 0.01 * i) / 0.05) ** 2)
        np.savetxt(folder / f"p_{i:02d}.xy", np.column_stack([x, y]), fmt="%.5f")
        t0 = START + timedelta(seconds=600 * i)
        rows.append(f"p_{i:02d}.xy,{t0.isoformat()},{(t0 + timedelta(seconds=60)).isoformat()}")
    (folder / "scan_log.csv").write_text("\n".join(rows) + "\n")


def recipe(folder: Path, echem: str) -> Path:
    write_patterns(folder)
    text = (f"name: echem test\noutput: out\nxrd:\n  patterns:\n    files: 'p_*.xy'\n    scan_log: {{file: scan_log.csv}}\n"
            f"  figures: {{contour: false}}\n{echem}")
    path = folder / "recipe.yaml"
    path.write_text(text)
    return path


def test_clock_offset_estimated_from_a_voltage_log(tmp_path):
    cyc = read_cycler(CYCLER)
    offset = 250.0  # the beamline clock runs 250 s behind the cycler
    t_true = np.arange(900.0, 21000.0, 450.0)
    v = np.interp(t_true, cyc.time_s, cyc.voltage_v)
    rows = ["time,voltage_v"] + [f"{(START + timedelta(seconds=t - offset)).isoformat()},{vv:.5f}" for t, vv in zip(t_true, v)]
    (tmp_path / "vlog.csv").write_text("\n".join(rows) + "\n")
    path = recipe(tmp_path, f"echem:\n  file: {CYCLER}\n  start_time: '{START.isoformat()}'\n  offset_s: auto\n"
                            "  voltage_log: {file: vlog.csv}\n"
                            "  electrode: {formula: Na3V2(PO4)3, active_mass_mg: 3.0, x_min: 1.0}\n")
    assert main(["run", str(path), "-q"]) == 0
    with h5py.File(tmp_path / "out" / "results.h5") as h5:
        clock = h5["entry/echem/clock"].attrs
        assert clock["offset_method"] == "estimated"
        assert clock["offset_s"] == pytest.approx(offset, abs=max(3 * clock["offset_err_s"], 5.0))
        e = h5["entry/echem"]
        assert e["time_s"].shape == (761,)
        assert e["x"][0] == pytest.approx(3.0) and e["x"][()].min() == pytest.approx(1.05, abs=0.01)
        assert e["soc"].attrs["basis"] == "theoretical capacity"
        frames = h5["entry/timeline/series/xrd_frames"]
        assert np.allclose(frames["time_s"][()], 30 + 600 * np.arange(4) + clock["offset_s"])
        assert np.allclose(frames["voltage_v"][()], np.interp(frames["time_s"][()], cyc.time_s, cyc.voltage_v))
    s = (tmp_path / "out" / "summary.md").read_text()
    assert "(estimated)" in s and "761 rows" in s


def test_bad_cycler_files_are_named(tmp_path):
    path = recipe(tmp_path, "echem:\n  file: nowhere.ndax\n")
    assert main(["validate", str(path)]) != 0
    (tmp_path / "broken.ndax").write_bytes(b"\x00garbage" * 50)
    path = recipe(tmp_path, "echem:\n  file: broken.ndax\n")
    assert main(["run", str(path), "-q"]) == 1  # the patterns are processed, the failure recorded
    with h5py.File(tmp_path / "out" / "results.h5") as h5:
        assert "xrd/integrated" in h5["entry"] and "echem" not in h5["entry"]
    s = (tmp_path / "out" / "summary.md").read_text()
    assert "broken.ndax" in s


@needs_shared
def test_real_coin_cell_on_one_time_axis(tmp_path):
    recipe = ROOT / "recipes" / "coincell_mythen.yaml"
    out = tmp_path / "coincell"
    assert main(["run", str(recipe), "-o", str(out), "-q"]) == 0
    cyc = read_cycler(ROOT.parent / "shared/data/xrd/operando_coincell_mythen/coincell8_LDE2/Echem/cc8.ndax")
    with h5py.File(out / "results.h5") as h5:
        e = h5["entry"]
        assert e["echem/time_s"].shape == (4647,)
        assert e["echem"].attrs["start_time"] == "2025-07-02T19:08:11"
        g = e["timeline/series/xrd_frames"]
        t = g["time_s"][()]
        # scan 1355639 ran 19:05:59.614-19:06:56.167, before the cycler started at 19:08:11
        assert t[0] == pytest.approx(-103.1095, abs=0.01)  # mid-exposure 19:06:27.8905
        assert np.isnan(g["voltage_v"][0])
        assert np.allclose(np.diff(t), [543.5, 544.4, 544.7, 545.2], atol=0.1)
        assert np.allclose(g["voltage_v"][1:], np.interp(t[1:], cyc.time_s, cyc.voltage_v))
        # the cell rests at open circuit (3.098 V) for the next three scans; the last is on charge
        assert np.allclose(g["voltage_v"][1:4], 3.0975, atol=0.001)
        assert g["voltage_v"][4] > 3.5 and list(g["half_cycle"][1:]) == [0, 0, 0, 1]
    figs = {p.name for p in (out / "figures").iterdir()}
    assert {"contour_map.png", "contour_map.svg"} <= figs
