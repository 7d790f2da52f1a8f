"""Cycler-file readers: BioLogic .mpr/.mpt, Neware .nda/.ndax, Arbin .res and CSV.

The real files are read from ../shared/data (tests skip when it is absent); the numbers in the
asserts were measured on those files. The .mpt and CSV tests write their own files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SHARED, needs_shared

from xpipe.echem.readers import (
    CyclerData,
    CyclerFileNotFoundError,
    CyclerReadError,
    read_cycler,
)

ECHEM = SHARED / "echem"
GCPL_MPR = ECHEM / "navani" / "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
CC8 = SHARED / "xrd" / "operando_coincell_mythen" / "coincell8_LDE2" / "Echem" / "cc8.ndax"
EXAMPLE_CSV = ROOT / "example_data" / "nvp_operando" / "cycler.csv"

_LIBRARY = {".mpr": "yadg", ".nda": "NewareNDA", ".ndax": "NewareNDA",
            ".res": "access_parser"}
_CACHE: dict[Path, CyclerData] = {}


def _real(path: Path) -> CyclerData:
    """A real file read once per test run (skips when the file or its library is missing)."""
    if not path.is_file():
        pytest.skip(f"{path} is not present (real measured data is not shipped with the "
                    f"repository)")
    pytest.importorskip(_LIBRARY[path.suffix.lower()])
    if path not in _CACHE:
        _CACHE[path] = read_cycler(path)
    return _CACHE[path]


def _trapezoid_mah(d: CyclerData) -> np.ndarray:
    inc = 0.5 * (d.current_ma[1:] + d.current_ma[:-1]) * np.diff(d.time_s) / 3600.0
    return np.concatenate([[0.0], np.cumsum(inc)])


def _half_cycle_directions(d: CyclerData) -> list[int]:
    out = []
    for k in range(1, d.n_half_cycles + 1):
        dirs = d.direction[(d.half_cycle == k) & (d.direction != 0)]
        assert np.all(dirs == dirs[0])
        out.append(int(dirs[0]))
    return out


def _check_table(d: CyclerData) -> None:
    """Invariants every reader must give."""
    n = len(d)
    cols = d.as_columns()
    assert set(cols) == set(CyclerData.COLUMNS)
    assert all(len(a) == n for a in cols.values())
    for name in ("time_s", "voltage_v", "current_ma", "capacity_mah"):
        assert cols[name].dtype == np.float64
        assert np.all(np.isfinite(cols[name]))
    for name in ("cycle", "half_cycle", "step"):
        assert cols[name].dtype == np.int64
    assert d.direction.dtype == np.int8
    assert d.time_s[0] == 0.0 and np.all(np.diff(d.time_s) >= 0)
    assert d.capacity_mah[0] == 0.0
    assert d.cycle.min() == 1 and np.all(np.diff(d.cycle) >= 0)
    assert d.step.min() >= 1
    assert np.all(np.diff(d.half_cycle) >= 0) and np.all(np.diff(d.half_cycle) <= 1)
    assert set(np.unique(d.direction)) <= {-1, 0, 1}
    labels = d.charge_label()
    assert np.all((labels == "charge") == (d.direction == 1))
    assert np.all((labels == "rest") == (d.direction == 0))
    assert d.format in ("biologic-mpr", "biologic-mpt", "neware-nda", "neware-ndax",
                        "arbin-res", "csv")


# --------------------------------------------------------------------------------------------
# real files


@needs_shared
def test_biologic_gcpl_mpr():
    d = _real(GCPL_MPR)
    _check_table(d)
    assert d.format == "biologic-mpr" and d.source == str(GCPL_MPR)
    assert len(d) == 46102
    assert d.voltage_v.min() == pytest.approx(1.99990, abs=1e-4)
    assert d.voltage_v.max() == pytest.approx(3.80006, abs=1e-4)
    assert d.start == datetime(2020, 10, 26, 12, 49, 58)
    assert d.time_s[-1] == pytest.approx(456309.586, abs=1e-2)
    # 1 h rest, a first discharge, then 6 charge/discharge pairs ("5 cycles" = 5 repeats)
    assert int(np.sum(d.direction == 0)) == 361
    assert _half_cycle_directions(d) == [-1] + [1, -1] * 6
    assert d.n_half_cycles == 13
    # no 'cycle number' column: cycles start with each discharge (the first direction)
    assert d.meta["cycle_source"].startswith("derived")
    assert np.unique(d.cycle).tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert np.bincount(d.cycle)[1:].tolist() == [5263, 7326, 7446, 7470, 7493, 7520, 3584]
    # no I/mA column: the current comes from dq/mA.h over the time step
    assert "I/mA" not in d.meta["columns_found"]
    assert d.meta["columns"]["current_ma"] == "dq/mA.h / dt * 3600"
    assert d.current_ma.min() == pytest.approx(-0.08878, abs=1e-4)
    assert d.current_ma.max() == pytest.approx(0.08882, abs=1e-4)
    assert d.meta["columns"]["capacity_mah"] == "(Q-Qo)/mA.h"
    assert d.capacity_mah[-1] == pytest.approx(0.276169, abs=1e-6)
    ends = [d.capacity_mah[np.flatnonzero(d.half_cycle == k)[-1]] for k in (1, 2, 13)]
    assert ends == pytest.approx([-0.206529, 0.780253, 0.276169], abs=1e-6)
    assert np.unique(d.step).tolist() == [1, 2, 3, 4]  # Ns 0..3
    assert d.meta["reader"].startswith("yadg ")


@needs_shared
def test_biologic_ocv_mpr_without_current():
    d = _real(ECHEM / "navani" / "00_test_01_OCV_C01.mpr")
    _check_table(d)
    assert len(d) == 2
    assert d.meta["columns_found"] == ["time/s", "Ewe/V"]
    assert d.voltage_v == pytest.approx([-0.373809, -0.373282], abs=1e-6)
    assert np.all(d.current_ma == 0) and np.all(d.capacity_mah == 0)
    assert np.all(d.direction == 0) and np.all(d.half_cycle == 0)
    assert d.cycle.tolist() == [1, 1] and d.step.tolist() == [1, 1]
    assert d.start == datetime(2023, 12, 7, 14, 22, 24, 183000)

    # the second OCV file's time starts at 5.5938 s: shifted to 0, the start moves with it
    d2 = _real(ECHEM / "navani" / "00_test_02_OCV_C01.mpr")
    assert len(d2) == 2 and d2.time_s == pytest.approx([0.0, 9.9998], abs=1e-4)
    assert d2.start == datetime(2023, 12, 7, 14, 22, 29, 776800)


@needs_shared
def test_biologic_mb_mpr():
    d = _real(ECHEM / "navani" / "00_test_02_MB_C01.mpr")
    _check_table(d)
    assert len(d) == 11
    assert d.voltage_v.min() == pytest.approx(-1.65019, abs=1e-5)
    assert d.current_ma[0] == pytest.approx(-0.056718, abs=1e-6)
    assert np.all(d.direction == -1) and np.all(d.half_cycle == 1)
    assert d.capacity_mah[-1] == pytest.approx(-1.346193e-4, rel=1e-6)
    assert d.start == datetime(2023, 12, 8, 9, 49, 52, 346000) + timedelta(seconds=6.166)

    d4 = _real(ECHEM / "navani" / "00_test_04_MB_C01.mpr")
    _check_table(d4)
    assert len(d4) == 1501
    # file time starts at 16.1674 s
    assert d4.start == datetime(2023, 12, 8, 9, 50, 8, 513400)
    assert d4.time_s[-1] == pytest.approx(1.4998, abs=1e-4)
    assert d4.capacity_mah[-1] == pytest.approx(-1.7953e-5, rel=1e-4)


@needs_shared
def test_neware_nda_navani():
    d = _real(ECHEM / "navani" / "test.nda")
    _check_table(d)
    assert d.format == "neware-nda"
    assert len(d) == 439
    assert np.unique(d.cycle).tolist() == [1, 2]
    assert d.voltage_v.min() == pytest.approx(-0.1010, abs=1e-4)
    assert d.voltage_v.max() == pytest.approx(-0.0849, abs=1e-4)
    assert d.start == datetime(2020, 3, 25, 11, 16, 50) and d.start.tzinfo is None
    # step time (0.1 s records) accumulated over 6 steps: 5 + 25 + 50 + 100 + 500 + 41.6 s
    assert d.time_s[-1] == pytest.approx(721.6, abs=1e-3)
    assert d.meta["time_source"] == "accumulated step time"
    assert d.meta["max_timestamp_deviation_s"] <= 1.0  # the Timestamps have 1 s resolution
    assert _half_cycle_directions(d) == [-1, 1, -1]
    assert np.unique(d.step).tolist() == [1, 2, 3, 4, 5, 6]
    assert d.capacity_mah[-1] == pytest.approx(-0.006378, abs=1e-6)


@needs_shared
def test_neware_ndax_navani():
    d = _real(ECHEM / "navani" / "test.ndax")
    _check_table(d)
    assert d.format == "neware-ndax"
    assert len(d) == 1464
    assert d.voltage_v.min() == pytest.approx(1.4995, abs=1e-4)
    assert d.voltage_v.max() == pytest.approx(4.3998, abs=1e-4)
    assert np.unique(d.cycle).tolist() == [1]
    assert _half_cycle_directions(d) == [1, -1]
    assert d.start == datetime(2024, 2, 1, 20, 24, 23)
    assert d.time_s[-1] == pytest.approx(43800.0)  # 300 s + 2 x 6 h + 300 s
    assert d.meta["program"] == "fs6_cycling.xml"
    end_charge = np.flatnonzero(d.half_cycle == 1)[-1]
    assert d.capacity_mah[end_charge] == pytest.approx(0.593039, abs=1e-6)
    assert d.current_ma.max() == pytest.approx(0.12, abs=1e-4)  # mA


@needs_shared
def test_neware_nda_version_130_tz_aware_with_pauses():
    d = _real(ECHEM / "newarenda" / "TestFile.nda")
    _check_table(d)
    assert len(d) == 6670
    assert np.unique(d.cycle).tolist() == [1, 2, 3]
    assert d.voltage_v.min() == pytest.approx(1.72059, abs=1e-4)
    assert d.voltage_v.max() == pytest.approx(4.20006, abs=1e-4)
    assert d.start == datetime(2024, 5, 27, 8, 2, 53, 970000, tzinfo=timezone.utc)
    assert d.start.utcoffset() == timedelta(0)
    # CC and CV charge steps form one half-cycle: D, C, D, C
    assert _half_cycle_directions(d) == [-1, 1, -1, 1]
    assert d.current_ma.min() == pytest.approx(-3000.96, abs=0.01)
    # the test was paused twice (timestamps run on, step time does not): the pauses are
    # inserted; a 175 s step of the timestamps backwards inside a charge step is not
    assert [row for row, _ in d.meta["pauses"]] == [2, 6623]
    assert d.meta["pause_total_s"] == pytest.approx(17412.76, abs=0.01)
    assert d.meta["timestamp_steps_back"] == [(4915, -175.0)]
    assert d.time_s[2] - d.time_s[1] == pytest.approx(443.76, abs=0.01)
    assert d.time_s[-1] == pytest.approx(89786.01, abs=0.01)


@needs_shared
def test_neware_ndax_operando_coin_cell():
    d = _real(CC8)
    _check_table(d)
    assert len(d) == 4647
    assert d.voltage_v.min() == pytest.approx(2.4996, abs=1e-4)
    assert d.voltage_v.max() == pytest.approx(4.3021, abs=1e-4)
    assert np.unique(d.cycle).tolist() == [1, 2]
    assert d.start == datetime(2025, 7, 2, 19, 8, 11)
    assert np.all(np.diff(d.time_s) >= 0)
    # 1800 + 21600 + 18000 + 7200 + 5577.2 s; the last timestamp is 10:11:07 next day
    assert d.time_s[-1] == pytest.approx(54177.2, abs=0.01)
    assert d.time_s[-1] / 3600 == pytest.approx(15.05, abs=0.01)
    assert abs(d.start + timedelta(seconds=float(d.time_s[-1]))
               - datetime(2025, 7, 3, 10, 11, 7)) < timedelta(seconds=2)
    assert _half_cycle_directions(d) == [1, -1, 1, -1]
    assert d.meta["program"] == "coin_cell_8.xml" and d.meta["channel"] == "16-1-8"
    # net capacity at the end of the first charge = Neware's charge capacity of that step
    end_charge = np.flatnonzero(d.half_cycle == 1)[-1]
    assert d.capacity_mah[end_charge] == pytest.approx(1.5017283, abs=1e-6)
    assert d.capacity_mah[-1] == pytest.approx(1.501728 - 1.439318 + 1.282919 - 1.181655,
                                               abs=1e-5)


@needs_shared
def test_arbin_res():
    d = _real(ECHEM / "navani" / "arbin_example.res")
    _check_table(d)
    assert d.format == "arbin-res"
    assert len(d) == 2150
    assert d.voltage_v.min() == pytest.approx(2.99992, abs=1e-4)
    assert d.voltage_v.max() == pytest.approx(4.30006, abs=1e-4)
    assert np.unique(d.cycle).tolist() == [1, 2, 3, 4, 5]
    assert _half_cycle_directions(d) == [1, -1] * 4
    # Start_DateTime 45131.7847222 (OLE days) plus Test_Time of the first record (0.0726 s)
    assert abs(d.start - datetime(2023, 7, 24, 18, 50, 0, 72595)) < timedelta(milliseconds=1)
    assert d.time_s[-1] / 3600 == pytest.approx(96.037, abs=1e-3)
    # Current is stored in A: 0.0865 mA here
    assert d.current_ma.max() == pytest.approx(0.08653, abs=1e-5)
    assert d.meta["test_name"] == "ajm314_LCO_ajm5-SSB1-F_Wait48hr-Repeat-01-012"
    assert d.meta["channel"] == 40
    assert d.meta["program"] == "AliceM\\LCO-ajm5-SSA8-N_5xCo10.sdu"
    # Arbin's capacities restart with every cycle; the net charge runs on across cycles
    ends = [d.capacity_mah[np.flatnonzero(d.half_cycle == k)[-1]] for k in range(1, 9)]
    assert ends == pytest.approx([0.483515, 0.008359, 0.485110, 0.010756, 0.486941,
                                  0.012939, 0.488968, 0.015263], abs=2e-6)
    assert np.max(np.abs(np.diff(d.capacity_mah))) < 0.01


@needs_shared
@pytest.mark.parametrize("relpath", [
    "echem/navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr",
    "echem/navani/00_test_02_MB_C01.mpr",
    "echem/navani/00_test_04_MB_C01.mpr",
    "echem/navani/test.nda",
    "echem/navani/test.ndax",
    "echem/newarenda/TestFile.nda",
    "xrd/operando_coincell_mythen/coincell8_LDE2/Echem/cc8.ndax",
    "echem/navani/arbin_example.res",
])
def test_capacity_agrees_with_integrated_current(relpath):
    """The cycler's charge counter against the trapezoid integral of the current.

    Measured worst deviations, as a fraction of the total throughput: GCPL .mpr 5e-7, MB
    .mpr 0.6 % (11 records, 1 s apart, on a decaying current) and 0.05 %, test.nda 0.8 %
    (0.1 s records and a 0.5 s jump of the current at step starts), test.ndax 0.12 %,
    TestFile.nda 0.002 %, cc8.ndax 0.012 %, Arbin 0.19 % (records 5 min apart and 2 min
    rests between steps without records).
    """
    d = _real(SHARED / relpath)
    integral = _trapezoid_mah(d)
    throughput = float(np.sum(np.abs(np.diff(integral))))
    assert throughput > 0
    assert np.max(np.abs(integral - d.capacity_mah)) < 0.02 * throughput


@needs_shared
def test_suffix_is_case_insensitive(tmp_path):
    for src, name in ((ECHEM / "navani" / "00_test_02_MB_C01.mpr", "MB.MPR"),
                      (ECHEM / "navani" / "test.nda", "T.NDA")):
        ref = _real(src)
        shutil.copy(src, tmp_path / name)
        d = read_cycler(tmp_path / name)
        assert len(d) == len(ref) and np.array_equal(d.voltage_v, ref.voltage_v)
    # any name with an explicit format; .nda or .ndax told apart by the content
    ref = _real(ECHEM / "navani" / "test.ndax")
    shutil.copy(ECHEM / "navani" / "test.ndax", tmp_path / "export.bin")
    d = read_cycler(tmp_path / "export.bin", format="neware-nda")
    assert d.format == "neware-ndax" and np.array_equal(d.time_s, ref.time_s)


# --------------------------------------------------------------------------------------------
# BioLogic text export (.mpt)


_MPT_COLUMNS = ["mode", "ox/red", "error", "control changes", "Ns changes", "counter inc.",
                "Ns", "time/s", "control/V/mA", "Ewe/V", "I/mA", "dq/mA.h", "(Q-Qo)/mA.h",
                "half cycle", "Q charge/discharge/mA.h", "Energy charge/W.h", "cycle number",
                "P/W"]


def _mpt_rows() -> dict[str, np.ndarray]:
    """Rest (3 records), charge at +0.1 mA (6), discharge at -0.1 mA (6), charge (3)."""
    mode = np.array([3] * 3 + [1] * 15)
    cur = np.array([0.0] * 3 + [0.1] * 6 + [-0.1] * 6 + [0.1] * 3)
    t = 12.5 + 60.0 * np.arange(cur.size)
    dq = np.concatenate([[0.0], cur[1:] * np.diff(t) / 3600.0])
    q = np.cumsum(dq)
    ewe = np.round(3.2 + np.cumsum(np.sign(cur)) * 0.01 + 0.1234567, 7)
    ns = np.array([0] * 3 + [1] * 6 + [2] * 6 + [1] * 3)
    cyc = np.array([0] * 15 + [1] * 3, dtype=float)
    zeros = np.zeros(cur.size)
    return {"mode": mode, "ox/red": (cur > 0).astype(int), "error": zeros.astype(int),
            "control changes": zeros.astype(int), "Ns changes": zeros.astype(int),
            "counter inc.": zeros.astype(int), "Ns": ns, "time/s": t, "control/V/mA": cur,
            "Ewe/V": ewe, "I/mA": cur, "dq/mA.h": dq, "(Q-Qo)/mA.h": q,
            "half cycle": zeros.astype(int), "Q charge/discharge/mA.h": q,
            "Energy charge/W.h": zeros, "cycle number": cyc, "P/W": ewe * cur / 1000}


def _write_mpt(path: Path, rows: dict[str, np.ndarray], *, started: str, decimal_comma=False,
               encoding="latin-1") -> None:
    header = [
        "EC-Lab ASCII FILE",
        "Nb header lines : {n}",
        "",
        "Galvanostatic Cycling with Potential Limitation",
        "",
        "Run on channel : 9 (SN 1234)",
        "User : ",
        "Electrode connection : standard",
        "Potential control : Ewe",
        "Ewe ctrl range : min = 0.00 V, max = 5.00 V",
        "Safety Limits :",
        "\tEwe min = 1.5 V",
        "Channel : Grounded",
        f"Acquisition started on : {started}",
        "Loaded Setting File : NONE",
        "Saved on :",
        "\tFile : cell_C09.mpr",
        "\tDirectory : C:\\data\\",
        "Device : VMP3 (SN 0123)",
        "EC-Lab for windows v11.33 (software)",
        "Electrode surface area : 1.131 cm²",
        "Characteristic mass : 10.000 mg",
        "Cycle Definition : Charge/Discharge alternance",
        "Ns                  0                   1                   2",
        "ctrl_type           Rest                CC                  CC",
        "unit ctrl1          µA                  mA                  mA",
    ]
    header.append("\t".join(_MPT_COLUMNS) + "\t")
    header[1] = header[1].format(n=len(header))
    lines = list(header)
    n = len(rows["time/s"])
    for i in range(n):
        cells = []
        for name in _MPT_COLUMNS:
            v = rows[name][i]
            cells.append(str(int(v)) if np.issubdtype(np.asarray(v).dtype, np.integer)
                         else f"{float(v):.10E}")
        line = "\t".join(cells) + "\t"
        lines.append(line.replace(".", ",") if decimal_comma else line)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))


def test_mpt_parses_to_the_numbers_written(tmp_path):
    rows = _mpt_rows()
    path = tmp_path / "gcpl_C09.mpt"
    _write_mpt(path, rows, started="10/26/2020 12:49:58.000")
    d = read_cycler(path)
    _check_table(d)
    assert d.format == "biologic-mpt" and len(d) == 18
    assert d.start == datetime(2020, 10, 26, 12, 49, 58) + timedelta(seconds=12.5)
    assert d.meta["start_layout"] == "mm/dd/yyyy"
    assert d.meta["header_lines"] == 27
    assert d.meta["technique"] == "Galvanostatic Cycling with Potential Limitation"
    assert d.meta["channel"] == "9 (SN 1234)"
    assert d.time_s == pytest.approx(rows["time/s"] - 12.5, abs=1e-9)
    assert d.voltage_v == pytest.approx(rows["Ewe/V"], abs=1e-9)
    assert d.current_ma == pytest.approx(rows["I/mA"], abs=1e-12)
    assert d.capacity_mah == pytest.approx(rows["(Q-Qo)/mA.h"], abs=1e-12)
    assert d.step.tolist() == (rows["Ns"] + 1).tolist()
    assert d.cycle.tolist() == [1] * 15 + [2] * 3  # 'cycle number' + 1
    assert d.direction.tolist() == [0] * 3 + [1] * 6 + [-1] * 6 + [1] * 3
    assert d.half_cycle.tolist() == [0] * 3 + [1] * 6 + [2] * 6 + [3] * 3
    assert d.capacity_mah[8] == pytest.approx(6 * 60 * 0.1 / 3600)  # 6 intervals at 0.1 mA


def test_mpt_decimal_comma_day_first_cp1252(tmp_path):
    rows = _mpt_rows()
    ref_path = tmp_path / "ref.mpt"
    _write_mpt(ref_path, rows, started="10/26/2020 12:49:58.000")
    path = tmp_path / "komma.mpt"
    _write_mpt(path, rows, started="26.10.2020 12:49:58.250", decimal_comma=True,
               encoding="cp1252")
    assert b"," in path.read_bytes() and "µ".encode("cp1252") in path.read_bytes()
    d, ref = read_cycler(path), read_cycler(ref_path)
    assert d.meta["decimal_comma"] and not ref.meta["decimal_comma"]
    assert d.meta["start_layout"] == "dd.mm.yyyy"
    assert d.start == ref.start + timedelta(milliseconds=250)
    for name, a in d.as_columns().items():
        assert np.array_equal(a, getattr(ref, name)), name


def test_mpt_unreadable_start_falls_back_with_a_message(tmp_path):
    path = tmp_path / "odd_date.mpt"
    _write_mpt(path, _mpt_rows(), started="le 26 octobre 2020")
    with pytest.warns(UserWarning, match="Acquisition started on"):
        d = read_cycler(path)
    assert d.start is None and "mm/dd/yyyy" in d.meta["start_warning"]
    assert len(d) == 18


def test_eclab_text_in_a_txt_file_is_read_as_mpt(tmp_path):
    path = tmp_path / "export.txt"
    _write_mpt(path, _mpt_rows(), started="10/26/2020 12:49:58.000")
    assert read_cycler(path).format == "biologic-mpt"


@needs_shared
def test_mpt_from_real_mpr_numbers(tmp_path):
    """The MB .mpr file's columns written as an EC-Lab text export read back the same."""
    pytest.importorskip("galvani")
    from galvani import BioLogic

    src = ECHEM / "navani" / "00_test_02_MB_C01.mpr"
    data = BioLogic.MPRfile(str(src)).data
    names = [n for n in data.dtype.names if n != "flags"]
    lines = ["EC-Lab ASCII FILE", "Nb header lines : 6", "",
             "Modular Batteries", "Acquisition started on : 12/08/2023 09:49:52.346",
             "\t".join(names)]
    for rec in data:
        lines.append("\t".join(repr(float(rec[n])) for n in names))
    path = tmp_path / "mb.mpt"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    d, ref = read_cycler(path), _real(src)
    assert d.start == ref.start
    for name, a in d.as_columns().items():
        assert np.array_equal(a, getattr(ref, name)), name


