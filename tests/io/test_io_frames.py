"""Frame readers: input expansion, fabio formats, HDF5/NeXus/Eiger stacks, frame times, scan
logs and damaged files. Everything is written into ``tmp_path``; real data is used when present."""

from __future__ import annotations

import csv
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest
from fabio.cbfimage import CbfImage
from fabio.edfimage import EdfImage
from fabio.tifimage import TifImage

from xpipe.io.frames import (
    FrameReader,
    FrameReadError,
    FrameRef,
    FrameTime,
    expand_inputs,
    hdf5_times,
    header_time,
    is_hdf5,
    match_scan_log,
    mtime,
    natural_key,
    parse_time,
    read_scan_log,
)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.exists(),
    reason="../shared/data not present (real measured data is not shipped with the repository)",
)

ROWS, COLS = 50, 40


# ---------------------------------------------------------------------------- helpers


def frame(seed: int = 0, dtype=np.int32) -> np.ndarray:
    """A 50 x 40 frame with distinct, reproducible values (negative ones included for floats)."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.normal(100.0, 30.0, (ROWS, COLS))).astype(dtype)
    return rng.integers(0, 100_000, (ROWS, COLS)).astype(dtype)


def stack(n: int, offset: int = 0) -> np.ndarray:
    """``n`` frames where frame ``i`` is filled with values that identify it (i + offset)."""
    base = np.arange(ROWS * COLS, dtype=np.uint32).reshape(ROWS, COLS)
    return np.stack([base + 10_000 * (i + offset) for i in range(n)])


def write_cbf(path: Path, data: np.ndarray, header_contents: str | None = None) -> Path:
    """A Pilatus-style CBF; ``header_contents`` are the '# ...' lines of the mini-header."""
    header = {}
    if header_contents is not None:
        header = {
            "_array_data.header_convention": "PILATUS_1.2",
            "_array_data.header_contents": header_contents,
        }
    CbfImage(data=data, header=header).write(str(path))
    return path


def pilatus_header(time_line: str, exposure: str = "60.000000") -> str:
    return "\n".join(
        [
            "# Detector: PILATUS 300K, S/N 3-0101",
            f"# {time_line}",
            "# Pixel_size 172e-6 m x 172e-6 m",
            "# Silicon sensor, thickness 0.000450 m",
            f"# Exposure_time {exposure} s",
            "# Exposure_period 60.100000 s",
        ]
    )


def read_one(path: Path):
    reader = FrameReader()
    try:
        return reader.read(FrameRef(str(path)))
    finally:
        reader.close()


def read_all(refs: list[FrameRef]) -> list[np.ndarray]:
    reader = FrameReader()
    try:
        return [reader.read(ref)[0] for ref in refs]
    finally:
        reader.close()


# ---------------------------------------------------------------------------- input expansion


def test_natural_key_orders_numbers_by_value():
    names = ["frame_10.cbf", "frame_2.cbf", "Frame_1.cbf", "frame_1b.cbf"]
    assert sorted(names, key=natural_key) == ["Frame_1.cbf", "frame_1b.cbf", "frame_2.cbf", "frame_10.cbf"]


def test_glob_is_sorted_naturally(tmp_path):
    for i in (10, 2, 1):
        (tmp_path / f"frame_{i}.cbf").write_bytes(b"x")
    (tmp_path / "frame_3.txt").write_bytes(b"x")  # not matched by the glob
    (tmp_path / "frame_99.cbf").mkdir()  # a directory is no frame
    refs = expand_inputs("frame_*.cbf", tmp_path)
    assert [Path(r.path).name for r in refs] == ["frame_1.cbf", "frame_2.cbf", "frame_10.cbf"]
    assert all(r.dataset is None and r.index is None for r in refs)
    assert refs[0].key == str(tmp_path / "frame_1.cbf")


def test_list_order_is_kept_between_entries(tmp_path):
    for name in ("b_1.cbf", "b_2.cbf", "a.cbf", "c.edf"):
        (tmp_path / name).write_bytes(b"x")
    refs = expand_inputs(["c.edf", "b_*.cbf", str(tmp_path / "a.cbf")], tmp_path)
    assert [Path(r.path).name for r in refs] == ["c.edf", "b_1.cbf", "b_2.cbf", "a.cbf"]


def test_glob_matching_nothing_names_the_entry(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("'nothing_*.cbf'")):
        expand_inputs(["nothing_*.cbf"], tmp_path)


def test_missing_literal_path_names_the_entry(tmp_path):
    (tmp_path / "there.cbf").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match=re.escape("'missing.cbf'")):
        expand_inputs(["there.cbf", "missing.cbf"], tmp_path)


def test_base_dir_with_glob_characters_is_taken_literally(tmp_path):
    # A data folder named 'run [1]' must not turn relative entries into a character class.
    base = tmp_path / "run [1]"
    base.mkdir()
    for i in (2, 1):
        (base / f"frame_{i}.cbf").write_bytes(b"x")
    assert [Path(r.path).name for r in expand_inputs("frame_1.cbf", base)] == ["frame_1.cbf"]
    refs = expand_inputs("frame_*.cbf", base)
    assert [r.path for r in refs] == [str(base / "frame_1.cbf"), str(base / "frame_2.cbf")]


def test_literal_file_name_with_brackets(tmp_path):
    (tmp_path / "scan[1].cbf").write_bytes(b"x")
    refs = expand_inputs("scan[1].cbf", tmp_path)
    assert [Path(r.path).name for r in refs] == ["scan[1].cbf"]


def test_is_hdf5_by_suffix():
    assert is_hdf5("a/b.h5") and is_hdf5("x.NXS") and is_hdf5(Path("m_master.hdf5"))
    assert not is_hdf5("a.cbf") and not is_hdf5("h5.tif")


# ---------------------------------------------------------------------------- fabio formats


@pytest.mark.parametrize(
    ("suffix", "writer", "dtype"),
    [
        (".edf", EdfImage, np.int32),
        (".edf", EdfImage, np.float32),
        (".tif", TifImage, np.int32),
        (".tif", TifImage, np.float32),
        (".cbf", CbfImage, np.int32),
    ],
)
def test_fabio_formats_round_trip(tmp_path, suffix, writer, dtype):
    data = frame(seed=7, dtype=dtype)
    path = tmp_path / f"frame_0001{suffix}"
    writer(data=data, header={}).write(str(path))
    out, ftime = read_one(path)
    assert out.shape == (ROWS, COLS)
    assert out.dtype.kind == np.dtype(dtype).kind
    np.testing.assert_array_equal(out, data)
    assert ftime == FrameTime(None, None, "none")


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int16, np.uint16, np.int8, np.uint8])
def test_cbf_decoded_as_fabio_decodes_it(tmp_path, dtype):
    """CBF byte-offset frames are decoded from the section split off by the reader (fabio
    parses only their header): the same pixels, dtype and header as fabio's own reader."""
    import fabio

    info = np.iinfo(dtype)
    rng = np.random.default_rng(11)
    data = rng.integers(max(info.min, -70000), min(info.max, 70000), (ROWS, COLS), endpoint=True).astype(dtype)
    low, high = (info.min, info.max) if info.bits < 32 else (max(info.min, -2**29), 2**29)
    data[0, :4] = [low, high, 0, 1]  # wide jumps: 2 and 4-byte deltas (a 32-bit one overflows in fabio too)
    path = tmp_path / "frame.cbf"
    CbfImage(data=data, header={"_array_data.header_contents": "# Exposure_time 1.5 s"}).write(str(path))
    out, ftime = read_one(path)
    ref = fabio.open(str(path))
    assert out.dtype == ref.data.dtype and out.flags.c_contiguous
    np.testing.assert_array_equal(out, ref.data)
    np.testing.assert_array_equal(out, data)
    assert ftime.exposure_s == 1.5


