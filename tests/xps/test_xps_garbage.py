"""Damaged XPS text files are refused with the line that is wrong: a spectrum cut off in its
last row, fewer rows than a SPECS export states, an intensity no detector counts. The text
files are made in ``tmp_path`` from a bundled VAMAS spectrum."""

from __future__ import annotations

import pytest
from conftest import ROOT

from xpipe.xps.readers import XpsReadError, read_xps

VMS = ROOT / "example_data" / "nvp_xps" / "nvp_xps_0.vms"


@pytest.fixture(scope="module")
def spectrum():
    return read_xps(VMS)[0]


def rows(spectrum) -> list[str]:
    return [f"{e:.3f},{y:.4f}" for e, y in zip(spectrum.binding_energy_ev, spectrum.intensity)]


def test_a_text_spectrum_cut_in_its_last_row_is_refused(tmp_path, spectrum):
    lines = ["Binding Energy (eV),Counts"] + rows(spectrum)
    text = "\n".join(lines)
    path = tmp_path / "v2p.csv"
    path.write_text(text[:-3])  # the last intensity loses its last digits
    with pytest.raises(XpsReadError, match=rf"v2p\.csv: line {len(lines)}, the last, is cut off"):
        read_xps(path)
    path.write_text(text)
    assert read_xps(path)[0].intensity.size == spectrum.intensity.size


def test_an_absurd_intensity_is_refused_naming_its_line(tmp_path, spectrum):
    lines = ["Binding Energy (eV),Counts"] + rows(spectrum)
    lines[30] = lines[30].split(",")[0] + ",1e308"
    path = tmp_path / "v2p.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(XpsReadError, match=r"v2p\.csv: line 31: intensity 1e\+308 is beyond any measured value"):
        read_xps(path)


def test_a_specs_curve_with_fewer_rows_than_stated_is_refused(tmp_path, spectrum):
    data = [f"{e:.3f}  {y:.4f}" for e, y in zip(spectrum.binding_energy_ev, spectrum.intensity)]
    head = ["# Created by:        SpecsLab Prodigy", "# Energy Axis:              Binding Energy",
            "# Region:                       V2p", f"# Values/Curve:                 {len(data)}",
            "# Excitation Energy:            1486.61", "# Cycle: 0, Curve: 0, Scan: 0"]
    path = tmp_path / "v2p.xy"
    path.write_text("\n".join(head + data[: len(data) // 2]) + "\n")
    with pytest.raises(XpsReadError, match=rf"v2p\.xy: SPECS \.xy curve from line 6 \(region 'V2p'\): "
                                           rf"'# Values/Curve: {len(data)}' but {len(data) // 2} rows"):
        read_xps(path)
    path.write_text("\n".join(head + data) + "\n")
    assert read_xps(path)[0].intensity.size == len(data)
