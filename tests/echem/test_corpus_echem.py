"""BioLogic EC-Lab files of the corpus against yadg's EC-Lab extractor.

Every ``.mpr`` and ``.mpt`` file in ``../shared/data/corpus/echem/biologic_eclab`` is read with
xpipe and with yadg (``yadg.extractors.extract("eclab.mpr" | "eclab.mpt", ...)``); the numbers
both have must be equal, record by record, or xpipe must refuse the file with a reason that
holds for yadg too (no time or voltage in it). yadg's columns carry a ``units`` attribute; each
is converted here to xpipe's units by that attribute (a unit the table below does not list
fails the test), never by assumption.

Where galvani reads a ``.mpr`` file too, its columns are a second, independent reference; and
the ``.mpt`` export of an experiment must give the numbers of its ``.mpr`` file, to the digits
the export writes.
"""

from __future__ import annotations

import logging
import re
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, needs_corpus

from xpipe.echem.readers import CyclerData, CyclerReadError, read_cycler
from xpipe.errors import InputFileError, classify

ECLAB = CORPUS / "echem" / "biologic_eclab"
FILES = sorted(p.name for p in ECLAB.glob("*.mp[rt]")) if ECLAB.is_dir() else ["(absent)"]

#: yadg unit -> factor to xpipe's unit, per quantity
_TO_V = {"V": 1.0, "mV": 1e-3}
_TO_MA = {"mA": 1.0, "A": 1e3, "µA": 1e-3, "uA": 1e-3}
_TO_MAH = {"mA·h": 1.0, "C": 1 / 3.6}
_TO_S = {"s": 1.0}

_VOLTAGE = ("Ewe", "<Ewe>", "Ecell", "<Ecell>", "Ewe-Ece", "<Ewe-Ece>")
_CURRENT = ("I", "<I>")

# .mpt files and the .mpr file of the same experiment
PAIRS = [("bcd.issue_241.mpt", "bcd.issue_241.mpr"), ("ca.mpt", "ca.mpr"),
         ("cp.issue_149.mpt", "cp.issue_149.mpr"), ("cv.issue_149.mpt", "cv.issue_149.mpr"),
         ("gcpl.issue_226.I.mpt", "gcpl.issue_226.I.mpr"),
         ("gcpl.pr_182.1.mpt", "gcpl.pr_182.1.mpr"), ("geis.mpt", "geis.mpr"),
         ("mb.issue_149.mpt", "mb.issue_149.mpr"), ("mb.mpt", "mb.mpr"),
         ("mb.issue_95.de.mpt", "mb.issue_95.mpr"), ("ocv.old.mpt", "ocv.mpr"),
         ("peis.issue_225.ewe_ece.mpt", "peis.issue_225.ewe_ece.mpr"), ("peis.mpt", "peis.mpr"),
         ("vsp_peis_with.mpt", "vsp_peis_with.mpr")]

_YADG: dict[str, dict] = {}


def _decimal_comma(path: Path) -> bool:
    """Whether the data lines of an export write decimal commas (yadg must be told)."""
    lines = path.read_bytes().decode("cp1252").splitlines()
    n = int(lines[1].split(":")[1]) if lines[0].startswith("EC-Lab ASCII FILE") else 1
    data = [ln for ln in lines[n:] if ln.strip()][:20]
    return any(re.search(r"\d,\d", ln) for ln in data)


def _scaled(ds, name: str, table: dict[str, float], what: str) -> np.ndarray:
    unit = ds[name].attrs.get("units")
    assert unit in table, f"yadg's {name!r} is in {unit!r}, not a {what} unit this test knows"
    return np.asarray(ds[name].values, dtype=float) * table[unit]