def test_cbf_byte_offset_keeps_large_and_negative_values(tmp_path):
    data = frame(seed=3)
    data[0, 0], data[1, 1], data[2, 2] = -1, -2, 2**30  # Pilatus uses -1/-2 for gaps/bad pixels
    out, _ = read_one(write_cbf(tmp_path / "x.cbf", data))
    np.testing.assert_array_equal(out, data)


# ---------------------------------------------------------------------------- HDF5 / NeXus / Eiger


def test_hdf5_dataset_named_explicitly(tmp_path):
    data = stack(5)
    with h5py.File(tmp_path / "scan.h5", "w") as h5:
        h5["entry/data/data"] = data
    refs = expand_inputs("scan.h5::/entry/data/data", tmp_path)
    assert refs == [FrameRef(str(tmp_path / "scan.h5"), "/entry/data/data", i) for i in range(5)]
    assert refs[3].key == f"{tmp_path / 'scan.h5'}::/entry/data/data[3]"
    reader = FrameReader()
    try:
        out, ftime = reader.read(refs[3])
        np.testing.assert_array_equal(out, data[3])
        assert ftime == FrameTime(None, None, "hdf5")
        np.testing.assert_array_equal(reader.read(refs[0])[0], data[0])  # handle kept open
    finally:
        reader.close()


