"""XPS readers: VAMAS (REGULAR/IRREGULAR), SPECS Prodigy .xy, column text, dispatch.

The real-data checks read the files in ../shared/data/xps and skip when that folder is not
beside the checkout; synthetic files in tmp_path cover the format rules and the errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from xpipe.xps.readers import (
    XpsReadError,
    XpsSpectrum,
    kinetic_to_binding,
    parse_casa_comp,
    parse_casa_region,
    read_specs_xy,
    read_text,
    read_vamas,
    read_xps,
)

XPS = SHARED / "xps"
needs_xps = pytest.mark.skipif(
    not (SHARED / "xps").exists(),
    reason="../shared/data (real measured data) is not beside the checkout")

MAGIC = "VAMAS Surface Chemical Analysis Standard Data Transfer Format 1988 May 4"
HV = 1486.6
CASA_COMP = ("CASA comp (*C 1s*) (*GL(30)*) Area 100 1e-020 1e5 -1 1 MFWHM 1.2 0.5 3 -1 1 "
             "Position 1201.8 1200 1203 -1 1 RSF 1 MASS 12.011 INDEX -1 (*C 1s*)")
CASA_REGION = "CASA region (*C 1s*) (*Shirley*) 1195 1210 1 2 0 0 1 -450 0 0 (*C 1s*) 12.011 0 1"


# ------------------------------------------------------------------------------------------
# helpers


def peak_be(spec: XpsSpectrum, lo: float, hi: float) -> float:
    """Binding energy of the largest intensity between lo and hi."""
    m = (spec.binding_energy_ev >= lo) & (spec.binding_energy_ev <= hi)
    assert m.sum() > 3, f"{spec.label}: no points in {lo}-{hi} eV"
    return float(spec.binding_energy_ev[m][np.argmax(spec.intensity[m])])


def check_spectrum(s: XpsSpectrum) -> None:
    """What every spectrum read from a real file must satisfy."""
    be, y = s.binding_energy_ev, s.intensity
    assert be.shape == y.shape and be.size > 10
    assert np.all(np.diff(be) > 0), f"{s.label}: binding energy not strictly ascending"
    assert np.all(np.isfinite(be)) and np.all(np.isfinite(y))
    assert y.min() >= -0.05 * y.max(), f"{s.label}: strongly negative intensities"
    assert y.max() > 0
    assert s.label.strip() and "\x00" not in s.label + s.region + s.sample
    assert s.metadata["intensity_unit"] in ("counts", "counts/s")
    for arr in s.metadata.get("variables", {}).values():
        assert arr.shape == be.shape


def _gauss(be: np.ndarray, center: float, height: float = 1000.0) -> np.ndarray:
    return 50.0 + height * np.exp(-0.5 * ((be - center) / 0.6) ** 2)


def vamas_lines(*, scan_mode: str = "REGULAR", n_blocks: int = 2, hv: str = "1486.6",
                exclude: tuple[int, ...] = (), abscissa: str = "Kinetic Energy",
                centers: tuple[float, ...] = (284.8, 286.0)) -> list[str]:
    """A small VAMAS file: C 1s blocks on a kinetic axis (KE 1190 to 1214 eV, 0.1 eV)."""
    ke = np.round(1190 + 0.1 * np.arange(241), 2)
    out = [MAGIC, "Test lab", "Test instrument", "Operator", "Experiment", "1", "synthetic",
           "NORM", scan_mode, "1", "1", "Exp Variable", "d"]
    out += [str(-len(exclude))] + [str(k) for k in exclude]
    out += ["0", "0", "0", str(n_blocks)]
    for b in range(n_blocks):
        center = centers[b % len(centers)]
        be = HV - ke if "inetic" in abscissa else ke
        counts = _gauss(be, center)
        trans = 1.0 + 0.001 * np.arange(ke.size)
        params: dict[int, list[str]] = {
            1: ["2024"], 2: ["5"], 3: ["6"], 4: ["7"], 5: ["8"], 6: ["9"], 7: ["2"],
            8: ["3", "first comment", CASA_COMP, CASA_REGION],
            9: ["XPS"], 11: ["0"], 12: ["Al (mono)"], 14: [hv], 15: ["150"],
            16: ["1e+037", "1e+037"], 19: ["0"], 20: ["0"], 21: ["FAT"], 22: ["20"],
            24: ["1"], 25: ["4.5"], 26: ["0"], 27: ["1e+037", "1e+037"], 28: ["0", "0"],
            29: ["C"], 30: ["1s", "-1"],
            33: ["pulse counting"], 34: ["0.1"], 35: ["3"], 36: ["0"], 38: ["0", "0"],
            39: ["0"], 40: ["1", "ESCAPE DEPTH TYPE", "d", "1"],
        }
        if scan_mode == "REGULAR":
            params[31] = [abscissa, "eV", "1190", "0.1"]
            params[32] = ["2", "counts", "d", "Transmission", "d"]
            cols = [counts, trans]
        else:
            params[32] = ["3", abscissa, "eV", "counts", "d", "Transmission", "d"]
            cols = [ke, counts, trans]
        out += [f"C1s {b + 1}", "sample A"]
        for k in range(1, 41):
            if k in params and (b == 0 or k not in exclude):
                out += params[k]
        data = np.column_stack(cols)
        out.append(str(data.size))
        for col in cols:
            out += [f"{col.min():g}", f"{col.max():g}"]
        out += [f"{v:.6g}" for v in data.ravel()]
    out.append("end of experiment")
    return out


def write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    return path


# ------------------------------------------------------------------------------------------
# synthetic VAMAS


def test_kinetic_to_binding():
    assert kinetic_to_binding(1201.8, HV) == pytest.approx(284.8)
    assert kinetic_to_binding(np.array([92.0]), 180.0, 4.0)[0] == pytest.approx(84.0)
    with pytest.raises(ValueError, match="photon energy"):
        kinetic_to_binding(10.0, 0.0)


def test_vamas_regular_kinetic_axis(tmp_path):
    spectra = read_vamas(write(tmp_path / "a.vms", vamas_lines()))
    assert len(spectra) == 2
    s = spectra[0]
    assert s.label == "C1s 1" and s.sample == "sample A" and s.region == "C 1s"
    assert s.kinetic_axis and s.photon_energy_ev == HV and s.work_function_ev == 4.5
    assert s.pass_energy_ev == 20 and s.source_label == "Al (mono)"
    assert s.dwell_s == 0.1 and s.n_scans == 3
    assert np.all(np.diff(s.binding_energy_ev) > 0)
    assert s.binding_energy_ev[0] == pytest.approx(HV - 1214) and s.binding_energy_ev.size == 241
    assert peak_be(s, 280, 290) == pytest.approx(284.8, abs=0.051)
    assert peak_be(spectra[1], 280, 290) == pytest.approx(286.0, abs=0.051)
    # the second corresponding variable, reordered with the axis
    trans = s.metadata["variables"]["Transmission"]
    assert trans[0] == pytest.approx(1.24) and trans[-1] == pytest.approx(1.0)
    assert s.metadata["intensity_unit"] == "counts"
    assert s.metadata["additional_parameters"] == {"ESCAPE DEPTH TYPE": (1.0, "d")}
    assert s.metadata["comment"][0] == "first comment"
    assert s.metadata["casa_comp"] == [CASA_COMP] and s.metadata["casa_region"] == [CASA_REGION]
    region = s.metadata["casa_regions"][0]
    assert region["background"] == "Shirley" and (region["start"], region["end"]) == (1195, 1210)
    assert region["binding_limits_ev"] == pytest.approx((HV - 1210, HV - 1195))
    assert s.metadata["casa_components"][0]["position_be_ev"] == pytest.approx(284.8)
    # 2024-05-06 07:08:09 at UTC+2
    assert s.time_s == pytest.approx(1714972089.0)
    assert s.kinetic_energy_ev[0] == pytest.approx(1214)


def test_vamas_irregular_equals_regular(tmp_path):
    reg = read_vamas(write(tmp_path / "r.vms", vamas_lines()))
    irr = read_vamas(write(tmp_path / "i.vms", vamas_lines(scan_mode="IRREGULAR")))
    assert len(reg) == len(irr) == 2
    for a, b in zip(reg, irr):
        assert np.array_equal(a.binding_energy_ev, b.binding_energy_ev)
        assert np.array_equal(a.intensity, b.intensity)
        assert np.array_equal(a.metadata["variables"]["Transmission"],
                              b.metadata["variables"]["Transmission"])
        assert b.metadata["abscissa_start"] is None and b.metadata["scan_mode"] == "IRREGULAR"


def test_vamas_binding_axis_and_work_function_option(tmp_path):
    (s,) = read_vamas(write(tmp_path / "b.vms", vamas_lines(
        n_blocks=1, abscissa="Binding Energy", centers=(284.8,))))
    assert not s.kinetic_axis
    assert s.binding_energy_ev[0] == pytest.approx(1190)
    path = write(tmp_path / "k.vms", vamas_lines(n_blocks=1))
    plain = read_vamas(path)[0]
    shifted = read_vamas(path, subtract_work_function=True)[0]
    assert np.allclose(plain.binding_energy_ev - shifted.binding_energy_ev, 4.5)
    assert shifted.metadata["work_function_applied_ev"] == 4.5


def test_vamas_exclusion_list_inherits_first_block(tmp_path):
    # the photon energy (14) and the species label (29) are written in the first block only
    spectra = read_vamas(write(tmp_path / "x.vms", vamas_lines(n_blocks=3, exclude=(14, 29))))
    assert [s.photon_energy_ev for s in spectra] == [HV] * 3
    assert [s.region for s in spectra] == ["C 1s"] * 3
    assert peak_be(spectra[2], 280, 290) == pytest.approx(284.8, abs=0.051)


def test_vamas_crlf_leading_blank_lines_and_nul_bytes(tmp_path):
    lines = vamas_lines()
    ref = read_vamas(write(tmp_path / "lf.vms", lines))
    lines_nul = ["", "", *lines]
    lines_nul[lines_nul.index("1s")] = "1s\x00"
    lines_nul[lines_nul.index("C1s 1")] = "C1s 1\x00\x00"
    got = read_vamas(write(tmp_path / "crlf.vms", lines_nul, newline="\r\n"))
    assert [s.label for s in got] == ["C1s 1", "C1s 2"]
    assert got[0].region == "C 1s"
    for a, b in zip(ref, got):
        assert np.array_equal(a.binding_energy_ev, b.binding_energy_ev)
        assert np.array_equal(a.intensity, b.intensity)
    assert got[0].metadata["file"]["n_nul_bytes_removed"] == 3


def test_vamas_truncated_data_names_block_and_counts(tmp_path):
    lines = vamas_lines()
    cut = len(lines) - 100  # inside the second block's 482 ordinate values
    path = write(tmp_path / "cut.vms", lines[:cut])
    with pytest.raises(XpsReadError, match=r"block 2 of 2") as err:
        read_vamas(path)
    msg = str(err.value)
    assert "cut.vms" in msg and "expected 482 ordinate values" in msg and "got 383" in msg


def test_vamas_kinetic_without_photon_energy(tmp_path):
    for hv in ("1e+037", "0"):
        path = write(tmp_path / "nohv.vms", vamas_lines(hv=hv))
        with pytest.raises(XpsReadError, match="photon energy") as err:
            read_vamas(path)
        assert "nohv.vms" in str(err.value) and "block 1 of 2" in str(err.value)


def test_vamas_header_errors(tmp_path):
    with pytest.raises(XpsReadError, match="not a VAMAS file"):
        read_vamas(write(tmp_path / "no.vms", ["hello", "1 2"]))
    lines = vamas_lines()
    lines[7] = "WEIRD"
    with pytest.raises(XpsReadError, match="line 8: expected an experiment mode"):
        read_vamas(write(tmp_path / "mode.vms", lines))
    lines = vamas_lines()
    lines[lines.index("pulse counting") + 1] = "abc"
    with pytest.raises(XpsReadError, match="signal collection time.*'abc'"):
        read_vamas(write(tmp_path / "num.vms", lines))


def test_casa_line_parsers():
    comp = parse_casa_comp(CASA_COMP)
    assert comp["name"] == "C 1s" and comp["lineshape"] == "GL(30)"
    assert comp["area"]["value"] == 100 and comp["fwhm"]["upper"] == 3
    assert comp["position"] == {"value": 1201.8, "lower": 1200, "upper": 1203, "link": -1,
                                "factor": 1}
    assert parse_casa_region(CASA_REGION)["rsf"] == 1
    assert parse_casa_region("CASA region garbage") == {"raw": "CASA region garbage"}


# ------------------------------------------------------------------------------------------
# synthetic SPECS .xy and text

SPECS_HEAD = """# Created by:        SpecsLab Prodigy, Version 4.100.1-r111001
#
# XY-Serializer Export Settings:
#   Energy Axis:              {axis}
#   Count Rate:               Counts per Second
#   Separate Scan Data:       yes
#
# Group:                        g1
#
"""
SPECS_REGION = """# Region:                       {region}
# Acquisition Date:             08/24/23 14:19:47 UTC
# Dwell Time:                   0.1
# Excitation Energy:            1486.61
# Kinetic Energy:               1190
# Pass Energy:                  20
# Eff. Workfunction:            4.1
# Source:                       XR 50
#
"""


def specs_text(axis: str = "Kinetic Energy", scans: int = 2) -> str:
    ke = 1190 + 0.5 * np.arange(41)
    y = _gauss(1486.61 - ke, 284.8)
    out = SPECS_HEAD.format(axis=axis) + SPECS_REGION.format(region="C1s")
    out += f"# Cycle: 0\n#\n# Number of Scans: {scans}\n\n"
    for k in range(scans):
        out += f"# Cycle: 0, Curve: 0, Scan: {k}\n#\n# ColumnLabels: energy counts/s\n"
        out += "".join(f"{e:g}  {v * (k + 1):.4f}\n" for e, v in zip(ke, y)) + "\n"
    out += SPECS_REGION.format(region="O1s") + "# Cycle: 0\n\n# Cycle: 0, Curve: 0\n"
    out += "".join(f"{e:g}  {v:.4f}\n" for e, v in zip(ke - 245, _gauss(1486.61 - ke + 245, 530)))
    return out


def test_specs_xy_kinetic_regions_and_scans(tmp_path):
    path = tmp_path / "s.xy"
    path.write_text(specs_text())
    spectra = read_specs_xy(path)
    assert [s.label for s in spectra] == ["C1s/cycle 0/curve 0/scan 0",
                                          "C1s/cycle 0/curve 0/scan 1", "O1s"]
    assert [s.region for s in spectra] == ["C 1s", "C 1s", "O 1s"]
    c1, c2, o1 = spectra
    assert c1.kinetic_axis and c1.photon_energy_ev == 1486.61 and c1.work_function_ev == 4.1
    assert c1.n_scans == 2 and c1.dwell_s == 0.1 and c1.pass_energy_ev == 20
    assert c1.sample == "g1" and c1.metadata["intensity_unit"] == "counts/s"
    assert peak_be(c1, 280, 290) == pytest.approx(284.8, abs=0.26)
    assert np.allclose(c2.intensity, 2 * c1.intensity)
    assert peak_be(o1, 525, 535) == pytest.approx(530, abs=0.26)
    assert c1.time_s == pytest.approx(1692886787.0)
    assert read_xps(path)[2].label == "O1s"


def test_specs_xy_bad_row(tmp_path):
    path = tmp_path / "bad.xy"
    path.write_text(specs_text() + "12 abc\n")
    with pytest.raises(XpsReadError, match=r"bad.xy: SPECS .xy line \d+: expected numbers"):
        read_specs_xy(path)


def test_text_columns_separators_and_header(tmp_path):
    be = np.linspace(300, 280, 201)
    y = _gauss(be, 284.8)
    for sep, name in ((",", "c.csv"), ("\t", "t.txt"), ("   ", "w.dat")):
        path = tmp_path / name
        body = "".join(f"{e:.2f}{sep}{v:.3f}{sep}\n" for e, v in zip(be, y))
        path.write_text(f"C 1s spectrum\nBinding Energy{sep}Counts\n{body}")
        s = read_text(path)
        assert not s.kinetic_axis and s.region == "C 1s" and len(s) == 201
        assert np.all(np.diff(s.binding_energy_ev) > 0)
        assert peak_be(s, 280, 290) == pytest.approx(284.8, abs=0.06)
    # intensity from another column
    path = tmp_path / "cols.csv"
    path.write_text("".join(f"{e},{0},{v}\n" for e, v in zip(be, y)))
    assert read_text(path, intensity_column=2).intensity.max() == pytest.approx(1050, abs=1)


def test_text_kinetic_axis(tmp_path):
    ke = np.linspace(1190, 1214, 121)
    y = _gauss(HV - ke, 284.8)
    path = tmp_path / "k.csv"
    path.write_text("# E_kin (eV), intensity; hv = 1486.6 eV\n" +
                    "".join(f"{e},{v}\n" for e, v in zip(ke, y)))
    s = read_text(path)
    assert s.kinetic_axis and s.photon_energy_ev == HV
    assert s.metadata["photon_energy_from"] == "header"
    assert peak_be(s, 280, 290) == pytest.approx(284.8, abs=0.11)
    s2 = read_text(path, photon_energy_ev=1486.6, work_function_ev=1.0)
    assert peak_be(s2, 280, 290) == pytest.approx(283.8, abs=0.11)
    # forced kinetic without a photon energy anywhere
    bare = tmp_path / "bare.txt"
    bare.write_text("".join(f"{e} {v}\n" for e, v in zip(ke, y)))
    with pytest.raises(XpsReadError, match="bare.txt.*photon energy"):
        read_text(bare, kinetic=True)
    assert not read_text(bare).kinetic_axis


def test_text_without_numbers(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("energy, intensity\nnot, numbers\n")
    with pytest.raises(XpsReadError, match="words.txt: no numeric rows found; expected"):
        read_text(path)
    with pytest.raises(XpsReadError, match="words.txt: no numeric rows"):
        read_xps(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nothere.vms"
    for reader in (read_xps, read_vamas, read_specs_xy, read_text):
        with pytest.raises(XpsReadError, match="nothere.vms: does not exist; expected") as err:
            reader(path)
        assert isinstance(err.value, FileNotFoundError)


def test_dispatch(tmp_path):
    vms = write(tmp_path / "data.npl", vamas_lines())
    assert len(read_xps(vms)) == 2
    fake = tmp_path / "fake.vms"
    fake.write_text("1 2\n3 4\n")
    with pytest.raises(XpsReadError, match="fake.vms: expected a VAMAS file"):
        read_xps(fake)
    txt = tmp_path / "two.txt"
    txt.write_text("1 2\n3 4\n5 6\n")
    (s,) = read_xps(txt)
    assert s.label == "two" and s.binding_energy_ev.tolist() == [1, 3, 5]


# ------------------------------------------------------------------------------------------
# real files


@needs_xps
def test_real_pynxtools_regular_and_irregular_identical():
    reg = read_vamas(XPS / "pynxtools_xps" / "regular.vms")
    irr = read_vamas(XPS / "pynxtools_xps" / "irregular.vms")
    assert len(reg) == len(irr) == 1
    for a, b in zip(reg, irr):
        check_spectrum(a)
        check_spectrum(b)
        assert a.kinetic_axis and b.kinetic_axis
        assert a.metadata["scan_mode"] == "REGULAR" and b.metadata["scan_mode"] == "IRREGULAR"
        assert a.region == b.region == "Survey" and a.sample == b.sample == "1 as-loaded"
        assert a.photon_energy_ev == b.photon_energy_ev == 1486.61
        assert np.array_equal(a.binding_energy_ev, b.binding_energy_ev)
        assert np.array_equal(a.metadata["variables"]["Transmission"],
                              b.metadata["variables"]["transmission"])
        # REGULAR holds counts per 0.1 s channel, IRREGULAR counts per second (Casa export)
        assert a.metadata["intensity_unit"] == "counts" and a.dwell_s == 0.1
        assert b.metadata["intensity_unit"] == "counts/s" and b.dwell_s == 1
        assert np.allclose(a.intensity / a.dwell_s, b.intensity, rtol=1e-12, atol=0)
    s = reg[0]
    assert s.binding_energy_ev[0] == pytest.approx(0) and s.binding_energy_ev[-1] == 1350
    assert s.work_function_ev == 4.1082 and irr[0].work_function_ev is None
    assert s.pass_energy_ev == 100 and s.time_s == pytest.approx(1692886787.0)  # 2023-08-24
    assert peak_be(s, 525, 540) == pytest.approx(531, abs=1.5)  # O 1s
    assert peak_be(s, 280, 292) == pytest.approx(285.5, abs=1.5)  # C 1s
    assert peak_be(s, 700, 720) == pytest.approx(711, abs=1.5)  # Fe 2p3/2


@needs_xps
def test_real_specs_xy_matches_vamas_export():
    spectra = read_specs_xy(XPS / "pynxtools_xps" / "MgFe2O4_small.xy")
    # this cut-down export holds the survey and Fe 2p; O 1s and C 1s are in the survey
    assert [s.label for s in spectra] == ["Survey", "Fe2p"]
    assert [s.region for s in spectra] == ["Survey", "Fe 2p"]
    for s in spectra:
        check_spectrum(s)
        assert not s.kinetic_axis and s.photon_energy_ev == 1486.61
        assert s.metadata["intensity_unit"] == "counts/s" and s.source_label == "XR 50"
        assert s.sample == "1 as-loaded"
    survey, fe = spectra
    assert len(survey) == 1351 and len(fe) == 56 and fe.pass_energy_ev == 20
    assert peak_be(fe, 700, 720) == pytest.approx(711, abs=1.5)
    assert peak_be(survey, 525, 540) == pytest.approx(531, abs=1.5)
    # the same survey as exported to VAMAS (kinetic energy 136.61 eV <-> binding 1350 eV)
    irr = read_vamas(XPS / "pynxtools_xps" / "irregular.vms")[0]
    reg = read_vamas(XPS / "pynxtools_xps" / "regular.vms")[0]
    assert np.allclose(survey.binding_energy_ev, irr.binding_energy_ev, atol=1e-9, rtol=0)
    assert np.allclose(survey.intensity, irr.intensity, rtol=1e-5)
    assert survey.time_s == reg.time_s


@needs_xps
def test_real_cheminfo_assigned_casa_components():
    spectra = read_vamas(XPS / "cheminfo_vamas" / "assigned.vms")
    assert len(spectra) == 54
    assert sum(len(s.metadata["casa_comp"]) for s in spectra) == 96
    assert sum(len(s.metadata["casa_components"]) for s in spectra) == 96
    assert sum(len(s.metadata["casa_region"]) for s in spectra) == 21
    assert all(c.startswith("CASA comp (*") for s in spectra for c in s.metadata["casa_comp"])
    for s in spectra:
        check_spectrum(s)
        assert s.kinetic_axis and s.photon_energy_ev == 1486.69
        assert s.source_label == "Al (mono)" and s.work_function_ev == -4.5
        assert len(s.metadata["experimental_variables"]) == 4
    assert len({s.sample for s in spectra}) == 6
    assert {s.region for s in spectra} >= {"wide", "C 1s", "O 1s", "Mo 3d", "W 4f", "S 2p"}
    wide = spectra[0]
    assert wide.binding_energy_ev[0] == pytest.approx(-5) and wide.binding_energy_ev[-1] == 1200
    # C 1s sits at 281.2 eV in the raw data; CasaXPS calibrates it to 284.8 (charge shift)
    c1s = spectra[2]
    assert c1s.region == "C 1s"
    calib = c1s.metadata["casa_calibration"][0]
    assert (calib["measured"], calib["actual"]) == (281.17, 284.8)
    shift = c1s.metadata["casa_calibration_shift_ev"]
    assert shift == pytest.approx(3.63, abs=0.01)
    assert peak_be(c1s, 277, 300) == pytest.approx(281.17, abs=0.3)
    assert peak_be(c1s, 277, 300) + shift == pytest.approx(284.8, abs=0.3)
    region = c1s.metadata["casa_regions"][0]
    assert region["name"] == "C 1s" and region["background"] == "U 2 Tougaard"
    lo, hi = region["binding_limits_ev"]
    assert lo < 284.8 < hi


@needs_xps
def test_real_cheminfo_multiplex():
    spectra = read_vamas(XPS / "cheminfo_vamas" / "multiplex.vms")
    assert [s.region for s in spectra] == ["wide", "O 1s", "Ta 4f"]
    for s in spectra:
        check_spectrum(s)
    assert peak_be(spectra[1], 525, 540) == pytest.approx(531, abs=1.5)


@needs_xps
def test_real_lg4x_kratos_crlf_leading_blank_lines():
    path = XPS / "lg4x" / "0-150W.vms"
    assert path.read_bytes().startswith(b"\r\n\r\n")
    spectra = read_xps(path)
    assert [s.region for s in spectra] == ["wide", "Ni 2p", "O 1s", "C 1s", "W 4f"]
    for s in spectra:
        check_spectrum(s)
        assert s.photon_energy_ev == 1486.69 and s.kinetic_axis and s.sample == "Ni-W"
    assert spectra[0].time_s == pytest.approx(1598511946.0)  # 2020-08-27 14:05:46 UTC+7
    assert peak_be(spectra[1], 850, 860) == pytest.approx(856, abs=1.5)  # Ni 2p3/2
    assert peak_be(spectra[2], 520, 545) == pytest.approx(529, abs=1.5)  # O 1s


@needs_xps
def test_real_lg4x_phi_multipak_npl():
    path = XPS / "lg4x" / "Mutlipak_vms.npl"
    assert b"\x00" in path.read_bytes()
    spectra = read_xps(path)
    assert [s.region for s in spectra] == ["C 1s", "O 1s", "S 2p", "N 1s", "Mo 3d"]
    assert [s.label for s in spectra] == [f"Block No.{k}" for k in range(1, 6)]
    for s in spectra:
        check_spectrum(s)
        assert not s.kinetic_axis and s.photon_energy_ev == 1486.6
        assert s.metadata["transition"] in ("1s", "2p", "3d")
        assert s.metadata["intensity_unit"] == "counts/s" and s.time_s is None
        assert s.source_label == "Al mono"
    assert spectra[0].metadata["file"]["n_nul_bytes_removed"] == 5
    assert peak_be(spectra[0], 280, 292) == pytest.approx(284.8, abs=0.5)  # C 1s
    assert peak_be(spectra[1], 525, 540) == pytest.approx(531.6, abs=1.0)  # O 1s
    assert peak_be(spectra[4], 220, 240) == pytest.approx(228.5, abs=1.0)  # Mo 3d5/2


@needs_xps
def test_real_xpsdeeplearning_references():
    d = XPS / "xpsdeeplearning"
    fe = read_xps(d / "Fe_references.vms")
    assert [s.sample for s in fe] == ["Fe metal", "FeO", "Fe3O4", "Fe2O3"]
    expected = {"Fe metal": 706.7, "FeO": 709.8, "Fe3O4": 710.2, "Fe2O3": 710.9}
    for s in fe:
        check_spectrum(s)
        assert s.region == "Fe 2p" and s.photon_energy_ev == 1486.61 and s.kinetic_axis
        assert peak_be(s, 700, 718) == pytest.approx(expected[s.sample], abs=0.5)
    cu = read_xps(d / "Cu_references.vms")
    assert len(cu) == 11 and {s.region for s in cu} == {"Cu 2p", "Cu LMM", "O 1s", "Survey"}
    for s in cu:
        check_spectrum(s)
    cu_metal = next(s for s in cu if s.sample == "Cu metal" and s.region == "Cu 2p")
    assert peak_be(cu_metal, 925, 940) == pytest.approx(932.62, abs=0.3)  # ISO 15472
    mn = read_xps(d / "Mn_references.vms")
    assert [s.sample for s in mn] == ["MnO", "Mn2O3", "MnO2"]
    for s in mn:
        check_spectrum(s)
        assert peak_be(s, 635, 650) == pytest.approx(641.2, abs=1.0)
    ti = read_xps(d / "Ti_references_irregular.vms")
    assert len(ti) == 12 and all(s.metadata["scan_mode"] == "IRREGULAR" for s in ti)
    for s in ti:
        check_spectrum(s)
        assert s.region.startswith("Ti 2p")
        assert s.metadata["merged_duplicate_points"] == 11
    ti_by_sample = {s.sample: s for s in ti[:4]}
    assert peak_be(ti_by_sample["Ti metal"], 450, 470) == pytest.approx(453.9, abs=0.5)
    assert peak_be(ti_by_sample["TiO2"], 450, 470) == pytest.approx(459.0, abs=0.5)


@needs_xps
def test_real_xpsdeeplearning_text_spectra():
    d = XPS / "xpsdeeplearning"
    vms = {s.sample: s for s in read_vamas(d / "Ti_references_irregular.vms")[:4]}
    for name, region, lo, hi, center in (("Fe2p_Fe2O3", "Fe 2p", 700, 718, 710.9),
                                         ("Fe2p_FeO", "Fe 2p", 700, 718, 709.8),
                                         ("Ti2p_Ti2O3", "Ti 2p", 450, 470, 458.5),
                                         ("Ti2p_TiO2", "Ti 2p", 450, 470, 459.0)):
        (s,) = read_xps(d / f"{name}.txt")
        check_spectrum(s)
        assert s.label == name and s.region == region and not s.kinetic_axis
        assert s.metadata["title"] == name.replace("_", " ")
        assert peak_be(s, lo, hi) == pytest.approx(center, abs=0.5)
    # the TiO2 text spectrum holds the TiO2 block of the VAMAS file (on a finer grid)
    txt = read_text(d / "Ti2p_TiO2.txt")
    ref = vms["TiO2"]
    common, i, j = np.intersect1d(np.round(txt.binding_energy_ev, 3),
                                  np.round(ref.binding_energy_ev, 3), return_indices=True)
    assert common.size > 700
    same = np.isclose(txt.intensity[i], ref.intensity[j], rtol=1e-5, atol=1e-3)
    assert same.mean() > 0.99  # all but the few points where the VAMAS grid repeats energies


@needs_xps
def test_real_lmfitxps_au4f_kinetic_energy():
    """Au 4f at hv = 180 eV (BL11, DELTA). The header gives the photon energy but no work
    function: BE = hv - KE puts Au 4f7/2 at 87.7 eV, 3.7 eV above the 84.0 eV reference, so the
    analyser work function (and any photon-energy offset) is not knowable from the file. The
    kinetic-energy positions and the 4f spin-orbit splitting are what can be checked."""
    (s,) = read_xps(XPS / "lmfitxps" / "clean_Au_4f.csv")
    check_spectrum(s)
    assert s.kinetic_axis and s.photon_energy_ev == 180 and s.region == "Au 4f"
    assert s.metadata["photon_energy_from"] == "header" and len(s) == 294
    ke = s.kinetic_energy_ev
    k72 = ke[np.argmax(s.intensity)]
    assert k72 == pytest.approx(92.3, abs=0.15)  # lmfitxps fits 92.23 eV
    be72 = peak_be(s, 86, 89.5)
    be52 = peak_be(s, 89.5, 93)
    assert be72 == pytest.approx(180 - 92.3, abs=0.15)
    assert be52 - be72 == pytest.approx(3.67, abs=0.1)
    # with the offset that puts 4f7/2 at the reference, the doublet lands where it should
    shifted = read_text(XPS / "lmfitxps" / "clean_Au_4f.csv", work_function_ev=180 - k72 - 84.0)
    assert peak_be(shifted, 82, 86) == pytest.approx(84.0, abs=0.05)
    assert peak_be(shifted, 86, 90) == pytest.approx(87.67, abs=0.1)


@needs_xps
def test_real_truncated_and_hv_less_copies(tmp_path):
    src = XPS / "pynxtools_xps" / "regular.vms"
    lines = src.read_bytes().split(b"\r\n")
    start = lines.index(b"2702")  # number of ordinate values
    cut = tmp_path / "regular_cut.vms"
    cut.write_bytes(b"\r\n".join(lines[: start + 5 + 1000]))
    with pytest.raises(XpsReadError, match="block 1 of 1") as err:
        read_vamas(cut)
    assert "regular_cut.vms" in str(err.value)
    assert "expected 2702 ordinate values" in str(err.value) and "got 1000" in str(err.value)
    nohv = tmp_path / "regular_nohv.vms"
    k = lines.index(b"1486.61")
    nohv.write_bytes(b"\r\n".join([*lines[:k], b"1e+037", *lines[k + 1:]]))
    with pytest.raises(XpsReadError, match="regular_nohv.vms.*kinetic energy.*photon energy"):
        read_vamas(nohv)
    # a multi-block file cut in the middle of block 3's data
    a = (XPS / "cheminfo_vamas" / "assigned.vms").read_bytes().split(b"\r\n")
    starts = [i for i, ln in enumerate(a) if ln == b"Casa Info Follows"]
    cut3 = tmp_path / "assigned_cut.vms"
    cut3.write_bytes(b"\r\n".join(a[: starts[3] - 30]))
    with pytest.raises(XpsReadError, match=r"block 3 of 54 \('C 1s'\): expected 308 ordinate"):
        read_vamas(cut3)


def test_text_refuses_a_counter_column_as_the_energy_axis(tmp_path):
    """A beamline scan whose first column is an event id is not read as a one-point spectrum."""
    from xpipe.xps.readers import XpsReadError, read_xps

    rows = "\n".join(f"1, {11667 + 10 * i}.0, {15000 + i}.0, {180000 + 7 * i}.0" for i in range(40))
    path = tmp_path / "scan.dat"
    path.write_text("# event, energy, i0, it\n" + rows + "\n")
    with pytest.raises(XpsReadError, match="column 0 is not an energy axis: 40 rows hold only 1 distinct"):
        read_xps(path)
    assert read_xps(path, energy_column=1)[0].binding_energy_ev.size == 40