def _yadg(path: Path) -> dict:
    """What yadg reads from the file, in xpipe's units (None where it has no such column)."""
    if path.name in _YADG:
        return _YADG[path.name]
    yadg = pytest.importorskip("yadg.extractors")
    logging.getLogger("yadg").setLevel(logging.CRITICAL)
    kw = {}
    if path.suffix == ".mpt":
        kw["locale"] = "de_DE" if _decimal_comma(path) else "en_US"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = yadg.extract(f"eclab{path.suffix}", path, timezone="UTC", **kw).to_dataset()
    ref: dict = {"names": sorted(str(k) for k in ds.data_vars)}
    ref["time_s"] = _scaled(ds, "time", _TO_S, "time") if "time" in ds else None
    v = next((n for n in _VOLTAGE if n in ds), None)
    ref["voltage"] = v
    ref["voltage_v"] = None if v is None else _scaled(ds, v, _TO_V, "voltage")
    i = next((n for n in _CURRENT if n in ds), None)
    ref["current_ma"] = None if i is None else _scaled(ds, i, _TO_MA, "current")
    ref["charge_mah"] = ref["charge_from"] = None
    if "(Q-Qo)" in ds:
        ref["charge_mah"], ref["charge_from"] = _scaled(ds, "(Q-Qo)", _TO_MAH, "charge"), "(Q-Qo)"
    elif "dq" in ds or "dQ" in ds:
        # the charge per record summed up, as EC-Lab's (Q-Qo) is; a missing value adds nothing
        name = "dq" if "dq" in ds else "dQ"
        dq = _scaled(ds, name, _TO_MAH, "charge")
        ref["charge_mah"], ref["charge_from"] = np.cumsum(np.where(np.isfinite(dq), dq, 0)), name
    for key, name in (("cycle", "cycle number"), ("step", "Ns"), ("mode", "mode")):
        ref[key] = np.asarray(ds[name].values, dtype=float) if name in ds else None
    ref["uts"] = np.asarray(ds["uts"].values, dtype=float)
    # yadg marks a file without a full acquisition date (no log module, no header)
    ref["full_date"] = "fulldate" not in ds.attrs
    _YADG[path.name] = ref
    return ref


