"""Neware ``.nda`` (binary, starts with ``NEWARE``) and ``.ndax`` (a zip archive) files, read
with NewareNDA.

NewareNDA gives the step time, and charge and discharge counters that restart at every step;
here they become test time (pauses included, from the timestamps) and one net charge.
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .assemble import _assemble
from .base import (
    REGISTRY,
    REST_CURRENT_MA,
    CyclerData,
    CyclerReadError,
    PathLike,
    _check_capacity_mode,
    _check_file,
    _library_version,
    _one_based,
    _short,
    _table_options_ignored,
    _unwrap_resets,
)

_NEWARE_REQUIRED = ("Time", "Voltage", "Current(mA)", "Step", "Cycle")
_NEWARE_REST = ("Rest", "Pause")
# members of a .ndax archive, one of which is named in the archive's first bytes
_NDAX_MEMBERS = (b"Step.xml", b"TestInfo.xml", b"VersionInfo.xml", b"data.ndc")

_TIME_GAP_S = 2.0
"""Neware: a step where the timestamps advance this much more than the step time is a pause."""

_TIME_TOLERANCE_S = 5.0
"""Neware: largest accepted difference between the step-time axis and the timestamps."""


def read_neware(path: PathLike, *, capacity: str = "auto",
                rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read a Neware ``.nda`` or ``.ndax`` file with NewareNDA.

    Time: NewareNDA's ``Time`` is the step time (it restarts at every step; the ``.nda``
    version 130 files give test time instead). The test time is the step time accumulated
    over steps, so the resolution of ``Time`` is kept (the ``Timestamp`` column has 1 s
    resolution in many files). Where the timestamps advance more than 2 s beyond the step
    time between two records (the test was paused), the difference is inserted so that
    ``start + time_s`` stays on the wall clock; steps of the timestamps backwards (clock
    corrections) are ignored. Both are listed in ``meta``; if the result still differs from
    the timestamps by more than 5 s and the timestamps are monotonic, the timestamps are used
    (``meta['time_source']`` says which).

    Capacity: NewareNDA's charge and discharge counters restart at every step; the net
    charge is the running sum of (charge - discharge) over steps. ``cycle``: NewareNDA's
    ``Cycle`` (its default: a new cycle at a charge step after a discharge, Neware's "charge
    first" statistic). ``step``: ``Step_Index`` (the program step). Status ``Rest`` or
    ``Pause`` is rest.

    Parameters
    ----------
    path : str or Path
        The ``.nda`` or ``.ndax`` file; which of the two is told by its first bytes.
    capacity : {"auto", "file", "integrate"}
        Where the charge comes from: the file's counters (``auto``, ``file``) or the
        integrated current (``integrate``).
    rest_current_ma : float
        ``|I|`` at or below this (mA) is rest.

    Returns
    -------
    CyclerData
        ``format`` ``'neware-nda'`` or ``'neware-ndax'``; ``start`` from the timestamps.

    Examples
    --------
    A file that is not a Neware file is a :class:`CyclerReadError` naming it:

    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "cell.nda"
    >>> _ = path.write_text("Time,Voltage\\n0,3.1\\n")
    >>> try:
    ...     read_neware(path)
    ... except CyclerReadError as exc:
    ...     print(str(exc).replace(str(path), "cell.nda"))
    cell.nda: not a readable Neware .nda file (cell.nda does not appear to be a Neware file.)
    """
    p = _check_file(path)
    _check_capacity_mode(capacity)
    fmt = _neware_format(p)
    df = _neware_frame(p, fmt)
    names = [str(c) for c in df.columns]
    missing = [c for c in _NEWARE_REQUIRED if c not in names]
    if missing:
        raise CyclerReadError(f"{p}: Neware data without column(s) {', '.join(missing)}; "
                              f"columns found: {', '.join(names)}")
    meta: dict[str, Any] = {"reader": _library_version("NewareNDA"),
                            "columns_found": names}
    _neware_metadata(p, fmt, meta)
    if len(df) == 0:
        raise CyclerReadError(f"{p}: no data records in the Neware file")
    _check_neware_records(p, fmt, df, meta)

    step_seq = df["Step"].to_numpy().astype(np.int64)
    boundary = step_seq[1:] != step_seq[:-1]
    step_time = df["Time"].to_numpy().astype(np.float64)
    t, start = _neware_time(df, step_time, boundary, meta)

    cap, rest, cycle, step = _neware_counters(df, names, boundary, meta)
    return _assemble(p, fmt, time_s=t, voltage_v=df["Voltage"].to_numpy().astype(np.float64),
                     current_ma=df["Current(mA)"].to_numpy().astype(np.float64),
                     capacity_mah=cap, capacity=capacity, rest_current_ma=rest_current_ma,
                     start=start, meta=meta, cycle=cycle, step=step, rest=rest, describe_row=lambda i: f"record {i} (Index "
                     f"{int(df['Index'].iloc[i]) if 'Index' in names else i + 1})")


