"""Readers for XPS spectra: ISO 14976 VAMAS, SPECS Prodigy ``.xy`` and two-column text.

Every reader returns :class:`XpsSpectrum` objects on an ascending binding-energy axis, with
the intensity (and any further recorded variable) reordered to match, and raises
:class:`XpsReadError` with a message that names the file, the block or line, and what was
expected.

Energy scale
------------
Binding energy from a kinetic-energy abscissa is ``BE = hv - KE - phi``
(:func:`kinetic_to_binding`). The vendors behind the VAMAS and ``.xy`` files read here (SPECS
Prodigy, Kratos, CasaXPS exports) write kinetic energies that are already referenced to the
spectrometer's Fermi level, ``KE = hv - BE``: the Prodigy ``.xy`` export of the same survey
lists binding energy 1350 eV where the VAMAS export lists kinetic energy 136.61 eV at
hv = 1486.61 eV, and the Kratos wide scan (KE 286.69 to 1491.69 eV at hv = 1486.69 eV) is the
usual 1200 to -5 eV binding-energy survey. The work function in those files (4.1082 eV for
SPECS, -4.5 eV for Kratos) is a record of the instrument setting, not a correction still to be
made, so :func:`read_vamas` and :func:`read_specs_xy` use ``phi = 0`` unless told otherwise
(``subtract_work_function=True``); the file's value is kept in ``work_function_ev``.
Synchrotron text files give kinetic energies against the analyser's vacuum level: there the
caller passes the photon energy and the work function to :func:`read_text`.

VAMAS layout (ISO 14976)
------------------------
One value per line. The experiment header (format line, institution, instrument, operator,
experiment id, comment lines, experiment mode, scan mode, number of spectral regions, map
sizes for MAP/MAPDP, experimental variables, parameter inclusion/exclusion list, manually
entered items, future-upgrade entry counts and experiment entries, number of blocks) is
followed by the blocks and ``end of experiment``. A block holds its identifier, sample, date,
comment lines, technique, the parameters that depend on the experiment mode and technique,
the abscissa (label, units, start, increment) for REGULAR scans, the corresponding variables,
signal mode, collection time, scans, additional numerical parameters, future-upgrade block
entries and the ordinate values, interleaved by corresponding variable. In IRREGULAR scans
there is no abscissa start/increment: the abscissa is the first corresponding variable and
its values are listed with the ordinates. The inclusion/exclusion list numbers the block
parameters 1 to 40, from the year (1) through the block comment (8), technique (9), source
energy (14), work function (25), abscissa (31), corresponding variables (32) to the additional
numerical parameters (40); parameters it leaves out of the second and later blocks take the
first block's values. ``1E37`` marks a value that is not known (read as ``None``).

Files seen in practice: CRLF or LF line ends, blank lines before the first line (Kratos),
NUL bytes after labels (PHI MultiPak, which also writes VAMAS as ``.npl``), IRREGULAR
abscissae that repeat an energy (CasaXPS; repeated points are averaged, counted in
``metadata['merged_duplicate_points']``).

CasaXPS notes in block comments
-------------------------------
``CASA comp`` and ``CASA region`` lines are kept verbatim (``metadata['casa_comp']``,
``metadata['casa_region']``) and parsed (``metadata['casa_components']``,
``metadata['casa_regions']``, see :func:`parse_casa_comp` and :func:`parse_casa_region`).
Their positions and limits are on the block's abscissa after CasaXPS's energy calibration
(``Calib M = ... A = ... BE ADD`` comment lines, summed in
``metadata['casa_calibration_shift_ev']``); the binding energies derived from them
(``position_be_ev``, ``binding_limits_ev``) are therefore on the calibrated scale, i.e. raw
binding energy plus that shift. The spectra themselves are never shifted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "XpsReadError",
    "XpsSpectrum",
    "kinetic_to_binding",
    "parse_casa_comp",
    "parse_casa_region",
    "read_specs_xy",
    "read_text",
    "read_vamas",
    "read_xps",
]

PathLike = str | Path

VAMAS_MAGIC = "VAMAS Surface Chemical Analysis Standard Data Transfer Format"
"""Start of the first line of every VAMAS file (followed by ``1988 May 4``)."""

UNSET_ABOVE = 1e36
"""VAMAS writes ``1E37`` for a value that is not known; anything this large reads as None."""

_EXP_MODES = ("MAP", "MAPDP", "MAPSV", "MAPSVDP", "NORM", "SDP", "SDPSV", "SEM", "NOEXP")
_SCAN_MODES = ("REGULAR", "IRREGULAR", "MAPPING")
_SPUTTER_TECHNIQUES = ("FABMS", "FABMS energy spec", "ISS", "SIMS", "SIMS energy spec", "SNMS",
                       "SNMS energy spec")
_DEPTH_PROFILE_MODES = ("MAPDP", "MAPSVDP", "SDP", "SDPSV")
_ELECTRON_TECHNIQUES = ("AES diff", "AES dir", "EDX", "ELS", "UPS", "XPS", "XRF")
_CPS_UNITS = ("c/s", "cps", "counts/s", "counts per second", "count/s", "1/s", "s-1", "s^-1")


class XpsReadError(ValueError):
    """A file that cannot be read as XPS data; the message names the file and what was expected."""


class XpsFileNotFoundError(XpsReadError, FileNotFoundError):
    """The file does not exist (both an :class:`XpsReadError` and a :class:`FileNotFoundError`)."""


@dataclass
class XpsSpectrum:
    """One XPS spectrum on an ascending binding-energy axis.

    ``intensity`` is as the file gives it (counts or counts per second:
    ``metadata['intensity_unit']`` says which, ``'counts'`` or ``'counts/s'``).
    """

    binding_energy_ev: np.ndarray
    intensity: np.ndarray
    source: str
    label: str
    sample: str = ""
    region: str = ""
    photon_energy_ev: float | None = None
    work_function_ev: float | None = None
    pass_energy_ev: float | None = None
    source_label: str = ""
    dwell_s: float | None = None
    n_scans: int | None = None
    kinetic_axis: bool = False
    time_s: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.binding_energy_ev.size)

    @property
    def kinetic_energy_ev(self) -> np.ndarray | None:
        """``hv - BE - phi`` with the work function used in reading (None without hv)."""
        if self.photon_energy_ev is None:
            return None
        phi = float(self.metadata.get("work_function_applied_ev", 0.0))
        return self.photon_energy_ev - self.binding_energy_ev - phi

    def __repr__(self) -> str:
        be = self.binding_energy_ev
        span = f"{be[0]:.2f}-{be[-1]:.2f} eV" if be.size else "empty"
        return (f"XpsSpectrum(label={self.label!r}, region={self.region!r}, "
                f"sample={self.sample!r}, n={be.size}, BE {span}, hv={self.photon_energy_ev})")


def kinetic_to_binding(ke_ev, photon_energy_ev: float, work_function_ev: float = 0.0):
    """Binding energy ``hv - KE - phi`` (eV), for a scalar or an array of kinetic energies.

    >>> float(kinetic_to_binding(1402.6, 1486.6))
    84.0
    >>> kinetic_to_binding(np.array([92.0, 96.0]), 180.0, 4.0).tolist()
    [84.0, 80.0]
    """
    if photon_energy_ev is None or not np.isfinite(photon_energy_ev) or photon_energy_ev <= 0:
        raise ValueError(f"photon energy must be a positive number of eV, got {photon_energy_ev!r}")
    phi = 0.0 if work_function_ev is None else float(work_function_ev)
    return float(photon_energy_ev) - np.asarray(ke_ev, dtype=float) - phi


# --------------------------------------------------------------------------------------------
# helpers shared by the readers


def _check_exists(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "does not exist"
        raise XpsFileNotFoundError(
            f"{p}: {what}; expected an XPS data file (VAMAS .vms/.npl, SPECS .xy or "
            "two-column text)")
    return p


def _read_lines(path: Path) -> tuple[list[str], int]:
    """Text lines of a file with CRLF/CR/LF line ends; NUL bytes removed (and counted)."""
    raw = path.read_bytes()
    n_nul = raw.count(b"\x00")
    if n_nul:
        raw = raw.replace(b"\x00", b"")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if text.startswith("\ufeff"):
        text = text[1:]
    # str.splitlines also splits at \x0c, \x85 and others, which may sit inside a comment.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines, n_nul


def _opt_float(value: float | None) -> float | None:
    """None for the VAMAS 'unknown' marker (1E37) and for NaN."""
    if value is None or not np.isfinite(value) or abs(value) >= UNSET_ABOVE:
        return None
    return float(value)


_ORBITAL_RE = re.compile(r"^([A-Z][a-z]?)\s*(\d[spdfg](?:\s*\d/2)?)(.*)$")


def _region_name(species: str, transition: str = "") -> str:
    """'Fe' + '2p' -> 'Fe 2p'; 'Fe2p' -> 'Fe 2p'; anything else as given ('Survey', 'wide')."""
    species, transition = species.strip(), transition.strip()
    text = f"{species} {transition}".strip() if transition else species
    m = _ORBITAL_RE.match(text)
    if m:
        return f"{m.group(1)} {m.group(2).replace(' ', '')}{m.group(3)}".strip()
    return text


_ORBITAL_SEARCH_RE = re.compile(r"(?<![A-Za-z])([A-Z][a-z]?)[ _-]?(\d[spdf])(?![A-Za-z0-9])")


def _find_orbital(text: str) -> str:
    """First 'Fe2p' / 'Au_4f' / 'O 1s'-like core level named in a text, as 'Fe 2p' ('' if none)."""
    m = _ORBITAL_SEARCH_RE.search(text)
    return f"{m.group(1)} {m.group(2)}" if m else ""


def _intensity_unit(label: str, unit: str, *extra: str) -> str:
    """'counts/s' when the label, unit or block name says per second, else 'counts'."""
    u = unit.strip().lower()
    if u in _CPS_UNITS:
        return "counts/s"
    for text in (label, *extra):
        t = text.lower()
        if "per second" in t or "counts/s" in t or "cps" in t.split():
            return "counts/s"
    return "counts"


def _epoch(year: int, month: int, day: int, hour: int, minute: int, second: float,
           utc_offset_h: float) -> float | None:
    try:
        tz = timezone(timedelta(hours=utc_offset_h))
        whole = int(second)
        t = datetime(year, month, day, hour, minute, whole, tzinfo=tz)
    except (ValueError, OverflowError, TypeError):
        return None
    return t.timestamp() + (second - whole)


def _sort_ascending(be: np.ndarray, *arrays: np.ndarray) -> tuple[int, tuple[np.ndarray, ...]]:
    """Sort by ascending binding energy; points at the same energy are averaged.

    Returns the number of points removed by merging, and the arrays.
    """
    order = np.argsort(be, kind="stable")
    be = be[order]
    arrays = tuple(a[order] for a in arrays)
    if be.size < 2 or np.all(np.diff(be) > 0):
        return 0, (be, *arrays)
    uniq, inverse, counts = np.unique(be, return_inverse=True, return_counts=True)
    merged = tuple(np.bincount(inverse, weights=a, minlength=uniq.size) / counts
                   for a in arrays)
    return int(be.size - uniq.size), (uniq, *merged)


# --------------------------------------------------------------------------------------------
# CasaXPS block-comment lines

_CASA_NAME_RE = re.compile(r"\(\*(.*?)\*\)")


def _casa_fields(line: str, tag: str) -> tuple[list[str], list[str]]:
    """Quoted ``(*...*)`` names and the bare tokens between them, after the ``CASA x`` tag."""
    body = line.strip()[len(tag):]
    names = _CASA_NAME_RE.findall(body)
    tokens = _CASA_NAME_RE.sub(" \x01 ", body).split()
    return names, tokens


def _to_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_casa_region(line: str) -> dict[str, Any]:
    """The simple fields of a CasaXPS ``CASA region`` line.

    Returns ``name``, ``background`` (e.g. ``'Shirley'``, ``'U 2 Tougaard'``), ``start`` and
    ``end`` (limits on the block's own abscissa, which may be kinetic energy), ``rsf``,
    ``average_width``, ``start_offset``, ``end_offset`` and the remaining tokens as ``extra``.
    Unparsable lines give ``{'raw': line}`` only.

    >>> d = parse_casa_region("CASA region (*C 1s*) (*Shirley*) 1193.9 1205.0 0.278 2 0 0 1 -450")
    >>> d['name'], d['background'], d['start'], d['end']
    ('C 1s', 'Shirley', 1193.9, 1205.0)
    """
    out: dict[str, Any] = {"raw": line}
    if not line.strip().startswith("CASA region"):
        return out
    names, tokens = _casa_fields(line, "CASA region")
    if len(names) < 2:
        return out
    # tokens: \x01 \x01 start end rsf avg_width start_offset end_offset ...
    nums = [t for t in tokens[2:] if t != "\x01"]
    keys = ("start", "end", "rsf", "average_width", "start_offset", "end_offset")
    vals = [_to_float(t) for t in nums[: len(keys)]]
    if len(vals) < 2 or vals[0] is None or vals[1] is None:
        return out
    out.update(name=names[0], background=names[1])
    out.update(zip(keys, vals))
    out["extra"] = nums[len(keys):] + names[2:]
    return out


_COMP_KEYS = ("Area", "MFWHM", "Position")


def parse_casa_comp(line: str) -> dict[str, Any]:
    """Name, lineshape and the Area/MFWHM/Position groups of a CasaXPS ``CASA comp`` line.

    Each group is ``{'value', 'lower', 'upper', 'link', 'factor'}`` (``link`` -1: free; else
    the index of the component it is tied to with ``factor``; Position's factor is an offset).
    Positions are on the block's own abscissa (kinetic energy for Kratos exports).

    >>> d = parse_casa_comp("CASA comp (*Mo 3d*) (*LA(1.53,243)*) Area 230.4 1e-020 2327991 -1 1 "
    ...                     "MFWHM 0.885 0.2 2 -1 1 Position 1257.22 1257.02 1257.22 -1 1 RSF 10.8")
    >>> d['name'], d['lineshape'], d['position']['value'], d['area']['link']
    ('Mo 3d', 'LA(1.53,243)', 1257.22, -1)
    """
    out: dict[str, Any] = {"raw": line}
    if not line.strip().startswith("CASA comp"):
        return out
    names, tokens = _casa_fields(line, "CASA comp")
    if len(names) < 2:
        return out
    out.update(name=names[0], lineshape=names[1])
    for i, tok in enumerate(tokens):
        if tok in _COMP_KEYS and i + 5 < len(tokens):
            vals = [_to_float(t) for t in tokens[i + 1: i + 6]]
            if any(v is None for v in vals):
                continue
            out[tok.lower().replace("mfwhm", "fwhm")] = {
                "value": vals[0], "lower": vals[1], "upper": vals[2], "link": int(vals[3]),
                "factor": vals[4]}
        elif tok == "RSF" and i + 1 < len(tokens):
            rsf = _to_float(tokens[i + 1])
            if rsf is not None:
                out["rsf"] = rsf
    return out


_CALIB_RE = re.compile(r"^Calib\s+M\s*=\s*([-+0-9.eE]+)\s+A\s*=\s*([-+0-9.eE]+)\s+(\w+)\s+(\w+)")


# --------------------------------------------------------------------------------------------
# VAMAS


class _Cursor:
    """Walks the lines of a VAMAS file; every failure names the file, line and block."""

    def __init__(self, lines: list[str], start: int, path: Path):
        self.lines = lines
        self.i = start
        self.path = path
        self.where = "file header"

    def fail(self, msg: str, line_index: int | None = None) -> XpsReadError:
        n = (self.i if line_index is None else line_index) + 1
        return XpsReadError(f"{self.path}: VAMAS {self.where}, line {n}: {msg}")

    def text(self, what: str) -> str:
        if self.i >= len(self.lines):
            raise self.fail(f"unexpected end of file; expected {what}")
        s = self.lines[self.i].strip()
        self.i += 1
        return s

    def take(self, n: int, what: str) -> list[str]:
        if self.i + n > len(self.lines):
            raise self.fail(f"unexpected end of file; expected {n} lines of {what}, "
                            f"got {len(self.lines) - self.i}")
        out = [s.strip() for s in self.lines[self.i: self.i + n]]
        self.i += n
        return out

    def number(self, what: str) -> float:
        s = self.text(what)
        try:
            return float(s.replace("D", "E").replace("d", "e"))
        except ValueError:
            raise self.fail(f"expected a number ({what}), got {s!r}", self.i - 1) from None

    def integer(self, what: str) -> int:
        s = self.text(what)
        try:
            return int(s)
        except ValueError:
            try:
                v = float(s)
            except ValueError:
                v = float("nan")
            if v.is_integer():
                return int(v)
            raise self.fail(f"expected an integer ({what}), got {s!r}", self.i - 1) from None

    def opt(self, what: str) -> float | None:
        return _opt_float(self.number(what))


def _decimal_axis(start: str, step: str, n: int) -> np.ndarray:
    """``start + i*step`` computed in decimal, so that each value equals the float of its
    decimal text (as an IRREGULAR file would list it)."""
    try:
        d0, d1 = Decimal(start), Decimal(step)
        nd = max(0, -d0.as_tuple().exponent, -d1.as_tuple().exponent)
        if nd <= 15:
            scale = 10 ** nd
            i0, i1 = int(d0 * scale), int(d1 * scale)
            top = abs(i0) + abs(i1) * max(n, 1)
            if d0 * scale == i0 and d1 * scale == i1 and top < 2 ** 53:
                units = i0 + np.arange(n, dtype=np.int64) * i1
                return units.astype(np.float64) / float(scale)
    except (InvalidOperation, ValueError, TypeError):
        pass
    return float(start) + np.arange(n, dtype=float) * float(step)


def read_vamas(path: PathLike, *, subtract_work_function: bool = False) -> list[XpsSpectrum]:
    """All blocks of an ISO 14976 VAMAS file (REGULAR or IRREGULAR scans).

    Kinetic-energy abscissae become binding energy ``hv - KE`` with ``hv`` the block's
    analysis source characteristic energy; ``subtract_work_function=True`` also subtracts the
    block's analyser work function (see the module notes on the energy scale). The first
    corresponding variable is the intensity; further ones (e.g. transmission) are in
    ``metadata['variables']``, aligned with the sorted axis.
    """
    p = _check_exists(path)
    lines, n_nul = _read_lines(p)
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start >= len(lines) or not lines[start].strip().startswith(VAMAS_MAGIC):
        first = lines[start].strip()[:60] if start < len(lines) else ""
        raise XpsReadError(f"{p}: not a VAMAS file: expected the first line to start with "
                           f"{VAMAS_MAGIC!r}, got {first!r}")
    cur = _Cursor(lines, start + 1, p)
    head: dict[str, Any] = {"format": lines[start].strip()}
    for key in ("institution", "instrument", "operator", "experiment"):
        head[key] = cur.text(f"{key} identifier")
    n = cur.integer("number of lines in the experiment comment")
    head["comment"] = cur.take(n, "experiment comment")
    exp_mode = cur.text("experiment mode")
    if exp_mode not in _EXP_MODES:
        raise cur.fail(f"expected an experiment mode ({', '.join(_EXP_MODES)}), got "
                       f"{exp_mode!r}", cur.i - 1)
    scan_mode = cur.text("scan mode")
    if scan_mode not in _SCAN_MODES:
        raise cur.fail(f"expected a scan mode ({', '.join(_SCAN_MODES)}), got {scan_mode!r}",
                       cur.i - 1)
    if scan_mode == "MAPPING":
        raise cur.fail("MAPPING scans are not supported (expected REGULAR or IRREGULAR)",
                       cur.i - 1)
    head["experiment_mode"], head["scan_mode"] = exp_mode, scan_mode
    if exp_mode in ("MAP", "MAPDP", "NORM", "SDP"):
        head["n_spectral_regions"] = cur.integer("number of spectral regions")
    if exp_mode in ("MAP", "MAPDP"):
        head["n_analysis_positions"] = cur.integer("number of analysis positions")
        head["n_x_coordinates"] = cur.integer("number of discrete x coordinates")
        head["n_y_coordinates"] = cur.integer("number of discrete y coordinates")
    n_exp_var = cur.integer("number of experimental variables")
    exp_vars = []
    for k in range(n_exp_var):
        exp_vars.append((cur.text(f"experimental variable {k + 1} label"),
                         cur.text(f"experimental variable {k + 1} units")))
    n_incl = cur.integer("number of entries in the parameter inclusion or exclusion list")
    listed = {cur.integer("parameter number in the inclusion or exclusion list")
              for _ in range(abs(n_incl))}
    # include[k] for parameters 1..40 of the second and later blocks
    include = {k: (k in listed) if n_incl > 0 else (k not in listed) for k in range(1, 41)}
    n_manual = cur.integer("number of manually entered items in a block")
    head["manually_entered_items"] = cur.take(n_manual, "manually entered item numbers")
    n_fue_exp = cur.integer("number of future upgrade experiment entries")
    n_fue_blk = cur.integer("number of future upgrade block entries")
    head["future_upgrade_entries"] = cur.take(n_fue_exp, "future upgrade experiment entries")
    n_blocks = cur.integer("number of blocks")
    if n_blocks < 0:
        raise cur.fail(f"expected a non-negative number of blocks, got {n_blocks}", cur.i - 1)
    head["n_nul_bytes_removed"] = n_nul

    spectra: list[XpsSpectrum] = []
    first: dict[int, Any] = {}
    for b in range(n_blocks):
        spectra.append(_read_block(cur, b, n_blocks, head, exp_vars, include, first,
                                   n_fue_blk, subtract_work_function))
    while cur.i < len(lines) and not lines[cur.i].strip():
        cur.i += 1
    if cur.i < len(lines) and lines[cur.i].strip().lower() != "end of experiment":
        head["trailing_text"] = lines[cur.i].strip()[:80]
    for s in spectra:
        s.metadata["file"] = head
    return spectra


def _read_block(cur: _Cursor, b: int, n_blocks: int, head: dict, exp_vars: list,
                include: dict[int, bool], first: dict[int, Any], n_fue_blk: int,
                subtract_wf: bool) -> XpsSpectrum:
    exp_mode, scan_mode = head["experiment_mode"], head["scan_mode"]
    cur.where = f"block {b + 1} of {n_blocks}"
    block_id = cur.text("block identifier")
    cur.where = f"block {b + 1} of {n_blocks} ({block_id!r})"
    sample = cur.text("sample identifier")
    vals: dict[int, Any] = {}

    def param(k: int, reader):
        """Parameter k read from the file, or the first block's value when excluded."""
        if b == 0 or include[k]:
            v = reader()
            if b == 0:
                first[k] = v
        else:
            v = first.get(k)
        vals[k] = v
        return v

    date_names = ("year", "month", "day", "hours", "minutes", "seconds",
                  "number of hours in advance of GMT")
    date = [param(k + 1, lambda k=k: cur.number(date_names[k])) for k in range(7)]

    def comment():
        n = cur.integer("number of lines in the block comment")
        return cur.take(n, "block comment")

    comment_lines = param(8, comment)
    technique = param(9, lambda: cur.text("technique"))
    coords = param(10, lambda: [cur.number("x coordinate"), cur.number("y coordinate")]
                   if exp_mode in ("MAP", "MAPDP") else [])
    exp_values = param(11, lambda: [cur.text(f"value of experimental variable {k + 1}")
                                    for k in range(len(exp_vars))])
    source_label = param(12, lambda: cur.text("analysis source label"))
    sputter_ion = param(13, lambda: cur.take(3, "sputtering ion or atom parameters")
                        if exp_mode in _DEPTH_PROFILE_MODES or technique in _SPUTTER_TECHNIQUES
                        else [])
    hv = param(14, lambda: cur.opt("analysis source characteristic energy"))
    strength = param(15, lambda: cur.opt("analysis source strength"))
    beam = param(16, lambda: [cur.opt("analysis source beam width x"),
                              cur.opt("analysis source beam width y")])
    fov = param(17, lambda: [cur.opt("field of view x"), cur.opt("field of view y")]
                if exp_mode in ("MAP", "MAPDP", "MAPSV", "MAPSVDP", "SEM") else [])
    linescan = param(18, lambda: cur.take(6, "linescan coordinates")
                     if exp_mode in ("MAPSV", "MAPSVDP", "SEM") else [])
    polar = param(19, lambda: cur.opt("analysis source polar angle of incidence"))
    azimuth = param(20, lambda: cur.opt("analysis source azimuth"))
    analyser_mode = param(21, lambda: cur.text("analyser mode"))
    pass_energy = param(22, lambda: cur.opt("analyser pass energy or retard ratio"))
    diff_width = param(23, lambda: cur.opt("differential width")
                       if technique == "AES diff" else None)
    magnification = param(24, lambda: cur.opt("magnification of analyser transfer lens"))
    work_function = param(25, lambda: cur.opt("analyser work function or acceptance energy"))
    target_bias = param(26, lambda: cur.opt("target bias"))
    analysis_width = param(27, lambda: [cur.opt("analysis width x"), cur.opt("analysis width y")])
    take_off = param(28, lambda: [cur.opt("analyser axis take off polar angle"),
                                  cur.opt("analyser axis take off azimuth")])
    species = param(29, lambda: cur.text("species label"))
    transition, charge = param(30, lambda: [cur.text("transition or charge state label"),
                                            cur.text("charge of detected particle")])

    def abscissa():
        if scan_mode != "REGULAR":
            return None
        return [cur.text("abscissa label"), cur.text("abscissa units"),
                cur.text("abscissa start"), cur.text("abscissa increment")]

    absc = param(31, abscissa)

    def corresponding():
        n = cur.integer("number of corresponding variables")
        if n < 1:
            raise cur.fail(f"expected at least one corresponding variable, got {n}", cur.i - 1)
        return [(cur.text(f"corresponding variable {k + 1} label"),
                 cur.text(f"corresponding variable {k + 1} units")) for k in range(n)]

    corr = param(32, corresponding)
    signal_mode = param(33, lambda: cur.text("signal mode"))
    dwell = param(34, lambda: cur.opt("signal collection time"))
    n_scans = param(35, lambda: cur.opt("number of scans to compile this block"))
    time_corr = param(36, lambda: cur.opt("signal time correction"))
    sputter_src = param(37, lambda: cur.take(7, "sputtering source parameters")
                        if technique in _ELECTRON_TECHNIQUES and exp_mode in _DEPTH_PROFILE_MODES
                        else [])
    tilt = param(38, lambda: [cur.opt("sample normal polar angle of tilt"),
                              cur.opt("sample normal tilt azimuth")])
    rotation = param(39, lambda: cur.opt("sample rotation angle"))

    def additional():
        n = cur.integer("number of additional numerical parameters")
        out = {}
        for k in range(n):
            label = cur.text(f"additional parameter {k + 1} label")
            unit = cur.text(f"additional parameter {k + 1} units")
            out[label] = (cur.number(f"additional parameter {k + 1} value"), unit)
        return out

    extra_params = param(40, additional)
    fue_block = cur.take(n_fue_blk, "future upgrade block entries")

    # ---- ordinate values
    n_values = cur.integer("number of ordinate values")
    k = len(corr)
    if n_values < 0 or n_values % k:
        raise cur.fail(f"expected the number of ordinate values to be a multiple of the "
                       f"{k} corresponding variables, got {n_values}", cur.i - 1)
    ranges = [(cur.number("minimum ordinate value"), cur.number("maximum ordinate value"))
              for _ in range(k)]
    data_start = cur.i
    chunk = cur.lines[data_start: data_start + n_values]
    got = next((j for j, s in enumerate(chunk) if _to_float(s.strip()) is None), len(chunk))
    if got < n_values:
        bad = chunk[got].strip() if got < len(chunk) else None
        detail = "the file ends there" if bad is None else f"line {data_start + got + 1} is {bad!r}"
        raise XpsReadError(
            f"{cur.path}: VAMAS {cur.where}: expected {n_values} ordinate values "
            f"({n_values // k} points x {k} variables) from line {data_start + 1}, got {got} "
            f"({detail})")
    data = np.array([float(s) for s in chunk], dtype=float).reshape(-1, k)
    cur.i = data_start + n_values
    n_points = data.shape[0]

    # ---- abscissa
    if scan_mode == "REGULAR":
        x_label, x_unit, x_start, x_step = absc
        try:
            float(x_start), float(x_step)
        except ValueError:
            raise cur.fail(f"expected numeric abscissa start and increment, got {x_start!r} "
                           f"and {x_step!r}", data_start) from None
        x = _decimal_axis(x_start, x_step, n_points)
        ordinates, ord_vars = data, list(corr)
    else:
        (x_label, x_unit), ord_vars = corr[0], list(corr[1:])
        if not ord_vars:
            raise cur.fail("expected at least two corresponding variables in an IRREGULAR scan "
                           "(the abscissa and the intensity)", data_start)
        x, ordinates = data[:, 0].copy(), data[:, 1:]
        x_start, x_step = None, None
    xl = x_label.lower()
    if "kinetic" in xl:
        kinetic = True
    elif "binding" in xl:
        kinetic = False
    else:
        raise cur.fail(f"expected the abscissa label to name kinetic or binding energy, got "
                       f"{x_label!r}", data_start)
    phi_used = 0.0
    if kinetic:
        if hv is None or hv <= 0:
            raise XpsReadError(
                f"{cur.path}: VAMAS {cur.where}: the abscissa is kinetic energy but the analysis "
                f"source characteristic energy (photon energy) is missing or not positive "
                f"({hv!r}); expected a photon energy to convert to binding energy")
        if subtract_wf and work_function is not None:
            phi_used = work_function
        be = kinetic_to_binding(x, hv, phi_used)
    else:
        be = x
    intensity = ordinates[:, 0].copy()
    others = [ordinates[:, j].copy() for j in range(1, ordinates.shape[1])]
    n_merged, (be, intensity, *others) = _sort_ascending(be, intensity, *others)

    variables: dict[str, np.ndarray] = {}
    for j, ((lab, _unit), arr) in enumerate(zip(ord_vars[1:], others), start=2):
        key = lab or f"variable_{j}"
        if key in variables or key == ord_vars[0][0]:
            key = f"{key}_{j}"
        variables[key] = arr

    # ---- metadata
    comments = list(comment_lines or [])
    casa_comp = [c for c in comments if c.strip().startswith("CASA comp")]
    casa_region = [c for c in comments if c.strip().startswith("CASA region")]
    calib = []
    for c in comments:
        m = _CALIB_RE.match(c.strip())
        if m:
            calib.append({"measured": float(m.group(1)), "actual": float(m.group(2)),
                          "axis": m.group(3), "operation": m.group(4)})
    regions = [parse_casa_region(c) for c in casa_region]
    comps = [parse_casa_comp(c) for c in casa_comp]
    shift = sum(c["actual"] - c["measured"] for c in calib
                if c["axis"].upper() == "BE" and c["operation"].upper() == "ADD")
    if kinetic and hv:
        for r in regions:
            if "start" in r:
                r["binding_limits_ev"] = tuple(sorted((hv - phi_used - r["start"],
                                                       hv - phi_used - r["end"])))
        for c in comps:
            if "position" in c:
                c["position_be_ev"] = hv - phi_used - c["position"]["value"]
    i_label, i_unit = ord_vars[0]
    year, month, day, hour, minute, second, gmt = date
    time_s = None
    if None not in date:
        time_s = _epoch(int(year), int(month), int(day), int(hour), int(minute), second, gmt)
    meta: dict[str, Any] = {
        "format": "VAMAS",
        "block_index": b,
        "block_id": block_id,
        "technique": technique,
        "species": species,
        "transition": transition,
        "charge_of_detected_particle": charge,
        "analyser_mode": analyser_mode,
        "abscissa_label": x_label,
        "abscissa_unit": x_unit,
        "abscissa_start": None if x_start is None else float(x_start),
        "abscissa_increment": None if x_step is None else float(x_step),
        "scan_mode": scan_mode,
        "experiment_mode": exp_mode,
        "intensity_label": i_label,
        "intensity_unit_raw": i_unit,
        "intensity_unit": _intensity_unit(i_label, i_unit, block_id),
        "corresponding_variables": ord_vars,
        "variables": variables,
        "ordinate_ranges": ranges,
        "signal_mode": signal_mode,
        "signal_time_correction": time_corr,
        "source_strength": strength,
        "source_beam_width": beam,
        "source_polar_angle_deg": polar,
        "source_azimuth_deg": azimuth,
        "magnification": magnification,
        "target_bias": target_bias,
        "analysis_width": analysis_width,
        "take_off_angles_deg": take_off,
        "sample_tilt": tilt,
        "sample_rotation_deg": rotation,
        "experimental_variables": {lab: v for (lab, _u), v in zip(exp_vars, exp_values or [])},
        "additional_parameters": extra_params,
        "date": [None if v is None else (int(v) if float(v).is_integer() else v) for v in date],
        "comment": comments,
        "casa_comp": casa_comp,
        "casa_region": casa_region,
        "casa_regions": regions,
        "casa_components": comps,
        "casa_calibration": calib,
        "casa_calibration_shift_ev": shift,
        "work_function_applied_ev": phi_used,
        "n_points": n_points,
        "merged_duplicate_points": n_merged,
    }
    for key, v in (("coordinates", coords), ("sputtering_ion", sputter_ion),
                   ("field_of_view", fov), ("linescan", linescan),
                   ("differential_width", diff_width), ("sputtering_source", sputter_src),
                   ("future_upgrade_block_entries", fue_block)):
        if v:
            meta[key] = v
    pe = pass_energy
    if analyser_mode.upper() == "FRR":
        meta["retard_ratio"], pe = pass_energy, None
    elif pe is not None and pe <= 0:
        meta["pass_energy_raw"], pe = pe, None
    return XpsSpectrum(
        binding_energy_ev=be, intensity=intensity, source=str(cur.path), label=block_id,
        sample=sample, region=_region_name(species, transition), photon_energy_ev=hv,
        work_function_ev=work_function, pass_energy_ev=pe, source_label=source_label,
        dwell_s=dwell, n_scans=None if n_scans is None else int(n_scans), kinetic_axis=kinetic,
        time_s=time_s, metadata=meta)


# --------------------------------------------------------------------------------------------
# SPECS Prodigy .xy

_SPECS_KEY_RE = re.compile(r"^#\s*([^:]+?)\s*:\s*(.*?)\s*$")
_SPECS_CURVE_RE = re.compile(r"^#\s*Cycle:\s*\d+\s*,\s*Curve:")
_SPECS_IDX_RE = re.compile(r"(Cycle|Curve|Scan|Channel):\s*(\d+)")


def _specs_time(text: str) -> float | None:
    """Epoch seconds of '08/24/23 14:19:47 UTC' (no zone: taken as UTC; another zone: None)."""
    parts = text.split()
    if len(parts) < 2 or (len(parts) > 2 and parts[2].upper() not in ("UTC", "GMT", "Z")):
        return None
    tz = timezone.utc
    for fmt in ("%m/%d/%y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S",
                "%d.%m.%Y %H:%M:%S"):
        try:
            return datetime.strptime(" ".join(parts[:2]), fmt).replace(tzinfo=tz).timestamp()
        except ValueError:
            continue
    return None


def _is_specs(lines: list[str]) -> bool:
    head = "\n".join(lines[:60])
    return "SpecsLab" in head or "XY-Serializer" in head or (
        head.startswith("#") and "# Region:" in head)


def read_specs_xy(path: PathLike, *, subtract_work_function: bool = False) -> list[XpsSpectrum]:
    """Every curve of a SPECS Prodigy ``.xy`` export, one :class:`XpsSpectrum` each.

    Regions (``# Region:``), cycles, scans and curves (``# Cycle: c, Curve: k, Scan: s``) are
    read in file order; the label is the region name, with ``/cycle c/curve k/scan s``
    appended where a region holds more than one curve. A kinetic-energy export
    (``# Energy Axis: Kinetic Energy``) is converted with ``BE = hv - KE`` (Prodigy's kinetic
    energies are Fermi-referenced; ``subtract_work_function=True`` also subtracts
    ``# Eff. Workfunction``). Columns after the second are in ``metadata['columns']``.
    """
    p = _check_exists(path)
    lines, _ = _read_lines(p)
    settings: dict[str, str] = {}
    group: dict[str, str] = {}
    region: dict[str, str] | None = None
    curves: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None

    def new_curve(header: str, lineno: int) -> dict[str, Any]:
        c = {"settings": settings, "group": dict(group), "region": dict(region or {}),
             "index": {k.lower(): int(v) for k, v in _SPECS_IDX_RE.findall(header)},
             "meta": {}, "rows": [], "line": lineno}
        curves.append(c)
        return c

    for lineno, raw in enumerate(lines, start=1):
        s = raw.strip()
        if not s:
            continue
        if s.startswith("#"):
            if _SPECS_CURVE_RE.match(s):
                cur = new_curve(s, lineno)
                continue
            m = _SPECS_KEY_RE.match(s)
            if not m:
                continue
            key, val = m.group(1), m.group(2)
            if key == "Region":
                region = {"Region": val}
                cur = None
            elif key == "Cycle" and region is not None:
                region["Cycle"] = val  # '# Number of Scans:' of this cycle follows
                cur = None
            elif key == "Group":
                group = {"Group": val}
                region, cur = None, None
            elif cur is not None:
                cur["meta"][key] = val
            elif region is not None:
                region[key] = val
            elif group:
                group[key] = val
            else:
                settings[key] = val
            continue
        toks = s.replace(",", " ").split()
        try:
            row = [float(t) for t in toks]
        except ValueError:
            raise XpsReadError(f"{p}: SPECS .xy line {lineno}: expected numbers (energy, "
                               f"intensity) or a '#' header line, got {s[:60]!r}") from None
        if len(row) < 2:
            raise XpsReadError(f"{p}: SPECS .xy line {lineno}: expected at least two columns "
                               f"(energy, intensity), got {s[:60]!r}")
        if cur is None:
            if region is None:
                raise XpsReadError(f"{p}: SPECS .xy line {lineno}: data before any "
                                   "'# Region:' header; expected a Prodigy .xy export")
            cur = new_curve("", lineno)
        cur["rows"].append(row)

    curves = [c for c in curves if c["rows"]]
    if not curves:
        raise XpsReadError(f"{p}: no data rows found; expected a SPECS Prodigy .xy export with "
                           "'# Region:' headers and energy/intensity columns")
    per_region: dict[str, int] = {}
    for c in curves:
        name = c["region"].get("Region", "")
        per_region[name] = per_region.get(name, 0) + 1

    out = []
    for c in curves:
        reg, st, cm = c["region"], c["settings"], c["meta"]
        width = min(len(r) for r in c["rows"])
        if any(len(r) != width for r in c["rows"]):
            raise XpsReadError(f"{p}: SPECS .xy curve from line {c['line']}: expected the same "
                               "number of columns in every row")
        arr = np.array(c["rows"], dtype=float)
        name = reg.get("Region", "")
        axis = st.get("Energy Axis", "")
        kinetic = "kinetic" in axis.lower() or ("Kinetic Energy" in reg and
                                                "Binding Energy" not in reg)
        hv = _opt_float(_to_float(reg.get("Excitation Energy") or "nan"))
        wf = _opt_float(_to_float(reg.get("Eff. Workfunction") or "nan"))
        phi = 0.0
        x = arr[:, 0]
        if kinetic:
            if hv is None or hv <= 0:
                raise XpsReadError(f"{p}: SPECS .xy region {name!r}: kinetic-energy axis but no "
                                   "'# Excitation Energy:'; expected the photon energy")
            phi = wf if (subtract_work_function and wf is not None) else 0.0
            be = kinetic_to_binding(x, hv, phi)
        else:
            be = x.copy()
        extra_cols = [arr[:, j] for j in range(2, width)]
        n_merged, (be, inten, *extra_cols) = _sort_ascending(be, arr[:, 1], *extra_cols)
        labels = (cm.get("ColumnLabels") or "").split()
        columns = {}
        for j, col in enumerate(extra_cols, start=2):
            key = labels[j] if j < len(labels) else f"column{j}"
            columns[key] = col
        idx = c["index"]
        label = name
        if per_region[name] > 1:
            label = name + "".join(f"/{k} {v}" for k, v in idx.items())
        rate = st.get("Count Rate", "")
        unit = "counts/s" if ("second" in rate.lower() or "counts/s" in labels[1:2]) else "counts"
        t = _specs_time(cm.get("Acquisition Date", reg.get("Acquisition Date", "")))
        dwell = _opt_float(_to_float(reg.get("Dwell Time") or "nan"))
        n_scans = _opt_float(_to_float(cm.get("Number of Scans",
                                              reg.get("Number of Scans")) or "nan"))
        meta: dict[str, Any] = {
            "format": "SPECS xy", "region_name": name, "group": c["group"].get("Group", ""),
            "export_settings": dict(st), "region_header": dict(reg), "curve_header": dict(cm),
            "cycle_curve_scan": idx, "intensity_unit": unit, "intensity_unit_raw": rate,
            "columns": columns, "first_line": c["line"], "work_function_applied_ev": phi,
            "n_points": int(be.size), "merged_duplicate_points": n_merged}
        for k in ("Analysis Method", "Spectrum ID", "Scan Mode", "Analyzer Lens"):
            if k in reg:
                meta[k.lower().replace(" ", "_")] = reg[k]
        out.append(XpsSpectrum(
            binding_energy_ev=be, intensity=inten, source=str(p), label=label,
            sample=c["group"].get("Group", ""), region=_region_name(name), photon_energy_ev=hv,
            work_function_ev=wf,
            pass_energy_ev=_opt_float(_to_float(reg.get("Pass Energy") or "nan")),
            source_label=reg.get("Source", ""), dwell_s=dwell,
            n_scans=None if n_scans is None else int(n_scans), kinetic_axis=kinetic,
            time_s=t, metadata=meta))
    return out


# --------------------------------------------------------------------------------------------
# two-column text

_HV_RE = re.compile(r"(?:\bhv|\bh\s*nu|h\u03bd|photon\s*energy|excitation\s*energy)\s*[=:]?\s*"
                    r"([0-9]+(?:\.[0-9]*)?)\s*(k?eV)?", re.IGNORECASE)
_KIN_RE = re.compile(r"(?i:kinetic|\be_?kin\b)|\bKE\b")
_BIN_RE = re.compile(r"(?i:binding|\be_?bin\b)|\bBE\b")


def _axis_kind(header: list[str], energy_column: int) -> bool:
    """True for kinetic energy: the energy column's name in the last header line decides,
    else the whole header (kinetic only when it names kinetic and not binding energy)."""
    if header:
        names = [t.strip().lstrip("#%!/ ") for t in _split_row(header[-1])]
        if energy_column < len(names):
            name = names[energy_column]
            if _KIN_RE.search(name):
                return True
            if _BIN_RE.search(name):
                return False
    head = "\n".join(header)
    return bool(_KIN_RE.search(head)) and not _BIN_RE.search(head)


def _split_row(line: str) -> list[str]:
    if "," in line:
        return [t.strip() for t in line.split(",")]
    if ";" in line:
        return [t.strip() for t in line.split(";")]
    return line.split()


def read_text(path: PathLike, *, energy_column: int = 0, intensity_column: int = 1,
              kinetic: bool | None = None, photon_energy_ev: float | None = None,
              work_function_ev: float = 0.0) -> XpsSpectrum:
    """A spectrum from a column text file (comma, semicolon, tab or whitespace separated).

    Header lines (anything before the first numeric row, and lines starting with ``#``) are
    skipped; empty trailing fields are ignored. ``kinetic=None`` looks in the header for
    'Kinetic'/'E_kin' or 'Binding'/'E_bin' (binding energy when neither is there);
    ``True``/``False`` force it. The energy column's name in the last header line decides
    first; otherwise the header must name kinetic energy and not binding energy. A kinetic axis needs the photon energy: ``photon_energy_ev``,
    else ``hv=...``/``photon energy ...``/``excitation energy ...`` in the header; it becomes
    ``BE = hv - KE - work_function_ev``. The first header line is the label.
    """
    p = _check_exists(path)
    lines, _ = _read_lines(p)
    header: list[str] = []
    rows: list[tuple[float, float]] = []
    skipped = 0
    need = max(energy_column, intensity_column) + 1
    for raw in lines:
        s = raw.strip()
        if not s:
            continue
        if s.startswith(("#", "%", "!", "//")):
            if not rows:
                header.append(s)
            else:
                skipped += 1
            continue
        toks = [t for t in _split_row(s) if t != ""]
        try:
            if len(toks) < need:
                raise ValueError
            e, y = float(toks[energy_column]), float(toks[intensity_column])
        except ValueError:
            if rows:
                skipped += 1
            else:
                header.append(s)
            continue
        rows.append((e, y))
    if not rows:
        raise XpsReadError(
            f"{p}: no numeric rows found; expected text with energy (column {energy_column}) "
            f"and intensity (column {intensity_column}) numbers, separated by commas, tabs or "
            "spaces")
    arr = np.array(rows, dtype=float)
    head = "\n".join(header)
    if kinetic is None:
        kinetic = _axis_kind(header, energy_column)
    hv_from = "argument"
    if photon_energy_ev is None:
        m = _HV_RE.search(head)
        if m:
            photon_energy_ev = float(m.group(1)) * (1000.0 if (m.group(2) or "").lower() == "kev"
                                                     else 1.0)
            hv_from = "header"
        else:
            hv_from = ""
    if kinetic:
        if photon_energy_ev is None or photon_energy_ev <= 0:
            raise XpsReadError(
                f"{p}: the energy axis is kinetic energy but no photon energy is known; expected "
                "photon_energy_ev=... or 'hv=...' in the header")
        be = kinetic_to_binding(arr[:, 0], photon_energy_ev, work_function_ev)
        phi = float(work_function_ev or 0.0)
    else:
        be, phi = arr[:, 0].copy(), 0.0
    n_merged, (be, inten) = _sort_ascending(be, arr[:, 1])
    title = header[0].lstrip("#%!/ ").strip() if header else ""
    meta = {"format": "text", "header": header, "title": title, "energy_column": energy_column,
            "intensity_column": intensity_column, "skipped_lines": skipped,
            "photon_energy_from": hv_from, "work_function_applied_ev": phi,
            "intensity_unit": _intensity_unit("", "", head) if head else "counts",
            "n_points": int(be.size), "merged_duplicate_points": n_merged}
    return XpsSpectrum(
        binding_energy_ev=be, intensity=inten, source=str(p), label=p.stem,
        region=_find_orbital(title) or _find_orbital(p.stem),
        photon_energy_ev=photon_energy_ev, work_function_ev=work_function_ev if kinetic else None,
        kinetic_axis=bool(kinetic), metadata=meta)


# --------------------------------------------------------------------------------------------
# dispatch


def read_xps(path: PathLike, **kw) -> list[XpsSpectrum]:
    """Read any supported XPS file into a list of spectra.

    VAMAS when the first non-blank line is the VAMAS header (whatever the extension: PHI
    MultiPak writes VAMAS as ``.npl``); a ``.vms`` file without that header is an error. SPECS
    Prodigy ``.xy`` when the header says so; otherwise two-column text (one spectrum).
    Keyword arguments go to the reader chosen.
    """
    p = _check_exists(path)
    with p.open("rb") as fh:
        head = fh.read(8192).replace(b"\x00", b"").decode("latin-1")
    first = next((ln.strip() for ln in head.replace("\r", "\n").split("\n") if ln.strip()), "")
    if first.startswith(VAMAS_MAGIC):
        return read_vamas(p, **kw)
    if p.suffix.lower() == ".vms":
        raise XpsReadError(f"{p}: expected a VAMAS file (first line {VAMAS_MAGIC!r}), got "
                           f"{first[:60]!r}")
    lines = head.replace("\r\n", "\n").split("\n")
    if _is_specs(lines):
        return read_specs_xy(p, **kw)
    return [read_text(p, **kw)]
