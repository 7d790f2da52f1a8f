"""What every frame format shares: frame references, frame times, errors and the registry.

A frame format is one small module that registers a :class:`FrameSource` (how it lists the
frames of a file and reads one of them) with :data:`REGISTRY`; the dispatchers
(:func:`xpipe.io.frames.expand_inputs`, :class:`xpipe.io.frames.FrameReader`) only ask the
registry which format claims a file.

Examples
--------
>>> from xpipe.io.frames.base import FrameRef
>>> FrameRef("/data/scan.h5", "/entry/data/data", 3).key
'/data/scan.h5::/entry/data/data[3]'
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from ..registry import Registry


class FrameReadError(Exception):
    """A frame file that cannot be read; the message names the file and the reason.

    Examples
    --------
    >>> str(FrameReadError("file '/data/gone.cbf' does not exist"))
    "file '/data/gone.cbf' does not exist"
    """


class _Unlisted(FrameReadError, ValueError):
    """A frame file whose frames cannot be listed (damaged, or no frame dataset in it).

    A :class:`FrameReadError` for readers; also a ValueError, which the recipe checks that list
    their inputs catch."""


class _NotYet(_Unlisted):
    """An input that cannot be listed now: no file, no dataset, an HDF5 file a writer has locked
    or is still writing. While inputs are listed ``missing_ok`` (``xpipe watch``) it is skipped
    and tried again; otherwise it is the :class:`FrameReadError` that refuses the file."""


@dataclass(frozen=True)
class FrameRef:
    """Where one frame lives: a file, and for stacks the dataset and index within it.

    Parameters
    ----------
    path : str
        The file.
    dataset : str or None
        For a frame inside a container file (HDF5/NeXus), the dataset holding it.
    index : int or None
        The frame's index along the first axis of ``dataset``.

    Examples
    --------
    >>> FrameRef("/data/frame_0001.cbf").key
    '/data/frame_0001.cbf'
    >>> FrameRef("/data/scan.h5", "/entry/data/data", 0).key
    '/data/scan.h5::/entry/data/data[0]'
    """

    path: str
    dataset: str | None = None
    index: int | None = None

    @property
    def key(self) -> str:
        """Unique, human-readable identifier, stored in results as ``source_file``."""
        if self.dataset is None:
            return self.path if self.index is None else f"{self.path}[{self.index}]"
        return f"{self.path}::{self.dataset}[{self.index}]"


@dataclass
class FrameTime:
    """When a frame was taken.

    Parameters
    ----------
    start : datetime or None
        Exposure start, naive (local time) or aware; None when unknown.
    exposure_s : float or None
        Exposure length in seconds, None when unknown.
    source : str
        Where the time comes from: ``header``, ``mtime``, ``scan_log``, ``hdf5`` or ``none``.

    Examples
    --------
    >>> t = FrameTime(datetime(2025, 3, 14, 9, 0), 30.0, "header")
    >>> t.start.isoformat(), t.exposure_s
    ('2025-03-14T09:00:00', 30.0)
    """

    start: datetime | None
    exposure_s: float | None
    source: str  # header, mtime, scan_log, hdf5


def natural_key(text: str) -> list:
    """Sort key that orders ``frame_2`` before ``frame_10``.

    Parameters
    ----------
    text : str
        A file name or path.

    Returns
    -------
    list
        Its digit runs as integers and the text between them in lower case.

    Examples
    --------
    >>> sorted(["frame_10.cbf", "frame_2.cbf", "Frame_1.cbf"], key=natural_key)
    ['Frame_1.cbf', 'frame_2.cbf', 'frame_10.cbf']
    """
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", text)]


def check_file(path: str) -> None:
    """Raise :class:`FrameReadError` when ``path`` is missing or empty.

    Parameters
    ----------
    path : str
        A frame file about to be read.

    Returns
    -------
    None

    Examples
    --------
    >>> try:
    ...     check_file("/no/such/frame.cbf")
    ... except FrameReadError as exc:
    ...     print(exc)
    file '/no/such/frame.cbf' does not exist
    """
    if not os.path.isfile(path):
        raise FrameReadError(f"file '{path}' does not exist")
    if os.path.getsize(path) == 0:
        raise FrameReadError(f"file '{path}' is empty")


#: ``list_frames(path, dataset, missing_ok)``: the frames of one file.
ListFrames = Callable[[str, "str | None", bool], "list[FrameRef]"]
#: ``read_frame(path, dataset, index, handles)``: one frame and the time its file states.
ReadFrame = Callable[..., "tuple[np.ndarray, FrameTime]"]


@dataclass(frozen=True)
class FrameSource:
    """What a frame format registers as its reader: how it lists and reads a file's frames.

    Parameters
    ----------
    list_frames : callable
        ``list_frames(path, dataset, missing_ok) -> list[FrameRef]``: the frames of one file
        (``dataset`` as an entry ``file::dataset`` names it, else None). Raises ``ValueError``
        naming the file, or an internal "not yet" error that ``missing_ok`` listings skip.
    read_frame : callable
        ``read_frame(path, dataset, index, handles) -> (frame, FrameTime)``; ``handles`` is a
        dict the format may keep open files in (closed by the caller), or None.
    holds_datasets : bool
        Whether the format addresses frames inside a file as ``file::dataset`` (HDF5/NeXus).

    Examples
    --------
    >>> src = FrameSource(lambda path, dataset, missing_ok: [FrameRef(path)],
    ...                   lambda path, dataset, index, handles: (np.zeros((2, 3)), None))
    >>> src.list_frames("/data/a.img", None, False)
    [FrameRef(path='/data/a.img', dataset=None, index=None)]
    >>> src("/data/a.img")[0].shape  # calling it reads one frame
    (2, 3)
    """

    list_frames: ListFrames
    read_frame: ReadFrame
    holds_datasets: bool = False

    def __call__(self, path: Any, dataset: str | None = None, index: int | None = None,
                 handles: dict | None = None) -> tuple[np.ndarray, FrameTime]:
        """Read one frame of ``path`` (see ``read_frame``)."""
        return self.read_frame(str(path), dataset, index, handles)


#: The frame formats, in sniff priority; a file no format claims is read by fabio ("image").
REGISTRY = Registry("frame", error=FrameReadError, fallback="image")