# --------------------------------------------------------------------------------------------
# CSV


def test_example_csv_reads_without_mapping():
    d = read_cycler(EXAMPLE_CSV)
    _check_table(d)
    assert d.format == "csv" and len(d) == 761
    assert d.meta["columns"] == {"time_s": "time_s", "voltage_v": "voltage_v",
                                 "current_ma": "current_ma", "capacity_mah": "capacity_mah"}
    assert d.voltage_v.min() == pytest.approx(2.5340, abs=1e-4)
    assert d.voltage_v.max() == pytest.approx(4.0001, abs=1e-4)
    assert d.time_s[-1] == pytest.approx(22800.0)
    # OCV, charge at C/3 (0.1176 mA), rest, discharge: one cycle, two half-cycles
    assert _half_cycle_directions(d) == [1, -1]
    assert np.all(d.cycle == 1) and d.start is None
    assert d.current_ma.max() == pytest.approx(0.1176)
    integral = _trapezoid_mah(d)
    throughput = float(np.sum(np.abs(np.diff(integral))))
    assert np.max(np.abs(integral - d.capacity_mah)) < 0.01 * throughput  # 30 s records


def _write_csv(path: Path, header: list[str], rows: list[list], delimiter=",") -> Path:
    lines = [delimiter.join(header)] + [delimiter.join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_half_cycles_direction_cycles_and_steps(tmp_path):
    current = [0, 0, 1, 1, 1, 1, 0, 0, -1, -1, -1, -1, 0, 0, 1, 1, 1]
    rows = [[10.0 * i, 3.0 + 0.01 * i, c] for i, c in enumerate(current)]
    d = read_cycler(_write_csv(tmp_path / "gitt.csv", ["time_s", "voltage_v", "current_ma"],
                               rows))
    _check_table(d)
    assert d.direction.tolist() == current
    assert d.half_cycle.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3]
    assert d.cycle.tolist() == [1] * 14 + [2] * 3
    assert d.step.tolist() == [1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 4, 4, 5, 5, 6, 6, 6]
    assert d.charge_label()[[0, 2, 8]].tolist() == ["rest", "charge", "discharge"]
    # capacity integrated from the current (trapezoid), in mAh
    assert d.meta["capacity_source"].startswith("trapezoid")
    assert d.capacity_mah[6] == pytest.approx((0.5 * 10 + 30 + 0.5 * 10) / 3600)
    # charge after a rest in the same direction stays in the same half-cycle
    rows2 = [[10.0 * i, 3.0, c] for i, c in enumerate([1, 1, 0, 1, 1, -1, -1])]
    d2 = read_cycler(_write_csv(tmp_path / "same.csv", ["time_s", "voltage_v", "current_ma"],
                                rows2))
    assert d2.half_cycle.tolist() == [1, 1, 1, 1, 1, 2, 2]
    assert d2.cycle.tolist() == [1] * 7


