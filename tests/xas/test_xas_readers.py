"""XAS readers (XDI, beamline columns, Athena, NeXus) and the Athena project writer.

The real-data checks read the beamline examples and standards in ../shared/data/xas and skip
when that folder is not beside the checkout; synthetic files in tmp_path cover the rest.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import h5py
import numpy as np
import pytest
import xraydb
from conftest import SHARED

from xpipe.xas.readers import (
    read_athena,
    read_columns,
    read_nexus,
    read_scan,
    read_xdi,
    write_athena,
)
from xpipe.xas.scan import XasReadError, XasScan

XAS = SHARED / "xas"
EXAMPLES = XAS / "larch_examples"
BEAMLINES = EXAMPLES / "beamlines"
needs_xas = pytest.mark.skipif(
    not XAS.is_dir(), reason="../shared/data (real measured data) is not beside the checkout")


# ------------------------------------------------------------------------------------------
# helpers


def edge_energy(energy: np.ndarray, mu: np.ndarray) -> float:
    """Energy of the steepest rise of mu, after a 3 eV boxcar on a 0.25 eV grid."""
    grid = np.arange(energy[0], energy[-1], 0.25)
    smooth = np.convolve(np.interp(grid, energy, mu), np.ones(13) / 13, mode="same")
    slope = np.gradient(smooth, grid)
    slope[:13] = slope[-13:] = -np.inf  # boxcar edges
    return float(grid[np.argmax(slope)])


def edge_jump(energy: np.ndarray, mu: np.ndarray, e_edge: float) -> float:
    """Median mu above the edge minus median mu below it (last points if the scan stops there)."""
    pre = mu[(energy > e_edge - 150) & (energy < e_edge - 20)]
    post = mu[(energy > e_edge + 30) & (energy < e_edge + 200)]
    if post.size < 3:
        post = mu[-5:]
    return float(np.median(post) - np.median(pre))


def k_edge(element: str) -> float:
    return float(xraydb.xray_edge(element, "K").energy)


def step_spectrum(energy: np.ndarray, e0: float = 7112.0, jump: float = 1.0) -> np.ndarray:
    """A smooth absorption edge on a falling background."""
    return 0.3 - 2e-5 * (energy - e0) + jump * (0.5 + np.arctan((energy - e0) / 2.0) / np.pi)


def write_columns(path: Path, header: str, table: np.ndarray) -> Path:
    lines = [header] if header else []
    lines += [" ".join(f"{v:.6f}" for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n")
    return path


def transmission_table(energy: np.ndarray, with_ref: bool = True) -> np.ndarray:
    i0 = np.full_like(energy, 1.0e5)
    it = i0 * np.exp(-step_spectrum(energy))
    cols = [energy, i0, it]
    if with_ref:
        cols.append(it * np.exp(-step_spectrum(energy, jump=2.0)))
    return np.column_stack(cols)


XDI_HEADER = """# XDI/1.0
# Column.1: energy eV
{columns}
# Element.symbol: Fe
# Element.edge: K
# Mono.d_spacing: 3.13550
# Mono.name: Si(111)
# Beamline.name: test beamline
# Scan.start_time: 2024-03-01T10:20:30
# ///
# synthetic Fe K edge
#----
# {labels}"""


def write_xdi(path: Path, names: list[str], table: np.ndarray) -> Path:
    columns = "\n".join(f"# Column.{i + 2}: {n}" for i, n in enumerate(names[1:]))
    header = XDI_HEADER.format(columns=columns, labels=" ".join(names))
    return write_columns(path, header, table)


# ------------------------------------------------------------------------------------------
# beamline column files (real data)

