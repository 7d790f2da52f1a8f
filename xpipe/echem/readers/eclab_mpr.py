"""The columns of a BioLogic EC-Lab binary file (``.mpr``), named as the text export names them.

yadg's EC-Lab extractor reads the file first: it knows the column ids of recent EC-Lab
versions (``<Ece>``, ``step time``, the energies per electrode) that galvani refuses. galvani
reads a file yadg cannot (yadg also parses the technique's settings block, and refuses a
technique it does not know). Both give the same numbers where both read a file: they take the
same bytes of the data module.

yadg gives each column a name and a ``units`` attribute (``Ewe`` in ``V``, ``(Q-Qo)`` in
``mA·h`` or ``C``); the column is named here ``Ewe/V``, ``(Q-Qo)/mA.h``, as EC-Lab's text
export writes it, and the table builder of :mod:`.biologic` converts by that unit (it never
assumes one). yadg reads a column id it does not know as a 4-byte value and goes on, which
misplaces every column after it when the true width differs: such a file goes to galvani, and
is refused when galvani cannot read it either.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from .base import CyclerReadError, _as_datetime, _library_version, _short

MPR_MAGIC = b"BIO-LOGIC MODULAR FILE"

#: yadg's unit symbols as EC-Lab's text export writes them
_UNIT_TEXT = {"mA·h": "mA.h", "W·h": "W.h", "Ω": "Ohm", "Ω·cm": "Ohm.cm"}

#: the bits of EC-Lab's flag byte that yadg returns as columns of their own
_FLAG_NAMES = ("mode", "ox or red", "error", "control changes", "Ns changes", "counter inc.")

#: yadg's names for the parts of EC-Lab's ``control/V/mA`` column
_YADG_RENAMED = {"control_V": "control", "control_I": "control"}

#: an acquisition start outside these years is not a start the instrument wrote
_PLAUSIBLE_YEARS = (1990, 2100)


class _NotRead(Exception):
    """One library could not read the file (the reason is the message)."""


def mpr_columns(p: Path) -> tuple[dict[str, np.ndarray], np.ndarray | None, datetime | None,
                                  dict[str, Any]]:
    """The columns of a ``.mpr`` file, EC-Lab's mode per record (3 = rest, None when the file
    has no flag byte), the acquisition start and what the reader found (``meta``).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cell.mpr"
    >>> _ = path.write_bytes(b"BIO-LOGIC MODULAR FILE" + bytes(40))
    >>> try:
    ...     mpr_columns(path)
    ... except CyclerReadError as exc:
    ...     print(str(exc).replace(str(path), "cell.mpr").split(" (")[0])
    cell.mpr: not a readable BioLogic .mpr file
    """
    raw = p.read_bytes()
    if not raw.startswith(MPR_MAGIC):
        raise CyclerReadError(f"{p}: not a readable BioLogic .mpr file (it does not start with "
                              f"'BIO-LOGIC MODULAR FILE'; found {raw[:24]!r})")
    reasons = []
    for read in (_read_yadg, _read_galvani):
        try:
            return read(p, raw)
        except _NotRead as exc:
            reasons.append(" ".join(str(exc).split()))  # the libraries' messages in one line
    raise CyclerReadError(f"{p}: not a readable BioLogic .mpr file ({'; '.join(reasons)})")


# --------------------------------------------------------------------------------------------
# yadg


def _read_yadg(p: Path, raw: bytes) -> tuple[dict[str, np.ndarray], np.ndarray | None,
                                             datetime | None, dict[str, Any]]:
    try:
        import yadg.extractors  # optional library, imported when a .mpr file is read
    except ImportError:
        raise _NotRead("yadg: not installed") from None
    unknown = _unknown_column_ids(raw)
    if unknown is None:
        raise _NotRead("yadg: its table of EC-Lab column ids was not found (a yadg version "
                       "other than 7?), so its reading cannot be checked")
    if unknown:
        raise _NotRead(f"yadg: column ids {unknown} are unknown to it")
    notes: list[str] = []
    try:
        with warnings.catch_warnings(), _yadg_log_into(notes):
            warnings.simplefilter("ignore")
            ds = yadg.extractors.extract("eclab.mpr", p, timezone="UTC").to_dataset()
    except Exception as exc:  # yadg raises assertions, KeyError, NotImplementedError, ...
        raise _NotRead(f"yadg: {type(exc).__name__}: {_short(exc, 150)}") from None
    cols: dict[str, np.ndarray] = {}
    for name, da in ds.data_vars.items():
        name = str(name)
        if (name.endswith("_uncertainty") or name in _FLAG_NAMES or da.dims != ("uts",)
                or da.dtype.kind not in "biuf"):
            continue  # uncertainties, flag bits, the text of 'I Range'
        unit = da.attrs.get("units")
        label = _YADG_RENAMED.get(name, name)
        cols[f"{label}/{_UNIT_TEXT.get(unit, unit)}" if unit else label] = np.asarray(da.values)
    mode = None
    if "mode" in ds.data_vars:
        mode = np.asarray(ds["mode"].values).astype(np.int64)
    original = ds.attrs.get("original_metadata") or {}
    if isinstance(original, str):
        original = json.loads(original)
    settings = original.get("settings") or {}
    log = original.get("log") or {}
    meta: dict[str, Any] = {"reader": _library_version("yadg")}
    if notes:
        meta["reader_notes"] = notes
    if settings.get("technique"):
        meta["technique"] = str(settings["technique"])
    if log.get("ec_lab_version"):
        meta["ec_lab_version"] = str(log["ec_lab_version"])
    start = _ole_start(p, log.get("ole_timestamp"), meta)
    return cols, mode, start, meta


_YADG_LOGGERS = ("yadg.extractors", "yadg.extractors.eclab.mpr",
                 "yadg.extractors.eclab.techniques", "yadg.dgutils.dateutils")


class _Notes(logging.Filter):
    """Takes yadg's warnings of this thread into a list instead of the log."""

    def __init__(self, notes: list[str]) -> None:
        super().__init__()
        self.notes = notes
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        if record.levelno >= logging.WARNING:
            self.notes.append(_short(record.getMessage(), 200))
        return False