def test_hdf5_default_entry_data_data_is_found(tmp_path):
    data = stack(5)
    with h5py.File(tmp_path / "plain.h5", "w") as h5:
        h5["entry/data/data"] = data
    refs = expand_inputs("plain.h5", tmp_path)
    assert [(r.dataset, r.index) for r in refs] == [("/entry/data/data", i) for i in range(5)]
    np.testing.assert_array_equal(read_all(refs)[3], data[3])


def test_nexus_default_and_signal_attributes_are_followed(tmp_path):
    data = stack(5, offset=100)
    with h5py.File(tmp_path / "run.nxs", "w") as h5:
        h5["entry/data/data"] = np.zeros((2, ROWS, COLS))  # a decoy the attributes steer away from
        h5.attrs["default"] = "scan1"
        entry = h5.create_group("scan1")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "frames"
        nxdata = entry.create_group("frames")
        nxdata.attrs["NX_class"] = "NXdata"
        nxdata.attrs["signal"] = "images"
        nxdata["images"] = data
        nxdata["other"] = np.zeros((9, ROWS, COLS))
    refs = expand_inputs("*.nxs", tmp_path)
    assert [(r.dataset, r.index) for r in refs] == [("/scan1/frames/images", i) for i in range(5)]
    np.testing.assert_array_equal(read_all(refs)[3], data[3])


def test_nexus_fixed_length_byte_string_attributes(tmp_path):
    data = stack(2)
    with h5py.File(tmp_path / "bytes.h5", "w") as h5:
        h5.attrs.create("default", np.bytes_("e"))
        h5["e/d/img"] = data
        h5["e"].attrs.create("default", np.bytes_("d"))
        h5["e/d"].attrs.create("signal", np.bytes_("img"))
    refs = expand_inputs("bytes.h5", tmp_path)
    assert [(r.dataset, r.index) for r in refs] == [("/e/d/img", 0), ("/e/d/img", 1)]


def test_single_2d_dataset_is_one_frame(tmp_path):
    data = frame(seed=1)
    with h5py.File(tmp_path / "one.h5", "w") as h5:
        h5["img"] = data
    refs = expand_inputs("one.h5::/img", tmp_path)
    assert refs == [FrameRef(str(tmp_path / "one.h5"), "/img", 0)]
    np.testing.assert_array_equal(read_all(refs)[0], data)


def _eiger(folder: Path, with_second: bool = True) -> np.ndarray:
    """An Eiger-style master whose data_000001/2 are external links to 3 + 2 frames."""
    data = stack(5)
    with h5py.File(folder / "series_data_000001.h5", "w") as h5:
        h5["entry/data/data"] = data[:3]
    if with_second:
        with h5py.File(folder / "series_data_000002.h5", "w") as h5:
            h5.create_dataset("entry/data/data", data=data[3:], **hdf5plugin.Bitshuffle())
    with h5py.File(folder / "series_master.h5", "w") as h5:
        grp = h5.create_group("entry/data")
        grp.attrs["NX_class"] = "NXdata"
        # inserted out of order on purpose: parts are ordered by number, not creation
        grp["data_000002"] = h5py.ExternalLink("series_data_000002.h5", "/entry/data/data")
        grp["data_000001"] = h5py.ExternalLink("series_data_000001.h5", "/entry/data/data")
    return data


