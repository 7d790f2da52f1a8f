"""XDI files (the XAS Data Interchange format): header fields, named columns, a table.

A plain XDI file is parsed here with numpy; anything else that claims to be XDI goes to
Larch's full XDI parser, whose messages then say what is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..scan import XasReadError, XasScan
from .base import (
    REGISTRY,
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


def _fast_xdi(p: Path):
    """Parse a plain XDI file (header fields, '# Column.N: name [units]', a numeric table) with
    numpy, about 10x faster than Larch's line-by-line reader; None when the file is anything
    else, so that Larch's reader (and its messages) take over."""
    try:
        text = p.read_text(errors="strict")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# XDI/"):
        return None
    attrs: dict[str, dict[str, str]] = {}
    columns: dict[int, tuple[str, str]] = {}
    first_data = None
    in_comments = False
    for i, line in enumerate(lines[1:], start=1):
        if not line.startswith("#"):
            first_data = i
            break
        body = line[1:].strip()
        if body.startswith("///"):
            in_comments = True
            continue
        if body.startswith("---"):
            in_comments = False
            continue
        if in_comments or ":" not in body:
            continue
        key, value = (x.strip() for x in body.split(":", 1))
        if "." not in key or " " in key:
            continue
        family, name = key.split(".", 1)
        if family.lower() == "column":
            try:
                parts = value.split()
                columns[int(name)] = (parts[0], parts[1] if len(parts) > 1 else "")
            except (ValueError, IndexError):
                return None
            attrs.setdefault("column", {})[name] = value
            continue
        attrs.setdefault(family.lower(), {})[name.lower()] = value
    if first_data is None or not columns or sorted(columns) != list(range(1, len(columns) + 1)):
        return None
    try:
        table = np.loadtxt(lines[first_data:], dtype=float, ndmin=2)
    except ValueError:
        return None
    if table.shape[1] != len(columns):
        return None
    mono = attrs.get("mono", {})
    try:
        dspacing = float(mono["d_spacing"].split()[0]) if "d_spacing" in mono else None
    except ValueError:
        dspacing = None
    return SimpleNamespace(
        data=table.T, array_labels=[columns[k][0] for k in sorted(columns)],
        array_units=[columns[k][1] for k in sorted(columns)], attrs=attrs, dspacing=dspacing,
        element=attrs.get("element", {}).get("symbol"), edge=attrs.get("element", {}).get("edge"))




def _xdi_group(p: Path) -> Any:
    """The parsed file: by :func:`_fast_xdi`, else by Larch's full XDI parser."""
    g = _fast_xdi(p)
    if g is not None:
        return g
    # not the plain layout; larch takes seconds to import, so only now
    from larch.io import read_xdi as larch_read_xdi

    try:
        with _quiet():
            return larch_read_xdi(str(p))
    except Exception as exc:  # Larch raises ValueError and others for files it cannot parse
        detail = " ".join(str(exc).split())
        raise XasReadError(f"{p}: not a readable XDI file; expected a first line '# XDI/1.x', "
                           f"'# Column.N: name' fields and a numeric table ({detail})") from exc


def _xdi_table(p: Path, g: Any) -> _Table:
    """The columns of a parsed XDI file, with its header fields in ``metadata['xdi']``."""
    data = np.asarray(g.data, dtype=float)
    labels = [str(s) for s in getattr(g, "array_labels", [])]
    if data.ndim != 2 or not labels or data.shape[0] != len(labels):
        raise XasReadError(f"{p}: XDI file without a usable data table; expected one column per "
                           "'# Column.N' field")
    names = _unique([_norm_name(s) for s in labels])
    units = {n: str(u) for n, u in zip(names, getattr(g, "array_units", [])) if u}
    t = _Table(path=p, names=names, data=dict(zip(names, data)), units=units, fmt="XDI")
    fields: dict[str, Any] = {}
    for family, members in (getattr(g, "attrs", {}) or {}).items():
        if isinstance(members, Mapping):
            for key, value in members.items():
                fields[f"{family.capitalize()}.{key}"] = _plain(value)
    t.metadata["xdi"] = fields
    d = _plain(getattr(g, "dspacing", None))
    if isinstance(d, (int, float)) and d > 0:
        t.d_spacing = float(d)
        t.metadata["mono_d_spacing"] = float(d)
    for key in ("Beamline.name", "Beamline.Name"):
        if key in fields:
            t.metadata["beamline"] = fields[key]
    for key in ("Sample.name", "Sample.Name"):
        if key in fields:
            t.metadata["sample"] = fields[key]
    t.element = _element_symbol(_plain(getattr(g, "element", None)))
    t.edge = _edge_name(_plain(getattr(g, "edge", None)))
    _xdi_facts(t, fields)
    return t


