"""Column text files (comma, semicolon, tab or whitespace separated): one spectrum per file.

The fallback of :data:`~xpipe.xps.readers.base.REGISTRY`: a file no other format claims is
read as columns of energy and intensity.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import (
    REGISTRY,
    PathLike,
    XpsReadError,
    XpsSpectrum,
    _check_exists,
    _check_last_row,
    _check_magnitudes,
    _ends_with_line_end,
    _find_orbital,
    _intensity_unit,
    _read_lines,
    _sort_ascending,
    kinetic_to_binding,
)

__all__ = ["read_text"]

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


def _columns(lines: list[str], energy_column: int, intensity_column: int
             ) -> tuple[list[str], list[tuple[float, float]], int, list[int]]:
    """(header lines, (energy, intensity) rows, number of lines skipped after the first row,
    the line number of each row)."""
    header: list[str] = []
    rows: list[tuple[float, float]] = []
    line_of: list[int] = []
    skipped = 0
    need = max(energy_column, intensity_column) + 1
    for n, raw in enumerate(lines, start=1):
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
        line_of.append(n)
    return header, rows, skipped, line_of


def _table(p: Path, energy_column: int, intensity_column: int
           ) -> tuple[list[str], np.ndarray, int]:
    """Header lines, the (energy, intensity) rows and the lines skipped between rows, of a
    file whose last row is whole and whose values are all plausible."""
    lines, _ = _read_lines(p)
    if not _ends_with_line_end(p):
        _check_last_row(p, lines)
    header, rows, skipped, line_of = _columns(lines, energy_column, intensity_column)
    if not rows:
        raise XpsReadError(
            f"{p}: no numeric rows found; expected text with energy (column {energy_column}) "
            f"and intensity (column {intensity_column}) numbers, separated by commas, tabs or "
            "spaces")
    arr = np.array(rows, dtype=float)
    _check_magnitudes(p, line_of, arr[:, 0], arr[:, 1])
    return header, arr, skipped


def _header_photon_energy(head: str) -> float | None:
    """``hv = 1486.6 eV`` / ``photon energy 1.4866 keV`` / ... in the header, in eV."""
    m = _HV_RE.search(head)
    if not m:
        return None
    return float(m.group(1)) * (1000.0 if (m.group(2) or "").lower() == "kev" else 1.0)


def _binding_axis(p: Path, x: np.ndarray, kinetic: bool, photon_energy_ev: float | None,
                  work_function_ev: float) -> tuple[np.ndarray, float]:
    """(binding energy in eV, work function subtracted) of the energy column ``x``."""
    if not kinetic:
        return x.copy(), 0.0
    if photon_energy_ev is None or photon_energy_ev <= 0:
        raise XpsReadError(
            f"{p}: the energy axis is kinetic energy but no photon energy is known; expected "
            "photon_energy_ev=... or 'hv=...' in the header")
    be = kinetic_to_binding(x, photon_energy_ev, work_function_ev)
    return be, float(work_function_ev or 0.0)


def read_text(path: PathLike, *, energy_column: int = 0, intensity_column: int = 1,
              kinetic: bool | None = None, photon_energy_ev: float | None = None,
              work_function_ev: float = 0.0) -> XpsSpectrum:
    """A spectrum from a column text file (comma, semicolon, tab or whitespace separated).

    Header lines (anything before the first numeric row, and lines starting with ``#``) are
    skipped; empty trailing fields are ignored. ``kinetic=None`` looks in the header for
    'Kinetic'/'E_kin' or 'Binding'/'E_bin' (binding energy when neither is there);
    ``True``/``False`` force it. The energy column's name in the last header line decides
    first; otherwise the header must name kinetic energy and not binding energy. A kinetic
    axis needs the photon energy: ``photon_energy_ev``, else ``hv=...``/``photon energy
    ...``/``excitation energy ...`` in the header; it becomes ``BE = hv - KE -
    work_function_ev``. The first header line is the label.

    Parameters
    ----------
    path : str or pathlib.Path
        The text file.
    energy_column, intensity_column : int, optional
        Zero-based columns of the energy (eV) and the intensity.
    kinetic : bool or None, optional
        Whether the energy column is kinetic energy; None decides from the header.
    photon_energy_ev : float or None, optional
        Photon energy ``hv`` (eV) for a kinetic axis; None looks for it in the header.
    work_function_ev : float, optional
        Work function (eV) subtracted from ``hv - KE`` on a kinetic axis.

    Returns
    -------
    spectrum : XpsSpectrum
        On ascending binding energy (eV); the label is the file name without its suffix.

    Raises
    ------
    XpsReadError
        When no numeric rows are found, the last row is cut off, a value is beyond
        :data:`~xpipe.io.text.ABSURD_VALUE`, or a kinetic axis has no photon energy.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "au4f.csv"
    >>> _ = path.write_text("Au 4f, hv = 1486.6 eV\\nE_kin, counts\\n1402.6,10\\n1403.6,30\\n")
    >>> s = read_text(path)
    >>> s.label, s.region, s.kinetic_axis, s.photon_energy_ev
    ('au4f', 'Au 4f', True, 1486.6)
    >>> np.round(s.binding_energy_ev, 2).tolist(), s.intensity.tolist()
    ([83.0, 84.0], [30.0, 10.0])
    """
    p = _check_exists(path)
    header, arr, skipped = _table(p, energy_column, intensity_column)
    head = "\n".join(header)
    if kinetic is None:
        kinetic = _axis_kind(header, energy_column)
    hv_from = "argument"
    if photon_energy_ev is None:
        photon_energy_ev = _header_photon_energy(head)
        hv_from = "" if photon_energy_ev is None else "header"
    be, phi = _binding_axis(p, arr[:, 0], kinetic, photon_energy_ev, work_function_ev)
    n_merged, (be, inten) = _sort_ascending(be, arr[:, 1], where=str(p))
    if n_merged > be.size:
        # a counter or a constant in the energy column: merging would hide the misread
        raise XpsReadError(
            f"{p}: column {energy_column} is not an energy axis: {len(arr)} rows hold only "
            f"{be.size} distinct values; expected one energy per row (energy_column=... picks "
            "another column)")
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


def _read_as_list(path: PathLike, **kw) -> list[XpsSpectrum]:
    """:func:`read_text` as the registry's readers answer: a list of spectra."""
    return [read_text(path, **kw)]


REGISTRY.register("text", read=_read_as_list, suffixes=(".txt", ".csv", ".dat"),
                  description="energy and intensity columns (comma, tab or space separated)")
