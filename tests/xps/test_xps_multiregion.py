"""Files with several regions: one named spectrum per region, never joined, and scans that are
not spectra (SPECS alignment scans at a fixed energy) left out with a note. Synthetic files, so
these run without the shared data."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from xpipe.xps.readers import REGISTRY, XpsReadError, read_xps

XY_HEAD = """# Created by:        SpecsLab Prodigy, Version 4.100.1
#   Energy Axis:              Binding Energy
#   Count Rate:               Counts per Second
#
"""


def xy_region(group: str | None, name: str, ident: int, mode: str, kinetic: float,
              first: str, rows: list[tuple[float, float]], cycles: int = 1) -> str:
    out = f"# Group:                        {group}\n#\n" if group else ""
    out += (f"# Region:                       {name}\n# Spectrum ID:                  {ident}\n"
            f"# Scan Mode:                    {mode}\n# Excitation Energy:            1486.61\n"
            f"# Kinetic Energy:               {kinetic}\n#\n")
    for c in range(cycles):
        out += f"# Cycle: {c}\n#\n# Cycle: {c}, Curve: 0\n#\n# ColumnLabels: {first} counts/s\n"
        out += "".join(f"{x:g}  {y * (c + 1):g}\n" for x, y in rows) + "\n"
    return out


def test_specs_align_scan_is_left_out_and_regions_stay_apart(tmp_path):
    align = [(float(i), 10.0 * i) for i in range(5)]  # index, counts/s at a fixed energy
    c1s = [(286.0, 5.0), (285.0, 9.0), (284.0, 4.0)]
    text = (XY_HEAD + xy_region("Alignment", "Align", 1, "FixedEnergies", 780.61, "index", align)
            + xy_region("as loaded", "C1s", 2, "FixedAnalyzerTransmission", 1200, "energy", c1s)
            + xy_region(None, "C1s", 3, "FixedAnalyzerTransmission", 1200, "energy", c1s)
            + xy_region("sputtered", "C1s", 4, "FixedAnalyzerTransmission", 1200, "energy", c1s,
                        cycles=2))
    path = tmp_path / "align.xy"
    path.write_text(text)
    spectra = read_xps(path)
    assert [s.label for s in spectra] == [
        "as loaded/C1s #2", "as loaded/C1s #3", "sputtered/C1s/cycle 0/curve 0",
        "sputtered/C1s/cycle 1/curve 0"]
    for s in spectra:
        # the export's axis is binding energy, whatever energy the region was defined in
        assert not s.kinetic_axis and s.binding_energy_ev.tolist() == [284.0, 285.0, 286.0]
        (note,) = s.metadata["skipped_curves"]
        assert "'Align'" in note and "'index', not an energy" in note
    assert spectra[3].intensity.tolist() == [8.0, 18.0, 10.0]


def test_specs_file_with_only_alignment_scans_is_refused(tmp_path):
    path = tmp_path / "only_align.xy"
    path.write_text(XY_HEAD + xy_region("Alignment", "Align", 1, "FixedEnergies", 780.61,
                                        "index", [(0.0, 1.0), (1.0, 2.0)]))
    with pytest.raises(XpsReadError, match=r"only_align\.xy: SPECS \.xy export without an energy "
                                           r"spectrum: region 'Align'"):
        read_xps(path)


def ses_txt(regions: list[tuple[str, str, float, list[tuple[float, float]]]]) -> str:
    out = f"[Info]\nNumber of Regions={len(regions):04d}\nVersion=1.3.1\n\n"
    for k, (name, scale, hv, rows) in enumerate(regions, start=1):
        out += (f"[Region {k}]\nRegion Name={name}\nDimension 1 name={scale} Energy [eV]\n"
                f"Dimension 1 size={len(rows)}\n\n[Info {k}]\nRegion Name={name}\n"
                f"Pass Energy=50\nNumber of Sweeps=2\nExcitation Energy={hv}\n"
                f"Energy Scale={scale}\nStep Time=203\nNumber of Slices=1\nSample=Ag\n"
                f"Date=2023-03-08\nTime=15:24:35\n\n[Data {k}]\n")
        out += "".join(f" {x:.8E}  {y:.8E}\n" for x, y in rows) + "\n"
    return out


def test_scienta_txt_gives_one_spectrum_per_region(tmp_path):
    path = tmp_path / "Ag_0001.txt"
    path.write_text(ses_txt([("Ag3d", "Binding", 520.0, [(369.0, 5.0), (368.0, 9.0)]),
                             ("VB", "Kinetic", 153.0, [(150.0, 1.0), (151.0, 2.0), (152.0, 3.0)])]))
    ag, vb = read_xps(path)
    assert (ag.label, ag.region, ag.photon_energy_ev, ag.kinetic_axis) == ("Ag3d", "Ag 3d", 520.0,
                                                                          False)
    assert ag.binding_energy_ev.tolist() == [368.0, 369.0] and ag.intensity.tolist() == [9.0, 5.0]
    assert ag.dwell_s == pytest.approx(0.203) and ag.n_scans == 2 and ag.sample == "Ag"
    assert vb.kinetic_axis and vb.binding_energy_ev.tolist() == [1.0, 2.0, 3.0]
    assert vb.intensity.tolist() == [3.0, 2.0, 1.0]


def test_scienta_txt_with_fewer_rows_than_stated_is_refused(tmp_path):
    path = tmp_path / "cut.txt"
    path.write_text(ses_txt([("O1s", "Binding", 650.0, [(530.0, 1.0), (529.0, 2.0)])])
                    .replace("Dimension 1 size=2", "Dimension 1 size=3"))
    with pytest.raises(XpsReadError, match=r"cut\.txt: Scienta \.txt region 1: 'Dimension 1 "
                                           r"size=3' but 2 data rows"):
        read_xps(path)


def ibw_v5(values: np.ndarray, start: float, step: float, note: str) -> bytes:
    """A one-dimensional version-5 Igor binary wave of float64 values, with a valid checksum."""
    data = values.astype("<f8").tobytes()
    note_b = note.encode("latin-1")
    wave = bytearray(320)
    struct.pack_into("<ih", wave, 12, values.size, 4)
    struct.pack_into("<4i", wave, 68, values.size, 0, 0, 0)
    struct.pack_into("<4d", wave, 84, step, 1.0, 1.0, 1.0)
    struct.pack_into("<4d", wave, 116, start, 0.0, 0.0, 0.0)
    head = bytearray(64)
    struct.pack_into("<hhiii", head, 0, 5, 0, 320 + len(data), 0, len(note_b))
    total = sum(struct.unpack("<192h", bytes(head) + bytes(wave))) & 0xFFFF
    struct.pack_into("<h", head, 2, struct.unpack("<h", struct.pack("<H", (-total) & 0xFFFF))[0])
    return bytes(head) + bytes(wave) + data + note_b


def test_scienta_ibw_reads_the_wave_scaling_and_the_ses_note(tmp_path):
    note = "[SES]\rRegion Name=Cu_3p\rExcitation Energy=400\rEnergy Scale=Binding\r"
    path = tmp_path / "cu.ibw"
    path.write_bytes(ibw_v5(np.array([1.0, 4.0, 2.0]), 84.0, -0.5, note))
    (s,) = read_xps(path)
    assert (s.label, s.region, s.photon_energy_ev) == ("Cu_3p", "Cu 3p", 400.0)
    assert s.binding_energy_ev.tolist() == [83.0, 83.5, 84.0] and s.intensity.tolist() == [2, 4, 1]
    path.write_bytes(ibw_v5(np.array([1.0, 2.0]), 0.0, 1.0, "no notes"))
    with pytest.raises(XpsReadError, match=r"cu\.ibw: Igor binary wave \(\.ibw\) without the "
                                           r"Scienta SES notes"):
        read_xps(path)


def test_casa_text_export_blocks_stay_apart(tmp_path):
    def block(title: str, rows: list[tuple[float, float]]) -> list[str]:
        return ([title, "\tCharacteristic Energy eV\t1.486610e+003\tAcquisition Time s\t1e-1",
                 "Name\t\t", "K.E.\tCounts\t\tB.E.\tCPS"]
                + [f"{1486.61 - be:.6e}\t{c:.6e}\t\t{be:.6e}\t{10 * c:.6e}" for be, c in rows])
    lines = block("Cycle 3:Ni:Survey", [(2.0, 5.0), (1.0, 6.0)]) + \
        block("Cycle 4:Ni:Ni2p", [(2.0, 50.0), (1.0, 60.0)])
    path = tmp_path / "export.txt"
    path.write_text("\n".join(lines) + "\n")
    assert REGISTRY.detect(path).name == "casa-text"
    survey, ni = read_xps(path)
    assert (survey.label, survey.sample, survey.region) == ("Cycle 3:Ni:Survey", "Ni", "Survey")
    assert ni.region == "Ni 2p" and ni.intensity.tolist() == [600.0, 500.0]
    assert survey.metadata["intensity_unit"] == "counts/s"
    assert np.allclose(survey.metadata["columns"]["Counts"], [6.0, 5.0])


def test_specslab2_xml_is_refused_with_its_format(tmp_path):
    path = tmp_path / "run.xml"
    path.write_text('<?xml version="1.0"?>\n<!-- CORBA XML document created by XMLSerializer2 -->'
                    '\n<any type_name="RegionGroupSeq"></any>\n')
    with pytest.raises(XpsReadError, match=r"run\.xml: SpecsLab2 XML \(\.xml\) is not a format "
                                           "xpipe reads"):
        read_xps(path)