# file, read_columns keywords, expected columns, element with a tabulated K edge, tolerance (eV)
BEAMLINE_CASES = {
    "APS13ID_2019.dat": ({}, {"energy": "energy", "i0": "i0",
                              "ifluor": [f"mn_ka_mca{i}" for i in range(1, 5)],
                              "dead_time": [f"dtfactor_mca{i}" for i in range(1, 5)]}, "Mn", 10.0),
    "ESRF_BM08_LISA_2021.dat": ({}, {"energy": "ebraggenergy", "i0": "i0_eh1",
                                     "itrans": "i1_eh1", "iref": "ir_eh2"}, "Ge", 2.0),
    "NSLS_XDAC_2011.dat": ({}, {"energy": "energy", "i0": "i0",
                                "ifluor": [f"ifch{i}" for i in range(1, 5)],
                                "dead_time": [f"iffast{i}/ifslow{i}" for i in range(1, 5)],
                                "iref": "iref"}, "Fe", 25.0),
    "PF9A_2022.dat": ({}, {"energy": "angle_read", "i0": "i0", "ifluor": ["ifluor"]}, "Fe", 15.0),
    "SSRL1_2006.dat": ({}, {"energy": "achieved_energy", "i0": "i0", "itrans": "i1",
                            "iref": "i2"}, "Ag", 12.0),
    "generic_columns_no_header.dat": ({"i0": "col2", "itrans": "col3", "iref": "col6"},
                                      {"energy": "col1", "i0": "col2", "itrans": "col3",
                                       "iref": "col6"}, "Ge", 2.0),
}


@needs_xas
@pytest.mark.parametrize("name", sorted(BEAMLINE_CASES))
def test_beamline_files(name):
    kw, columns, element, tol = BEAMLINE_CASES[name]
    scan = read_columns(BEAMLINES / name, **kw)
    assert isinstance(scan, XasScan)
    assert scan.source.endswith(name) and scan.label == Path(name).stem
    assert np.all(np.diff(scan.energy_ev) > 0)
    for role, col in columns.items():
        assert scan.metadata["columns"][role] == col, role
    e_tab = k_edge(element)
    # The ESRF file (and its header-less copy) records the sample channel between two
    # first-hutch chambers: no edge there. The Ge K edge is in the reference foil channel.
    if element == "Ge":
        sample_jump = abs(edge_jump(scan.energy_ev, scan.mu, e_tab))
        signal = scan.reference_mu
        assert sample_jump < 0.01 * edge_jump(scan.energy_ev, signal, e_tab)
    else:
        signal = scan.mu
    assert edge_jump(scan.energy_ev, signal, e_tab) > 0
    assert abs(edge_energy(scan.energy_ev, signal) - e_tab) < tol