def test_eiger_master_with_external_links(tmp_path, monkeypatch):
    data = _eiger(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # links resolve against the master's folder, not the cwd
    refs = expand_inputs("series_master.h5", tmp_path)
    assert [(r.dataset, r.index) for r in refs] == [
        ("/entry/data/data_000001", 0),
        ("/entry/data/data_000001", 1),
        ("/entry/data/data_000001", 2),
        ("/entry/data/data_000002", 0),
        ("/entry/data/data_000002", 1),
    ]
    assert all(r.path == str(tmp_path / "series_master.h5") for r in refs)
    frames = read_all(refs)
    for i in range(5):
        np.testing.assert_array_equal(frames[i], data[i])
    # the group can also be named explicitly
    assert expand_inputs("series_master.h5::/entry/data", tmp_path) == refs


def test_eiger_master_with_missing_data_file(tmp_path):
    _eiger(tmp_path, with_second=False)
    with pytest.raises(ValueError, match=r"series_master\.h5") as err:
        expand_inputs("series_master.h5", tmp_path)
    assert "data_000002" in str(err.value)
    assert "series_data_000002.h5" in str(err.value)


def test_bitshuffle_lz4_dataset_reads_back_exactly(tmp_path):
    data = stack(4).astype(np.uint32)
    data[2, 10:20, 5:15] = 2**32 - 1  # Eiger saturation value
    with h5py.File(tmp_path / "bs.h5", "w") as h5:
        ds = h5.create_dataset("entry/data/data", data=data, chunks=(1, ROWS, COLS), **hdf5plugin.Bitshuffle())
        assert ds.id.get_create_plist().get_filter(0)[0] == hdf5plugin.BSHUF_ID
    refs = expand_inputs("bs.h5", tmp_path)
    frames = read_all(refs)
    assert len(frames) == 4
    for i in range(4):
        assert frames[i].dtype == np.uint32
        np.testing.assert_array_equal(frames[i], data[i])


@pytest.mark.parametrize("shape", [(2, 3, ROWS, COLS), (17,)])
def test_hdf5_dataset_of_wrong_rank(tmp_path, shape):
    with h5py.File(tmp_path / "bad.h5", "w") as h5:
        h5["entry/data/data"] = np.zeros(shape, dtype=np.uint16)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "bad.h5"))) as err:
        expand_inputs("bad.h5", tmp_path)
    assert str(shape) in str(err.value)


def test_hdf5_without_recognisable_frames(tmp_path):
    with h5py.File(tmp_path / "odd.h5", "w") as h5:
        h5["measurement/counts"] = np.zeros((3, ROWS, COLS))
    with pytest.raises(ValueError, match=r"odd\.h5.*file\.h5::/entry/data/data"):
        expand_inputs("odd.h5", tmp_path)
    with pytest.raises(ValueError, match=r"odd\.h5' has no dataset '/nope'"):
        expand_inputs("odd.h5::/nope", tmp_path)


# ---------------------------------------------------------------------------- times


def test_cbf_pilatus_iso_time_and_exposure(tmp_path):
    path = write_cbf(tmp_path / "p.cbf", frame(), pilatus_header("2025-03-14T09:00:00.123"))
    data, ftime = read_one(path)
    np.testing.assert_array_equal(data, frame())
    assert ftime.start == datetime(2025, 3, 14, 9, 0, 0, 123000)
    assert ftime.exposure_s == 60.0
    assert ftime.source == "header"


def test_cbf_header_contents_as_fabio_returns_them(tmp_path):
    # fabio writes the mini-header lines CRLF-separated and hands them back as one string
    import fabio

    path = write_cbf(tmp_path / "p.cbf", frame(), pilatus_header("2025-03-14T09:00:00.123"))
    contents = fabio.open(str(path)).header["_array_data.header_contents"]
    assert "# 2025-03-14T09:00:00.123" in contents.splitlines()
    assert "# Exposure_time 60.000000 s" in contents.splitlines()


def test_cbf_old_pilatus_time_form(tmp_path):
    path = write_cbf(tmp_path / "old.cbf", frame(), pilatus_header("2011/Oct/13 19:05:12.345", "1.5"))
    _, ftime = read_one(path)
    assert ftime.start == datetime(2011, 10, 13, 19, 5, 12, 345000)
    assert ftime.exposure_s == 1.5


def test_cbf_with_impossible_date_reads_without_time(tmp_path):
    # a date-looking header line that is no date must not stop the frame from being read
    path = write_cbf(tmp_path / "bad_date.cbf", frame(), pilatus_header("2025-02-30T09:00:00"))
    data, ftime = read_one(path)
    np.testing.assert_array_equal(data, frame())
    assert ftime.start is None
    assert ftime.exposure_s == 60.0
    assert ftime.source == "none"


def test_edf_ctime_date(tmp_path):
    path = tmp_path / "f.edf"
    EdfImage(data=frame(), header={"Date": "Fri Mar  7 09:00:00 2025", "count_time": "2.5"}).write(str(path))
    _, ftime = read_one(path)
    assert ftime.start == datetime(2025, 3, 7, 9, 0, 0)
    assert ftime.exposure_s == 2.5
    assert ftime.source == "header"