def test_csv_mapping_with_unit_conversion(tmp_path):
    header = ["Elapsed (h)", "U [V]", "I [A]", "Zyklus", "Schritt", "comment"]
    rows = [[0.0, 3.0, 0.001, 0, 0, "a"], [0.5, 3.5, 0.001, 0, 0, "b"],
            [1.0, 4.0, 0.001, 0, 0, "c"], [1.5, 3.5, -0.002, 1, 1, "d"],
            [2.0, 3.0, -0.002, 1, 1, "e"]]
    path = _write_csv(tmp_path / "renamed.csv", header, rows, delimiter=";")
    d = read_cycler(path, columns={"time_h": "Elapsed (h)", "voltage_v": "U [V]",
                                   "current_a": "I [A]", "cycle": "Zyklus", "step": "schritt"})
    _check_table(d)
    assert d.meta["delimiter"] == ";"
    assert d.time_s.tolist() == [0.0, 1800.0, 3600.0, 5400.0, 7200.0]
    assert d.current_ma.tolist() == [1.0, 1.0, 1.0, -2.0, -2.0]
    assert d.cycle.tolist() == [1, 1, 1, 2, 2]  # 0-based counters are shifted
    assert d.step.tolist() == [1, 1, 1, 2, 2]
    assert d.capacity_mah[2] == pytest.approx(1.0)  # 1 mA for 1 h
    assert d.capacity_mah[-1] == pytest.approx(1.0 + 0.5 * (1 - 2) * 0.5 - 2 * 0.5)

    # mAh, minutes, µA and Ah alternatives
    path2 = _write_csv(tmp_path / "units.csv", ["t", "v", "i", "q"],
                       [[0, 3.0, 500, 0.0], [30, 3.1, 500, 0.00025], [60, 3.2, 500, 0.0005]])
    d2 = read_cycler(path2, columns={"time_min": "t", "voltage_v": "v", "current_ua": "i",
                                     "capacity_ah": "q"})
    assert d2.time_s.tolist() == [0.0, 1800.0, 3600.0]
    assert d2.current_ma == pytest.approx([0.5, 0.5, 0.5])
    assert d2.capacity_mah == pytest.approx([0.0, 0.25, 0.5])