@needs_xas
def test_beamline_details():
    aps = read_columns(BEAMLINES / "APS13ID_2019.dat")
    assert aps.mode == "fluorescence" and (aps.element, aps.edge) == ("Mn", "K")
    assert aps.reference_mu is None and "i2" in aps.metadata["reference_note"]  # I2 is all zeros
    assert aps.time_s == pytest.approx(1562670167.0)  # 2019-07-09 11:02:47, taken as UTC
    assert aps.energy_ev[-1] < k_edge("Mn")  # the scan stops 2 eV below the tabulated edge

    xdac = read_columns(BEAMLINES / "NSLS_XDAC_2011.dat")
    assert (xdac.mode, xdac.element, xdac.edge) == ("fluorescence", "Fe", "K")  # from E0= 7112
    assert xdac.reference_mu is not None

    pf = read_columns(BEAMLINES / "PF9A_2022.dat")
    assert pf.metadata["merged_duplicate_points"] == 6  # repeated angle read-backs
    assert pf.metadata["energy_units_in_file"].startswith("angle")
    assert pf.metadata["dark_offsets_subtracted"] == {"i0": 7753.7, "ifluor": 7157.1}
    assert pf.energy_ev[0] == pytest.approx(6606.2, abs=1.0)  # first block of the header
    assert pf.energy_ev[-1] == pytest.approx(8211.2, abs=1.0)
    raw = read_columns(BEAMLINES / "PF9A_2022.dat", dark_offsets=False)
    assert "dark_offsets_subtracted" not in raw.metadata
    assert np.all(raw.mu > pf.mu)

    ssrl = read_columns(BEAMLINES / "SSRL1_2006.dat")
    assert ssrl.mode == "transmission" and ssrl.reference_mu is not None
    assert abs(edge_energy(ssrl.energy_ev, ssrl.reference_mu) - k_edge("Ag")) < 12

    esrf = read_columns(BEAMLINES / "ESRF_BM08_LISA_2021.dat")
    bare = read_columns(BEAMLINES / "generic_columns_no_header.dat", i0=1, itrans=2, iref=5)
    assert bare.metadata["format"] == "columns without names"
    np.testing.assert_allclose(bare.energy_ev, esrf.energy_ev)
    np.testing.assert_allclose(bare.mu, esrf.mu)
    np.testing.assert_allclose(bare.reference_mu, esrf.reference_mu)
    # the file's own mu and mu_ref columns agree with ln(I0/I1) and ln(I1/IR)
    stored = read_columns(BEAMLINES / "ESRF_BM08_LISA_2021.dat", mu="mu")
    np.testing.assert_allclose(stored.mu, esrf.mu, rtol=1e-9)
    with pytest.raises(XasReadError, match="generic_columns_no_header.dat.*no column names"):
        read_columns(BEAMLINES / "generic_columns_no_header.dat")


@needs_xas
def test_read_scan_dispatches_real_files():
    # APS 13-ID writes XDI headers into .dat files: read_scan takes the XDI route, same result
    via_xdi = read_scan(BEAMLINES / "APS13ID_2019.dat")
    assert len(via_xdi) == 1 and via_xdi[0].metadata["format"] == "XDI"
    np.testing.assert_allclose(via_xdi[0].mu, read_columns(BEAMLINES / "APS13ID_2019.dat").mu)
    assert read_scan(BEAMLINES / "SSRL1_2006.dat")[0].metadata["format"] == "SSRL"
    assert len(read_scan(EXAMPLES / "cu.prj")) == 3
    assert read_scan(XAS / "standards" / "V" / "VO.xdi")[0].element == "V"


@needs_xas
def test_fexanes_repeats_with_dead_time():
    channels = [f"Fe_Ka_mca{i}" for i in range(1, 8)]
    dtc = [f"DTFactor_mca{i}" for i in range(1, 8)]
    scans = [read_columns(EXAMPLES / f"fexanes_{x}.001", ifluor=channels, dead_time=dtc)
             for x in "abc"]
    for scan in scans:
        assert scan.mode == "fluorescence"
        assert scan.metadata["columns"]["dead_time"] == [d.lower() for d in dtc]
        assert abs(edge_energy(scan.energy_ev, scan.mu) - k_edge("Fe")) < 10
        assert edge_jump(scan.energy_ev, scan.mu, k_edge("Fe")) > 0
    for other in scans[1:]:
        assert other.energy_ev.shape == scans[0].energy_ev.shape
        np.testing.assert_allclose(other.energy_ev, scans[0].energy_ev, atol=0.05)
    # found without help: Fe (its K edge is in range; Ca is not), with the DT factors
    auto = read_columns(EXAMPLES / "fexanes_a.001")
    np.testing.assert_allclose(auto.mu, scans[0].mu)
    assert (auto.element, auto.edge) == ("Fe", "K")
    # the beamline's own dead-time-corrected sum agrees
    summed = read_columns(EXAMPLES / "fexanes_a.001", ifluor="Sum_Fe_Ka")
    np.testing.assert_allclose(summed.mu, scans[0].mu, rtol=1e-5)
    # no correction: smaller signal where the count rate is high
    plain = read_columns(EXAMPLES / "fexanes_a.001", ifluor=channels, dead_time=None)
    assert "dead_time" not in plain.metadata["columns"]
    assert np.all(plain.mu < scans[0].mu)


