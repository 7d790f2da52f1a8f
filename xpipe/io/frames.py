"""Readers for 2D detector frames: files to arrays and frame times, nothing else.

Single-frame images (CBF, EDF, TIFF, MarCCD/mar345 and every other format fabio reads) and frame
stacks in HDF5/NeXus (a dataset of shape (N, rows, columns), an Eiger master whose
``/entry/data`` group links to ``data_000001``... files, with hdf5plugin decoding bitshuffle/LZ4)
are addressed uniformly by :class:`FrameRef`. An input is written as a path, a glob, or
``file.h5::/entry/data/data`` for an HDF5 dataset.

While an experiment is still writing its files (``xpipe watch``), inputs are listed with
:func:`inputs_listing`: ``"missing_ok"`` lists what exists so far (a glob may match nothing yet,
an HDF5 file or dataset may not exist yet), ``"deferred"`` lists nothing at all (the caller lists
the frames itself later). HDF5 files that a writer holds open in SWMR mode are read as an SWMR
reader (:func:`open_hdf5`).
"""

from __future__ import annotations

import contextvars
import glob
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".nexus")


class FrameReadError(Exception):
    """A frame file that cannot be read; the message names the file and the reason."""


class _NotYet(ValueError):
    """An input that does not exist yet (no file, no dataset, an HDF5 file a writer has locked)."""


_LISTING: contextvars.ContextVar[tuple[str, tuple[str, ...] | None]] = contextvars.ContextVar(
    "xpipe_inputs_listing", default=("strict", None))
_LISTINGS = ("strict", "missing_ok", "deferred")


@contextmanager
def inputs_listing(mode: str, entries: str | list[str] | None = None) -> Iterator[None]:
    """Within this block, :func:`expand_inputs` lists inputs the ``mode`` way.

    ``"strict"`` (the default): every entry must match an existing file. ``"missing_ok"``: an
    entry that matches nothing yet gives no frames, and so does an HDF5 file that cannot be
    opened yet or lacks its dataset so far. ``"deferred"``: nothing is listed; for validating a
    recipe whose frames are listed later, as they are written. With ``entries`` (a recipe's
    ``files`` value) the mode applies to that value only; other inputs are listed strictly.
    """
    if mode not in _LISTINGS:
        raise ValueError(f"unknown inputs listing {mode!r}; expected one of {', '.join(_LISTINGS)}")
    token = _LISTING.set((mode, None if entries is None else _entries_key(entries)))
    try:
        yield
    finally:
        _LISTING.reset(token)


def _entries_key(entries: str | list[str]) -> tuple[str, ...]:
    return (entries,) if isinstance(entries, str) else tuple(entries)


def _listing_mode(entries: str | list[str]) -> str:
    mode, only = _LISTING.get()
    return mode if only is None or only == _entries_key(entries) else "strict"


@dataclass(frozen=True)
class FrameRef:
    """Where one frame lives: a file, and for stacks the dataset and index within it."""

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
    """When a frame was taken: exposure start (naive or aware datetime) and exposure length."""

    start: datetime | None
    exposure_s: float | None
    source: str  # header, mtime, scan_log, hdf5