def _xdi_facts(t: _Table, fields: Mapping[str, Any]) -> None:
    """Start time, angle axis, and edge, E0 and element from the header's other spellings."""
    start = fields.get("Scan.start_time")
    if start:
        t.time_s = _parse_time(start)
        t.metadata["start_time"] = str(start)
    if "energy" not in t.data and "angle" in t.data:
        t.units.setdefault("angle", "deg")
        t.energy_hint = "angle"
    for key, value in fields.items():
        if t.edge is None and key.lower() in ("scanparameters.edge", "element.edge"):
            t.edge = _edge_name(value)
    for key in ("Scanparameters.e0", "Scanparameters.E0", "Scan.edge_energy"):
        value = fields.get(key)
        if value is not None and t.e0 is None:
            t.e0 = _first_number(value)
    if t.element is None:
        for key, value in fields.items():
            if key.lower() in ("scanparameters.element", "element.symbol"):
                t.element = _element_symbol(value)


def _first_number(value: Any) -> float | None:
    """The finite number a header value starts with (``'7112.0 eV'``), else None."""
    words = str(value).split()
    try:
        number = float(words[0]) if words else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def read_xdi(path: PathLike, *, mode: str = "auto", reference: bool = True,
             require_reference: bool = False) -> XasScan:
    """Read an XDI file.

    Columns are found by their XDI names (energy or angle, i0, itrans, ifluor, irefer, mutrans,
    mufluor, murefer) and by the same beamline names as :func:`read_columns`; several
    fluorescence channels with dead-time factors are summed.

    Parameters
    ----------
    path : str or Path
        The XDI file.
    mode : {'auto', 'transmission', 'fluorescence', 'mu'}
        'auto' prefers fluorescence channels, then i0/itrans, then a mu column.
    reference : bool
        Read the reference channel ``ln(It/Iref)`` when the file has one.
    require_reference : bool
        Raise when the file has no usable reference channel.

    Returns
    -------
    XasScan
        mu(E) with energy in eV; ``element``/``edge`` from Element.symbol/Element.edge,
        ``time_s`` (s since the Unix epoch) from Scan.start_time, and every header field in
        ``metadata['xdi']`` ('Mono.d_spacing', 'Beamline.name', ...).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> e = np.linspace(7080.0, 7180.0, 26)
    >>> mu = 0.5 + np.arctan((e - 7112.0) / 2.0) / np.pi
    >>> head = ["# XDI/1.0", "# Element.symbol: Fe", "# Element.edge: K",
    ...         "# Scan.start_time: 2024-05-01T12:00:00", "# Column.1: energy eV",
    ...         "# Column.2: mutrans", "#----", "# energy mutrans"]
    >>> rows = [f"{a:.2f} {b:.5f}" for a, b in zip(e, mu)]
    >>> path = Path(tempfile.mkdtemp()) / "fe.xdi"
    >>> _ = path.write_text("\\n".join(head + rows) + "\\n")
    >>> scan = read_xdi(path)
    >>> scan.element, scan.edge, scan.mode, scan.energy_ev.size
    ('Fe', 'K', 'mu', 26)
    >>> scan.time_s
    1714564800.0
    """
    p = _existing_file(path)
    text = _file_text(p)
    _check_last_row(p, text)
    t = _xdi_table(p, _xdi_group(p))
    t.line_of = _data_lines(text, len(t.names))
    return _build_scan(t, mode=mode, reference=reference, require_reference=require_reference)


def _read_as_list(path: PathLike, **kw: Any) -> list[XasScan]:
    return [read_xdi(path, **kw)]


def _sniff(head: bytes) -> bool:
    """An XDI file's first line: '# XDI/1.0 ...'."""
    return re.match(r"#\s*XDI/", head.decode("latin-1")) is not None


REGISTRY.register("xdi", read=_read_as_list, suffixes=(".xdi",), sniff=_sniff,
                  description="XAS Data Interchange (read_xdi)")