# ------------------------------------------------------------------------------------------
# XDI standards (real data)


@needs_xas
@pytest.mark.parametrize("element", ["V", "Fe"])
def test_xdi_standards(element):
    files = sorted((XAS / "standards" / element).glob("*.xdi"))
    assert files
    for path in files:
        scan = read_xdi(path)
        assert (scan.mode, scan.element, scan.edge) == ("transmission", element, "K")
        assert scan.metadata["columns"] == {"energy": "energy", "i0": "i0", "itrans": "itrans"}
        assert scan.time_s is not None and scan.metadata["mono_d_spacing"] > 3.1
        assert scan.metadata["xdi"]["Mono.name"] == "Si(111)"
        assert edge_jump(scan.energy_ev, scan.mu, k_edge(element)) > 0
        assert abs(edge_energy(scan.energy_ev, scan.mu) - k_edge(element)) < 20
        # these standards were measured without a reference foil channel
        assert scan.reference_mu is None
        with pytest.raises(XasReadError) as err:
            read_xdi(path, require_reference=True)
        assert path.name in str(err.value) and "reference channel was required" in str(err.value)


# ------------------------------------------------------------------------------------------
# Athena projects


@needs_xas
@pytest.mark.parametrize("name, labels, element, e0", [
    ("FeO.prj", ["FeO"], "Fe", 7122.9272),
    ("cu.prj", ["cu010k.dat", "cu050k.dat", "cu150k.dat"], "Cu", 8977.58),
    ("FeFoil_QXAFS_Compare.prj", ["Fe_foil_500msec_stepscan.001", "Fe_foil_250msec_qxafs.001",
                                  "Fe_foil_250msec_qxafs.002",
                                  "Fe_foil_500msec_qxafs_PinDiode.001"], "Fe", None),
])
def test_read_athena(name, labels, element, e0):
    scans = read_athena(EXAMPLES / name)
    assert [s.label for s in scans] == labels
    for scan in scans:
        assert scan.mode == "mu" and scan.element == element and scan.edge == "K"
        athena = scan.metadata["athena"]
        for key in ("e0", "pre1", "pre2", "nor1", "nor2", "rbkg"):
            assert key in athena, key
        assert "kmax" in athena["fft"]
        assert edge_jump(scan.energy_ev, scan.mu, athena["e0"]) > 0
    if e0 is not None:
        assert scans[0].metadata["athena"]["e0"] == pytest.approx(e0)


def test_write_athena_round_trip(tmp_path):
    from larch.io import read_athena as larch_read_athena

    energy = np.linspace(6900.0, 7800.0, 400)
    mu = step_spectrum(energy)
    extra = {"e0": 7112.0, "pre1": -150.0, "pre2": -40.0, "nor1": 80.0, "nor2": 600.0,
             "rbkg": 1.1, "element": "Fe", "edge": "K", "norm": mu / 2}
    scan = XasScan(energy_ev=energy + 1.0, mu=2 * mu, source="x", label="second",
                   element="Fe", edge="K")
    path = write_athena(tmp_path / "out.prj", [("first", energy, mu, extra), scan])
    assert path.exists() and path.read_bytes()[:2] == b"\x1f\x8b"  # gzip, as Athena writes

    back = read_athena(path)
    assert [s.label for s in back] == ["first", "second"]
    np.testing.assert_array_equal(back[0].energy_ev, energy)
    np.testing.assert_array_equal(back[0].mu, mu)
    np.testing.assert_array_equal(back[1].mu, 2 * mu)
    athena = back[0].metadata["athena"]
    for key in ("e0", "pre1", "pre2", "nor1", "nor2", "rbkg"):
        assert athena[key] == pytest.approx(extra[key]), key
    assert back[0].element == "Fe" and back[0].edge == "K"

    larch_groups = larch_read_athena(str(path), do_preedge=False)
    first = larch_groups.groups[next(iter(larch_groups.groups))]
    np.testing.assert_array_equal(first.energy, energy)
    np.testing.assert_array_equal(first.mu, mu)
    assert first.athena_params.bkg.e0 == pytest.approx(7112.0)

    # scans read from a project keep their stored parameters when written again
    again = write_athena(tmp_path / "again.prj", back)
    assert read_athena(again)[0].metadata["athena"]["pre2"] == pytest.approx(-40.0)
    with pytest.raises(ValueError, match="unknown entries"):
        write_athena(tmp_path / "bad.prj", [("x", energy, mu, {"e_zero": 7112.0})])


