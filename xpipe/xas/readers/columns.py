"""Beamline text files of columns (the fallback format of the XAS family).

Larch's ``read_ascii`` parses the numbers and recognises the header layouts of many
beamlines (GSECARS/APS 13-ID, NSLS XDAC, SSRL, KEK-PF, ...); this module names the columns,
reads what the header says (element, edge, E0, start time) and applies the setups of KEK-PF
(angles, channels named by their mode row, dark offsets) and SSRL (dark offsets).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..scan import XasReadError, XasScan
from .base import (
    REGISTRY,
    ColumnSpec,
    PathLike,
    _check_last_row,
    _data_lines,
    _edge_name,
    _element_symbol,
    _existing_file,
    _file_text,
    _norm_name,
    _parse_time,
    _plain,
    _quiet,
    _Table,
    _unique,
)
from .build import _build_scan

_HEADER_ELEMENT_RE = re.compile(
    r"^[#;!%*\s]*(?:scanparameters\.element|element\.symbol|element)\s*[:=]\s*([A-Za-z]{1,2})\b",
    re.I)
_HEADER_EDGE_RE = re.compile(r"^[#;!%*\s]*(?:\w+\.)?edge\s*[:=]\s*([KLMN][1-7]?)\b", re.I)
_HEADER_E0_RE = re.compile(r"^[#;!%*\s]*(?:\w+\.)?e0\s*[:=]\s*([0-9]+(?:\.[0-9]*)?)", re.I)
_HEADER_TIME_RE = re.compile(r"scan\.start_time\s*[:=]\s*(.+)$", re.I)


def _header_facts(t: _Table, header: Sequence[str]) -> None:
    for line in header:
        if t.element is None and (m := _HEADER_ELEMENT_RE.search(line)):
            t.element = _element_symbol(m.group(1))
        if t.edge is None and (m := _HEADER_EDGE_RE.search(line)):
            t.edge = _edge_name(m.group(1))
        if t.e0 is None and (m := _HEADER_E0_RE.search(line)):
            with contextlib.suppress(ValueError):
                t.e0 = float(m.group(1))
        if t.time_s is None and (m := _HEADER_TIME_RE.search(line)):
            t.time_s = _parse_time(m.group(1))
            t.metadata["start_time"] = m.group(1).strip()


def _label_words(line: str, ncol: int) -> list[str] | None:
    text = line.strip()
    for prefix in ("#L", "#C", "#", ";", "%", "!", "*"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    text = text.strip()
    if not text or not re.search(r"[A-Za-z]", text):
        return None
    for words in (re.split(r"\t|\s{2,}|,", text), text.split()):
        words = [w.strip() for w in words if w.strip()]
        if len(words) == ncol:
            numeric = sum(bool(re.fullmatch(r"[-+]?[0-9.eE+-]+", w)) for w in words)
            if numeric < ncol:
                return words
    return None


def _generic_labels(header: Sequence[str], ncol: int) -> list[str] | None:
    """Column names from the last meaningful header line (or the one before it)."""
    tried = 0
    for line in reversed(header):
        stripped = line.strip().lstrip("#;%!* ").strip()
        if not stripped or not re.search(r"[A-Za-z0-9]", stripped):
            continue  # blank or a '#------' rule
        words = _label_words(line, ncol)
        if words:
            return words
        tried += 1
        if tried >= 2:
            break
    return None


# '#  9) XMAP4:AsKa_Sum   19) XSP3:0:PbLa': a numbered list of the columns, several per line
_NUMBERED_LABEL_RE = re.compile(r"(?:^|\s)(\d{1,3})\)\s+(.*?)(?=\s+\d{1,3}\)\s|\s*$)")


def _numbered_labels(header: Sequence[str], ncol: int) -> list[str] | None:
    """Column names from a numbered list in the header (APS XSD files write one beside a
    heading line that is cut short), when it names every column 1..ncol exactly once."""
    found: dict[int, str] = {}
    for line in header:
        text = line.strip()
        if not text.startswith("#"):
            continue
        for m in _NUMBERED_LABEL_RE.finditer(text[1:]):
            n, label = int(m.group(1)), m.group(2).strip()
            if not label or found.get(n, label) != label:
                return None
            found[n] = label
    if sorted(found) != list(range(1, ncol + 1)):
        return None
    return [found[n] for n in range(1, ncol + 1)]


def _fdmnes_setup(t: _Table, header: Sequence[str]) -> None:
    """FDMNES output: energies relative to the edge E_edge the header states, and the element
    and edge from its Z and n_edge."""
    import xraydb  # slow to import (its database): only for FDMNES files

    for line in header:
        if "=" not in line or "E_edge" not in line.split("=", 1)[1]:
            continue
        values = line.split("=", 1)[0].split()
        try:
            e_edge, z, n_edge = float(values[0]), int(float(values[1])), int(float(values[2]))
        except (IndexError, ValueError):
            return
        name = t.names[0]
        t.data[name] = t.data[name] + e_edge
        t.units[name] = "eV"
        t.metadata["energy_offset_ev"] = e_edge
        t.metadata["energy_note"] = f"energies in the file are relative to E_edge = {e_edge:g} eV"
        t.fmt = "FDMNES"
        with contextlib.suppress(ValueError, KeyError, TypeError):
            t.element = xraydb.atomic_symbol(z)
        t.edge = "K" if n_edge == 1 else t.edge
        return


def _kekpf_setup(t: _Table, header: Sequence[str], d_spacing: float | None) -> None:
    """KEK-PF (and SPring-8, SAGA, Aichi) files: angles, and channels named by their mode row."""
    t.d_spacing = d_spacing
    for name in ("angle_drive", "angle_read"):
        if name in t.data:
            t.units[name] = "deg"
    t.energy_hint = "angle_read" if "angle_read" in t.data else None
    rows = {line.split()[0].lower(): line.split()[1:] for line in header if line.split()}
    nch = len(t.names) - 3
    modes = rows.get("mode", [])[-nch:] if nch > 0 else []
    offsets = rows.get("offset", [])[-nch:] if nch > 0 else []
    role = {1: "i0", 2: "itrans", 3: "ifluor"}
    renamed = list(t.names)
    for k in range(nch):
        try:
            code = int(float(modes[k]))
        except (IndexError, ValueError):
            continue
        base = role.get(code)
        if base is None:
            continue
        name = base if base not in renamed else f"{base}_{k + 1}"
        old = renamed[3 + k]
        renamed[3 + k] = name
        t.data[name] = t.data.pop(old)
        with contextlib.suppress(IndexError, ValueError):
            t.dark[name] = float(offsets[k])
    t.names = renamed
    if "time" in t.data:
        t.time_column = "time"
    t.metadata["dark_offsets"] = dict(t.dark)


def _ssrl_setup(t: _Table, header: Sequence[str]) -> None:
    """SSRL EXAFS Data Collector: the 'Offsets:' row gives dark counts per second per column."""
    for i, line in enumerate(header[:-1]):
        if line.strip().lower().startswith("offsets"):
            try:
                values = [float(v) for v in header[i + 1].split()]
            except ValueError:
                return
            if len(values) == len(t.names):
                t.dark = {n: v for n, v in zip(t.names, values) if v}
                t.metadata["dark_offsets"] = dict(t.dark)
            break
    clock = [n for n in t.names if "clock" in n or n in ("time", "count_time")]
    if clock:
        t.time_column = clock[0]


def _read_text_table(path: Path) -> _Table:
    # larch takes seconds to import: only when a text file is read
    from larch.io import read_ascii
    from larch.io.xafs_beamlines import guess_beamline

    try:
        with _quiet():
            grp = read_ascii(str(path))
    except Exception as exc:  # Larch raises many kinds; report them as one
        raise XasReadError(f"{path}: could not be read as a text file of columns "
                           f"({type(exc).__name__}: {exc})") from exc
    data = np.asarray(getattr(grp, "data", []), dtype=float)
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 2:
        raise XasReadError(f"{path}: no table of numbers found; expected rows of numeric "
                           "columns (energy, I0, It, ...) after an optional header")
    header = [str(h) for h in getattr(grp, "header", [])]
    ncol = data.shape[0]
    beamline = guess_beamline(header)(header)
    fmt = getattr(beamline, "name", "generic")
    if fmt == "generic":
        words = _generic_labels(header, ncol)
        names = _unique([_norm_name(w) for w in words]) if words else [
            f"col{i + 1}" for i in range(ncol)]
        named = words is not None
        fmt = "generic columns" if named else "columns without names"
    else:
        names = _unique([_norm_name(n) for n in grp.array_labels])
        named = True
    numbered = _numbered_labels(header, ncol)
    if numbered is not None:
        names, named = _unique([_norm_name(w) for w in numbered]), True
    t = _Table(path=path, names=names, data=dict(zip(names, data)), fmt=fmt, named=named)
    attrs = getattr(grp, "attrs", None)
    if attrs is not None:
        t.metadata["header"] = {k: _plain(v) for k, v in vars(attrs).items()
                                if not k.startswith("_")}
    if fmt == "KEK PF":
        _kekpf_setup(t, header, getattr(grp, "mono_dspace", None))
    elif fmt == "SSRL":
        _ssrl_setup(t, header)
    elif any("FDMNES" in line for line in header[:3]):
        _fdmnes_setup(t, header)
    _header_facts(t, header)
    return t


def read_columns(path: PathLike, *, energy: ColumnSpec | None = None,
                 i0: ColumnSpec | None = None, itrans: ColumnSpec | None = None,
                 iref: ColumnSpec | None = None,
                 ifluor: ColumnSpec | Sequence[ColumnSpec] | None = None,
                 dead_time: Sequence[ColumnSpec] | None = None, mu: ColumnSpec | None = None,
                 mode: str = "auto", energy_units: str = "auto", reference: bool = True,
                 require_reference: bool = False, dark_offsets: bool = True) -> XasScan:
    """Read a beamline text file of columns.

    Column names come from the header (the last comment line before the data, or the layout
    of a beamline Larch recognises: GSECARS/APS 13-ID, NSLS XDAC, SSRL, KEK-PF, ...). A file
    without names gets ``col1 .. colN`` and energy is the first column.

    Parameters
    ----------
    path : str or Path
        The data file.
    energy, i0, itrans, iref, mu : str or int, optional
        Columns to use, by name (any case, or ``'colN'``, 1-based) or 0-based index; found from
        common names when omitted (energy: 'energy', 'E', 'mono energy'; i0: 'I0', 'mon';
        itrans: 'It', 'I1'; iref: 'Iref', 'Ir', 'I2').
    ifluor : str, int or list, optional
        Fluorescence channel(s); ``mu = sum_i(If_i * dtc_i) / I0``. Found from names like
        'ifluor', 'IFch1..', 'Fe_Ka_mca1..' when omitted.
    dead_time : list, optional
        Dead-time correction factor per fluorescence channel: a column, or 'ICR/OCR' as the ratio
        of two columns. Found for 'DTFactor_mcaN' or 'IFfastN'/'IFslowN' columns when omitted.
    mode : {'auto', 'transmission', 'fluorescence', 'mu'}
        'auto' prefers fluorescence channels, then I0/It, then a mu column.
    energy_units : {'auto', 'eV', 'keV', 'deg'}
        'auto' uses what the file says, else keV when every value is below 200.
    reference : bool
        Read the reference channel ``ln(It/Iref)`` when there is one.
    require_reference : bool
        Raise when no usable reference channel is present.
    dark_offsets : bool
        Subtract the dark counts per second the header states (KEK-PF, SSRL) times the count time.

    Returns
    -------
    XasScan
        mu(E) on an energy axis in eV that rises strictly; ``metadata['columns']`` names the
        columns used for each role.

    Examples
    --------
    A transmission scan across the Fe K edge (7112 eV), energies written in keV:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> e_kev = np.linspace(7.08, 7.18, 41)
    >>> it = 1e5 * np.exp(-1.0 - np.arctan((e_kev - 7.112) / 0.002) / np.pi)
    >>> path = Path(tempfile.mkdtemp()) / "fe_foil.dat"
    >>> rows = [f"{e:.4f} 100000 {i:.2f}" for e, i in zip(e_kev, it)]
    >>> _ = path.write_text("# energy  i0  it\\n" + "\\n".join(rows) + "\\n")
    >>> scan = read_columns(path)
    >>> scan.mode, scan.metadata["columns"]
    ('transmission', {'energy': 'energy', 'i0': 'i0', 'itrans': 'it'})
    >>> float(scan.energy_ev[0]), scan.metadata["energy_units_in_file"]
    (7080.0, 'keV (values below 200)')
    >>> round(float(scan.mu[-1] - scan.mu[0]), 3)
    0.971
    """
    p = _existing_file(path)
    text = _file_text(p)
    _check_last_row(p, text)
    t = _read_text_table(p)
    t.line_of = _data_lines(text, len(t.names))
    return _build_scan(t, energy=energy, i0=i0, itrans=itrans, iref=iref, ifluor=ifluor,
                       dead_time=dead_time, mu=mu, mode=mode, energy_units=energy_units,
                       reference=reference, require_reference=require_reference,
                       dark_offsets=dark_offsets)


def _read_as_list(path: PathLike, **kw) -> list[XasScan]:
    return [read_columns(path, **kw)]


REGISTRY.register("columns", read=_read_as_list, suffixes=(".dat", ".txt", ".xmu"),
                  description="beamline text columns (read_columns); any file no format claims")
