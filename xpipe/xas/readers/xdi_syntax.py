"""The XDI 1.0 grammar: the version line, the header fields, the column fields and the table.

An XDI file is checked against the XDI 1.0 specification and its dictionary of metadata, and
refused, with the line and what was expected, when it breaks a rule that decides how its numbers
are read:

- the first line is the version line ``# XDI/<major>.<minor>[.<release>] [application ...]``;
- every header line up to the field-end line (``# ///``) or the header-end line (``# ----``) is a
  field ``Family.key: value``: the family starts with a letter, family and key are letters,
  digits, '_' or '-', and there is one '.' and a value;
- the header-end line is present;
- there is one ``Column.N`` field for each column of the table, numbered 1..N;
- the defined fields whose dictionary format is an element, an edge or a time hold one
  (``Element.symbol``, ``Element.edge``, ``Scan.start_time``, ...), ``Mono.d_spacing`` is a
  number, and a number written in a field whose format is a number with units
  (``Facility.energy``, ``Sample.temperature``, ...) is a valid number with the dictionary's units
  (a value in words, such as 'Room Temperature', is kept as text);
- every row of the table holds the same number of finite numbers (no ``nan``, no words).

A file with an ``Outer.name`` field and ``# Outer.value: v`` lines inside its table (a 2D scan)
is split into blocks, one per outer value, never joined into one spectrum.

A missing ``Element.symbol`` or ``Element.edge`` is not refused (many beamlines write XDI headers
without them and say it elsewhere), nor is a time written with a space instead of the 'T'
(``2019-07-09 11:02:47``, as EPICS step scans write it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ..scan import XasReadError
from .base import _element_symbol

_VERSION_RE = re.compile(r"^#\s*XDI/(\d+)\.(\d+)(?:\.(\d+))?(?:\s+(.*?))?\s*$")
_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+)\s*:\s*(.*?)\s*$")
_FLOAT_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                      r"(?:Z|[+-]\d{2}:?\d{2})?)?$")
# The separator lines; some writers put words after the slashes ('# /// Users Comments ///').
_FIELD_END_RE = re.compile(r"^/{3,}")
_HEADER_END_RE = re.compile(r"^-{3,}\s*$")

#: Edge names of the XDI dictionary (Element.edge, Element.ref_edge).
XDI_EDGES = frozenset("K L L1 L2 L3 M M1 M2 M3 M4 M5 N N1 N2 N3 N4 N5 N6 N7 "
                      "O O1 O2 O3 O4 O5 O6 O7".split())

# Defined fields whose dictionary format is a number with units: the units allowed (lower case);
# None: units optional and free.
_UNITS = {
    "facility.energy": ("GeV or MeV", ("gev", "mev")),
    "facility.current": ("mA or A", ("ma", "a")),
    "sample.temperature": ("K or C", ("k", "c", "degc", "°c", "degk", "degrees k", "degrees c",
                                      "kelvin", "celsius")),
    "mono.d_spacing": ("Angstrom", ("å", "a", "ang", "angstrom", "angstroms")),
    "scan.edge_energy": ("eV, keV or 1/A", None),
}
_UNITS_REQUIRED = ("facility.energy", "facility.current", "sample.temperature")


@dataclass
class XdiBlock:
    """One table of an XDI file: a whole 1D scan, or one outer value of a 2D scan."""

    data: np.ndarray
    lines: list[int]
    outer_value: float | None = None


@dataclass
class XdiFile:
    """An XDI file, checked: its version, fields, columns, comments and table blocks."""

    path: Path
    version: str
    applications: str
    fields: dict[str, str]
    field_lines: dict[str, int]
    labels: list[str]
    units: list[str]
    comments: list[str] = field(default_factory=list)
    blocks: list[XdiBlock] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """A field's value by its name in any case ('Mono.d_spacing'), or None."""
        return self.fields.get(name.lower())


