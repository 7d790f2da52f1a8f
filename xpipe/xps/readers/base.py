"""What every XPS reader shares: the spectrum type, the errors, file helpers and the registry.

Each format module (:mod:`.vamas`, :mod:`.specs`, :mod:`.text`) registers its reader with
:data:`REGISTRY`; :func:`xpipe.xps.readers.read_xps` asks the registry which one reads a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ...io.registry import Registry
from ...io.text import ABSURD_VALUE, cut_last_row

__all__ = [
    "REGISTRY",
    "XpsFileNotFoundError",
    "XpsReadError",
    "XpsSpectrum",
    "kinetic_to_binding",
]

PathLike = str | Path

UNSET_ABOVE = 1e36
"""VAMAS writes ``1E37`` for a value that is not known; anything this large reads as None."""

_CPS_UNITS = ("c/s", "cps", "counts/s", "counts per second", "count/s", "1/s", "s-1", "s^-1")
_NUMBER_SPLIT = re.compile(r"[,;\s]+")


class XpsReadError(ValueError):
    """A file that cannot be read as XPS data; the message names the file and what was expected.

    Parameters
    ----------
    message : str
        The file, the block or line, and what was expected there.

    Examples
    --------
    >>> err = XpsReadError("scan.vms: VAMAS block 1 of 2, line 40: expected a number")
    >>> isinstance(err, ValueError), str(err).split(":")[0]
    (True, 'scan.vms')
    """


class XpsFileNotFoundError(XpsReadError, FileNotFoundError):
    """The file does not exist (both an :class:`XpsReadError` and a :class:`FileNotFoundError`).

    Parameters
    ----------
    message : str
        The path and what kind of file was expected there.

    Examples
    --------
    >>> from xpipe.xps.readers import read_xps
    >>> try:
    ...     read_xps("no/such/scan.vms")
    ... except FileNotFoundError as err:
    ...     print(type(err).__name__, "|", str(err).split(";")[0])
    XpsFileNotFoundError | no/such/scan.vms: does not exist
    """


@dataclass
class XpsSpectrum:
    """One XPS spectrum on an ascending binding-energy axis.

    ``intensity`` is as the file gives it (counts or counts per second:
    ``metadata['intensity_unit']`` says which, ``'counts'`` or ``'counts/s'``).

    Parameters
    ----------
    binding_energy_ev : numpy.ndarray
        Binding energies (eV), strictly ascending.
    intensity : numpy.ndarray
        Intensity at each energy (counts or counts/s), same length.
    source : str
        The file read.
    label : str
        Name of the spectrum in its file (VAMAS block identifier, SPECS region/curve).
    sample : str
        Sample identifier ('' when unknown).
    region : str
        Core level in the form ``'Fe 2p'`` where the file names one, else the region name.
    photon_energy_ev : float or None
        Excitation energy ``hv`` (eV).
    work_function_ev : float or None
        Work function recorded in the file (eV); see ``metadata['work_function_applied_ev']``
        for the one used in converting kinetic energies.
    pass_energy_ev : float or None
        Analyser pass energy (eV).
    source_label : str
        Name of the X-ray source.
    dwell_s : float or None
        Collection time per point (s).
    n_scans : int or None
        Number of scans summed.
    kinetic_axis : bool
        True when the file's axis was kinetic energy (converted to binding energy).
    time_s : float or None
        Acquisition time (seconds since the Unix epoch, UTC).
    metadata : dict
        Everything else the file says, format-specific.

    Examples
    --------
    >>> s = XpsSpectrum(np.array([284.0, 285.0]), np.array([10.0, 30.0]), "demo.txt", "C1s",
    ...                 photon_energy_ev=1486.6)
    >>> len(s), s.kinetic_energy_ev.tolist()
    (2, [1202.6, 1201.6])
    >>> s
    XpsSpectrum(label='C1s', region='', sample='', n=2, BE 284.00-285.00 eV, hv=1486.6)
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

    Parameters
    ----------
    ke_ev : float or array_like
        Kinetic energies (eV).
    photon_energy_ev : float
        Photon energy ``hv`` (eV), positive.
    work_function_ev : float, optional
        Work function ``phi`` (eV) to subtract; 0 (or None) for Fermi-referenced kinetic
        energies.

    Returns
    -------
    be_ev : numpy.ndarray
        Binding energies (eV), of the shape of ``ke_ev``.

    Raises
    ------
    ValueError
        If the photon energy is missing, not finite or not positive.

    Examples
    --------
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
# the registry: the formats asked in registration order, each by content or by its suffix
# (VAMAS, registered first, claims every file that starts with the VAMAS line and every .vms file,
# so a .vms file without that line is reported as a broken VAMAS file even when its text would
# pass for a SPECS header)