def test_csv_autodetect_common_spellings_decimal_comma(tmp_path):
    header = ["Test Time (s)", "Voltage(V)", "Current(mA)", "Capacity(mAh)", "Cycle", "Step"]
    rows = [["0", "3,10", "0,0", "0,0", "1", "1"], ["60", "3,20", "1,5", "0,025", "1", "2"],
            ["120", "3,30", "1,5", "0,05", "1", "2"]]
    d = read_cycler(_write_csv(tmp_path / "neware_export.csv", header, rows, delimiter=";"))
    assert d.meta["decimal_comma"]
    assert d.meta["columns"] == {"time_s": "Test Time (s)", "voltage_v": "Voltage(V)",
                                 "current_ma": "Current(mA)", "capacity_mah": "Capacity(mAh)",
                                 "cycle": "Cycle", "step": "Step"}
    assert d.voltage_v.tolist() == [3.1, 3.2, 3.3]
    assert d.capacity_mah.tolist() == [0.0, 0.025, 0.05]
    assert d.step.tolist() == [1, 2, 2]

    # EC-Lab-like names in a tab-separated file; only capacity: current is its derivative
    d2 = read_cycler(_write_csv(tmp_path / "bl.tsv", ["time/s", "Ewe/V", "(Q-Qo)/mA.h"],
                                [[0, 3.0, 0.0], [36, 3.1, 0.01], [72, 3.2, 0.02]],
                                delimiter="\t"))
    assert d2.meta["delimiter"] == "\t"
    assert d2.current_ma == pytest.approx([1.0, 1.0, 1.0])
    assert d2.meta["current_source"] == "derivative of the capacity"