def test_edf_time_of_day_epoch(tmp_path):
    path = tmp_path / "esrf.edf"
    epoch = datetime(2025, 3, 14, 9, 0, 0, tzinfo=timezone.utc).timestamp() + 0.25
    EdfImage(data=frame(), header={"time_of_day": f"{epoch:.6f}", "acq_expo_time": "0.1"}).write(str(path))
    _, ftime = read_one(path)
    assert ftime.start == datetime(2025, 3, 14, 9, 0, 0, 250000, tzinfo=timezone.utc)
    assert ftime.exposure_s == 0.1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025:03:14 09:00:00", datetime(2025, 3, 14, 9, 0, 0)),  # TIFF DateTime tag
        ("2025-03-14T09:00:00.123", datetime(2025, 3, 14, 9, 0, 0, 123000)),
        ("  2025-07-02 19:05:59.614000 ", datetime(2025, 7, 2, 19, 5, 59, 614000)),
        ("2025-03-14T09:00:00Z", datetime(2025, 3, 14, 9, tzinfo=timezone.utc)),
        ("2025-03-14T10:00:00+01:00", datetime(2025, 3, 14, 9, tzinfo=timezone.utc)),
        ("2011/Oct/13 19:05:12.345", datetime(2011, 10, 13, 19, 5, 12, 345000)),
        ("2011/oct/3 19:05:12", datetime(2011, 10, 3, 19, 5, 12)),
        ("Thu Mar 13 09:00:00 2025", datetime(2025, 3, 13, 9, 0, 0)),
        ("Thu Mar 13 09:00:00.5 2025", datetime(2025, 3, 13, 9, 0, 0, 500000)),
    ],
)
def test_parse_time_forms(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text", ["", "Exposure_time 60 s", "2011/Foo/13 19:05:12", "2025-13-01T09:00:00", "2025-02-30 10:00:00",
             "2025-03-14T25:00:00", "2011/Feb/30 19:05:12"],
)
def test_parse_time_returns_none_for_non_dates(text):
    assert parse_time(text) is None


def test_header_time_without_any_time():
    assert header_time({}) == (None, None)
    assert header_time({"ExposureTime": "0.2 s"}) == (None, 0.2)


def _eiger_times_file(path: Path, date: str = "2025-03-14T09:00:00.000") -> None:
    with h5py.File(path, "w") as h5:
        h5["entry/data/data"] = stack(4)
        det = "entry/instrument/detector"
        h5[f"{det}/detectorSpecific/data_collection_date"] = date
        h5[f"{det}/frame_time"] = 0.5
        h5[f"{det}/count_time"] = 0.4


def test_hdf5_times_eiger_convention(tmp_path):
    _eiger_times_file(tmp_path / "e.h5")
    times = hdf5_times(str(tmp_path / "e.h5"), "/entry/data/data", 4)
    start = datetime(2025, 3, 14, 9, 0, 0)
    assert [t.start for t in times] == [start + timedelta(seconds=0.5 * i) for i in range(4)]
    assert all(t.exposure_s == pytest.approx(0.4) and t.source == "hdf5" for t in times)


def test_hdf5_times_eiger_with_time_zone(tmp_path):
    _eiger_times_file(tmp_path / "e.h5", date="2025-03-14T10:00:00.250+01:00")
    times = hdf5_times(str(tmp_path / "e.h5"), "/entry/data/data", 2)
    assert times[1].start == datetime(2025, 3, 14, 9, 0, 0, 750000, tzinfo=timezone.utc)


def test_hdf5_times_epoch_seconds_dataset(tmp_path):
    t0 = datetime(2025, 3, 14, 9, 0, 0, tzinfo=timezone.utc)
    with h5py.File(tmp_path / "t.h5", "w") as h5:
        h5["entry/data/data"] = stack(3)
        h5["entry/instrument/detector/count_time"] = 1.0
        h5["entry/data/epoch"] = t0.timestamp() + np.array([0.0, 2.0, 4.5])
    times = hdf5_times(str(tmp_path / "t.h5"), "/entry/data/data", 3, time_dataset="/entry/data/epoch")
    assert [t.start for t in times] == [t0, t0 + timedelta(seconds=2), t0 + timedelta(seconds=4.5)]
    assert [t.exposure_s for t in times] == [1.0, 1.0, 1.0]


