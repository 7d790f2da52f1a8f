"""Single-frame image files that fabio reads: CBF, EDF, TIFF, MarCCD, mar345 and the rest.

CBF, EDF and TIFF are claimed by their magic bytes or suffix; any other file no format claims
is read by fabio too (the family's fallback, ``image``), which decides whether it is an image.
The exposure start and length come from the header (Pilatus CBF header contents, EDF keys,
TIFF tags).

Examples
--------
>>> import os, tempfile, numpy as np
>>> from fabio.edfimage import EdfImage
>>> path = os.path.join(tempfile.mkdtemp(), "frame.edf")
>>> EdfImage(data=np.ones((4, 5), np.float32), header={"count_time": "2.5"}).write(path)
>>> from xpipe.io.frames import REGISTRY
>>> fmt = REGISTRY.detect(path)
>>> data, t = fmt.read(path)
>>> fmt.name, data.shape, t.exposure_s
('edf', (4, 5), 2.5)
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import numpy as np

from .base import REGISTRY, FrameReadError, FrameRef, FrameSource, FrameTime, check_file
from .times import parse_time

_EXPOSURE = re.compile(r"Exposure_time\s+([0-9.eE+-]+)\s*s")


def _list_frames(path: str, dataset: str | None = None, missing_ok: bool = False) -> list[FrameRef]:
    """An image file is one frame."""
    return [FrameRef(path)]


def _read_frame(path: str, dataset: str | None = None, index: int | None = None,
                handles: dict | None = None) -> tuple[np.ndarray, FrameTime]:
    """The image and the time its header states (``start`` None if absent)."""
    import fabio  # heavy (its many format modules): imported on first use

    check_file(path)
    try:
        img = fabio.open(path)
        data = img.data
        header = dict(img.header)
        nframes = getattr(img, "nframes", 1)
    except Exception as exc:  # noqa: BLE001 - fabio raises anything from AssertionError to zlib.error
        raise FrameReadError(f"cannot read '{path}': {type(exc).__name__}: {exc}") from None
    if data is None:
        raise FrameReadError(f"cannot read '{path}': no image data found")
    if nframes and nframes > 1:
        raise FrameReadError(
            f"'{path}' holds {nframes} frames; multi-frame image files are not supported, "
            "convert to single frames or HDF5"
        )
    start, exposure = header_time(header)
    return data, FrameTime(start, exposure, "header" if start else "none")


def header_time(header: dict) -> tuple[datetime | None, float | None]:
    """Exposure start and length from a fabio header (CBF/Pilatus, EDF, TIFF, MarCCD).

    Parameters
    ----------
    header : dict
        The header as fabio reads it (``dict(fabio.open(path).header)``).

    Returns
    -------
    (datetime or None, float or None)
        Exposure start (None when the header states no date) and exposure length in seconds.

    Examples
    --------
    >>> start, exposure = header_time({"_array_data.header_contents":
    ...     "# Detector: PILATUS 300K\\n# 2011-10-13T19:05:12.300\\n# Exposure_time 10.0 s"})
    >>> start.isoformat(), exposure
    ('2011-10-13T19:05:12.300000', 10.0)
    >>> header_time({"time_of_day": "1710406800"})[0].isoformat()
    '2024-03-14T09:00:00+00:00'
    """
    text = header.get("_array_data.header_contents")
    exposure = None
    if text:
        m = _EXPOSURE.search(text)
        exposure = float(m.group(1)) if m else None
        for line in text.splitlines():
            t = parse_time(line.lstrip("# "))
            if t is not None:
                return t, exposure
    exposure = _header_exposure(header, exposure)
    if "time_of_day" in header:  # ESRF EDF: epoch seconds
        try:
            return datetime.fromtimestamp(float(header["time_of_day"]), timezone.utc), exposure
        except ValueError:
            pass
    for key in ("Date", "date", "DateTime", "acquire_timestamp", "time", "Time"):
        if key in header:
            t = parse_time(str(header[key]))
            if t is not None:
                return t, exposure
    return None, exposure


def _header_exposure(header: dict, exposure: float | None) -> float | None:
    """The exposure length a header key states, else ``exposure``."""
    for key in ("count_time", "acq_expo_time", "ExposureTime", "exposure_time"):
        if key in header:
            try:
                return float(str(header[key]).split()[0])
            except ValueError:
                pass
    return exposure


def read_header_time(path: str) -> tuple[datetime | None, float | None]:
    """Exposure start and length that the header of a single-frame image file states.

    The image itself is not decoded.

    Parameters
    ----------
    path : str
        The image file.

    Returns
    -------
    (datetime or None, float or None)
        As :func:`header_time`: start (None when the header states no date) and exposure in
        seconds.

    Raises
    ------
    FrameReadError
        Naming the file, when its header cannot be read.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from fabio.edfimage import EdfImage
    >>> path = os.path.join(tempfile.mkdtemp(), "frame.edf")
    >>> EdfImage(data=np.zeros((2, 2), np.float32),
    ...          header={"Date": "2025-03-14T09:00:00", "count_time": "1.5"}).write(path)
    >>> start, exposure = read_header_time(path)
    >>> start.isoformat(), exposure
    ('2025-03-14T09:00:00', 1.5)
    """
    import fabio  # heavy (its many format modules): imported on first use

    try:
        header = dict(fabio.openheader(path).header)
    except Exception as exc:  # noqa: BLE001 - fabio raises anything on a damaged file
        raise FrameReadError(f"cannot read the header of '{path}': {type(exc).__name__}: {exc}") from None
    return header_time(header)


def _is_edf(head: bytes) -> bool:
    """An ESRF data format header: ``{`` and then EDF keys."""
    return head.lstrip()[:1] == b"{" and (b"EDF_" in head[:2048] or b"HeaderID" in head[:2048])


_SOURCE = FrameSource(_list_frames, _read_frame)
REGISTRY.register("cbf", read=_SOURCE, suffixes=(".cbf",), sniff=lambda h: h.startswith(b"###CBF"),
                  description="Crystallographic Binary File (Pilatus, Eiger in CBF mode)")
REGISTRY.register("edf", read=_SOURCE, suffixes=(".edf",), sniff=_is_edf,
                  description="ESRF data format image")
REGISTRY.register("tiff", read=_SOURCE, suffixes=(".tif", ".tiff"),
                  sniff=lambda h: h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
                  description="TIFF image (Pilatus, Perkin Elmer, MarCCD)")
REGISTRY.register("image", read=_SOURCE,
                  description="any other single-frame image fabio reads (mar345, ADSC, Bruker...)")
