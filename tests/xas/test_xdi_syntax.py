"""The XDI 1.0 rules of the XDI reader, on small synthetic files."""

from __future__ import annotations

import numpy as np
import pytest

from xpipe.xas.readers import XasReadError, read_scan, read_xdi

HEAD = ["# XDI/1.0 test/1.0", "# Column.1: energy eV", "# Column.2: i0", "# Column.3: itrans",
        "# Element.symbol: Cu", "# Element.edge: K", "# Mono.d_spacing: 3.13553 Å", "#----"]
E = np.linspace(8900.0, 9100.0, 21)


def _rows(e=E):
    return [f"{x:.1f} {1e5:.1f} {5e4 * (1 - 0.3 * (x > 8979)):.1f}" for x in e]


def _write(tmp_path, head, rows, name="scan.xdi"):
    path = tmp_path / name
    path.write_text("\n".join(head + rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("first", ["# XDI 1.0", "# XDI/1", "# XDI/1.0beta", "# XDI/v1.0",
                                   "# XDI/1.4.9.2", "# 1.4.9"])
def test_a_malformed_version_line_is_refused(tmp_path, first):
    path = _write(tmp_path, [first] + HEAD[1:], _rows())
    with pytest.raises(XasReadError, match="scan.xdi: not a readable XDI file; expected line 1"):
        read_xdi(path)


def test_version_with_release_and_applications_reads(tmp_path):
    path = _write(tmp_path, ["#XDI/1.1.2    Epics StepScan File / 2.0"] + HEAD[1:], _rows())
    scan = read_xdi(path)
    assert scan.metadata["xdi_version"] == "1.1.2" and scan.mode == "transmission"
    assert scan.metadata["mono_d_spacing"] == pytest.approx(3.13553)  # UTF-8 unit kept apart
    with pytest.raises(XasReadError, match="XDI version 2.0 is not supported"):
        read_xdi(_write(tmp_path, ["# XDI/2.0"] + HEAD[1:], _rows(), "v2.xdi"))


@pytest.mark.parametrize("line, why", [
    ("# Sample.temperature: 300.0a K", "not a finite number"),
    ("# Facility.energy: 7.0", "does not give its units as GeV or MeV"),
    ("# Scan.start_time: 26/06/2001 22:27", "not an ISO 8601"),
    ("# Element.symbol: Xx", "not an element symbol"),
    ("# Beamline name: 13ID", "is not 'Family.key'"),
])
def test_a_bad_field_is_refused_with_its_line(tmp_path, line, why):
    path = _write(tmp_path, HEAD[:6] + [line] + HEAD[6:], _rows())
    with pytest.raises(XasReadError, match=f"scan.xdi: line 7: .*{why}"):
        read_xdi(path)


def test_words_in_a_number_field_and_space_separated_times_read(tmp_path):
    extra = ["# Sample.temperature: Room Temperature", "# Scan.start_time: 2019-07-09 11:02:47"]
    scan = read_xdi(_write(tmp_path, HEAD[:6] + extra + HEAD[6:], _rows()))
    assert scan.time_s == pytest.approx(1562670167.0)


def test_a_bad_number_in_the_table_is_refused_with_its_line(tmp_path):
    rows = _rows()
    rows[3] = rows[3].replace("100000.0", "1.0.0")
    with pytest.raises(XasReadError, match=r"scan.xdi: line 12: '1.0.0' in column 2 is not a number"):
        read_xdi(_write(tmp_path, HEAD, rows))


def test_2d_blocks_are_separate_scans(tmp_path):
    head = HEAD[:-1] + ["# Outer.name: y mm", "# Outer.value: 0.0", "#----"]
    rows = _rows() + ["# Outer.value: 0.5"] + _rows(E + 0.1) + ["# Outer.value: 1.0"] + _rows()
    path = _write(tmp_path, head, rows, "map.xdi")
    scans = read_scan(path)
    assert [s.label for s in scans] == ["map_block0", "map_block1", "map_block2"]
    assert [s.metadata["xdi_block"]["outer_value"] for s in scans] == [0.0, 0.5, 1.0]
    assert all(s.energy_ev.size == E.size for s in scans)
    np.testing.assert_allclose(scans[1].energy_ev, E + 0.1)
    assert read_xdi(path, block=1).label == "map_block1"
    with pytest.raises(XasReadError, match="a 2D XDI file with 3 blocks.*block=<0..2>"):
        read_xdi(path)


def test_a_non_energy_abscissa_is_refused_unless_chosen(tmp_path):
    head = ["# XDI/1.0", "# Column.1: x mm", "# Column.2: mutrans", "#----"]
    path = _write(tmp_path, head, [f"{x:.1f} {0.01 * k:.3f}" for k, x in enumerate(E)])
    with pytest.raises(XasReadError, match="Column.1 is 'x' in mm, not energy"):
        read_xdi(path)
    assert read_xdi(path, energy="x").energy_ev[0] == E[0]
