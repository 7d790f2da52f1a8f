"""XDI files (the XAS Data Interchange format): header fields, named columns, a table.

The file is checked against the XDI 1.0 specification by :mod:`.xdi_syntax` (version line,
header fields, column fields, a table of finite numbers) and refused, with the line and the
rule, when it breaks one; a 2D file (``Outer.name`` with ``# Outer.value:`` lines in its table)
gives one scan per block.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..scan import XasReadError, XasScan
from .base import (
    REGISTRY,
    ColumnSpec,
    PathLike,
    _check_last_row,
    _edge_name,
    _element_symbol,
    _existing_file,
    _file_text,
    _norm_name,
    _parse_time,
    _Table,
    _unique,
)
from .build import _build_scan
from .xdi_syntax import XdiFile, parse_xdi


def _xdi_tables(p: Path, x: XdiFile, energy_given: bool = False) -> list[_Table]:
    """One table of columns per block of the file, with its header fields in
    ``metadata['xdi']`` ('Mono.d_spacing', 'Beamline.name', ...)."""
    names = _unique([_norm_name(s) for s in x.labels])
    units = {n: u for n, u in zip(names, x.units) if u}
    fields: dict[str, Any] = {}
    for name, value in x.fields.items():
        family, key = name.split(".", 1)
        fields[f"{family.capitalize()}.{key}"] = value
    d_spacing = None
    for key in ("mono.d_spacing", "mono.dspacing", "monochromator.dspacing",
                "monochromator.d_spacing"):
        if key in x.fields and d_spacing is None:
            d_spacing = _first_number(x.fields[key].split("||", 1)[0])
    outer_name = x.get("Outer.name")
    tables = []
    for k, block in enumerate(x.blocks):
        t = _Table(path=p, names=list(names), data=dict(zip(names, block.data)),
                   units=dict(units), fmt="XDI", line_of=list(block.lines))
        t.metadata["xdi"] = dict(fields)
        t.metadata["xdi_version"] = x.version
        if x.applications:
            t.metadata["xdi_applications"] = x.applications
        if len(x.blocks) > 1:
            t.metadata["xdi_block"] = {"index": k, "of": len(x.blocks), "outer_name": outer_name,
                                       "outer_value": block.outer_value}
        if d_spacing is not None and d_spacing > 0:
            t.d_spacing = d_spacing
            t.metadata["mono_d_spacing"] = d_spacing
        for key, meta in (("beamline.name", "beamline"), ("sample.name", "sample")):
            if key in x.fields:
                t.metadata[meta] = x.fields[key]
        t.element = _element_symbol(x.get("Element.symbol"))
        t.edge = _edge_name(x.get("Element.edge"))
        _xdi_facts(t, fields)
        if not energy_given:
            _xdi_abscissa(t, x)
        tables.append(t)
    return tables


def _xdi_abscissa(t: _Table, x: XdiFile) -> None:
    """The abscissa is Column.1 (XDI 1.0): energy, or a monochromator angle with the d-spacing."""
    first, unit = t.names[0], x.units[0].lower()
    if first == "angle" or unit in ("deg", "degree", "degrees"):
        if not t.d_spacing:
            raise XasReadError(f"{t.path}: Column.1 is the monochromator angle "
                               f"'{x.labels[0]} {x.units[0]}' but the header has no "
                               "'Mono.d_spacing' field; expected the d-spacing (in Angstrom) "
                               "to convert angles to energy (XDI 1.0 specification)")
        t.units[first] = "deg"
        t.energy_hint = first
        return
    if "energy" in first:
        return
    units = f" in {x.units[0]}" if x.units[0] else ""
    raise XasReadError(
        f"{t.path}: Column.1 is '{x.labels[0]}'{units}, not energy or a monochromator angle: "
        "this XDI file is not an energy scan; expected 'Column.1: energy eV' (or pass "
        "energy=<column> to read_scan to use a column as energy in eV anyway)")


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


def read_xdi_blocks(path: PathLike, *, energy: ColumnSpec | None = None,
                    i0: ColumnSpec | None = None, itrans: ColumnSpec | None = None,
                    iref: ColumnSpec | None = None,
                    ifluor: ColumnSpec | Sequence[ColumnSpec] | None = None,
                    dead_time: Sequence[ColumnSpec] | None = None, mu: ColumnSpec | None = None,
                    mode: str = "auto", energy_units: str = "auto", reference: bool = True,
                    require_reference: bool = False) -> list[XasScan]:
    """Read every block of an XDI file: one scan for a 1D file, one per outer value of a 2D file.

    The keywords are those of :func:`read_xdi`. The scans of a 2D file are labelled
    ``<stem>_block<k>`` (k from 0) and carry ``metadata['xdi_block']`` (index, count, outer name
    and value); they are never joined into one spectrum.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> head = ["# XDI/1.0", "# Column.1: energy eV", "# Column.2: mutrans",
    ...         "# Outer.name: y_mm", "# Outer.value: 0.5", "#----"]
    >>> e = np.linspace(8900.0, 9100.0, 12)
    >>> rows = [f"{a:.1f} {0.1 * k:.2f}" for k, a in enumerate(e)]
    >>> path = Path(tempfile.mkdtemp()) / "map.xdi"
    >>> _ = path.write_text("\\n".join(head + rows + ["# Outer.value: 1.0"] + rows) + "\\n")
    >>> [(s.label, s.metadata["xdi_block"]["outer_value"]) for s in read_xdi_blocks(path)]
    [('map_block0', 0.5), ('map_block1', 1.0)]
    """
    p = _existing_file(path)
    text = _file_text(p)
    _check_last_row(p, text)
    try:  # XDI header values may be UTF-8 ('3.1356 Å'); the table is ASCII either way
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        pass
    tables = _xdi_tables(p, parse_xdi(p, text), energy_given=energy is not None)
    many = len(tables) > 1
    return [_build_scan(t, energy=energy, i0=i0, itrans=itrans, iref=iref, ifluor=ifluor,
                        dead_time=dead_time, mu=mu, mode=mode, energy_units=energy_units,
                        reference=reference, require_reference=require_reference,
                        label=f"{p.stem}_block{k}" if many else None)
            for k, t in enumerate(tables)]


def read_xdi(path: PathLike, *, block: int | None = None, **kw: Any) -> XasScan:
    """Read an XDI file.

    Columns are found by their XDI names (energy or angle, i0, itrans, ifluor, irefer, mutrans,
    mufluor, murefer) and by the same beamline names as
    :func:`~xpipe.xas.readers.columns.read_columns`; several fluorescence channels with
    dead-time factors are summed. The file is checked against the XDI 1.0 specification first
    (see :mod:`xpipe.xas.readers.xdi_syntax`).

    Parameters
    ----------
    path : str or Path
        The XDI file.
    block : int, optional
        Which block of a 2D file (0-based); required when the file has more than one.
    **kw
        ``mode`` ('auto', 'transmission', 'fluorescence', 'mu'; 'auto' prefers fluorescence
        channels, then i0/itrans, then a mu column), ``reference``, ``require_reference``, and
        the column choices ``energy``, ``i0``, ``itrans``, ``iref``, ``ifluor``, ``dead_time``,
        ``mu``, ``energy_units`` as in ``read_columns``.

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
    scans = read_xdi_blocks(path, **kw)
    if block is None:
        if len(scans) > 1:
            info = scans[0].metadata["xdi_block"]
            raise XasReadError(f"{path}: a 2D XDI file with {len(scans)} blocks (one per value "
                               f"of '{info['outer_name']}'); expected block=<0..{len(scans) - 1}>"
                               ", or read_scan, which returns every block")
        return scans[0]
    if not -len(scans) <= block < len(scans):
        raise XasReadError(f"{path}: block {block} is out of range; the file has {len(scans)}")
    return scans[block]


def _read_as_list(path: PathLike, **kw: Any) -> list[XasScan]:
    return read_xdi_blocks(path, **kw)


def _sniff(head: bytes) -> bool:
    """An XDI file's first line: '# XDI/1.0 ...'."""
    return re.match(r"#\s*XDI/", head.decode("latin-1")) is not None


REGISTRY.register("xdi", read=_read_as_list, suffixes=(".xdi",), sniff=_sniff,
                  description="XAS Data Interchange (read_xdi)")