def test_csv_datetime_column(tmp_path):
    rows = [["2025-03-14T09:00:00.000", 3.0, 0.1], ["2025-03-14T09:00:30.500", 3.1, 0.1],
            ["2025-03-14T09:01:00.000", 3.2, 0.1]]
    d = read_cycler(_write_csv(tmp_path / "iso.csv", ["timestamp", "voltage", "I/mA"], rows))
    assert d.start == datetime(2025, 3, 14, 9, 0, 0)
    assert d.time_s.tolist() == [0.0, 30.5, 60.0]

    rows = [["14/03/2025 09:00:10", 5, 3.0], ["14/03/2025 09:01:10", 65, 3.1]]
    d2 = read_cycler(_write_csv(tmp_path / "own.csv", ["Date Time", "Time (s)", "Ewe/V"], rows),
                     columns={"datetime": "Date Time", "time_s": "Time (s)",
                              "voltage_v": "Ewe/V"}, time_format="%d/%m/%Y %H:%M:%S")
    # the datetime of the first record belongs to time 5 s: the start moves with the shift
    assert d2.start == datetime(2025, 3, 14, 9, 0, 10)
    assert d2.time_s.tolist() == [0.0, 60.0]
    assert np.all(d2.current_ma == 0) and d2.meta["current_source"].startswith("none")

    # a date column found by name only, in a layout not understood, is left out when
    # there is a time column
    rows = [["14/03/2025 09:00:10", 5, 3.0], ["14/03/2025 09:01:10", 65, 3.1]]
    d3 = read_cycler(_write_csv(tmp_path / "auto.csv", ["Date", "time/s", "Ewe/V"], rows))
    assert d3.start is None and "line 2" in d3.meta["datetime_ignored"]
    assert d3.time_s.tolist() == [0.0, 60.0]

    with pytest.raises(CyclerReadError, match=r"own\.csv: line 2, column 'Date Time'.*"
                                              r"time_format"):
        read_cycler(tmp_path / "own.csv", columns={"datetime": "Date Time",
                                                   "voltage_v": "Ewe/V"})


