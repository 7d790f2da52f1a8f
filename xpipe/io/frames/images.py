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

import base64
import hashlib
import io
import re
from datetime import datetime, timezone

import numpy as np

from .base import REGISTRY, FrameReadError, FrameRef, FrameSource, FrameTime, check_file
from .times import parse_time

_EXPOSURE = re.compile(r"Exposure_time\s+([0-9.eE+-]+)\s*s")
#: What starts the binary section of a CBF file, after its MIME header.
_CBF_STARTER = b"\x0c\x1a\x04\xd5"
#: What starts the MIME header of a CBF file's binary section.
_CBF_SECTION = b"--CIF-BINARY-FORMAT-SECTION--"


def _list_frames(path: str, dataset: str | None = None, missing_ok: bool = False) -> list[FrameRef]:
    """An image file is one frame."""
    return [FrameRef(path)]


def _read_frame(path: str, dataset: str | None = None, index: int | None = None,
                handles: dict | None = None) -> tuple[np.ndarray, FrameTime]:
    """The image and the time its header states (``start`` None if absent)."""
    import fabio  # heavy (its many format modules): imported on first use

    check_file(path)
    is_cbf, section = False, _MISSING
    if path.lower().endswith(".cbf") or _is_cbf(path):
        with open(path, "rb") as fh:  # read once for both checks
            raw = fh.read()
        is_cbf, section = raw.startswith(b"###CBF"), _section_of(raw)
        _check_cbf_layout(path, section)  # fabio loops forever on a CBF without its binary section
    try:
        if is_cbf:  # decoded from the bytes read above: one read of the file, not three
            img, data = _read_cbf(raw, section)
        else:
            img = fabio.open(path)
            data = img.data
        header = dict(img.header)
        nframes = getattr(img, "nframes", 1)
    except Exception as exc:  # noqa: BLE001 - fabio raises anything from AssertionError to zlib.error
        if is_cbf:
            check_cbf_binary(path, section=section)  # a cut or damaged binary section, said plainly
        raise FrameReadError(f"cannot read '{path}': {type(exc).__name__}: {exc}") from None
    if data is None:
        raise FrameReadError(f"cannot read '{path}': no image data found")
    if nframes and nframes > 1:
        raise FrameReadError(
            f"'{path}' holds {nframes} frames; multi-frame image files are not supported, "
            "convert to single frames or HDF5"
        )
    if type(img).__name__ == "CbfImage":
        check_cbf_binary(path, data.shape, section=section)
    start, exposure = header_time(header)
    return data, FrameTime(start, exposure, "header" if start else "none")


#: ``section`` not given: :func:`check_cbf_binary` reads the file itself
_MISSING = object()


def _read_cbf(raw: bytes, section: tuple[dict[str, str], bytes]):
    """fabio's CBF image (its header) and the decoded pixels of a file's bytes.

    A byte-offset section of a known element type is decoded here with fabio's own decoder,
    from the section already split off, after fabio has parsed only the header (the bytes up
    to the binary start marker): the same header and pixels as ``CbfImage().read``, in 2.2
    instead of 5 to 6 ms for a Pilatus 1M frame (fabio's reader copies the section twice more
    through its stream). Anything else is read by fabio whole. The MD5 is checked by the
    caller (:func:`check_cbf_binary`)."""
    import fabio.cbfimage  # heavy (its many format modules): imported on first use
    from fabio.compression import decByteOffset

    fields, blob = section
    start = raw.find(_CBF_STARTER)
    img = fabio.cbfimage.CbfImage()
    img.read(io.BytesIO(raw[:start + len(_CBF_STARTER)]), check_MD5=False, only_raw=True)
    header = img.header
    dtype = fabio.cbfimage.DATA_TYPES.get(header.get("X-Binary-Element-Type"))
    size = _int_field(fields, "X-Binary-Size")
    fast = _int_field(fields, "X-Binary-Size-Fastest-Dimension")
    slow = _int_field(fields, "X-Binary-Size-Second-Dimension")
    if header.get("conversions") != "x-CBF_BYTE_OFFSET" or dtype is None or None in (size, fast, slow):
        img = fabio.cbfimage.CbfImage().read(io.BytesIO(raw), check_MD5=False)  # MD5: the caller's
        return img, img.data
    dtype = np.dtype(dtype)
    stream = blob if len(blob) == size else blob[:size]
    data = np.ascontiguousarray(decByteOffset(stream, size=fast * slow, dtype=dtype), dtype)
    return img, data.reshape(slow, fast)


