"""Damaged cycler files are refused with a CyclerReadError that names the file and what was
lost, instead of giving a fraction of their records: Neware files cut off or missing records,
text tables whose last line is cut, a CSV line longer than a field may be.

The Neware files are real ones from ../shared/data, damaged in ``tmp_path`` (the tests skip
when the folder is absent); the text files are made from the bundled example data.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, SHARED

from xpipe.echem.readers import CyclerReadError, read_cycler

EXAMPLE_CSV = ROOT / "example_data" / "nvp_operando" / "cycler.csv"
NDA_29 = SHARED / "echem" / "navani" / "test.nda"          # version 29: 86-byte records
NDA_130 = SHARED / "echem" / "newarenda" / "TestFile.nda"  # version 130 (BTS 9.1)
NDAX = SHARED / "xrd" / "operando_coincell_mythen" / "coincell8_LDE2" / "Echem" / "cc8.ndax"


def real(path: Path) -> bytes:
    if not path.is_file():
        pytest.skip(f"{path} is not present (real measured data is not shipped with the repository)")
    pytest.importorskip("NewareNDA")
    return path.read_bytes()


# ----------------------------------------------------------------------------- Neware


def test_an_nda_file_cut_inside_a_record_is_refused(tmp_path):
    raw = real(NDA_29)
    path = tmp_path / "cut.nda"
    path.write_bytes(raw[: int(0.9 * len(raw))])  # NewareNDA reads 300 of its 439 records
    with pytest.raises(CyclerReadError, match=r"cut\.nda: the file ends 18 bytes into record 301 .* cut off"):
        read_cycler(path)
    assert len(read_cycler(NDA_29)) == 439


def test_an_nda_file_without_its_end_record_is_refused(tmp_path):
    raw = real(NDA_130)
    path = tmp_path / "cut.nda"
    path.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(CyclerReadError, match=r"cut\.nda: no end record .* cut off; the file is damaged"):
        read_cycler(path)


def test_an_nda_file_with_a_damaged_record_is_refused(tmp_path):
    raw = bytearray(real(NDA_130))
    size = raw.find(raw[1024:1026], 1026) - 1024  # bytes per record
    raw[1024 + 2000 * size] = 0  # record 2001 loses its record mark
    path = tmp_path / "damaged.nda"
    path.write_bytes(bytes(raw))
    with pytest.raises(CyclerReadError, match=r"damaged\.nda: records are missing: the record index "
                                              r"jumps from 2000 to 2002 \(1 gap, 1 record lost, 6669 read\)"):
        read_cycler(path)


def test_an_ndax_file_with_a_record_lost_from_a_page_is_refused(tmp_path):
    real(NDAX)
    path = tmp_path / "lost.ndax"
    with zipfile.ZipFile(NDAX) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            data = bytearray(src.read(name))
            if name == "data.ndc":
                data[5 * 4096 + 125 + 3 * 87 + 7] = 0  # page 5, record 4: its record mark
            dst.writestr(name, bytes(data))
    with pytest.raises(CyclerReadError, match=r"lost\.ndax: page 5 of its data\.ndc states 45 records "
                                              r"but holds 44 readable ones \(1 record lost\)"):
        read_cycler(path)


# ----------------------------------------------------------------------------- text tables


def test_a_csv_line_longer_than_a_field_may_be_names_the_file_and_line(tmp_path):
    lines = EXAMPLE_CSV.read_text().splitlines()
    time_s, _, current, capacity = lines[10].split(",")
    lines[10] = ",".join([time_s, "3." + "1" * 200_000, current, capacity])
    path = tmp_path / "cycler.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CyclerReadError, match=r"cycler\.csv: line 11 \(200\d\d\d characters\) cannot be "
                                              r"split into fields \(field larger than field limit"):
        read_cycler(path)


def test_a_csv_file_whose_last_line_is_cut_is_refused(tmp_path):
    text = EXAMPLE_CSV.read_text()
    assert text.endswith(",0.005292\n")
    path = tmp_path / "cycler.csv"
    path.write_text(text[:-4])  # ...,0.005 instead of ...,0.005292
    n = text.count("\n")
    with pytest.raises(CyclerReadError, match=rf"cycler\.csv: line {n}, the last, is cut off: it ends "
                                              r"without a line end in '0\.005'"):
        read_cycler(path)


def test_an_eclab_export_whose_last_line_is_cut_is_refused(tmp_path):
    rows = [f"1\t{60.0 * i:.15E}\t{3.2 + 0.001 * i:.7E}\t{1.0:.7E}\t{i / 60:.15E}"
            for i in range(20)]
    head = ["EC-Lab ASCII FILE", "Nb header lines : 4", "Acquisition started on : 05/14/2024 09:30:00.000",
            "mode\ttime/s\tEwe/V\tI/mA\t(Q-Qo)/mA.h"]
    text = "\n".join(head + rows)  # EC-Lab writes no line end after the last row
    path = tmp_path / "gcpl.mpt"
    path.write_text(text[:-9])  # the last charge loses its exponent and digits
    with pytest.raises(CyclerReadError, match=r"gcpl\.mpt: line 24, the last, is cut off"):
        read_cycler(path)
    path.write_text(text)
    assert len(read_cycler(path)) == 20