@contextmanager
def _yadg_log_into(notes: list[str]) -> Iterator[None]:
    """yadg's warnings while it reads one file ('Ambiguous column ID 174 assigned as ...', 'No
    log module') go into ``notes``, kept with the file's ``meta``, not into the run's log."""
    capture = _Notes(notes)
    loggers = [logging.getLogger(name) for name in _YADG_LOGGERS]
    for lg in loggers:
        lg.addFilter(capture)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(capture)


def _ole_start(p: Path, ole_days: Any, meta: dict[str, Any]) -> datetime | None:
    """The acquisition start from the OLE date of the file's log module (days since
    1899-12-30, as galvani converts it); None without a log module or for a date out of
    :data:`_PLAUSIBLE_YEARS` (said in ``meta`` and warned)."""
    if ole_days is None:
        meta["start_warning"] = f"{p}: no log module, so no acquisition start; start is None"
        return None
    try:
        start = datetime(1899, 12, 30) + timedelta(days=float(ole_days))
    except (OverflowError, ValueError, TypeError):
        start = None
    if start is None or not _PLAUSIBLE_YEARS[0] <= start.year < _PLAUSIBLE_YEARS[1]:
        msg = (f"{p}: the log module's acquisition start ({ole_days!r} days after 1899-12-30) "
               f"is not a date between {_PLAUSIBLE_YEARS[0]} and {_PLAUSIBLE_YEARS[1]}; "
               f"start left as None")
        meta["start_warning"] = msg
        warnings.warn(msg, stacklevel=4)
        return None
    return start


def _unknown_column_ids(raw: bytes) -> list[int] | None:
    """The column ids of the data module that yadg's EC-Lab tables do not hold (it would read
    them as 4-byte values); [] also when the data module cannot be found (yadg then says
    itself what is wrong); None when yadg's tables are not where yadg 7 keeps them."""
    try:
        from yadg.extractors.eclab.mpr_columns import (  # yadg's tables, with yadg
            data_columns,
            flag_columns,
            module_header_dtypes,
        )
    except ImportError:
        return None
    for module in raw.split(b"MODULE")[1:]:
        if not module.startswith(b"VMP data"):
            continue
        for dtype in module_header_dtypes:
            if len(module) < dtype.itemsize:
                continue
            header = np.frombuffer(module, dtype=dtype, count=1)[0]
            if len(module) != dtype.itemsize + int(header["length"]):
                continue
            names = dtype.names or ()
            version = int(header["oldver"]) + (int(header["newver"]) if "newver" in names else 0)
            return _ids_not_in(module[dtype.itemsize:], version, data_columns, flag_columns)
    return []


def _ids_not_in(data: bytes, version: int, data_columns: dict, flag_columns: dict) -> list[int]:
    if len(data) < 5:
        return []
    n_columns = data[4]
    order = ">u2" if version in (10, 11) else "<u2"
    if version not in (2, 3, 10, 11) or len(data) < 5 + 2 * n_columns:
        return []
    ids = np.frombuffer(data, offset=5, dtype=order, count=n_columns)
    return [int(i) for i in ids if int(i) not in flag_columns and int(i) % 256 not in data_columns]


# --------------------------------------------------------------------------------------------
# galvani


def _read_galvani(p: Path, raw: bytes) -> tuple[dict[str, np.ndarray], np.ndarray | None,
                                               datetime | None, dict[str, Any]]:
    try:
        from galvani import BioLogic  # optional library, imported when yadg cannot read a file
    except ImportError:
        raise _NotRead("galvani: not installed") from None
    try:
        mpr = BioLogic.MPRfile(str(p))
        data = mpr.data
        names = list(data.dtype.names or ())
    except Exception as exc:  # galvani raises assertions, ValueError, ...
        raise _NotRead(f"galvani: {_short(exc, 150)}") from None
    cols = {n: np.asarray(data[n]) for n in names if n != "flags"}
    mode = None
    if "flags" in names:
        mode = np.asarray(data["flags"]).astype(np.int64) & 0x03
    meta: dict[str, Any] = {"reader": _library_version("galvani"),
                            "mpr_version": getattr(mpr, "version", None)}
    for key in ("startdate", "enddate"):
        value = getattr(mpr, key, None)
        if value is not None:
            meta[key] = str(value)
    return cols, mode, _as_datetime(getattr(mpr, "timestamp", None)), meta
