"""Damaged frame files are refused, not integrated: CBF frames whose binary section does not
match its checksum, size or element count, and HDF5 stacks whose virtual sources or external
link targets are missing. Every file is made in ``tmp_path`` from the bundled example data or
written here."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import ROOT, write_recipe

from xpipe.cli import main
from xpipe.io.frames import FrameReader, FrameReadError, FrameRef, expand_inputs
from xpipe.results import open_results

EXAMPLE_CBF = ROOT / "example_data" / "nvp_operando" / "nvp_0001.cbf"
STARTER = b"\x0c\x1a\x04\xd5"  # where a CBF binary section starts


def damaged_copy(src: Path, dst: Path) -> Path:
    """``src`` with one byte of its compressed pixels changed, so that the pixels still decode
    (the same number of them) but some hold other values than the detector wrote."""
    raw = bytearray(src.read_bytes())
    start = raw.find(STARTER) + len(STARTER)
    k = start + (len(raw) - start) // 2
    while not 2 <= raw[k] < 0x40:  # a one-byte difference, far from the 0x80 escape markers
        k += 1
    raw[k] ^= 0x01
    dst.write_bytes(bytes(raw))
    return dst


def read(path: Path):
    reader = FrameReader()
    try:
        return reader.read(FrameRef(str(path)))
    finally:
        reader.close()


# ----------------------------------------------------------------------------- CBF


def test_a_cbf_frame_whose_checksum_is_wrong_is_refused(tmp_path):
    bad = damaged_copy(EXAMPLE_CBF, tmp_path / "nvp_0001.cbf")
    with pytest.raises(FrameReadError, match=r"nvp_0001\.cbf'.*MD5 checksum of its binary section is wrong"):
        read(bad)
    data, _ = read(EXAMPLE_CBF)  # the intact frame reads
    assert data.shape == (619, 487)


def test_a_cbf_frame_whose_element_count_disagrees_is_refused(tmp_path):
    raw = EXAMPLE_CBF.read_bytes()
    assert b"X-Binary-Number-of-Elements: 301453" in raw
    bad = tmp_path / "count.cbf"
    bad.write_bytes(raw.replace(b"X-Binary-Number-of-Elements: 301453",
                                b"X-Binary-Number-of-Elements: 301454"))
    with pytest.raises(FrameReadError, match=r"count\.cbf'.*states 301454 pixels, but 301453 were decoded"):
        read(bad)


def test_a_run_records_the_damaged_frame_as_failed_and_goes_on(frame_set, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(frame_set[0], folder)
    damaged_copy(folder / "frame_3.cbf", folder / "frame_3.cbf")
    recipe = write_recipe(folder, "name: one damaged frame\nrun:\n  executor: serial\n"
                          "xrd:\n  frames:\n    files: frame_*.cbf\n"
                          "  integrate:\n    poni: geometry.poni\n    npt: 400\n"
                          "  figures:\n    contour: false\n")
    out = tmp_path / "out"
    assert main(["run", str(recipe), "-o", str(out), "-q"]) == 1
    with open_results(out / "results.h5") as r:
        assert r.patterns().n_frames == 7
        failed = {Path(k).name: reason for k, reason in r.failed()}
    assert list(failed) == ["frame_3.cbf"]
    assert "MD5 checksum" in failed["frame_3.cbf"]
    rows = list(csv.DictReader((out / "xrd_frames.csv").open()))
    assert [Path(r["source_file"]).name for r in rows if "failed" in r.values()] == ["frame_3.cbf"]


# ----------------------------------------------------------------------------- HDF5


@pytest.fixture
def vds_without_source(tmp_path):
    """A virtual dataset of 3 frames whose source file has gone."""
    with h5py.File(tmp_path / "source.h5", "w") as h5:
        h5["data"] = np.arange(3 * 20 * 30, dtype=np.int32).reshape(3, 20, 30) + 1
    layout = h5py.VirtualLayout(shape=(3, 20, 30), dtype=np.int32)
    layout[:] = h5py.VirtualSource("source.h5", "data", shape=(3, 20, 30))
    with h5py.File(tmp_path / "scan.h5", "w") as h5:
        h5.create_virtual_dataset("entry/data/data", layout, fillvalue=0)
    (tmp_path / "source.h5").unlink()
    return tmp_path / "scan.h5"


def test_a_virtual_dataset_without_its_source_file_is_refused(vds_without_source):
    folder = vds_without_source.parent
    with pytest.raises(ValueError, match=r"virtual dataset whose source file 'source\.h5'"):
        expand_inputs("scan.h5", folder)
    reader = FrameReader()
    with pytest.raises(FrameReadError, match=r"scan\.h5::/entry/data/data\[0\].*'source\.h5' does not exist"):
        reader.read(FrameRef(str(vds_without_source), "/entry/data/data", 0))
    reader.close()


@pytest.fixture
def link_to_missing_file(tmp_path):
    """A stack whose frames are an external link to a file that is not there."""
    with h5py.File(tmp_path / "master.h5", "w") as h5:
        h5.create_group("entry/data")
        h5["entry/data/data"] = h5py.ExternalLink("frames_gone.h5", "/data")
    (tmp_path / "geometry.poni").write_text(
        "poni_version: 2.1\nDetector: Pilatus100k\nDistance: 0.12\nPoni1: 0.005\nPoni2: 0.03\n"
        "Rot1: 0\nRot2: 0\nRot3: 0\nWavelength: 7.749e-11\n")
    return tmp_path / "master.h5"


def test_an_external_link_to_a_missing_file_is_a_recipe_problem(link_to_missing_file, capsys):
    folder = link_to_missing_file.parent
    recipe = write_recipe(folder, "name: dangling link\nxrd:\n  frames:\n    files: master.h5\n"
                          "    time_source: mtime\n  integrate:\n    poni: geometry.poni\n")
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "xrd.frames.files:" in err and "'frames_gone.h5' does not exist" in err
    assert "KeyError" not in err and "Traceback" not in err


def test_reading_through_an_external_link_to_a_missing_file_names_it(link_to_missing_file):
    reader = FrameReader()
    with pytest.raises(FrameReadError, match=r"external link to 'frames_gone\.h5::/data'.*does not exist"):
        reader.read(FrameRef(str(link_to_missing_file), "/entry/data/data", 0))
    reader.close()