def test_nonfinite_rows_are_dropped_and_counted(tmp_path):
    rows = [[0, 3.0], [10, "nan"], [20, 3.2], ["", 3.3], [40, 3.4]]
    d = read_cycler(_write_csv(tmp_path / "gaps.csv", ["time_s", "voltage_v"], rows))
    assert len(d) == 3 and d.time_s.tolist() == [0.0, 20.0, 40.0]
    assert d.meta["dropped_nonfinite_rows"] == 2
    assert d.meta["dropped_nonfinite_by_column"] == {"time_s": 1, "voltage_v": 1}
    _write_csv(tmp_path / "allnan.csv", ["time_s", "voltage_v"], [[0, "nan"], [1, ""]])
    with pytest.raises(CyclerReadError, match=r"allnan\.csv: no record has a finite"):
        read_cycler(tmp_path / "allnan.csv")


def test_capacity_modes(tmp_path):
    rows = [[0, 3.0, 1.0, 0.0], [3600, 3.5, 1.0, 0.9]]
    path = _write_csv(tmp_path / "q.csv", ["time_s", "voltage_v", "current_ma", "capacity_mah"],
                      rows)
    assert read_cycler(path).capacity_mah.tolist() == [0.0, 0.9]
    assert read_cycler(path, capacity="integrate").capacity_mah.tolist() == [0.0, 1.0]
    no_q = _write_csv(tmp_path / "noq.csv", ["time_s", "voltage_v", "current_ma"],
                      [r[:3] for r in rows])
    with pytest.raises(CyclerReadError, match=r"noq\.csv: capacity='file'"):
        read_cycler(no_q, capacity="file")
    with pytest.raises(ValueError, match="capacity must be one of"):
        read_cycler(path, capacity="charge")