def test_hdf5_times_relative_seconds_after_start_time(tmp_path):
    with h5py.File(tmp_path / "r.h5", "w") as h5:
        h5["entry/data/data"] = stack(3)
        h5["entry/start_time"] = "2025-03-14T09:00:00"
        h5["entry/instrument/detector/timestamps"] = np.array([0.0, 1.5, 30.25])
    times = hdf5_times(str(tmp_path / "r.h5"), "/entry/data/data", 3,
                       time_dataset="/entry/instrument/detector/timestamps")
    start = datetime(2025, 3, 14, 9, 0, 0)
    assert [t.start for t in times] == [start, start + timedelta(seconds=1.5), start + timedelta(seconds=30.25)]
    assert all(t.exposure_s is None for t in times)


def test_hdf5_times_errors_and_absence(tmp_path):
    with h5py.File(tmp_path / "n.h5", "w") as h5:
        h5["entry/data/data"] = stack(3)
        h5["entry/rel"] = np.array([0.0, 1.0, 2.0])
        h5["entry/short"] = np.array([0.0, 1.0])
    path = str(tmp_path / "n.h5")
    assert hdf5_times(path, "/entry/data/data", 3) is None
    with pytest.raises(ValueError, match="relative but the file has no start time"):
        hdf5_times(path, "/entry/data/data", 3, time_dataset="/entry/rel")
    with pytest.raises(ValueError, match=r"has 2 times for 3 frames"):
        hdf5_times(path, "/entry/data/data", 3, time_dataset="/entry/short")
    with pytest.raises(ValueError, match=r"n\.h5' has no dataset '/entry/nope'"):
        hdf5_times(path, "/entry/data/data", 3, time_dataset="/entry/nope")


