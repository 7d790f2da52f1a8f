"""Damaged XAS text files are refused with the line that is wrong: a scan cut off in its last
row, a counter value no ion chamber reaches. The files are the bundled XDI scans, damaged in
``tmp_path``, and a column file made from one of them."""

from __future__ import annotations

import pytest
from conftest import ROOT

from xpipe.xas.readers import XasReadError, read_scan

XDI = ROOT / "example_data" / "nvp_xanes" / "nvp_xanes_0.xdi"


def rows_of(text: str) -> tuple[list[str], int]:
    """The lines of a file and the index of its first data row."""
    lines = text.splitlines()
    return lines, next(k for k, line in enumerate(lines) if not line.startswith("#"))


@pytest.mark.parametrize("keep", [1, 3], ids=["first-number", "part-of-the-last"])
def test_an_xdi_scan_cut_to_a_third_is_refused(tmp_path, keep):
    text = XDI.read_text()
    lines, first = rows_of(text)
    k = first + (len(lines) - first) // 3
    fields = lines[k].split()
    cut = fields[:1] if keep == 1 else fields[:-1] + [fields[-1][:2]]  # '420761' -> '42'
    path = tmp_path / "scan.xdi"
    path.write_text("\n".join(lines[:k] + ["  " + "    ".join(cut)]))
    with pytest.raises(XasReadError, match=rf"scan\.xdi: line {k + 1}, the last, is cut off"):
        read_scan(path)
    assert read_scan(XDI)[0].energy_ev.size == len(lines) - first


def test_an_absurd_counter_value_is_refused_naming_its_line(tmp_path):
    lines, first = rows_of(XDI.read_text())
    k = first + 100
    energy, _, itrans, irefer = lines[k].split()
    lines[k] = f"  {energy}    1e308    {itrans}    {irefer}"
    path = tmp_path / "scan.xdi"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(XasReadError, match=rf"scan\.xdi: line {k + 1}: column 'i0' holds 1e\+308, "
                                           r"beyond any measured value"):
        read_scan(path)


def test_a_column_file_cut_in_its_last_number_is_refused(tmp_path):
    lines, first = rows_of(XDI.read_text())
    rows = [" ".join(f"{float(v):.6e}" for v in line.split()) for line in lines[first:]]
    text = "# energy i0 itrans irefer\n" + "\n".join(rows)
    path = tmp_path / "scan.dat"
    path.write_text(text[:-7])  # the last irefer loses its last digits and exponent
    with pytest.raises(XasReadError, match=rf"scan\.dat: line {len(rows) + 1}, the last, is cut off"):
        read_scan(path)
    path.write_text(text)
    assert read_scan(path)[0].energy_ev.size == len(rows)
