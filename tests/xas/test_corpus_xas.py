"""The XAS readers on the corpus: real files of many beamlines and the XDI conformance set.

Every file either reads with numbers equal to Larch's (``read_ascii`` for columns, ``read_xdi``
for XDI) on the columns xpipe picked, and the mu(E) Larch's columns give, or is refused with a
one-line reason naming the file. The conformance set's bad files are refused, except the three
its own notes (``BadFiles.txt`` of the XDI project) list as read: bad_00 (the valid file the others
are made from), bad_25 (no application version: 'should', not 'must') and bad_27 (a field-end line
with no comments after it, which the specification allows).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CORPUS, needs_corpus
from xpipe.xas.readers import DUPLICATE_STEP_EV, HC_EV_ANGSTROM, XasReadError, read_scan
from xpipe.xas.readers.base import _norm_name, _unique
from xpipe.xas.readers.columns import _read_text_table
from xpipe.xas.readers.xdi_syntax import parse_xdi

XAS = CORPUS / "xas"
LARCH = XAS / "larch_xafsdata"
CONFORMANCE = XAS / "xdi_conformance"
#: bad files the conformance suite's own notes list as read without error
SUITE_READS = {"bad_00.xdi", "bad_25.xdi", "bad_27.xdi"}


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "LICENSE")


GOOD = _files(LARCH) + _files(CONFORMANCE / "data")
BAD = _files(CONFORMANCE / "baddata")


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(XAS)) for p in paths]


def _larch_columns(path: Path, fmt: str) -> np.ndarray:
    """The table Larch reads, one row per column: read_xdi for XDI files (read_ascii where
    read_xdi fails on a header value, such as a d-spacing written with its unit)."""
    from larch.io import read_ascii, read_xdi

    if fmt == "XDI":
        try:
            return np.asarray(read_xdi(str(path)).data, dtype=float)
        except ValueError:
            pass
    return np.asarray(read_ascii(str(path)).data, dtype=float)


def _xpipe_table(path: Path, fmt: str):
    """xpipe's column names (to find each used column's index) and its table facts."""
    if fmt == "XDI":
        text = path.read_bytes().decode("utf-8", "replace")
        return _unique([_norm_name(s) for s in parse_xdi(path, text).labels]), None, None
    t = _read_text_table(path)
    return t.names, t, t.dark


def _column(data: np.ndarray, names: list[str], spec: str) -> np.ndarray:
    if "/" in spec:
        a, b = spec.split("/", 1)
        return data[names.index(a)] / data[names.index(b)]
    return data[names.index(spec)]


def _reference(path: Path, scan) -> tuple[np.ndarray, np.ndarray]:
    """Energy and mu(E) from Larch's columns: the columns xpipe used, with the documented
    rules (units, offsets, dark counts, finite rows, order, the counts of repeated points
    averaged before mu is computed)."""
    meta, cols = scan.metadata, scan.metadata["columns"]
    names, table, dark = _xpipe_table(path, meta["format"])
    data = _larch_columns(path, meta["format"])
    assert data.shape[0] == len(names), (data.shape, names)
    e = data[names.index(cols["energy"])] + meta.get("energy_offset_ev", 0.0)
    unit = meta["energy_units_in_file"]
    if unit.startswith("keV"):
        e = e * 1000.0
    elif unit.startswith("angle"):
        d = float(re.search(r"d = ([0-9.eE+-]+)", unit).group(1))
        e = HC_EV_ANGSTROM / (2.0 * d * np.sin(np.radians(e)))
    subtracted = meta.get("dark_offsets_subtracted", {})

    def counts(name: str) -> np.ndarray:
        a = data[names.index(name)]
        if name in subtracted:
            a = a - dark[name] * data[names.index(table.time_column)]
        return -a if name in meta.get("inverted_polarity", ()) else a

    if scan.mode == "transmission":
        arrays = {"i0": counts(cols["i0"]), "it": counts(cols["itrans"])}
    elif scan.mode == "fluorescence":
        dts = cols.get("dead_time") or [None] * len(cols["ifluor"])
        arrays = {"i0": counts(cols["i0"])}
        arrays.update({f"f{k}": counts(f) * (1.0 if dt is None else _column(data, names, dt))
                       for k, (f, dt) in enumerate(zip(cols["ifluor"], dts))})
    else:
        arrays = {"mu": data[names.index(cols["mu"])]}
    keep = np.isfinite(e)
    for a in arrays.values():
        keep &= np.isfinite(a)
    e, arrays = e[keep], {k: a[keep] for k, a in arrays.items()}
    if meta["reversed_energy"]:
        e, arrays = e[::-1], {k: a[::-1] for k, a in arrays.items()}
    ids = np.concatenate([[0], np.cumsum(np.diff(e) > DUPLICATE_STEP_EV)])
    n = np.bincount(ids)
    e, arrays = np.bincount(ids, weights=e) / n, {k: np.bincount(ids, weights=a) / n
                                                   for k, a in arrays.items()}
    if scan.mode == "transmission":
        return e, np.log(arrays["i0"] / arrays["it"])
    if scan.mode == "fluorescence":
        return e, sum(a for k, a in arrays.items() if k != "i0") / arrays["i0"]
    return e, arrays["mu"]


def _refused(path: Path, exc: Exception, corpus_row) -> str:
    msg = str(exc)
    corpus_row("xas", path, "refused", "larch", msg)
    assert "\n" not in msg and str(path) in msg, msg
    assert "expected" in msg, msg
    return msg


def _compare(path: Path, scans, corpus_row) -> None:
    for scan in scans:
        try:
            e_ref, mu_ref = _reference(path, scan)
            np.testing.assert_allclose(scan.energy_ev, e_ref, rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(scan.mu, mu_ref, rtol=1e-10, atol=1e-12)
        except AssertionError as exc:
            corpus_row("xas", path, "differs", "larch", " ".join(str(exc).split())[:300])
            raise
    cols = scans[0].metadata["columns"]
    corpus_row("xas", path, "identical", "larch",
               f"{scans[0].mode}: {', '.join(f'{k}={v}' for k, v in cols.items())}")


@needs_corpus
@pytest.mark.parametrize("path", GOOD, ids=_ids(GOOD))
def test_corpus_file_reads_as_larch_or_is_refused(path, corpus_row):
    try:
        scans = read_scan(path)
    except XasReadError as exc:
        _refused(path, exc, corpus_row)
        return
    _compare(path, scans, corpus_row)


@needs_corpus
@pytest.mark.parametrize("path", BAD, ids=_ids(BAD))
def test_xdi_bad_file_is_refused(path, corpus_row):
    if path.name in SUITE_READS:
        _compare(path, read_scan(path), corpus_row)
        return
    with pytest.raises(XasReadError) as err:
        read_scan(path)
    msg = _refused(path, err.value, corpus_row)
    assert "line" in msg or "Column" in msg, msg


@needs_corpus
def test_the_beamline_files_read_or_say_which_columns():
    """Every beamline file reads in auto mode, except those whose columns have no role names,
    which are refused with the keywords to set."""
    unnamed = {"CLSHXMA.dat", "ESRF_SNBL_2013.dat"}  # detector1..4; mon, ion1, ion2, det1..6
    for path in _files(LARCH / "beamlines"):
        if path.name in unnamed:
            with pytest.raises(XasReadError, match="pass i0=, itrans=, ifluor= or mu="):
                read_scan(path)
        else:
            assert read_scan(path)[0].energy_ev.size > 100, path


@needs_corpus
def test_beamline_choices_are_physical():
    """What the auto mode picks in the files that needed more than names."""
    beam = LARCH / "beamlines"
    nsls = read_scan(beam / "NSLS6BM_2019.dat")[0]  # roi/dtc counters: dtc are corrected counts
    assert nsls.metadata["columns"]["ifluor"] == ["dtc1", "dtc2", "dtc3", "dtc4"]
    from larch.io import read_ascii

    stored = read_ascii(str(beam / "NSLS6BM_2019.dat"))
    np.testing.assert_allclose(nsls.mu, stored.data[3], rtol=1e-6)  # the file's own xmu
    aps = read_scan(beam / "APS20ID_2018.dat")[0]  # As K edge, ROI over live-time-scaled I0
    assert (aps.element, aps.metadata["columns"]["i0"]) == ("As", "xmap4_dt_corr_i0")
    aps22 = read_scan(beam / "APS20ID_2022.dat")[0]  # numbered list: col 11 is XSP3:PbLa_Sum
    assert aps22.metadata["columns"]["ifluor"] == ["xsp3_pbla_sum"] and aps22.element == "Pb"
    nsls8 = read_scan(beam / "NSLS8ID_2019.dat")[0]
    assert nsls8.metadata["inverted_polarity"] == ["i0", "iff"]
    fdmnes = read_scan(beam / "FDMNES_2022_Mo2C_out.dat")[0]
    assert (fdmnes.element, fdmnes.edge, fdmnes.energy_ev[0]) == ("Mo", "K", 19975.0)


@needs_corpus
def test_2d_xdi_blocks_are_split_never_joined():
    path = CONFORMANCE / "data" / "nonxafs_2d.xdi"
    x = parse_xdi(path, path.read_text())
    rows = np.loadtxt(path, comments="#")
    assert [b.outer_value for b in x.blocks] == pytest.approx(np.round(np.arange(1.0, 5.01, 0.1), 2))
    np.testing.assert_array_equal(np.concatenate([b.data.T for b in x.blocks]), rows)
    assert all(np.all(np.diff(b.data[0]) > 0) for b in x.blocks)
    # each block is a scan of its own, and these are too short to be spectra
    with pytest.raises(XasReadError, match=r"nonxafs_2d_block0\]: expected at least 10"):
        read_scan(path)
