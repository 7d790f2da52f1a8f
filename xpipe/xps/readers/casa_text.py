"""CasaXPS text exports of spectra ("rows" layout): one block per spectrum, tab separated.

A block is a title line (``Cycle 3:Ni:Survey``: cycle, sample and region as CasaXPS names
them), a line with ``Characteristic Energy eV`` (the photon energy) and ``Acquisition Time s``,
the component lines (``Name``, ``Position``, ``FWHM``, ``Area``, ``Lineshape``), a column
header (``K.E.``, ``Counts``, component and background columns, ``B.E.``, ``CPS``) and the rows.
Every block is its own spectrum, never joined to the next. The intensity is the ``CPS`` column
(counts per second) where there is one, else ``Counts``; the binding energy is the ``B.E.``
column where there is one, else ``hv - K.E.``. The other columns are kept, by name, in
``metadata['columns']``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .base import (
    REGISTRY,
    PathLike,
    XpsReadError,
    XpsSpectrum,
    _check_exists,
    _check_magnitudes,
    _find_orbital,
    _head_text,
    _opt_float,
    _read_lines,
    _region_name,
    _sort_ascending,
    _to_float,
    kinetic_to_binding,
)

__all__ = ["read_casa_text"]

_TITLE_RE = re.compile(r"^Cycle\s+(\d+)\s*:(.*):(.*)$")
_HV_KEY = "Characteristic Energy eV"


def _blocks(lines: list[str]) -> list[int]:
    """Line indices of the block titles: the line before each ``Characteristic Energy`` line."""
    return [i - 1 for i, line in enumerate(lines) if i > 0 and _HV_KEY in line]


def _block(p: Path, lines: list[str], start: int, stop: int) -> XpsSpectrum:
    """The block whose title is on line index ``start`` and which ends before ``stop``."""
    title = lines[start].strip()
    where = f"CasaXPS text block {title!r} (line {start + 1})"
    fields = [f.strip() for f in lines[start + 1].split("\t")]
    info = {fields[k]: fields[k + 1] for k in range(len(fields) - 1) if fields[k]}
    hv = _opt_float(_to_float(info.get(_HV_KEY, "") or "nan"))
    acq = _opt_float(_to_float(info.get("Acquisition Time s", "") or "nan"))
    head_at = next((i for i in range(start + 2, stop)
                    if lines[i].split("\t")[0].strip() in ("K.E.", "B.E.")), None)
    if head_at is None:
        raise XpsReadError(f"{p}: {where}: no column header line (K.E. / B.E., Counts); "
                           "expected a CasaXPS 'rows' export")
    names = [t.strip() for t in lines[head_at].split("\t")]
    rows, line_of = [], []
    for i in range(head_at + 1, stop):
        if not lines[i].strip():
            continue
        vals = [t.strip() for t in lines[i].split("\t")]
        row = [_to_float(t) if t else np.nan for t in vals] + [np.nan] * (len(names) - len(vals))
        if any(v is None for v in row):
            raise XpsReadError(f"{p}: line {i + 1} ({where}): expected tab-separated numbers, "
                               f"got {lines[i].strip()[:60]!r}")
        rows.append(row[: len(names)])
        line_of.append(i + 1)
    if not rows:
        raise XpsReadError(f"{p}: {where}: no data rows after the column header")
    arr = np.array(rows, dtype=float)
    cols = {n: arr[:, k] for k, n in enumerate(names) if n}
    y_name = "CPS" if "CPS" in cols else "Counts"
    if y_name not in cols:
        raise XpsReadError(f"{p}: {where}: columns {[n for n in names if n]}; expected 'CPS' "
                           "or 'Counts'")
    be, kinetic, mismatch = _axis(p, where, cols, hv)
    _check_magnitudes(p, line_of, be, cols[y_name])
    others = {n: v for n, v in cols.items() if n not in (y_name, "B.E.")}
    n_merged, (be, inten, *rest) = _sort_ascending(be, cols[y_name], *others.values(),
                                                   where=f"{p}: {where}")
    m = _TITLE_RE.match(title)
    sample, region = (m.group(2).strip(), m.group(3).strip()) if m else ("", title)
    meta: dict[str, Any] = {
        "format": "CasaXPS text", "title": title, "block_info": info, "first_line": start + 1,
        "intensity_unit": "counts/s" if y_name == "CPS" else "counts",
        "intensity_column": y_name, "columns": dict(zip(others, rest)),
        "binding_minus_kinetic_mismatch_ev": mismatch, "work_function_applied_ev": 0.0,
        "n_points": int(be.size), "merged_duplicate_points": n_merged}
    if m:
        meta["casa_cycle"] = int(m.group(1))
    return XpsSpectrum(
        binding_energy_ev=be, intensity=inten, source=str(p), label=title, sample=sample,
        region=_find_orbital(region) or _region_name(region), photon_energy_ev=hv,
        dwell_s=acq, kinetic_axis=kinetic, metadata=meta)


def _axis(p: Path, where: str, cols: dict[str, np.ndarray], hv: float | None
          ) -> tuple[np.ndarray, bool, float | None]:
    """(binding energy, whether it came from kinetic energy, largest |B.E. - (hv - K.E.)|)."""
    ke = cols.get("K.E.")
    if "B.E." in cols:
        be = cols["B.E."]
        if ke is None or hv is None:
            return be, False, None
        return be, False, float(np.nanmax(np.abs(be - (hv - ke))))
    if ke is None:
        raise XpsReadError(f"{p}: {where}: neither a 'K.E.' nor a 'B.E.' column")
    if hv is None or hv <= 0:
        raise XpsReadError(f"{p}: {where}: kinetic energies but no '{_HV_KEY}'; expected the "
                           "photon energy")
    return kinetic_to_binding(ke, hv), True, None


def read_casa_text(path: PathLike) -> list[XpsSpectrum]:
    """Every block of a CasaXPS text export ("rows" layout), one :class:`XpsSpectrum` each.

    Parameters
    ----------
    path : str or pathlib.Path
        The tab-separated export.

    Returns
    -------
    spectra : list of XpsSpectrum
        One per block, in file order, on ascending binding energy (eV); the label is the
        block title (``Cycle 3:Ni:Survey``), the sample and region come from it.

    Raises
    ------
    XpsReadError
        Naming the file, the block or line, and what was expected there.

    Examples
    --------
    >>> import tempfile
    >>> rows = ["Cycle 1:Au foil:Au4f", "\\tCharacteristic Energy eV\\t1486.6\\tAcquisition "
    ...         "Time s\\t0.1", "K.E.\\tCounts\\t\\tB.E.\\tCPS", "1402.6\\t10\\t\\t84.0\\t100",
    ...         "1403.6\\t3\\t\\t83.0\\t30"]
    >>> path = Path(tempfile.mkdtemp()) / "export.txt"
    >>> _ = path.write_text("\\n".join(rows + rows) + "\\n")
    >>> a, b = read_casa_text(path)
    >>> a.label, a.sample, a.region, a.binding_energy_ev.tolist(), a.intensity.tolist()
    ('Cycle 1:Au foil:Au4f', 'Au foil', 'Au 4f', [83.0, 84.0], [30.0, 100.0])
    >>> a.metadata["intensity_unit"], a.metadata["columns"]["Counts"].tolist()
    ('counts/s', [3.0, 10.0])
    """
    p = _check_exists(path)
    lines, _ = _read_lines(p)
    starts = _blocks(lines)
    if not starts or starts[0] < 0:
        raise XpsReadError(f"{p}: no block title followed by a '{_HV_KEY}' line; expected a "
                           "CasaXPS text export")
    ends = starts[1:] + [len(lines)]
    return [_block(p, lines, a, b) for a, b in zip(starts, ends)]


def _sniff(head: bytes) -> bool:
    lines = _head_text(head).replace("\r\n", "\n").split("\n")
    return len(lines) > 2 and _HV_KEY in lines[1] and any(
        line.split("\t")[0].strip() in ("K.E.", "B.E.") and "\t" in line for line in lines[2:40])


REGISTRY.register("casa-text", read=read_casa_text, sniff=_sniff,
                  description="CasaXPS text export of spectra (one block per spectrum)")