def _neware_counters(df: Any, names: list[str], boundary: np.ndarray,
                     meta: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None,
                                                    np.ndarray, np.ndarray]:
    """Net charge (mAh, None without counters), rest flags, 1-based cycle and step."""
    cap = None
    qc_name, qd_name = "Charge_Capacity(mAh)", "Discharge_Capacity(mAh)"
    if qc_name in names and qd_name in names:
        qc = _unwrap_resets(df[qc_name].to_numpy().astype(np.float64), boundary)
        qd = _unwrap_resets(df[qd_name].to_numpy().astype(np.float64), boundary)
        cap = qc - qd
        meta["capacity_source"] = ("file: running sum over steps of Charge_Capacity - "
                                   "Discharge_Capacity (counters restart at each step)")
    rest = None
    if "Status" in names:
        status = df["Status"].astype(str).to_numpy()
        rest = np.isin(status, _NEWARE_REST)
    step_name = "Step_Index" if "Step_Index" in names else "Step"
    step = _one_based(df[step_name].to_numpy())
    cycle = _one_based(df["Cycle"].to_numpy())
    meta["cycle_source"] = ("file: NewareNDA Cycle (software_cycle_number=True, "
                            "cycle_mode='chg')")
    meta["columns"] = {"time_s": "Time (accumulated step time)", "voltage_v": "Voltage",
                       "current_ma": "Current(mA)",
                       "capacity_mah": f"{qc_name} - {qd_name}" if cap is not None else "",
                       "cycle": "Cycle", "step": step_name, "datetime": "Timestamp"}
    return cap, rest, cycle, step


def _neware_format(p: Path) -> str:
    """``neware-nda`` or ``neware-ndax`` from the first bytes (else from the suffix)."""
    with p.open("rb") as fh:
        magic = fh.read(6)
    if magic == b"NEWARE":
        return "neware-nda"
    if magic.startswith(b"PK\x03\x04"):  # .ndax files are zip archives
        return "neware-ndax"
    return "neware-ndax" if p.suffix.lower() == ".ndax" else "neware-nda"


def _neware_frame(p: Path, fmt: str) -> Any:
    """NewareNDA's table (a pandas DataFrame) of the file."""
    kind = ".ndax" if fmt == "neware-ndax" else ".nda"
    try:  # optional library (and pandas), imported when a Neware file is read
        from NewareNDA.NewareNDA import read_nda
        from NewareNDA.NewareNDAx import read_ndax
    except ImportError as exc:
        raise CyclerReadError(f"{p}: reading Neware {kind} files needs the NewareNDA package "
                              f"(pip install NewareNDA)") from exc
    # NewareNDA logs its failures before raising them; the exception carries the same text
    log = logging.getLogger("newarenda")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            # pandas deprecations inside NewareNDA are nothing the caller can act on
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            if fmt == "neware-ndax":
                return read_ndax(str(p), software_cycle_number=True, cycle_mode="chg")
            return read_nda(str(p), software_cycle_number=True, cycle_mode="chg")
    except Exception as exc:
        raise CyclerReadError(f"{p}: not a readable Neware {kind} file ({_short(exc)})") from exc
    finally:
        log.setLevel(level)