def _cbf_binary_section(path: str) -> tuple[dict[str, str], bytes] | None:
    """The MIME header fields of a CBF file's binary section and the bytes that follow its
    start marker (None when the file has no binary section)."""
    with open(path, "rb") as fh:
        return _section_of(fh.read())


def _section_of(raw: bytes) -> tuple[dict[str, str], bytes] | None:
    """:func:`_cbf_binary_section` of the file's bytes."""
    start = raw.find(_CBF_STARTER)
    if start < 0:
        return None
    mime_start = raw.rfind(_CBF_SECTION, 0, start)
    if mime_start < 0:
        return {}, raw[start + len(_CBF_STARTER):]
    mime = raw[mime_start:start]
    fields: dict[str, str] = {}
    for line in mime.decode("ascii", "replace").splitlines()[1:]:
        if line.startswith((" ", "\t")):  # a parameter of the field before: conversions="..."
            key, sep, value = line.strip().partition("=")
        else:
            key, sep, value = line.partition(":")
        if sep and key.strip():
            fields.setdefault(key.strip(), value.strip().strip('"'))
    return fields, raw[start + len(_CBF_STARTER):]


def check_cbf_binary(path: str, shape: tuple[int, ...] | None = None, *,
                     section: object = _MISSING) -> None:
    """Refuse a CBF frame whose binary section does not match what its header declares.

    The section's size (``X-Binary-Size``), its MD5 checksum (``Content-MD5``, when the writer
    recorded one), its element count (``X-Binary-Number-of-Elements``) and its dimensions must
    agree with the bytes in the file and with the image decoded from them.

    Parameters
    ----------
    path : str
        The CBF file.
    shape : tuple of int or None
        The shape (rows, columns) of the image decoded from it; None checks the size and
        checksum only.
    section : optional
        The binary section already parsed from the file's bytes (the reader's own read);
        by default the file is read here.

    Returns
    -------
    None

    Raises
    ------
    FrameReadError
        Naming the file and what does not match: a frame whose checksum or size is wrong holds
        damaged pixels.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from fabio.cbfimage import CbfImage
    >>> path = os.path.join(tempfile.mkdtemp(), "frame.cbf")
    >>> CbfImage(data=np.arange(12, dtype=np.int32).reshape(3, 4)).write(path)
    >>> check_cbf_binary(path, (3, 4))
    >>> raw = bytearray(open(path, "rb").read())
    >>> raw[raw.find(b"\\x0c\\x1a\\x04\\xd5") + 6] ^= 0x01  # one damaged pixel byte
    >>> _ = open(path, "wb").write(bytes(raw))
    >>> try:
    ...     check_cbf_binary(path, (3, 4))
    ... except FrameReadError as exc:
    ...     print(str(exc).split(": ", 1)[1][:47])
    the MD5 checksum of its binary section is wrong
    """
    if section is _MISSING:
        section = _cbf_binary_section(path)
    if section is None:
        raise FrameReadError(f"'{path}': no binary section (the CBF start marker is missing)")
    fields, blob = section
    where = f"'{path}'"
    size = _int_field(fields, "X-Binary-Size")
    if size is not None:
        if len(blob) < size:
            raise FrameReadError(
                f"{where}: its binary section is cut off: X-Binary-Size states {size} bytes, "
                f"the file holds {len(blob)}")
        blob = blob[:size]
    md5 = fields.get("Content-MD5")
    if md5 and size is not None:
        found = base64.b64encode(hashlib.md5(blob).digest()).decode("ascii")
        if found != md5:
            raise FrameReadError(
                f"{where}: the MD5 checksum of its binary section is wrong (Content-MD5 "
                f"states {md5}, the bytes give {found}); the frame is damaged")
    if shape is None:
        return
    count = _int_field(fields, "X-Binary-Number-of-Elements")
    n = int(np.prod(shape))
    if count is not None and count != n:
        raise FrameReadError(
            f"{where}: X-Binary-Number-of-Elements states {count} pixels, but {n} were decoded")
    fast = _int_field(fields, "X-Binary-Size-Fastest-Dimension")
    slow = _int_field(fields, "X-Binary-Size-Second-Dimension")
    if fast is not None and slow is not None and fast * slow != n:
        raise FrameReadError(
            f"{where}: its dimensions {fast} x {slow} do not hold the {n} pixels decoded")


