"""Frame times stored in HDF5/NeXus files, and where each Eiger part starts in its series.

Examples
--------
>>> import os, tempfile, h5py, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "scan.h5")
>>> with h5py.File(path, "w") as h5:
...     h5["entry/data/data"] = np.zeros((2, 3, 4))
...     h5["entry/start_time"] = "2025-03-14T09:00:00"
...     h5["entry/instrument/detector/frame_time"] = 0.5
>>> [t.start.isoformat() for t in hdf5_times(path, "/entry/data/data", 2)]
['2025-03-14T09:00:00', '2025-03-14T09:00:00.500000']
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from .base import FrameTime, _NotYet
from .hdf5 import _eiger_parts, _is_eiger_part, _open_part, open_hdf5
from .times import parse_time

_DETECTOR = "/entry/instrument/detector"
_START_TIMES = ("/entry/start_time", f"{_DETECTOR}/detectorSpecific/data_collection_date")


def series_offsets(path: str, datasets: list[str]) -> dict[str, int]:
    """Index, within the file's whole series, of the first frame of each of ``datasets``.

    An Eiger master splits one series over ``data_000001``, ``data_000002``...; a frame's place
    in the series (by which its time is counted) is its part's offset plus its index in the
    part. The offset is the part's ``image_nr_low`` attribute minus one (the detector writes the
    1-based number of the part's first image) when present, else the summed lengths of the parts
    before it. Any other dataset starts the series: 0.

    Parameters
    ----------
    path : str
        The HDF5 file (an Eiger master).
    datasets : list of str
        Datasets of the file, as frame references name them.

    Returns
    -------
    dict of str to int
        The offset of each dataset, in frames.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "master.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["entry/data/data_000001"] = np.zeros((3, 2, 2))
    ...     h5["entry/data/data_000002"] = np.zeros((2, 2, 2))
    >>> series_offsets(path, ["/entry/data/data_000001", "/entry/data/data_000002"])
    {'/entry/data/data_000001': 0, '/entry/data/data_000002': 3}
    """
    out = {d: 0 for d in datasets}
    parts = [d for d in datasets if _is_eiger_part(d)]
    if not parts:
        return out
    with open_hdf5(path) as h5:
        for parent in {d.rsplit("/", 1)[0] or "/" for d in parts}:
            _part_offsets(h5[parent], parent, path, out)
    return out


def _part_offsets(group, parent: str, path: str, out: dict[str, int]) -> None:
    """Fill ``out`` with the offsets of the parts of ``group`` that it lists."""
    offset = 0
    for sub in _eiger_parts(group, path):
        name = f"{parent.rstrip('/')}/{sub}"
        try:
            part = _open_part(group, sub, path)
        except _NotYet:
            break  # not written yet: no later part is listed either
        low = part.attrs.get("image_nr_low")
        start = int(np.asarray(low).ravel()[0]) - 1 if low is not None else offset
        if name in out:
            out[name] = start
        offset = start + (part.shape[0] if part.ndim == 3 else 1)


def hdf5_times(path: str, dataset: str, n: int, time_dataset: str | None = None) -> list[FrameTime] | None:
    """Per-frame times stored in an HDF5 file, or None when the file records none.

    Looks at ``time_dataset`` when given (per-frame epoch seconds, or seconds after the file's
    ``/entry/start_time``), else the Eiger convention: ``data_collection_date`` plus
    ``frame_time`` x index, with ``count_time`` as exposure.

    Parameters
    ----------
    path : str
        The HDF5 file.
    dataset : str
        The frame dataset (kept for symmetry with the frame references; times are per file).
    n : int
        Number of frames to give times for.
    time_dataset : str or None
        Dataset of per-frame times in seconds.

    Returns
    -------
    list of FrameTime or None
        ``n`` times (exposure in seconds from ``count_time`` when recorded), or None.

    Examples
    --------
    >>> import os, tempfile, h5py
    >>> path = os.path.join(tempfile.mkdtemp(), "scan.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["entry/t"] = [1710406800.0, 1710406830.0]
    ...     h5["entry/instrument/detector/count_time"] = 25.0
    >>> [(t.start.isoformat(), t.exposure_s) for t in hdf5_times(path, "/d", 2, "/entry/t")]
    [('2024-03-14T09:00:00+00:00', 25.0), ('2024-03-14T09:00:30+00:00', 25.0)]
    """
    with open_hdf5(path) as h5:
        start = _start_time(h5)
        exposure = float(h5[f"{_DETECTOR}/count_time"][()]) if f"{_DETECTOR}/count_time" in h5 else None
        if time_dataset:
            return _dataset_times(h5, path, time_dataset, n, start, exposure)
        if start is not None and f"{_DETECTOR}/frame_time" in h5:
            period = float(h5[f"{_DETECTOR}/frame_time"][()])
            return [FrameTime(start + timedelta(seconds=i * period), exposure, "hdf5") for i in range(n)]
    return None


def _start_time(h5) -> datetime | None:
    """The first start time of the file that reads as a date."""
    for name in _START_TIMES:
        if name in h5:
            start = parse_time(_text(h5[name][()]))
            if start is not None:
                return start
    return None


def _dataset_times(h5, path: str, time_dataset: str, n: int, start: datetime | None,
                   exposure: float | None) -> list[FrameTime]:
    """Times from ``time_dataset``: epoch seconds, or seconds after ``start``."""
    if time_dataset not in h5:
        raise ValueError(f"'{path}' has no dataset '{time_dataset}' for frame times")
    t = np.asarray(h5[time_dataset][()], dtype=float).ravel()
    if t.size < n:
        raise ValueError(f"'{path}::{time_dataset}' has {t.size} times for {n} frames")
    if t[0] > 1e8:  # epoch seconds
        return [FrameTime(datetime.fromtimestamp(v, timezone.utc), exposure, "hdf5") for v in t[:n]]
    if start is None:
        raise ValueError(f"'{path}::{time_dataset}' is relative but the file has no start time")
    return [FrameTime(start + timedelta(seconds=float(v)), exposure, "hdf5") for v in t[:n]]


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return _text(value.ravel()[0])
    return str(value)