def _refuse(p: Path, n: int, what: str, expected: str) -> XasReadError:
    return XasReadError(f"{p}: line {n}: {what}; expected {expected} (XDI 1.0 specification)")


def _version(p: Path, first: str) -> tuple[str, str]:
    m = _VERSION_RE.match(first)
    if m is None:
        shown = first.strip()[:60]
        what = "a malformed XDI version line" if "XDI/" in first else "not an XDI version line"
        raise XasReadError(f"{p}: not a readable XDI file; expected line 1 to be the version "
                           "line '# XDI/1.0' (integers major.minor, an optional .release, then "
                           f"optional application versions such as 'GSE/1.0'), found {shown!r}, "
                           f"{what} (XDI 1.0 specification)")
    if int(m.group(1)) != 1:
        raise _refuse(p, 1, f"XDI version {m.group(1)}.{m.group(2)} is not supported",
                      "an XDI 1.x file")
    version = ".".join(g for g in m.group(1, 2, 3) if g is not None)
    return version, m.group(4) or ""


def _field_problem(body: str) -> str:
    """Why a header line is not a field 'Family.key: value'."""
    if not body:
        return "an empty header line among the fields (user comments go after a '# ///' line)"
    if ":" not in body:
        return f"{body[:60]!r} has no ':' between the field name and its value"
    name, value = (x.strip() for x in body.split(":", 1))
    if "." not in name:
        return f"field name {name!r} is not 'Family.key' (no '.')"
    if name.count(".") > 1:
        return f"field name {name!r} has more than one '.'"
    if not re.match(r"[A-Za-z]", name):
        return f"field name {name!r} does not start with a letter"
    if not value:
        return f"field {name!r} has no value"
    return f"field name {name!r} holds characters other than letters, digits, '_' and '-'"


def _number_with_units(value: str) -> tuple[float | None, str]:
    words = value.split(None, 1)
    if not words or not _FLOAT_RE.match(words[0]):
        return None, ""
    number = float(words[0])
    return (number if math.isfinite(number) else None), (words[1].strip() if len(words) > 1 else "")


def _check_defined(p: Path, n: int, name: str, value: str) -> None:
    """Refuse a defined field whose value does not have its dictionary format."""
    key = name.lower()
    value = value.split("||", 1)[0].strip()  # EPICS writers append '|| PV.NAME'
    shown = f"{name} = {value[:50]!r}"
    if key in ("element.symbol", "element.reference"):
        if _element_symbol(value) is None:
            raise _refuse(p, n, f"{shown} is not an element symbol", "a symbol such as 'Cu'")
    elif key in ("element.edge", "element.ref_edge"):
        if value.upper() not in XDI_EDGES:
            raise _refuse(p, n, f"{shown} is not an absorption edge",
                          "one of K, L1, L2, L3, M1..M5, N1..N7, O1..O7 (or L, M, N, O)")
    elif key in ("scan.start_time", "scan.end_time"):
        ok = _TIME_RE.match(value) is not None
        if ok:
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                ok = False
        if not ok:
            raise _refuse(p, n, f"{shown} is not an ISO 8601 date and time",
                          "a time such as '2001-06-26T22:27:31'")
    elif key == "outer.value":
        if _number_with_units(value)[0] is None:
            raise _refuse(p, n, f"{shown} is not a number", "the outer scan value, a number")
    elif key in _UNITS and (key == "mono.d_spacing" or re.match(r"[+-]?\.?\d", value)):
        # a number, as written, must be one; words ('Room Temperature') stay text, except for the
        # d-spacing, which converts angles to energy
        number, units = _number_with_units(value)
        allowed_text, allowed = _UNITS[key]
        if number is None:
            raise _refuse(p, n, f"{shown} is not a finite number",
                          f"a number{' with units ' + allowed_text if key in _UNITS_REQUIRED else ''}")
        bad_units = (key in _UNITS_REQUIRED and not units) or (
            units and allowed is not None and units.lower() not in allowed)
        if bad_units:
            raise _refuse(p, n, f"{shown} does not give its units as {allowed_text}",
                          f"a number followed by {allowed_text}")