def natural_key(text: str) -> list:
    """Sort key that orders ``frame_2`` before ``frame_10``."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", text)]


def is_hdf5(path: str | Path) -> bool:
    return str(path).lower().endswith(HDF5_SUFFIXES)


def _has_magic(text: str) -> bool:
    return glob.has_magic(text)


def _glob_pattern(path_part: str, base_dir: Path) -> str:
    """Glob pattern for an entry: the base directory is literal, only the entry may hold wildcards."""
    pattern = os.path.expanduser(path_part)
    if os.path.isabs(pattern):
        return pattern
    return os.path.join(glob.escape(str(base_dir)), pattern)


def expand_inputs(entries: str | list[str], base_dir: Path) -> list[FrameRef]:
    """Turn the recipe's ``files`` (glob, list of paths/globs, or ``file.h5::/dataset``) into frames.

    Globs are sorted naturally; list order is kept between entries. Raises ``FileNotFoundError``
    or ``ValueError`` with a message naming the entry. See :func:`inputs_listing` for listing
    the inputs of an experiment still being written.
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
        pattern = Path(path_part).expanduser()
        pattern = Path(os.path.normpath(pattern if pattern.is_absolute() else base_dir / pattern))
        if _has_magic(str(Path(path_part).expanduser())) and not pattern.is_file():
            paths = sorted(glob.glob(_glob_pattern(path_part, base_dir)), key=natural_key)
            paths = [os.path.normpath(p) for p in paths if os.path.isfile(p)]
            if not paths and not missing_ok:
                raise FileNotFoundError(f"no file matches '{entry}' (looked in {pattern.parent})")
        elif pattern.is_file():
            paths = [str(pattern)]
        elif missing_ok:
            paths = []
        else:
            raise FileNotFoundError(f"file '{entry}' does not exist (looked for {pattern})")
        for p in paths:
            if dset or is_hdf5(p):
                try:
                    refs.extend(_hdf5_refs(p, dset or None, missing_ok))
                except _NotYet:
                    if not missing_ok:
                        raise
            else:
                refs.append(FrameRef(p))
    return refs


def _hdf5_refs(path: str, dataset: str | None, missing_ok: bool = False) -> list[FrameRef]:
    import h5py

    try:
        with open_hdf5(path) as h5:
            name = dataset or _default_dataset(h5, path)
            if name not in h5:
                raise _NotYet(f"'{path}' has no dataset '{name}'")
            obj = h5[name]
            if isinstance(obj, h5py.Group):
                refs: list[FrameRef] = []
                for sub in _eiger_parts(obj, path):
                    try:
                        part = _open_part(obj, sub, path)
                    except _NotYet:
                        if not missing_ok:
                            raise
                        break  # a data file not written yet: the parts before it only
                    refs.extend(_dataset_refs(path, f"{name}/{sub}", part))
                return refs
            return _dataset_refs(path, name, obj)
    except OSError as exc:
        raise _NotYet(f"cannot open HDF5 file '{path}': {exc}") from None


def open_hdf5(path: str):
    """Open an HDF5 file read-only; one that a writer holds open in SWMR mode is opened as an
    SWMR reader. Raises ``OSError`` (the plain open's) when neither works, e.g. while a writer
    that does not use SWMR has the file locked."""
    import h5py
    import hdf5plugin  # noqa: F401  (registers bitshuffle/LZ4/Blosc filters)

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        first = exc
    try:
        return h5py.File(path, "r", swmr=True)
    except OSError:
        raise first from None


def hdf5_closed(path: str) -> bool:
    """Whether no writer holds ``path`` open: a plain read-only open succeeds (an SWMR writer
    marks the file open for writing, another writer locks it)."""
    import h5py

    try:
        with h5py.File(path, "r"):
            return True
    except OSError:
        return False


def hdf5_length(path: str, dataset: str) -> int | None:
    """Current length along axis 0 of ``path::dataset``; None when it cannot be read now."""
    try:
        with open_hdf5(path) as h5:
            return int(h5[dataset].shape[0]) if dataset in h5 and h5[dataset].shape else None
    except (OSError, KeyError, ValueError):
        return None


def _dataset_refs(path: str, name: str, ds) -> list[FrameRef]:
    if ds.ndim == 2:
        return [FrameRef(path, name, 0)]
    if ds.ndim != 3:
        raise ValueError(
            f"dataset '{path}::{name}' has shape {ds.shape}; expected (frames, rows, columns)"
        )
    return [FrameRef(path, name, i) for i in range(ds.shape[0])]


def _is_eiger_part(name: str) -> bool:
    """An Eiger master's ``data_NNNNNN`` link to one of its data files (the last path part)."""
    return re.fullmatch(r"data_\d+", name.rsplit("/", 1)[-1]) is not None


def _eiger_parts(group, path: str) -> list[str]:
    parts = sorted((k for k in group if _is_eiger_part(k)), key=natural_key)
    if not parts:
        raise _NotYet(f"'{path}': group '{group.name}' holds no data_NNNNNN datasets")
    return parts