@needs_xas
def test_write_athena_real_project(tmp_path):
    scans = read_athena(EXAMPLES / "cu.prj")
    back = read_athena(write_athena(tmp_path / "cu_copy.prj", scans))
    assert [s.label for s in back] == [s.label for s in scans]
    for a, b in zip(scans, back):
        np.testing.assert_array_equal(a.energy_ev, b.energy_ev)
        np.testing.assert_array_equal(a.mu, b.mu)
        assert b.metadata["athena"]["e0"] == pytest.approx(a.metadata["athena"]["e0"])


# ------------------------------------------------------------------------------------------
# NeXus


def write_nxxas(path: Path, energy: np.ndarray, i0: np.ndarray, absorbed: np.ndarray,
                mode: str = "Transmission", iref: np.ndarray | None = None,
                units: str = "eV") -> Path:
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["title"] = "Fe foil"
        entry["start_time"] = "2024-03-01T10:20:30+00:00"
        entry["definition"] = "NXxas"
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        mono = inst.create_group("monochromator")
        mono.attrs["NX_class"] = "NXmonochromator"
        mono["energy"] = energy
        mono["energy"].attrs["units"] = units
        for name, values in (("incoming_beam", i0), ("absorbed_beam", absorbed),
                             ("irefer", iref)):
            if values is not None:
                det = inst.create_group(name)
                det.attrs["NX_class"] = "NXdetector"
                det["data"] = values
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        sample["name"] = "Fe foil"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "absorbed_beam"
        data["energy"] = h5py.SoftLink("/entry/instrument/monochromator/energy")
        data["absorbed_beam"] = h5py.SoftLink("/entry/instrument/absorbed_beam/data")
        data["mode"] = mode
    return path


def test_read_nexus_transmission(tmp_path):
    table = transmission_table(np.linspace(6950.0, 7600.0, 300))
    e, i0, it, ir = table.T
    path = write_nxxas(tmp_path / "scan.nxs", e, i0, it, iref=ir)
    (scan,) = read_nexus(path)
    assert scan.mode == "transmission" and scan.label == "Fe foil"
    np.testing.assert_allclose(scan.mu, np.log(i0 / it))
    np.testing.assert_allclose(scan.reference_mu, np.log(it / ir))
    assert scan.time_s == pytest.approx(1709288430.0)
    assert scan.metadata["nexus_paths"]["i0"] == "instrument/incoming_beam/data"
    assert read_scan(path)[0].mu.tolist() == scan.mu.tolist()
    with pytest.raises(XasReadError, match=r"scan\.nxs: no entry 'other'"):
        read_nexus(path, entry="other")


def test_read_nexus_fluorescence_kev_and_mu(tmp_path):
    e = np.linspace(6950.0, 7600.0, 300)
    i0 = np.full_like(e, 2.0e5)
    iflu = i0 * step_spectrum(e) * 1e-3
    (fl,) = read_nexus(write_nxxas(tmp_path / "fl.h5", e / 1000, i0, iflu, mode="Fluorescence",
                                   units="keV"))
    assert fl.mode == "fluorescence"
    np.testing.assert_allclose(fl.energy_ev, e)
    np.testing.assert_allclose(fl.mu, iflu / i0)

    with h5py.File(tmp_path / "mu.h5", "w") as f:
        data = f.create_group("processed")
        data.attrs["NX_class"] = "NXdata"
        data["energy"] = e
        data["mu"] = step_spectrum(e)
    (mu,) = read_nexus(tmp_path / "mu.h5")
    assert mu.mode == "mu" and mu.label == "processed"
    np.testing.assert_allclose(mu.mu, step_spectrum(e))