# --------------------------------------------------------------------------------------------
# errors


def test_missing_file_names_it(tmp_path):
    missing = tmp_path / "nowhere" / "cell_C01.mpr"
    with pytest.raises(FileNotFoundError, match=r"cell_C01\.mpr: does not exist"):
        read_cycler(missing)
    with pytest.raises(CyclerFileNotFoundError):
        read_cycler(tmp_path / "cell.csv")


def test_missing_column_names_it_and_lists_found(tmp_path):
    path = _write_csv(tmp_path / "novolt.csv", ["time_s", "current_ma", "Temp"],
                      [[0, 1, 25], [1, 1, 25]])
    with pytest.raises(CyclerReadError, match=r"novolt\.csv: no voltage column.*columns "
                                              r"found: time_s, current_ma, Temp"):
        read_cycler(path)
    with pytest.raises(CyclerReadError, match=r"novolt\.csv: no column 'Volts' \(mapped to "
                                              r"voltage_v\); columns found: time_s, "
                                              r"current_ma, Temp"):
        read_cycler(path, columns={"time_s": "time_s", "voltage_v": "Volts"})
    path2 = _write_csv(tmp_path / "notime.csv", ["voltage_v"], [[3.0], [3.1]])
    with pytest.raises(CyclerReadError, match=r"notime\.csv: no time column.*columns found: "
                                              r"voltage_v"):
        read_cycler(path2)
    with pytest.raises(ValueError, match="unknown key 'volts'"):
        read_cycler(path, columns={"time_s": "time_s", "volts": "Temp"})