REGISTRY = Registry("XPS", error=XpsReadError, fallback="text", content_first=False)
"""The XPS file formats, in the order they are asked (see :mod:`xpipe.xps.readers`)."""


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


def _ends_with_line_end(path: Path) -> bool:
    """Whether the file's last byte ends a line (a file cut off mid-row does not)."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return True
        fh.seek(-1, 2)
        return fh.read(1) in (b"\n", b"\r")


def _number_fields(line: str) -> list[str] | None:
    """The fields of a line of numbers, None for any other line."""
    fields = [f for f in _NUMBER_SPLIT.split(line.strip()) if f]
    try:
        for f in fields:
            float(f)
    except ValueError:
        return None
    return fields or None


def _check_last_row(p: Path, lines: list[str]) -> None:
    """Refuse a file whose last data row is cut off (call it only when the file does not end
    with a line end): the row holds fewer numbers, or a broken one, than the three rows before
    it, or its last number is written shorter than that column is in them (see
    :func:`~xpipe.io.text.cut_last_row`)."""
    if not lines:
        return
    before = [f for line in lines[-8:-1] if (f := _number_fields(line)) is not None]
    if cut_last_row(_NUMBER_SPLIT.split(lines[-1].strip()), before):
        raise XpsReadError(
            f"{p}: line {len(lines)}, the last, is cut off: it ends without a line end after "
            f"{lines[-1].strip()[-30:]!r}, shorter than the rows before it; expected complete rows "
            "(the file is incomplete)")


def _check_magnitudes(p: Path, line_of: list[int], energy: np.ndarray,
                      intensity: np.ndarray) -> None:
    """Refuse an energy or intensity beyond :data:`ABSURD_VALUE`, naming its line."""
    for name, values in (("energy", energy), ("intensity", intensity)):
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(np.abs(values) > ABSURD_VALUE)
        if bad.size:
            k = int(bad[0])
            raise XpsReadError(
                f"{p}: line {line_of[k]}: {name} {values[k]:g} is beyond any measured value "
                f"(|value| > {ABSURD_VALUE:g}; {bad.size} such row{'s' if bad.size > 1 else ''}); "
                "the file is damaged")


def _head_text(head: bytes) -> str:
    """The first bytes of a file as text for sniffing: NUL bytes dropped, latin-1."""
    return head.replace(b"\x00", b"").decode("latin-1")


def _to_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


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


def _epoch(year: float, month: float, day: float, hour: float, minute: float, second: float,
           utc_offset_h: float) -> float | None:
    """Seconds since the Unix epoch of a date given field by field; None when a field is not
    a number of the calendar (NaN, infinite, out of range)."""
    try:
        tz = timezone(timedelta(hours=utc_offset_h))
        whole = int(second)
        t = datetime(int(year), int(month), int(day), int(hour), int(minute), whole, tzinfo=tz)
    except (ValueError, OverflowError, TypeError):
        return None
    return t.timestamp() + (second - whole)


def _sort_ascending(be: np.ndarray, *arrays: np.ndarray,
                    where: str) -> tuple[int, tuple[np.ndarray, ...]]:
    """Sort by ascending binding energy; points at the same energy are averaged.

    Returns the number of points removed by merging, and the arrays. A binding energy that is
    not finite (NaN, or beyond the float range) is an XpsReadError naming ``where`` (the file
    and the spectrum in it): no axis is built around it.
    """
    bad = np.flatnonzero(~np.isfinite(be))
    if bad.size:
        raise XpsReadError(f"{where}: the binding energy of point {int(bad[0]) + 1} is "
                           f"{be[bad[0]]}, not a finite number ({bad.size} such points)")
    order = np.argsort(be, kind="stable")
    be = be[order]
    arrays = tuple(a[order] for a in arrays)
    if be.size < 2 or np.all(np.diff(be) > 0):
        return 0, (be, *arrays)
    uniq, inverse, counts = np.unique(be, return_inverse=True, return_counts=True)
    merged = tuple(np.bincount(inverse, weights=a, minlength=uniq.size) / counts
                   for a in arrays)
    return int(be.size - uniq.size), (uniq, *merged)