def _check_neware_records(p: Path, fmt: str, df: Any, meta: dict[str, Any]) -> None:
    """Refuse a Neware file that lost records: cut off (a partial last record, no end
    record, a data page cut short), records missing from a page, or gaps in the record
    index. NewareNDA skips what it cannot read and returns the rest without a word."""
    problem = _nda_layout_problem(p) if fmt == "neware-nda" else _ndax_layout_problem(p)
    if problem:
        raise CyclerReadError(f"{p}: {problem}; the file is damaged ({len(df)} records read)")
    if "Index" not in df.columns:
        return
    index = df["Index"].to_numpy().astype(np.int64)
    steps = np.diff(index)
    gaps = np.flatnonzero(steps != 1)
    meta["record_index"] = [int(index[0]), int(index[-1])]
    if gaps.size:
        k = int(gaps[0])
        plausible = (steps[gaps] > 1) & (steps[gaps] <= len(df))
        lost = int((steps[gaps][plausible] - 1).sum())
        wild = int((~plausible).sum())
        odd = f", {wild} jump{'s' if wild > 1 else ''} to an impossible index" if wild else ""
        raise CyclerReadError(
            f"{p}: records are missing: the record index jumps from {index[k]} to "
            f"{index[k + 1]} ({gaps.size} gap{'s' if gaps.size > 1 else ''}, {lost} "
            f"record{'s' if lost != 1 else ''} lost{odd}, {len(df)} read); the file is damaged")


def _nda_layout_problem(p: Path) -> str | None:
    """What is cut off in a ``.nda`` file: version 29 holds 86-byte records up to its end,
    version 130 closes its records with an end record (first byte 0x81)."""
    raw = p.read_bytes()
    version = raw[14] if len(raw) > 14 else None
    if version == 29:
        start = _nda29_data_start(raw)
        if start is not None and (len(raw) - start) % _NDA29_RECORD:
            n = (len(raw) - start) // _NDA29_RECORD
            return (f"the file ends {(len(raw) - start) % _NDA29_RECORD} bytes into record "
                    f"{n + 1} (records of {_NDA29_RECORD} bytes from byte {start}): it is cut off")
    elif version == 130 and len(raw) > 1026 and raw[1024:1025] == b"\x55":
        size = raw.find(raw[1024:1026], 1026) - 1024
        if size > 0 and not any(raw[k] == 0x81 for k in range(1024, len(raw), size)):
            return ("no end record after the data records (version 130 files close with one): "
                    "the file is cut off")
    return None


_NDA29_RECORD = 86
"""Bytes per record of a version 29 ``.nda`` file."""


def _nda29_data_start(raw: bytes) -> int | None:
    """Where the records of a version 29 ``.nda`` file start, found as NewareNDA finds it."""
    marker = b"\x00\x00\x00\x00\x55\x00"
    k = raw.find(marker)
    while k != -1 and k + 4 + _NDA29_RECORD < len(raw):
        if raw[k + 4 + _NDA29_RECORD] == 0x55 and raw[k + 4 + 12] != 0:
            return k + 4
        k = raw.find(marker, k + 4)
    return None


