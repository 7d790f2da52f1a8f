"""Readers for 2D detector frames: files to arrays and frame times, nothing else.

Single-frame images (CBF, EDF, TIFF, MarCCD/mar345 and every other format fabio reads) and frame
stacks in HDF5/NeXus (a dataset of shape (N, rows, columns), an Eiger master whose
``/entry/data`` group links to ``data_000001``... files, with hdf5plugin decoding bitshuffle/LZ4)
are addressed uniformly by :class:`FrameRef`. An input is written as a path, a glob, or
``file.h5::/entry/data/data`` for an HDF5 dataset; without a dataset, an HDF5 file's frames are
found as NeXus readers find them (:mod:`~xpipe.io.frames.nexus`), and a file holding only 1D
data is refused as frames. Lambda module files are described in
:mod:`~xpipe.io.frames.lambda_modules`.

Each format is a small module that registers with :data:`REGISTRY` (``hdf5``, then the fabio
images ``cbf``, ``edf``, ``tiff`` and the fallback ``image``; registration order is sniff
priority). :func:`expand_inputs` and :class:`FrameReader` ask the registry which format claims
a file and name no format themselves. While an experiment is still writing its files
(``xpipe watch``), inputs are listed with :func:`inputs_listing`.

Examples
--------
>>> REGISTRY.names()
['hdf5', 'cbf', 'edf', 'tiff', 'image']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..registry import FileFormat
from . import hdf5 as _hdf5  # noqa: F401  (registers first: the HDF5 signature is sniffed first)
from . import images as _images  # noqa: F401  (registers cbf, edf, tiff and the fallback)
from .base import REGISTRY, FrameReadError, FrameRef, FrameSource, FrameTime, _NotYet, natural_key
from .hdf5 import HDF5_SUFFIXES, hdf5_closed, hdf5_length, is_hdf5, open_hdf5
from .hdf5_times import hdf5_times, series_offsets
from .images import header_time, read_header_time
from .listing import _entry_paths, _listing_mode, inputs_listing
from .times import (
    EPOCH_MAX_S,
    EPOCH_MIN_S,
    match_scan_log,
    mtime,
    parse_log_time,
    parse_time,
    read_scan_log,
)

__all__ = [
    "EPOCH_MAX_S", "EPOCH_MIN_S", "HDF5_SUFFIXES", "REGISTRY", "FrameReadError", "FrameReader",
    "FrameRef", "FrameSource", "FrameTime", "expand_inputs", "hdf5_closed", "hdf5_length",
    "hdf5_times", "header_time", "inputs_listing", "is_hdf5", "match_scan_log", "mtime",
    "natural_key", "open_hdf5", "parse_log_time", "parse_time", "read_header_time",
    "read_scan_log", "series_offsets",
]


def _format_of(path: str, dataset: str | None = None) -> FileFormat:
    """The format that reads ``path``: for a dataset inside it, the first format that holds
    datasets; otherwise the one the registry detects (content, suffix, fallback), or for a file
    that cannot be opened now, the one its suffix names (its reader then says what is wrong)."""
    if dataset is not None:
        return next(f for f in REGISTRY if getattr(f.read, "holds_datasets", False))
    try:
        return REGISTRY.detect(path)
    except OSError:
        return REGISTRY.by_suffix(Path(path).suffix) or REGISTRY[REGISTRY.fallback]


def expand_inputs(entries: str | list[str], base_dir: Path) -> list[FrameRef]:
    """Turn the recipe's ``files`` (glob, list of paths/globs, or ``file.h5::/dataset``) into frames.

    Globs are sorted naturally; list order is kept between entries. See :func:`inputs_listing`
    for listing the inputs of an experiment still being written.

    Parameters
    ----------
    entries : str or list of str
        Paths, globs, or ``file::dataset`` entries, relative to ``base_dir`` unless absolute.
    base_dir : Path
        The directory relative entries are looked up in (the recipe's).

    Returns
    -------
    list of FrameRef
        One reference per frame, in order.

    Raises
    ------
    FileNotFoundError
        An entry that matches no file, naming it.
    FrameReadError
        A file whose frames cannot be listed (damaged, no frame dataset, a virtual dataset's
        missing source), naming it and the reason; it is also a ValueError.

    Examples
    --------
    >>> import tempfile, h5py
    >>> folder = Path(tempfile.mkdtemp())
    >>> with h5py.File(folder / "scan.h5", "w") as h5:
    ...     h5["entry/data/data"] = np.zeros((3, 4, 5))
    >>> [r.key for r in expand_inputs("*.h5", folder)][-1].endswith("scan.h5::/entry/data/data[2]")
    True
    """
    mode = _listing_mode(entries)
    if mode == "deferred":
        return []
    missing_ok = mode == "missing_ok"
    if isinstance(entries, str):
        entries = [entries]
    refs: list[FrameRef] = []
    for entry in entries:
        path_part, _, dset = entry.partition("::")
        for p in _entry_paths(entry, path_part, base_dir, missing_ok):
            try:
                refs.extend(_format_of(p, dset or None).read.list_frames(p, dset or None, missing_ok))
            except _NotYet:
                if not missing_ok:
                    raise
    return refs


class FrameReader:
    """Read frames and their header times; keeps open the files a format reads frames from.

    Each frame is read by the format that claims its file (see :data:`REGISTRY`).

    Examples
    --------
    >>> import tempfile, h5py
    >>> folder = Path(tempfile.mkdtemp())
    >>> with h5py.File(folder / "scan.h5", "w") as h5:
    ...     h5["entry/data/data"] = np.arange(24).reshape(2, 3, 4)
    >>> reader = FrameReader()
    >>> data, t = reader.read(expand_inputs("scan.h5", folder)[1])
    >>> reader.close()
    >>> int(data.sum()), t.source
    (210, 'hdf5')
    """

    def __init__(self) -> None:
        self._open: dict[str, object] = {}

    def read(self, ref: FrameRef) -> tuple[np.ndarray, FrameTime]:
        """Return the frame array and the time its header states (``start`` None if absent).

        Parameters
        ----------
        ref : FrameRef
            The frame, as :func:`expand_inputs` lists it.

        Returns
        -------
        (numpy.ndarray, FrameTime)
            The frame (rows, columns) as the file holds it, and its time.

        Raises
        ------
        FrameReadError
            Naming the file (or frame) and what is wrong.
        """
        return _format_of(ref.path, ref.dataset).read(ref.path, ref.dataset, ref.index, self._open)

    def close(self) -> None:
        """Close every file kept open; the reader may be used again afterwards."""
        for handle in self._open.values():
            try:
                handle.close()
            except Exception:  # noqa: BLE001, S110 - closing a damaged file must not stop a run
                pass
        self._open.clear()