def test_read_nexus_errors(tmp_path):
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_group("entry").attrs["NX_class"] = "NXentry"
    with pytest.raises(XasReadError, match=r"empty\.h5: no XAS data found; expected an NXentry"):
        read_nexus(tmp_path / "empty.h5")
    (tmp_path / "text.h5").write_text("not hdf5\n")
    with pytest.raises(XasReadError, match=r"text\.h5: not an HDF5/NeXus file"):
        read_nexus(tmp_path / "text.h5")


# ------------------------------------------------------------------------------------------
# synthetic column and XDI files: energy axis rules and errors


def test_columns_kev_reversed_and_duplicates(tmp_path):
    e = np.linspace(6950.0, 7600.0, 200)
    table = transmission_table(e)
    kev = table.copy()
    kev[:, 0] /= 1000.0
    scan = read_columns(write_columns(tmp_path / "kev.dat", "# Energy I0 It Iref", kev))
    np.testing.assert_allclose(scan.energy_ev, e)
    assert scan.metadata["energy_units_in_file"].startswith("keV")
    np.testing.assert_allclose(scan.mu, np.log(table[:, 1] / table[:, 2]))
    np.testing.assert_allclose(scan.reference_mu, np.log(table[:, 2] / table[:, 3]))

    rev = read_columns(write_columns(tmp_path / "rev.dat", "# energy i0 it", table[::-1, :3]))
    assert rev.metadata["reversed_energy"] is True
    np.testing.assert_allclose(rev.energy_ev, e)
    np.testing.assert_allclose(rev.mu, scan.mu)

    dup = np.insert(table[:, :3], [50, 50, 120], table[[50, 50, 120], :3], axis=0)
    dup[50, 1] *= 1.02  # a repeated point with its own counts: the two get averaged
    merged = read_columns(write_columns(tmp_path / "dup.dat", "#  mono energy\tI0\tIT", dup))
    assert merged.metadata["merged_duplicate_points"] == 3
    assert merged.metadata["columns"]["energy"] == "mono_energy"
    np.testing.assert_allclose(merged.energy_ev, e)
    assert merged.mu[50] == pytest.approx(np.log((table[50, 1] * (1 + 1.02 + 1) / 3)
                                                 / table[50, 2]))


def test_columns_fluorescence_and_names(tmp_path):
    e = np.linspace(6950.0, 7600.0, 200)
    i0 = np.full_like(e, 1.0e5)
    f1, f2 = i0 * step_spectrum(e) * 0.01, i0 * step_spectrum(e) * 0.02
    d1, d2 = np.full_like(e, 1.1), np.full_like(e, 1.3)
    path = write_columns(tmp_path / "fl.txt", "# E  MON  IF1  IF2  DT1  DT2",
                         np.column_stack([e, i0, f1, f2, d1, d2]))
    scan = read_columns(path, ifluor=["IF1", "IF2"], dead_time=["DT1", "DT2"])
    assert scan.mode == "fluorescence" and scan.metadata["columns"]["i0"] == "mon"
    np.testing.assert_allclose(scan.mu, (f1 * 1.1 + f2 * 1.3) / i0)
    auto = read_columns(path)  # IF1/IF2 found as numbered channels, no dead time
    np.testing.assert_allclose(auto.mu, (f1 + f2) / i0)
    with pytest.raises(XasReadError, match="fl.txt: 1 dead-time columns for 2 fluorescence"):
        read_columns(path, ifluor=["IF1", "IF2"], dead_time=["DT1"])
    with pytest.raises(XasReadError, match="fl.txt: no column 'I9' for I0; columns are: e, mon"):
        read_columns(path, i0="I9")


