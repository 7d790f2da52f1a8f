"""Frames found in NeXus/HDF5 files as NeXus readers find them, 1D data refused as frames and read
as patterns, and Lambda module files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from xpipe.io.frames import FrameReader, FrameReadError, expand_inputs
from xpipe.io.frames.lambda_modules import LambdaLayout, lambda_file, lambda_layout, module_region
from xpipe.io.patterns import PatternReadError, read_nexus_patterns


def _tag(group, nx_class):
    group.attrs["NX_class"] = nx_class
    return group


def _detector_file(path, data, *, decoy_plot=None):
    with h5py.File(path, "w") as h5:
        _tag(h5, "NXroot")
        entry = _tag(h5.create_group("scan"), "NXentry")
        det = _tag(_tag(entry.create_group("instrument"), "NXinstrument").create_group("det"), "NXdetector")
        det["data"] = data
        det["pixel_mask"] = np.zeros((1,) + data.shape[1:], dtype=np.uint32)  # 3D too, not the frames
        if decoy_plot is not None:
            res = _tag(entry.create_group("result"), "NXdata")
            res["I"] = decoy_plot
            res["q"] = np.linspace(1, 5, decoy_plot.shape[-1])
            res["q"].attrs["units"] = "1/nm"
            res.attrs.update({"signal": "I", "axes": [".", "q"]})
            entry.attrs["default"] = "result"


def _read_all(refs):
    reader = FrameReader()
    try:
        return [reader.read(r)[0] for r in refs]
    finally:
        reader.close()


def test_nxdetector_data_is_found_without_a_default_plot(tmp_path):
    data = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    _detector_file(tmp_path / "lambda.nxs", data)
    refs = expand_inputs("lambda.nxs", tmp_path)
    assert [(r.dataset, r.index) for r in refs] == [("/scan/instrument/det/data", i) for i in range(3)]
    assert all(np.array_equal(f, data[i]) for i, f in enumerate(_read_all(refs)))


def test_a_1d_default_plot_gives_way_to_the_detector_frames(tmp_path):
    data = np.ones((2, 4, 5), dtype=np.uint16)
    _detector_file(tmp_path / "both.nxs", data, decoy_plot=np.zeros((2, 30)))
    refs = expand_inputs("both.nxs", tmp_path)
    assert {r.dataset for r in refs} == {"/scan/instrument/det/data"}
    patterns = read_nexus_patterns(tmp_path / "both.nxs")
    assert [(p.n_points, p.unit) for p in patterns] == [(30, "q_nm^-1")] * 2


def test_legacy_signal_attribute_is_followed(tmp_path):
    data = np.full((2, 3, 4), 7.0)
    with h5py.File(tmp_path / "old.nxs", "w") as h5:
        nxdata = _tag(_tag(h5.create_group("entry1"), "NXentry").create_group("plot"), "NXdata")
        nxdata["monitor"] = np.zeros((5, 3, 4))
        nxdata["counts"] = data
        nxdata["counts"].attrs["signal"] = 1
    refs = expand_inputs("old.nxs", tmp_path)
    assert {r.dataset for r in refs} == {"/entry1/plot/counts"} and len(refs) == 2


def test_only_1d_data_is_refused_as_frames_with_the_reason(tmp_path):
    with h5py.File(tmp_path / "proc.nxs", "w") as h5:
        h5.attrs["default"] = "processed"
        res = h5.create_group("processed/result")
        h5["processed"].attrs["default"] = "result"
        res["data"] = np.zeros((6, 40), dtype=np.float32)
        res["binning"] = np.linspace(30, 10, 40)  # decreasing: read reversed
        res["binning"].attrs.update({"long_name": "two_theta (degrees)", "unit": "deg"})
        res.attrs.update({"signal": "data", "axes": [".", "binning"]})
        res["data"][2] = np.arange(40)
    with pytest.raises(FrameReadError, match=r"proc\.nxs' holds 1D data, not 2D frames: '/processed/result/data' "
                                              r"is a stack of 6 curves"):
        expand_inputs("proc.nxs", tmp_path)
    with pytest.raises(FrameReadError, match="holds 1D data"):  # named explicitly, too
        expand_inputs("proc.nxs::/processed/result/data", tmp_path)
    patterns = read_nexus_patterns(tmp_path / "proc.nxs")
    assert len(patterns) == 6 and patterns[2].unit == "2th_deg"
    assert patterns[2].x[0] == 10 and patterns[2].intensity[0] == 39  # reversed together


def test_an_image_with_two_axes_stays_a_frame(tmp_path):
    with h5py.File(tmp_path / "img.h5", "w") as h5:
        nxdata = h5.create_group("entry/data")
        nxdata["data"] = np.ones((8, 9))
        nxdata["y"], nxdata["x"] = np.arange(8.0), np.arange(9.0)
        nxdata.attrs.update({"signal": "data", "axes": ["y", "x"]})
    assert len(expand_inputs("img.h5", tmp_path)) == 1


def test_spectrum_interpretation_is_1d(tmp_path):
    with h5py.File(tmp_path / "spec.h5", "w") as h5:
        h5["entry/data/data"] = np.ones((4, 100))
        h5["entry/data/data"].attrs["interpretation"] = "spectrum"
    with pytest.raises(FrameReadError, match="interpretation 'spectrum'"):
        expand_inputs("spec.h5", tmp_path)
    with pytest.raises(PatternReadError, match="holds no 1D diffraction patterns"):
        read_nexus_patterns(tmp_path / "spec.h5")


def test_pattern_units_must_be_stated_or_named(tmp_path):
    with h5py.File(tmp_path / "p.h5", "w") as h5:
        h5["entry/data/I"] = np.ones((2, 20))
        h5["entry/data/I_errors"] = np.full((2, 20), 0.5)
        h5["entry/data/two_theta"] = np.linspace(1, 20, 20)
        h5["entry/data"].attrs.update({"signal": "I", "axes": [".", "two_theta"]})
    with pytest.raises(PatternReadError, match="states no unit"):
        read_nexus_patterns(tmp_path / "p.h5")
    patterns = read_nexus_patterns(tmp_path / "p.h5", unit="2th_deg")
    assert patterns[1].unit == "2th_deg" and float(patterns[1].sigma[0]) == 0.5


def test_lambda_names_and_layout(tmp_path):
    assert lambda_file("run_7_m3_part00012.nxs").module == 3
    assert lambda_file("run_7_m3_part00012.nxs").part == 12
    paths = []
    for module, (x, y) in {1: (0.0, 0.0), 2: (-2.0, 6.0)}.items():
        paths.append(tmp_path / f"run_m{module}_part00000.nxs")
        with h5py.File(paths[-1], "w") as h5:
            h5["entry/instrument/detector/data"] = np.full((2, 4, 5), module, dtype=np.int16)
            h5["entry/instrument/detector/translation/distance"] = [x, y, 0.0]
    layout = lambda_layout(paths)
    assert layout == LambdaLayout({1: (0, 2), 2: (6, 0)}, {1: (4, 5), 2: (4, 5)}, (10, 7))
    stitched = np.zeros(layout.shape)
    for module in (1, 2):  # stitched as Dioptas does, then flipped upside down
        (row, col), (rows, cols) = layout.origins[module], layout.module_shape[module]
        stitched[row:row + rows, col:col + cols] = module
    stitched = stitched[::-1]
    for module in (1, 2):
        assert np.all(module_region(stitched, layout, module) == module)
    with pytest.raises(FrameReadError, match="shape"):
        module_region(np.zeros((3, 3)), layout, 1)
    with pytest.raises(FrameReadError, match="not named as a Lambda file"):
        lambda_layout([tmp_path / "other.nxs"])