def _header(p: Path, lines: list[str]) -> tuple[int, dict[str, str], dict[str, int], list[str]]:
    """Check the header; return the index of the first line after the header-end line, the
    fields (lower-case names), their line numbers and the user comments."""
    fields: dict[str, str] = {}
    where: dict[str, int] = {}
    comments: list[str] = []
    in_comments = False
    for i in range(1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if not line.lstrip().startswith("#"):
            raise _refuse(p, i + 1, "the data start before the header-end line",
                          "a line '# ----' (three or more '-') between the header and the data")
        body = line.lstrip()[1:].strip()
        if _HEADER_END_RE.match(body):
            return i + 1, fields, where, comments
        if in_comments:
            comments.append(line.lstrip()[1:])
            continue
        if _FIELD_END_RE.match(body):
            in_comments = True
            continue
        m = _FIELD_RE.match(body)
        if m is None or not m.group(3):
            raise _refuse(p, i + 1, _field_problem(body),
                          "header fields 'Family.key: value' up to a '# ///' or '# ----' line")
        name = f"{m.group(1)}.{m.group(2)}"
        _check_defined(p, i + 1, name, m.group(3))
        fields[name.lower()] = m.group(3)
        where[name.lower()] = i + 1
    raise _refuse(p, len(lines), "no header-end line and no data",
                  "a line '# ----' after the header, then rows of numbers")


def _columns(p: Path, fields: dict[str, str], where: dict[str, int], ncol: int, first_row: int
             ) -> tuple[list[str], list[str]]:
    """Column labels and units from the Column.N fields, which must number 1..ncol."""
    numbered: dict[int, str] = {}
    for name, value in fields.items():
        family, key = name.split(".", 1)
        if family != "column":
            continue
        if not key.isdigit() or int(key) < 1:
            raise _refuse(p, where[name], f"field 'Column.{key}' is not numbered",
                          "'Column.N' with N = 1, 2, ... counting the data columns from the left")
        numbered[int(key)] = value
    if not numbered:
        raise XasReadError(f"{p}: no 'Column.N' fields; expected 'Column.1: energy eV' and one "
                           "'Column.N: label' field for each data column (XDI 1.0 specification)")
    top = max(numbered)
    missing = [k for k in range(1, top + 1) if k not in numbered]
    if missing:
        raise _refuse(p, where[f"column.{top}"], f"field 'Column.{top}' is given but "
                      f"'Column.{missing[0]}' is not", "Column.N fields numbered 1, 2, 3, ... "
                      "without gaps")
    if top != ncol:
        raise _refuse(p, first_row, f"the table has {ncol} columns but the header names {top} "
                      f"(Column.1 .. Column.{top})", "one 'Column.N' field per data column")
    labels, units = [], []
    for k in range(1, ncol + 1):
        words = numbered[k].split("||", 1)[0].split("#", 1)[0].split()
        if not words:
            raise _refuse(p, where[f"column.{k}"], f"field 'Column.{k}' has no label",
                          "a column label such as 'energy' or 'i0'")
        labels.append(words[0])
        units.append(words[1] if len(words) > 1 else "")
    return labels, units


def _table(p: Path, lines: list[str], start: int) -> tuple[list[XdiBlock], int]:
    """The rows of numbers after the header, in blocks split at '# Outer.value:' lines."""
    blocks: list[XdiBlock] = []
    rows: list[list[float]] = []
    row_lines: list[int] = []
    outer: float | None = None
    ncol = 0
    first = 0
    for i in range(start, len(lines)):
        text = lines[i].strip()
        if not text:
            continue
        if text.startswith("#"):
            m = _FIELD_RE.match(text[1:].strip())
            if not ncol:
                continue  # the column labels (and any other comment) before the first row
            if m is None or f"{m.group(1)}.{m.group(2)}".lower() != "outer.value":
                raise _refuse(p, i + 1, "a comment line inside the data table",
                              "only rows of numbers after the header ('# Outer.value: v' lines "
                              "only between the blocks of a 2D scan)")
            _check_defined(p, i + 1, "Outer.value", m.group(3))
            if rows:
                blocks.append(XdiBlock(np.array(rows).T, row_lines, outer))
            rows, row_lines = [], []
            outer = float(m.group(3).split()[0])
            continue
        words = text.split()
        if not ncol:
            ncol, first = len(words), i + 1
        if len(words) != ncol:
            raise _refuse(p, i + 1, f"the row holds {len(words)} values, line {first} holds {ncol}",
                          "the same number of values on every row of the table")
        for k, w in enumerate(words):
            if not _FLOAT_RE.match(w):
                raise _refuse(p, i + 1, f"{w[:30]!r} in column {k + 1} is not a number",
                              "finite integers or floating-point numbers ('nan' and words are "
                              "not allowed)")
        rows.append([float(w) for w in words])
        row_lines.append(i + 1)
    if rows:
        blocks.append(XdiBlock(np.array(rows).T, row_lines, outer))
    if not blocks:
        raise _refuse(p, len(lines), "no rows of numbers after the header",
                      "a data table, one row per point of the scan")
    return blocks, first


def parse_xdi(path: Path | str, text: str) -> XdiFile:
    """Check an XDI file's text against the XDI 1.0 specification and parse it.

    Parameters
    ----------
    path : Path or str
        The file, for the messages.
    text : str
        Its text.

    Returns
    -------
    XdiFile
        Version, fields (by lower-case name), column labels and units, user comments, and the
        table as one block, or one block per ``Outer.value`` of a 2D scan.

    Raises
    ------
    XasReadError
        Naming the file, the line and the rule it breaks.

    Examples
    --------
    >>> text = ("# XDI/1.0 GSE/1.0\\n# Column.1: energy eV\\n# Column.2: mutrans\\n"
    ...         "# Element.symbol: Cu\\n# Element.edge: K\\n#----\\n# energy mutrans\\n"
    ...         "8979.0 0.5\\n8980.0 0.7\\n")
    >>> x = parse_xdi("cu.xdi", text)
    >>> x.version, x.applications, x.labels, x.units, x.get("Element.symbol")
    ('1.0', 'GSE/1.0', ['energy', 'mutrans'], ['eV', ''], 'Cu')
    >>> x.blocks[0].data.shape
    (2, 2)
    >>> parse_xdi("bad.xdi", text.replace("8980.0 0.7", "8980.0 nan"))
    Traceback (most recent call last):
    ...
    xpipe.xas.scan.XasReadError: bad.xdi: line 9: 'nan' in column 2 is not a number; expected finite integers or floating-point numbers ('nan' and words are not allowed) (XDI 1.0 specification)
    """
    p = Path(path)
    lines = text.splitlines()
    if not lines:
        raise XasReadError(f"{p}: file is empty; expected an XDI file")
    version, applications = _version(p, lines[0])
    start, fields, where, comments = _header(p, lines)
    blocks, first_row = _table(p, lines, start)
    labels, units = _columns(p, fields, where, blocks[0].data.shape[0], first_row)
    outer_name = fields.get("outer.name")
    if len(blocks) > 1 and not outer_name:
        raise XasReadError(f"{p}: the table holds 'Outer.value' lines but the header has no "
                           "'Outer.name' field; expected both for a 2D scan")
    if outer_name and blocks[0].outer_value is None and "outer.value" in fields:
        blocks[0].outer_value = float(fields["outer.value"].split()[0])
    return XdiFile(path=p, version=version, applications=applications, fields=fields,
                   field_lines=where, labels=labels, units=units, comments=comments,
                   blocks=blocks)