def _check_cbf_layout(path: str, section: tuple[dict[str, str], bytes] | None) -> None:
    """Refuse a CBF file whose structure fabio cannot decode, before fabio sees it: the binary
    section's MIME header and start marker must be there, its size and dimensions stated, and
    the file must hold the bytes they declare (fabio would search a file without its start
    marker forever, and allocate whatever damaged dimensions state). ``section``: the file's
    binary section as :func:`_section_of` parses it."""
    where = f"'{path}'"
    if section is None:
        raise FrameReadError(f"{where}: no binary section (the CBF start marker is missing)")
    fields, blob = section
    if not fields:
        raise FrameReadError(f"{where}: no MIME header ({_CBF_SECTION.decode()}) before its binary section")
    size = _int_field(fields, "X-Binary-Size")
    if size is None or size < 0:
        raise FrameReadError(f"{where}: its binary section states no size (X-Binary-Size)")
    if len(blob) < size:
        raise FrameReadError(
            f"{where}: its binary section is cut off: X-Binary-Size states {size} bytes, "
            f"the file holds {len(blob)}")
    fast = _int_field(fields, "X-Binary-Size-Fastest-Dimension")
    slow = _int_field(fields, "X-Binary-Size-Second-Dimension")
    if fast is None or slow is None or fast <= 0 or slow <= 0:
        raise FrameReadError(f"{where}: its binary section states no valid dimensions")
    count = _int_field(fields, "X-Binary-Number-of-Elements")
    pixels = max(fast * slow, count or 0)  # whether the two agree is checked once decoded
    if "byte_offset" in fields.get("conversions", "").lower() and pixels > size:
        raise FrameReadError(  # byte-offset compression takes at least one byte a pixel
            f"{where}: {pixels} pixels cannot fit in the {size} bytes of its binary section")


def _is_cbf(path: str) -> bool:
    """Whether the file starts as a CBF file does."""
    try:
        with open(path, "rb") as fh:
            return fh.read(6) == b"###CBF"
    except OSError:
        return False


def _int_field(fields: dict[str, str], key: str) -> int | None:
    """An integer MIME field of a CBF binary section, None when absent or not a number."""
    try:
        return int(fields[key])
    except (KeyError, ValueError):
        return None


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
    if isinstance(text, bytes | bytearray):  # fabio leaves a damaged header undecoded
        text = bytes(text).decode("ascii", "replace")
    exposure = None
    if isinstance(text, str) and text:
        exposure = _number(_EXPOSURE.search(text))
        for line in text.splitlines():
            t = parse_time(line.lstrip("# "))
            if t is not None:
                return t, exposure
    exposure = _header_exposure(header, exposure)
    if "time_of_day" in header:  # ESRF EDF: epoch seconds
        try:
            return datetime.fromtimestamp(float(header["time_of_day"]), timezone.utc), exposure
        except (ValueError, TypeError, OverflowError, OSError):
            pass
    for key in ("Date", "date", "DateTime", "acquire_timestamp", "time", "Time"):
        if key in header:
            t = parse_time(str(header[key]))
            if t is not None:
                return t, exposure
    return None, exposure


def _number(match: re.Match[str] | None) -> float | None:
    """The number a regex match found, None when none or when it is not a number (``1e``)."""
    try:
        return float(match.group(1)) if match else None
    except ValueError:
        return None


def _header_exposure(header: dict, exposure: float | None) -> float | None:
    """The exposure length a header key states, else ``exposure``."""
    for key in ("count_time", "acq_expo_time", "ExposureTime", "exposure_time"):
        if key in header:
            try:
                return float(str(header[key]).split()[0])
            except (ValueError, IndexError):
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
