"""EC-Lab files as older and newer EC-Lab versions write them: the text export's column-name
quirks, a step that recorded nothing, and the choice between yadg and galvani for ``.mpr``.

The ``.mpt`` tests write their own files; the ``.mpr`` tests change a few bytes of a corpus
file (and skip without the corpus).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from conftest import CORPUS, needs_corpus

from xpipe.echem.readers import CyclerReadError, read_cycler
from xpipe.echem.readers.eclab_mpr import _ole_start

ECLAB = CORPUS / "echem" / "biologic_eclab"


def _mpt(tmp_path, names: list[str], rows: list[list[str]], name="cell.mpt", tail="\t"):
    lines = ["EC-Lab ASCII FILE", "Nb header lines : 6", "", "Open Circuit Voltage",
             "Acquisition started on : 01/10/2024 11:02:29.886", "\t".join(names) + tail]
    lines += ["\t".join(r) for r in rows]
    path = tmp_path / name
    path.write_text("\r\n".join(lines) + "\r\n", encoding="cp1252")
    return path


def test_average_written_with_its_unit_in_the_brackets(tmp_path):
    """Older EC-Lab versions write '<Ewe/V>' where newer ones write '<Ewe>/V'."""
    path = _mpt(tmp_path, ["mode", "error", "time/s", "<Ewe/V>"],
                [["3", "1", "9,999999747378752E-001", "3,4206879E+000"],
                 ["3", "1", "1,999999949475751E+000", "3,4207053E+000"]])
    d = read_cycler(path)
    assert d.meta["columns"]["voltage_v"] == "<Ewe>/V"
    assert d.voltage_v.tolist() == [3.4206879, 3.4207053]
    assert d.time_s.tolist() == [0.0, 1.999999949475751 - 0.9999999747378752]
    assert np.all(d.direction == 0) and np.all(d.current_ma == 0)


def test_names_after_an_empty_name_without_data_are_dropped(tmp_path):
    """EC-Lab 11.6x writes '... Rwe-ce/Ohm', '', 'Ewe-Ece/V' over lines that end after Rwe-ce."""
    path = _mpt(tmp_path, ["time/s", "<Ewe>/V", "<I>/mA", "Rwe-ce/Ohm", "", "Ewe-Ece/V"],
                [["0.0", "3.1", "0.5", "7.0"], ["1.0", "3.2", "0.5", "7.1"]], tail="")
    d = read_cycler(path)
    assert d.meta["names_without_data"] == ["Ewe-Ece/V"]
    assert d.voltage_v.tolist() == [3.1, 3.2] and d.current_ma.tolist() == [0.5, 0.5]


def test_an_unnamed_column_with_data_is_still_read(tmp_path):
    path = _mpt(tmp_path, ["time/s", "Ewe/V", "", "I/mA"],
                [["0.0", "3.1", "9", "0.5"], ["1.0", "3.2", "9", "0.5"]])
    d = read_cycler(path)
    assert "names_without_data" not in d.meta
    assert d.current_ma.tolist() == [0.5, 0.5]


def test_cell_voltage_is_taken_where_there_is_no_ewe(tmp_path):
    path = _mpt(tmp_path, ["time/s", "Ewe-Ece/V", "I/mA"],
                [["0.0", "3.1", "0.5"], ["1.0", "3.2", "0.5"]])
    assert read_cycler(path).meta["columns"]["voltage_v"] == "Ewe-Ece/V"


def test_a_wait_step_that_recorded_nothing_is_refused_with_its_reason(tmp_path):
    path = _mpt(tmp_path, ["mode", "error", "time/s", "Ewe/V", "I/mA"], [])
    text = path.read_text(encoding="cp1252").replace("Open Circuit Voltage", "Wait")
    path.write_text(text, encoding="cp1252")
    with pytest.raises(CyclerReadError, match=r"cell\.mpt: no data lines after the 6 header "
                                              r"lines: the technique \(Wait\) recorded nothing"):
        read_cycler(path)


def test_an_implausible_acquisition_start_is_left_out_with_a_warning(tmp_path):
    meta: dict = {}
    with pytest.warns(UserWarning, match="not a date between 1990 and 2100"):
        assert _ole_start(tmp_path / "c.mpr", 1e9, meta) is None
    assert "start_warning" in meta
    assert _ole_start(tmp_path / "c.mpr", 43092.5, {}) == datetime(2017, 12, 23, 12)
    meta = {}
    assert _ole_start(tmp_path / "c.mpr", None, meta) is None and "no log module" in meta[
        "start_warning"]


# --------------------------------------------------------------------------------------------
# .mpr: yadg first, galvani where yadg cannot, refused where neither can


def _module_data(raw: bytes, short_name: bytes) -> int:
    """Offset in ``raw`` of the data of the module ``short_name`` (after its header)."""
    at = raw.index(b"MODULE" + short_name) + len(b"MODULE")
    length_new = int.from_bytes(raw[at + 39:at + 43], "little")
    for header, length in ((59, length_new), (51, int.from_bytes(raw[at + 35:at + 39], "little"))):
        end = raw.find(b"MODULE", at)
        if (end if end >= 0 else len(raw)) - at == header + length:
            return at + header
    raise AssertionError(f"no module header of the known layouts for {short_name!r}")


def _column_ids_offset(raw: bytes) -> tuple[int, int, str]:
    """Offset of the data module's column ids, their count and byte order."""
    data = _module_data(raw, b"VMP data")
    n = raw[data + 4]
    ids_le = np.frombuffer(raw, dtype="<u2", offset=data + 5, count=n)
    order = "<u2" if 4 in ids_le.tolist() else ">u2"  # id 4 is time/s
    return data + 5, n, order