def _open_part(group, sub: str, path: str):
    """One ``data_NNNNNN`` part; a dangling external link becomes a ValueError naming its target."""
    import h5py

    try:
        return group[sub]
    except (KeyError, OSError) as exc:
        link = group.get(sub, getlink=True)
        target = (
            f" (external link to '{link.filename}::{link.path}')"
            if isinstance(link, h5py.ExternalLink)
            else ""
        )
        raise _NotYet(f"'{path}': cannot open '{group.name}/{sub}'{target}: {exc}") from None


def _default_dataset(h5, path: str) -> str:
    """The frame dataset of an HDF5 file: NeXus default plot, else /entry/data/data or Eiger parts."""
    entry_name = h5.attrs.get("default")
    if isinstance(entry_name, bytes):
        entry_name = entry_name.decode()
    for entry in [entry_name, "entry"]:
        if not entry or entry not in h5:
            continue
        grp = h5[entry]
        data_name = grp.attrs.get("default", "data")
        data_name = data_name.decode() if isinstance(data_name, bytes) else data_name
        if data_name in grp:
            nxdata = grp[data_name]
            signal = nxdata.attrs.get("signal", "data")
            signal = signal.decode() if isinstance(signal, bytes) else signal
            if signal in nxdata:
                return f"/{entry}/{data_name}/{signal}"
            if any(_is_eiger_part(k) for k in nxdata):
                return f"/{entry}/{data_name}"
    raise _NotYet(
        f"cannot tell which dataset of '{path}' holds the frames; "
        "name it as 'file.h5::/entry/data/data'"
    )


# ---------------------------------------------------------------------------- reading


class FrameReader:
    """Read frames and their header times; keeps HDF5 files open between frames."""

    def __init__(self) -> None:
        self._h5: dict[str, object] = {}

    def read(self, ref: FrameRef) -> tuple[np.ndarray, FrameTime]:
        """Return the frame array and the time its header states (``start`` None if absent)."""
        if ref.dataset is not None:
            return self._read_hdf5(ref), FrameTime(None, None, "hdf5")
        return _read_fabio(ref.path)

    def _read_hdf5(self, ref: FrameRef) -> np.ndarray:
        try:
            h5 = self._h5.get(ref.path)
            if h5 is None:
                h5 = self._h5[ref.path] = open_hdf5(ref.path)
            ds = h5[ref.dataset]
            if ds.ndim == 3 and ref.index >= ds.shape[0]:  # the dataset grew since it was opened
                if h5.swmr_mode:
                    ds.refresh()
                if ref.index >= ds.shape[0]:
                    h5.close()
                    h5 = self._h5[ref.path] = open_hdf5(ref.path)
                    ds = h5[ref.dataset]
            return np.asarray(ds[()] if ds.ndim == 2 else ds[ref.index])
        except Exception as exc:  # noqa: BLE001 - h5py raises OSError/KeyError/ValueError on damage
            raise FrameReadError(f"cannot read {ref.key}: {exc}") from None

    def close(self) -> None:
        for h5 in self._h5.values():
            try:
                h5.close()
            except Exception:  # noqa: BLE001, S110 - closing a damaged file must not stop a run
                pass
        self._h5.clear()


def _read_fabio(path: str) -> tuple[np.ndarray, FrameTime]:
    import fabio

    if not os.path.isfile(path):
        raise FrameReadError(f"file '{path}' does not exist")
    if os.path.getsize(path) == 0:
        raise FrameReadError(f"file '{path}' is empty")
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


# ---------------------------------------------------------------------------- times

_ISO = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
_PILATUS_OLD = re.compile(r"(\d{4})/(\w{3})/(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)?")
_EXPOSURE = re.compile(r"Exposure_time\s+([0-9.eE+-]+)\s*s")
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}