def test_mtime_is_aware_utc(tmp_path):
    path = tmp_path / "f.cbf"
    path.write_bytes(b"x")
    stamp = datetime(2025, 3, 14, 9, 0, 0, tzinfo=timezone.utc).timestamp()
    os.utime(path, (stamp, stamp))
    assert mtime(str(path)) == datetime(2025, 3, 14, 9, 0, 0, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------- scan log

LOG_ROWS = [
    ("1355639", "cc8", "2025-07-02 19:05:59.614000", "2025-07-02 19:06:56.167000"),
    ("1355647", "cc8", "2025-07-02 19:15:03.582000", "2025-07-02 19:15:59.280000"),
]


def write_log(path: Path, rows=LOG_ROWS, header=("scan_number", "cell_name", "start_time", "end_time")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_read_scan_log(tmp_path):
    rows = read_scan_log(str(write_log(tmp_path / "log.csv")), "scan_number", "start_time", "end_time")
    assert rows == [
        ("1355639", datetime(2025, 7, 2, 19, 5, 59, 614000), datetime(2025, 7, 2, 19, 6, 56, 167000)),
        ("1355647", datetime(2025, 7, 2, 19, 15, 3, 582000), datetime(2025, 7, 2, 19, 15, 59, 280000)),
    ]
    no_end = read_scan_log(str(tmp_path / "log.csv"), "scan_number", "start_time", None)
    assert [r[2] for r in no_end] == [None, None]


def test_read_scan_log_with_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text("scan_number,start_time\n7,2025-07-02 19:05:59\n", encoding="utf-8-sig")
    assert read_scan_log(str(path), "scan_number", "start_time", None) == [
        ("7", datetime(2025, 7, 2, 19, 5, 59), None)
    ]


def test_match_scan_log_by_scan_number(tmp_path):
    rows = read_scan_log(str(write_log(tmp_path / "log.csv")), "scan_number", "start_time", "end_time")
    refs = [
        FrameRef(str(tmp_path / "1355639_summed_mythen3.xye")),
        FrameRef(str(tmp_path / "13556390_x.xye")),  # a longer number, not scan 1355639
        FrameRef(str(tmp_path / "1355647.xye")),
        FrameRef(str(tmp_path / "999_other.xye")),
    ]
    times = match_scan_log(refs, rows)
    assert times[0].start == datetime(2025, 7, 2, 19, 5, 59, 614000)
    assert times[0].exposure_s == pytest.approx(56.553)
    assert times[0].source == "scan_log"
    assert times[1] is None
    assert times[2].start == datetime(2025, 7, 2, 19, 15, 3, 582000)
    assert times[2].exposure_s == pytest.approx(55.698)
    assert times[3] is None


def test_match_scan_log_by_file_name_and_without_end():
    t1, t2 = datetime(2025, 1, 1, 10), datetime(2025, 1, 1, 11)
    rows = [("raw/frame_0001.cbf", t1, None), ("frame_0002", t2, None)]
    times = match_scan_log([FrameRef("/d/frame_0001.cbf"), FrameRef("/d/frame_0002.cbf")], rows)
    assert times == [FrameTime(t1, None, "scan_log"), FrameTime(t2, None, "scan_log")]


def test_match_scan_log_prefers_exact_and_longest_ids():
    t = [datetime(2025, 1, 1, h) for h in (10, 11, 12, 13)]
    rows = [("run1", t[0], None), ("", t[1], None), ("run1_b", t[2], None), ("run1_b_2", t[3], None)]
    refs = [FrameRef("/d/run1_b.cbf"), FrameRef("/d/run1_c.cbf"), FrameRef("/d/run1_b_2_x.cbf"),
            FrameRef("/d/_odd.cbf")]
    times = match_scan_log(refs, rows)
    assert times[0].start == t[2]  # exact 'run1_b', not the prefix 'run1'
    assert times[1].start == t[0]  # only 'run1' fits
    assert times[2].start == t[3]  # the longest prefix
    assert times[3] is None  # a blank id matches nothing


def test_scan_log_missing_column(tmp_path):
    path = write_log(tmp_path / "log.csv", header=("scan", "cell_name", "start_time", "end_time"))
    with pytest.raises(ValueError, match=r"log\.csv' has no column 'scan_number'"):
        read_scan_log(str(path), "scan_number", "start_time", "end_time")
    with pytest.raises(ValueError, match=r"no column 'stop'"):
        read_scan_log(str(path), "scan", "start_time", "stop")


@pytest.mark.parametrize("bad", ["not a time", "2025-13-02 19:05:59"])
def test_scan_log_unreadable_time_names_the_line(tmp_path, bad):
    path = write_log(tmp_path / "log.csv", rows=[LOG_ROWS[0], ("1355647", "cc8", bad, "")])
    with pytest.raises(ValueError, match=r"log\.csv' line 3: cannot read time"):
        read_scan_log(str(path), "scan_number", "start_time", "end_time")


# ---------------------------------------------------------------------------- damaged files


def test_truncated_cbf(tmp_path):
    path = write_cbf(tmp_path / "cut.cbf", frame(seed=5), pilatus_header("2025-03-14T09:00:00"))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    # fabio (2024-2026 releases) fails on the short binary section, which the reader turns into a
    # FrameReadError. Should a fabio version hand back a partial array instead, it cannot have the
    # full frame's shape, and the integrate stage records the frame as having the wrong shape.
    try:
        data, _ = read_one(path)
    except FrameReadError as exc:
        assert str(path) in str(exc)
    else:
        assert data is None or data.shape != (ROWS, COLS) or not np.array_equal(data, frame(seed=5))


def test_random_bytes_named_cbf(tmp_path):
    path = tmp_path / "noise.cbf"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(FrameReadError, match=re.escape(str(path))):
        read_one(path)


def test_empty_edf(tmp_path):
    path = tmp_path / "empty.edf"
    path.write_bytes(b"")
    with pytest.raises(FrameReadError, match=re.escape(f"'{path}' is empty")):
        read_one(path)


def test_text_file_named_tif(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("this is a text file, not an image\n" * 20)
    with pytest.raises(FrameReadError, match=re.escape(str(path))):
        read_one(path)


def test_missing_frame_file(tmp_path):
    path = tmp_path / "gone.cbf"
    with pytest.raises(FrameReadError, match=re.escape(f"'{path}' does not exist")):
        read_one(path)


def test_multi_frame_edf_is_refused(tmp_path):
    path = tmp_path / "multi.edf"
    img = EdfImage(data=frame(seed=1))
    img.append_frame(data=frame(seed=2))
    img.write(str(path))
    with pytest.raises(FrameReadError, match=r"multi\.edf' holds 2 frames"):
        read_one(path)


@pytest.mark.parametrize("damage", ["truncate", "noise"])
def test_damaged_hdf5_fails_at_expand(tmp_path, damage):
    path = tmp_path / "broken.h5"
    with h5py.File(path, "w") as h5:
        h5["entry/data/data"] = stack(5)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    else:
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=re.escape(f"cannot open HDF5 file '{path}'")):
        expand_inputs("broken.h5", tmp_path)


def test_hdf5_damaged_after_expansion_gives_frame_read_error(tmp_path):
    path = tmp_path / "late.h5"
    with h5py.File(path, "w") as h5:
        h5["entry/data/data"] = stack(5)
    refs = expand_inputs("late.h5", tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FrameReadError, match=re.escape(refs[4].key)):
        read_all(refs[4:])


# ---------------------------------------------------------------------------- real data


@needs_shared
def test_real_pilatus_300kw_tiff():
    path = SHARED / "xrd" / "lab6_pilatus300kw" / "lab6_0008.tif"
    refs = expand_inputs(str(path), Path("/"))
    data, ftime = read_one(Path(refs[0].path))
    assert data.shape == (195, 1475)
    assert ftime.source in ("header", "none")


@needs_shared
def test_real_coincell_scan_log_matches_all_patterns():
    folder = SHARED / "xrd" / "operando_coincell_mythen" / "coincell8_LDE2"
    refs = expand_inputs("xrd_data/*.xye", folder)
    assert [Path(r.path).name.split("_")[0] for r in refs] == [
        "1355639", "1355647", "1355655", "1355663", "1355671"
    ]
    log = folder / "Log" / "log_operando_coincell8_LDE2_reduced.csv"
    rows = read_scan_log(str(log), "scan_number", "start_time", "end_time")
    times = match_scan_log(refs, rows)
    assert all(t is not None for t in times)
    assert times[0].start == datetime(2025, 7, 2, 19, 5, 59, 614000)
    assert times[0].exposure_s == pytest.approx(56.553)
    starts = [t.start for t in times]
    assert starts == sorted(starts)
    assert all(50 < t.exposure_s < 60 for t in times)


def _eiger_series(folder: Path, with_nr_low: bool) -> Path:
    """A master over two data files of 3 and 2 frames, 0.5 s apart, as an Eiger writes it."""
    data = stack(5)
    for k, (lo, hi) in enumerate(((0, 3), (3, 5)), 1):
        with h5py.File(folder / f"s_data_{k:06d}.h5", "w") as h5:
            ds = h5.create_dataset("entry/data/data", data=data[lo:hi])
            if with_nr_low:
                ds.attrs["image_nr_low"] = np.int32(lo + 1)  # 1-based, Dectris convention
                ds.attrs["image_nr_high"] = np.int32(hi)
    master = folder / "s_master.h5"
    with h5py.File(master, "w") as h5:
        for k in (1, 2):
            h5[f"entry/data/data_{k:06d}"] = h5py.ExternalLink(f"s_data_{k:06d}.h5", "/entry/data/data")
        det = "entry/instrument/detector"
        h5[f"{det}/detectorSpecific/data_collection_date"] = "2025-03-14T09:00:00.000"
        h5[f"{det}/frame_time"] = 0.5
        h5[f"{det}/count_time"] = 0.4
    return master


@pytest.mark.parametrize("with_nr_low", [True, False])
def test_eiger_master_frame_times_continue_over_data_files(tmp_path, with_nr_low):
    """The second data file's frames come after the first's: their times do not start again."""
    from types import SimpleNamespace

    from xpipe.io.frames import series_offsets
    from xpipe.stages.xrd_clock import frame_times

    master = _eiger_series(tmp_path, with_nr_low)
    refs = expand_inputs(str(master), tmp_path)
    offsets = series_offsets(str(master), sorted({r.dataset for r in refs}))
    assert offsets == {"/entry/data/data_000001": 0, "/entry/data/data_000002": 3}
    cfg = SimpleNamespace(time_source="hdf5", hdf5_time_dataset=None)
    times = frame_times(cfg, refs, {})
    start = datetime(2025, 3, 14, 9, 0, 0)
    assert [t.start for t in times] == [start + timedelta(seconds=0.5 * i) for i in range(5)]
    # the second data file alone still knows where it stands in the series
    part2 = [r for r in refs if r.dataset.endswith("data_000002")]
    assert [t.start for t in frame_times(cfg, part2, {})] == [start + timedelta(seconds=1.5), start + timedelta(seconds=2.0)]