@needs_corpus
def test_a_column_id_unknown_to_yadg_goes_to_galvani_and_is_refused_when_both_fail(tmp_path):
    """yadg would read an unknown id as 4 bytes and misplace the columns after it."""
    pytest.importorskip("yadg")
    raw = bytearray((ECLAB / "ocv.mpr").read_bytes())
    at, n, order = _column_ids_offset(bytes(raw))
    ids = np.frombuffer(bytes(raw), dtype=order, offset=at, count=n).tolist()
    k = ids.index(6)  # Ewe/V, 4 bytes
    raw[at + 2 * k:at + 2 * k + 2] = np.array([254], dtype=order).tobytes()
    path = tmp_path / "unknown_id.mpr"
    path.write_bytes(bytes(raw))
    with pytest.raises(CyclerReadError) as info:
        read_cycler(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: not a readable BioLogic .mpr file (yadg: column ids [254] "
                          "are unknown to it; galvani: ")
    assert "\n" not in msg and len(msg) < 400


@needs_corpus
def test_a_technique_yadg_does_not_know_is_read_by_galvani(tmp_path):
    """yadg parses the technique's settings and knows 18 techniques; galvani reads only the
    data module, so it reads the same numbers."""
    pytest.importorskip("yadg")
    pytest.importorskip("galvani")
    from yadg.extractors.eclab.techniques import technique_params_dtypes

    src = ECLAB / "gcpl.issue_175.mpr"
    raw = bytearray(src.read_bytes())
    settings = _module_data(bytes(raw), b"VMP Set")
    raw[settings] = next(i for i in range(255, 0, -1) if i not in technique_params_dtypes)
    path = tmp_path / "other_technique.mpr"
    path.write_bytes(bytes(raw))
    d, ref = read_cycler(path), read_cycler(src)
    assert ref.meta["reader"].startswith("yadg ") and d.meta["reader"].startswith("galvani ")
    for name, a in d.as_columns().items():
        assert np.array_equal(a, getattr(ref, name)), name
    assert d.start == ref.start


@needs_corpus
def test_a_file_that_is_not_an_mpr_file_says_what_it_starts_with(tmp_path):
    path = tmp_path / "cut.mpr"
    path.write_bytes((ECLAB / "ocv.mpr").read_bytes()[:4000])
    with pytest.raises(CyclerReadError, match=r"cut\.mpr: not a readable BioLogic \.mpr file "
                                              r"\(yadg: .*; galvani: .*\)$"):
        read_cycler(path)