def parse_time(text: str) -> datetime | None:
    """Parse a timestamp as detectors write them (ISO, Pilatus ``2011/Oct/13 19:05:12.3``,
    TIFF ``2025:03:14 09:00:00``, ctime ``Thu Mar 14 09:00:00 2025``); None if none found."""
    text = text.strip()
    m = _ISO.search(text)
    if m:
        try:
            return datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
        except ValueError:  # looks like a date but is none (month 13, hour 25, ...)
            return None
    m = _PILATUS_OLD.search(text)
    if m and m.group(2).lower() in _MONTHS:
        frac = float(m.group(7) or 0.0)
        try:
            start = datetime(int(m.group(1)), _MONTHS[m.group(2).lower()], int(m.group(3)),
                             int(m.group(4)), int(m.group(5)), int(m.group(6)))
        except ValueError:
            return None
        return start + timedelta(seconds=frac)
    for fmt in ("%Y:%m:%d %H:%M:%S", "%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M:%S.%f %Y"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    return None


def header_time(header: dict) -> tuple[datetime | None, float | None]:
    """Exposure start and length from a fabio header (CBF/Pilatus, EDF, TIFF, MarCCD)."""
    text = header.get("_array_data.header_contents")
    exposure = None
    if text:
        m = _EXPOSURE.search(text)
        exposure = float(m.group(1)) if m else None
        for line in text.splitlines():
            t = parse_time(line.lstrip("# "))
            if t is not None:
                return t, exposure
    for key in ("count_time", "acq_expo_time", "ExposureTime", "exposure_time"):
        if key in header:
            try:
                exposure = float(str(header[key]).split()[0])
                break
            except ValueError:
                pass
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


def read_header_time(path: str) -> tuple[datetime | None, float | None]:
    """Exposure start and length that the header of a single-frame image file states (start
    None when it states no date), read without decoding the image. Raises :class:`FrameReadError`
    naming the file when it cannot be read."""
    import fabio

    try:
        header = dict(fabio.openheader(path).header)
    except Exception as exc:  # noqa: BLE001 - fabio raises anything on a damaged file
        raise FrameReadError(f"cannot read the header of '{path}': {type(exc).__name__}: {exc}") from None
    return header_time(header)


def mtime(path: str) -> datetime:
    """File modification time, as an aware UTC datetime."""
    return datetime.fromtimestamp(os.path.getmtime(path), timezone.utc)


def series_offsets(path: str, datasets: list[str]) -> dict[str, int]:
    """Index, within the file's whole series, of the first frame of each of ``datasets``.

    An Eiger master splits one series over ``data_000001``, ``data_000002``...; a frame's place
    in the series (by which its time is counted) is its part's offset plus its index in the
    part. The offset is the part's ``image_nr_low`` attribute minus one (the detector writes the
    1-based number of the part's first image) when present, else the summed lengths of the parts
    before it. Any other dataset starts the series: 0.
    """
    out = {d: 0 for d in datasets}
    parts = [d for d in datasets if _is_eiger_part(d)]
    if not parts:
        return out
    with open_hdf5(path) as h5:
        for parent in {d.rsplit("/", 1)[0] or "/" for d in parts}:
            group = h5[parent]
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
    return out


def hdf5_times(path: str, dataset: str, n: int, time_dataset: str | None = None) -> list[FrameTime] | None:
    """Per-frame times stored in an HDF5 file, or None when the file records none.

    Looks at ``time_dataset`` when given (per-frame epoch seconds, or seconds after the file's
    ``/entry/start_time``), else the Eiger convention: ``data_collection_date`` plus
    ``frame_time`` x index, with ``count_time`` as exposure.
    """
    with open_hdf5(path) as h5:
        start = None
        for name in ("/entry/start_time", "/entry/instrument/detector/detectorSpecific/data_collection_date"):
            if name in h5:
                start = parse_time(_text(h5[name][()]))
                if start is not None:
                    break
        det = "/entry/instrument/detector"
        exposure = float(h5[f"{det}/count_time"][()]) if f"{det}/count_time" in h5 else None
        if time_dataset:
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
        if start is not None and f"{det}/frame_time" in h5:
            period = float(h5[f"{det}/frame_time"][()])
            return [FrameTime(start + timedelta(seconds=i * period), exposure, "hdf5") for i in range(n)]
    return None


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return _text(value.ravel()[0])
    return str(value)


#: Scan-log numbers from this value on are epoch seconds (1e8 s after 1970 is 1973-03-03).
EPOCH_MIN_S = 1e8
#: ... and below this one (year 5138); larger numbers are most likely epoch milliseconds.
EPOCH_MAX_S = 1e11
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_log_time(text: str) -> datetime | None:
    """A scan-log time: a date as :func:`parse_time` reads them (ISO 8601 and the formats
    detectors write), or a plain number of epoch seconds as SPEC and Bluesky write them
    (``1710406800.123``: an aware UTC datetime, exact to the microsecond). None when the text
    is neither.

    A number is taken as epoch seconds when it lies in [1e8, 1e11) (1973 to 5138); other numbers
    raise ValueError saying why: relative seconds (below 1e8) have no start to count from, and
    larger ones are likely epoch milliseconds.
    """
    text = text.strip()
    if _NUMBER.fullmatch(text):
        value = Decimal(text)
        if not EPOCH_MIN_S <= value < EPOCH_MAX_S:
            if value < EPOCH_MIN_S:
                why = ("below 1e8, so not epoch seconds; seconds relative to some start cannot be placed "
                       "in time")
            else:
                why = "1e11 or more, too large for epoch seconds (epoch milliseconds? divide by 1000)"
            raise ValueError(f"the number {text} is {why}; write ISO 8601 times or epoch seconds")
        whole = int(value.to_integral_value(rounding=ROUND_FLOOR))
        micro = int(((value - whole) * 1_000_000).to_integral_value(rounding=ROUND_HALF_EVEN))
        return _EPOCH + timedelta(seconds=whole, microseconds=micro)
    return parse_time(text)


def read_scan_log(path: str, file_column: str, start_column: str, end_column: str | None) -> list[tuple[str, datetime, datetime | None]]:
    """Rows (file or scan id, start, end) of a scan-log CSV. Errors name the file and row.

    Times are ISO 8601 (or another format :func:`parse_time` reads) or epoch seconds, told apart
    by the text itself (see :func:`parse_log_time`); ISO times without a UTC offset are local
    times, epoch seconds are UTC.
    """
    import csv

    rows = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        for col in [file_column, start_column] + ([end_column] if end_column else []):
            if col not in cols:
                raise ValueError(f"scan log '{path}' has no column '{col}' (columns: {', '.join(cols)})")
        for i, row in enumerate(reader, start=2):
            times = []
            for col in [start_column] + ([end_column] if end_column else []):
                text = row[col] or ""
                try:
                    t = parse_log_time(text)
                except ValueError as exc:
                    raise ValueError(f"scan log '{path}' line {i}, column '{col}': {exc}") from None
                if t is None and col == start_column:
                    raise ValueError(
                        f"scan log '{path}' line {i}: cannot read time '{text}' in column '{col}' "
                        "(expected ISO 8601, e.g. 2024-03-14T09:00:00.123, or epoch seconds, e.g. 1710406800.123)"
                    )
                times.append(t)
            rows.append((row[file_column].strip(), times[0], times[1] if end_column else None))
    return rows


def match_scan_log(refs: list[FrameRef], rows: list[tuple[str, datetime, datetime | None]]) -> list[FrameTime | None]:
    """Time of each frame from scan-log rows, matched on file name, stem, or a scan id that the
    file name starts with (``1355639`` matches ``1355639_summed.xye``). None where unmatched."""
    out: list[FrameTime | None] = []
    for ref in refs:
        name = os.path.basename(ref.path)
        stem = os.path.splitext(name)[0]
        hit = None
        prefix_len = -1
        for ident, start, end in rows:
            ident_name = os.path.basename(ident)
            if not ident_name:  # a blank id would prefix-match any name starting with '_'
                continue
            if ident_name in (name, stem):  # an exact match beats any prefix match
                hit = (start, end)
                break
            if len(ident_name) > prefix_len and re.match(
                re.escape(ident_name) + r"(?![0-9A-Za-z])", stem
            ):
                hit, prefix_len = (start, end), len(ident_name)
        if hit is None:
            out.append(None)
        else:
            start, end = hit
            exposure = (end - start).total_seconds() if end is not None else None
            out.append(FrameTime(start, exposure, "scan_log"))
    return out