def _compare(d: CyclerData, ref: dict) -> list[str]:
    """What differs between xpipe's table and yadg's columns ([] when nothing)."""
    keep = np.isfinite(ref["time_s"]) & np.isfinite(ref["voltage_v"])
    for key in ("current_ma", "charge_mah"):
        if ref[key] is not None:
            keep &= np.isfinite(ref[key])
    if len(d) != int(keep.sum()):
        return [f"{len(d)} records, yadg {int(keep.sum())} with finite values"]
    bad = []
    t = ref["time_s"][keep]
    # xpipe's test time starts at 0: the first time subtracted, in the same float operation
    if not np.array_equal(d.time_s, t - t[0]):
        bad.append("time_s")
    if not np.array_equal(d.voltage_v, ref["voltage_v"][keep]):
        bad.append(f"voltage_v ({ref['voltage']})")
    if ref["current_ma"] is not None and not np.array_equal(d.current_ma, ref["current_ma"][keep]):
        bad.append("current_ma")
    if ref["charge_mah"] is not None:
        q = ref["charge_mah"][keep]
        if not np.allclose(d.capacity_mah, q - q[0], rtol=1e-9, atol=1e-12 * np.abs(q).max()):
            bad.append("capacity_mah")
    for key in ("cycle", "step"):
        if ref[key] is not None and not np.array_equal(getattr(d, key), ref[key][keep] + 1):
            bad.append(key)
    if ref["mode"] is not None and np.any(d.direction[ref["mode"][keep] == 3] != 0):
        bad.append("direction (EC-Lab rest, mode 3, is not rest)")
    if ref["full_date"] and d.start is not None:
        # yadg: seconds since 1970 of the first record, the file's clock read as UTC
        uts = ref["uts"][keep][0]
        mine = (d.start.replace(tzinfo=timezone.utc)
                - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds()
        if abs(mine - uts) > 1e-5:
            bad.append(f"start ({d.start} vs {datetime(1970, 1, 1) + timedelta(seconds=uts)})")
    return bad


def _what_compared(d: CyclerData, ref: dict) -> str:
    have = ["time", f"voltage ({ref['voltage']})"]
    if ref["current_ma"] is not None:
        have.append("current")
    else:
        have.append(f"no current in yadg (xpipe: {d.meta.get('current_source', 'file')})")
    if ref["charge_from"] is not None:
        have.append(f"charge ({ref['charge_from']})")
    have += [k for k, r in (("cycle", "cycle"), ("step", "step"), ("rest", "mode"))
             if ref[r] is not None]
    return f"{len(d)} records equal: {', '.join(have)}; reader {d.meta.get('reader', '')}"


@needs_corpus
@pytest.mark.parametrize("name", FILES)
def test_corpus_file_reads_as_yadg_reads_it(name, corpus_row):
    path = ECLAB / name
    ref = _yadg(path)
    try:
        d = read_cycler(path)
    except CyclerReadError as exc:
        usable = ref["time_s"] is not None and ref["voltage_v"] is not None
        line = str(exc)
        family = classify(exc)
        ok = (not usable and str(path) in line and "\n" not in line
              and isinstance(family, InputFileError))
        corpus_row("echem", path, "refused" if ok else "error", "yadg", line.replace(str(path), name))
        assert ok, f"{name}: refused although yadg reads time and voltage: {line}"
        return
    except Exception as exc:
        corpus_row("echem", path, "error", "yadg", f"{type(exc).__name__}: {exc}")
        raise
    bad = _compare(d, ref)
    corpus_row("echem", path, "differs" if bad else "identical", "yadg",
               f"differs in {', '.join(bad)}" if bad else _what_compared(d, ref))
    assert not bad, f"{name}: xpipe and yadg differ in {bad}"


@needs_corpus
@pytest.mark.parametrize("name", [n for n in FILES if n.endswith(".mpr")] or ["(absent)"])
def test_mpr_agrees_with_galvani_where_galvani_reads_it(name):
    """galvani reads the data module on its own: a second reference, where it can."""
    galvani = pytest.importorskip("galvani.BioLogic")
    path = ECLAB / name
    try:
        mpr = galvani.MPRfile(str(path))
    except Exception as exc:  # galvani refuses column ids it does not know
        pytest.skip(f"galvani cannot read {name}: {str(exc)[:80]}")
    d = read_cycler(path)
    data = mpr.data
    t = np.asarray(data["time/s"], dtype=float)
    assert np.array_equal(d.time_s, t - t[0])
    v = next(n for n in ("Ewe/V", "<Ewe>/V") if n in data.dtype.names)
    assert np.array_equal(d.voltage_v, np.asarray(data[v], dtype=float))
    for col in ("I/mA", "<I>/mA"):
        if col in data.dtype.names:
            assert np.array_equal(d.current_ma, np.asarray(data[col], dtype=float))
            break
    if "(Q-Qo)/mA.h" in data.dtype.names:
        q = np.asarray(data["(Q-Qo)/mA.h"], dtype=float)
        assert np.array_equal(d.capacity_mah, q - q[0])
    if getattr(mpr, "timestamp", None) is not None:
        assert d.start == mpr.timestamp + timedelta(seconds=float(t[0]))


@needs_corpus
@pytest.mark.parametrize("mpt, mpr", PAIRS, ids=[p[0] for p in PAIRS])
def test_mpt_export_gives_the_numbers_of_its_mpr(mpt, mpr):
    """The text export writes float32 columns (voltage, current, some charge counters) with 8
    significant digits, float64 ones (time, most charge counters) with 16: equal to the binary
    file's numbers within those digits (a relative 6e-8 for 8 digits; 1e-9 s for times up to
    1e6 s; the charge, taken from its first record, within 1e-7 of its largest magnitude)."""
    if not (ECLAB / mpt).is_file() or not (ECLAB / mpr).is_file():
        pytest.skip(f"{mpt} or {mpr} is not in the corpus")
    a, b = read_cycler(ECLAB / mpt), read_cycler(ECLAB / mpr)
    assert len(a) == len(b)
    np.testing.assert_allclose(a.time_s, b.time_s, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.voltage_v, b.voltage_v, rtol=6e-8, atol=0)
    np.testing.assert_allclose(a.capacity_mah, b.capacity_mah, rtol=6e-8,
                               atol=1e-7 * np.abs(b.capacity_mah).max())
    assert np.array_equal(a.step, b.step)
    # EC-Lab adds '<I>/mA' to exports of files that hold only dq (xpipe then takes dq / dt,
    # and gives the first record the current of the second, where EC-Lab's average is 0):
    # currents, and the directions and half-cycles that follow them, are compared where both
    # files hold a current
    if all(d.meta["current_source"] == "file" for d in (a, b)):
        np.testing.assert_allclose(a.current_ma, b.current_ma, rtol=6e-8, atol=0)
        assert np.array_equal(a.direction, b.direction)
        assert np.array_equal(a.half_cycle, b.half_cycle)
    # EC-Lab adds 'cycle number' to some exports of a file that holds none (xpipe derives
    # cycles from the current there): cycles compared where both files hold them
    if all(d.meta["cycle_source"].startswith("file") for d in (a, b)):
        assert np.array_equal(a.cycle, b.cycle)
    if a.start is not None and b.start is not None:
        assert abs(a.start - b.start) <= timedelta(milliseconds=1)