def test_error_missing_file(tmp_path):
    missing = tmp_path / "nothing_here.xdi"
    for reader in (read_xdi, read_columns, read_athena, read_nexus, read_scan):
        with pytest.raises(XasReadError) as err:
            reader(missing)
        assert "nothing_here.xdi" in str(err.value) and "file not found" in str(err.value)


def test_error_no_numeric_data(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("# beamtime notes\nsample changed at 10:00\nno data today\n")
    with pytest.raises(XasReadError) as err:
        read_columns(path)
    assert "notes.txt" in str(err.value) and "no table of numbers" in str(err.value)
    with pytest.raises(XasReadError, match="notes.txt: no table of numbers"):
        read_scan(path)


def test_error_zigzag_energy(tmp_path):
    table = transmission_table(np.linspace(6950.0, 7600.0, 200))[:, :3]
    table[100:110, 0] -= 30.0  # the mono jumped back and forth
    path = write_columns(tmp_path / "zigzag.dat", "# energy i0 it", table)
    with pytest.raises(XasReadError) as err:
        read_columns(path)
    msg = str(err.value)
    assert "zigzag.dat" in msg and "not monotonic" in msg and "expected an energy that rises" in msg


def test_error_require_reference(tmp_path):
    table = transmission_table(np.linspace(6950.0, 7600.0, 200), with_ref=False)
    path = write_xdi(tmp_path / "noref.xdi", ["energy", "i0", "itrans"], table)
    scan = read_xdi(path)  # reference=True only means "when present"
    assert scan.reference_mu is None and scan.element == "Fe" and scan.edge == "K"
    assert scan.metadata["mono_d_spacing"] == pytest.approx(3.1355)
    assert scan.metadata["beamline"] == "test beamline"
    assert scan.time_s == pytest.approx(1709288430.0)
    with pytest.raises(XasReadError) as err:
        read_xdi(path, require_reference=True)
    assert "noref.xdi" in str(err.value) and "expected an Iref column" in str(err.value)
    col = write_columns(tmp_path / "noref.dat", "# energy i0 it", table)
    with pytest.raises(XasReadError, match="noref.dat: a reference channel was required"):
        read_columns(col, require_reference=True)

    with_ref = write_xdi(tmp_path / "ref.xdi", ["energy", "i0", "itrans", "irefer"],
                         transmission_table(np.linspace(6950.0, 7600.0, 200)))
    assert read_xdi(with_ref, require_reference=True).reference_mu is not None
    assert read_xdi(with_ref, reference=False).reference_mu is None


def test_error_xdi_without_i0(tmp_path):
    table = transmission_table(np.linspace(6950.0, 7600.0, 200))[:, [0, 2]]
    path = write_xdi(tmp_path / "no_i0.xdi", ["energy", "itrans"], table)
    with pytest.raises(XasReadError) as err:
        read_xdi(path)
    msg = str(err.value)
    assert "no_i0.xdi" in msg and "no I0 column" in msg and "expected I0 with It" in msg
    with pytest.raises(XasReadError, match="no_i0.xdi: transmission needs I0 and It"):
        read_xdi(path, mode="transmission")


def test_error_not_xdi_and_not_athena(tmp_path):
    path = tmp_path / "plain.xdi"
    write_columns(path, "# energy i0 it", transmission_table(np.linspace(7000, 7500, 50))[:, :3])
    with pytest.raises(XasReadError, match="plain.xdi: not a readable XDI file; expected"):
        read_xdi(path)
    prj = tmp_path / "fake.prj"
    prj.write_bytes(gzip.compress(b"just some text\n"))
    with pytest.raises(XasReadError, match="fake.prj: not an Athena project; expected"):
        read_athena(prj)