def test_time_going_backwards_names_the_line(tmp_path):
    rows = [[0, 3.0], [10, 3.1], [5, 3.2]]
    path = _write_csv(tmp_path / "back.csv", ["time_s", "voltage_v"], rows)
    with pytest.raises(CyclerReadError, match=r"back\.csv: time goes backwards at line 4 "
                                              r"\(10 s -> 5 s\)"):
        read_cycler(path)


def test_bad_text_files(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(CyclerReadError, match=r"empty\.csv: the file is empty"):
        read_cycler(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("time_s,voltage_v\n")
    with pytest.raises(CyclerReadError, match=r"header\.csv: header but no data lines"):
        read_cycler(tmp_path / "header.csv")
    _write_csv(tmp_path / "word.csv", ["time_s", "voltage_v"], [[0, 3.0], [1, "high"]])
    with pytest.raises(CyclerReadError, match=r"word\.csv: line 3, column 'voltage_v' "
                                              r"\(voltage_v\): 'high' is not a number"):
        read_cycler(tmp_path / "word.csv")
    (tmp_path / "notes.mpt").write_text("some notes\nmore\n")
    with pytest.raises(CyclerReadError, match=r"notes\.mpt: not an EC-Lab text export"):
        read_cycler(tmp_path / "notes.mpt")
    (tmp_path / "cell.xyz").write_text("1 2 3\n")
    with pytest.raises(CyclerReadError, match=r"cell\.xyz: cannot tell the cycler format"):
        read_cycler(tmp_path / "cell.xyz")
    with pytest.raises(ValueError, match="format must be"):
        read_cycler(tmp_path / "header.csv", format="maccor")


@pytest.mark.parametrize("suffix, what, library", [
    (".mpr", "BioLogic .mpr", "yadg"),
    (".nda", "Neware .nda", "NewareNDA"),
    (".ndax", "Neware .ndax", "NewareNDA"),
    (".res", "Arbin .res", "access_parser"),
    (".mpt", "EC-Lab text export", None),
    (".csv", "delimited text table", None),
])
def test_garbage_bytes_give_cycler_read_error(tmp_path, suffix, what, library):
    if library:
        pytest.importorskip(library)
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(CyclerReadError, match=rf"garbage\{suffix}: .*{what}") as info:
        read_cycler(path)
    assert len(str(info.value)) < 400


def test_import_is_cheap():
    code = ("import sys, xpipe.echem.readers; "
            "print(sorted(m for m in ('galvani', 'yadg', 'xarray', 'NewareNDA', 'access_parser', "
            "'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