def _ndax_layout_problem(p: Path) -> str | None:
    """What is missing from the records of a ``.ndax`` archive's ``data.ndc``: version 5 holds
    4096-byte pages whose header counts their records (bytes 2-3)."""
    import zipfile

    try:
        with zipfile.ZipFile(p) as zf:
            ndc = zf.read("data.ndc")
    except (KeyError, OSError, zipfile.BadZipFile, ValueError):
        return None  # NewareNDA has read it; what it could not read it has said
    if len(ndc) < 3 or ndc[0] != 1 or ndc[2] != 5:
        return None
    if len(ndc) % 4096:
        return (f"its data.ndc is cut off ({len(ndc)} bytes, not whole pages of 4096 bytes; "
                f"the last page holds {len(ndc) % 4096})")
    for page in range(1, len(ndc) // 4096):
        block = ndc[page * 4096:(page + 1) * 4096]
        stated = int.from_bytes(block[2:4], "little")
        found = sum(1 for k in range(125, 4096 - 56 - 86, 87) if block[k + 7] == 0x55)
        if found < stated:
            lost = stated - found
            return (f"page {page} of its data.ndc states {stated} records but holds {found} "
                    f"readable ones ({lost} record{'s' if lost > 1 else ''} lost)")
    return None


def _neware_metadata(p: Path, fmt: str, meta: dict[str, Any]) -> None:
    """Test information of the file (program, channel) into ``meta``; failures noted there."""
    # imported by _neware_frame already; optional library
    from NewareNDA.NewareNDA import read_nda_metadata
    from NewareNDA.NewareNDAx import read_ndax_metadata

    try:
        if fmt == "neware-ndax":
            raw_meta = read_ndax_metadata(str(p))
            info = dict((raw_meta.get("TestInfo") or {}).get("TestInfo") or {})
            info.pop("MULTI_RANGE", None)
            meta["neware"] = info
            if info.get("StepName"):
                meta["program"] = info["StepName"]
            if info.get("ChlID"):
                meta["channel"] = "-".join(str(info.get(k, "?"))
                                           for k in ("DevID", "UnitID", "ChlID"))
        else:
            meta["neware"] = dict(read_nda_metadata(str(p)))
    except Exception as exc:  # the metadata are optional
        meta["metadata_error"] = str(exc)


def _neware_time(df: Any, step_time: np.ndarray, boundary: np.ndarray,
                 meta: dict[str, Any]) -> tuple[np.ndarray, datetime | None]:
    """Test time (s, from 0) and start of a NewareNDA table; see :func:`read_neware`."""
    # step time restarts at a step boundary where it falls: add the previous step's end
    t = _unwrap_resets(step_time, boundary)
    t = t - t[0]
    ts, start = _neware_timestamps(df)
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        if ts is None:
            meta["time_source"] = "step time (not monotonic, no timestamps)"
            return t, start
        meta["time_source"] = "Timestamp (the step time does not accumulate to a monotonic axis)"
        return ts, start
    if ts is None:
        meta["time_source"] = "accumulated step time (no timestamps)"
        return t, start
    extra = np.diff(ts) - np.diff(t)
    gaps = np.flatnonzero(extra > _TIME_GAP_S)
    back = np.flatnonzero(extra < -_TIME_GAP_S)
    if gaps.size:
        add = np.zeros(t.size)
        add[gaps + 1] = extra[gaps]
        t = t + np.cumsum(add)
        meta["pauses"] = [(int(i) + 1, round(float(extra[i]), 3)) for i in gaps[:50]]
        meta["pause_total_s"] = round(float(extra[gaps].sum()), 3)
    if back.size:
        meta["timestamp_steps_back"] = [(int(i) + 1, round(float(extra[i]), 3))
                                        for i in back[:50]]
    deviation = float(np.max(np.abs(t - ts)))
    meta["max_timestamp_deviation_s"] = round(deviation, 3)
    if deviation > _TIME_TOLERANCE_S and not back.size and np.all(np.diff(ts) >= 0):
        meta["time_source"] = (f"Timestamp (accumulated step time differs by {deviation:.1f} s)")
        return ts, start
    meta["time_source"] = ("accumulated step time" if not gaps.size else
                           "accumulated step time + pauses from the timestamps")
    return t, start


def _neware_timestamps(df: Any) -> tuple[np.ndarray | None, datetime | None]:
    """Seconds since the first ``Timestamp`` (None unless every record has one) and the first
    timestamp."""
    ts = None
    start = None
    if "Timestamp" in df.columns:
        stamps = df["Timestamp"]
        if len(stamps) and not stamps.isna().any():
            ts = (stamps - stamps.iloc[0]).dt.total_seconds().to_numpy().astype(np.float64)
            first = stamps.iloc[0]
            start = first.to_pydatetime() if hasattr(first, "to_pydatetime") else first
        elif len(stamps) and not stamps.isna().iloc[0]:
            start = stamps.iloc[0].to_pydatetime()
    return ts, start


def _sniff_nda(head: bytes) -> bool:
    # the magic, then binary header fields (a text table starting with the word has no NUL)
    return head.startswith(b"NEWARE") and b"\x00" in head[6:64]


def _sniff_ndax(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") and any(m in head for m in _NDAX_MEMBERS)


REGISTRY.register("neware-nda", read=_table_options_ignored(read_neware), suffixes=(".nda",),
                  sniff=_sniff_nda, description="Neware binary file (NewareNDA)")
REGISTRY.register("neware-ndax", read=_table_options_ignored(read_neware), suffixes=(".ndax",),
                  sniff=_sniff_ndax, description="Neware zip archive (NewareNDA)")
