"""Scienta SES exports: the ``.txt`` region file and the Igor binary wave ``.ibw``.

Both carry the same SES ``key=value`` notes (``Region Name``, ``Excitation Energy``,
``Energy Scale``, ``Pass Energy``, ``Number of Sweeps``, ``Step Time`` in ms, ``Date``/``Time``).

``.txt``: an ``[Info]`` section (``Number of Regions``), then per region ``n`` the sections
``[Region n]`` (``Dimension 1 name``/``size``/``scale``), ``[Info n]`` (the notes) and
``[Data n]`` (energy and intensity rows). Every region is its own spectrum.

``.ibw`` (Igor Pro binary wave, version 5): one wave whose x scaling (``sfB + sfA * i``)
is the energy axis and whose note holds the SES notes. Only one-dimensional waves are read.

The energy axis is binding energy when ``Energy Scale=Binding`` (the axis as written), else
kinetic energy, converted with ``BE = hv - KE``. Images (``Number of Slices`` above 1) are
refused: xpipe reads spectra, not angle- or position-resolved images. The files do not state
the unit of the intensity; ``metadata['intensity_unit']`` is ``'counts'`` and
``metadata['intensity_unit_stated']`` is False.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime, timezone
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
    _sort_ascending,
    _to_float,
    kinetic_to_binding,
)

__all__ = ["read_scienta_ibw", "read_scienta_txt"]

_SECTION_RE = re.compile(r"^\[(.+?)\]\s*$")


def _ses_time(info: dict[str, str]) -> float | None:
    """Epoch seconds of ``Date=2023-03-08`` and ``Time=12:58:06`` (taken as UTC)."""
    try:
        t = datetime.strptime(f"{info.get('Date', '')} {info.get('Time', '')}",
                              "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return t.replace(tzinfo=timezone.utc).timestamp()


def _spectrum(p: Path, where: str, x: np.ndarray, y: np.ndarray, info: dict[str, str],
              label: str, fmt: str) -> XpsSpectrum:
    """A spectrum from an SES region: axis ``x`` as written, intensity ``y``, notes ``info``."""
    slices = _to_float(info.get("Number of Slices", "1") or "1")
    if slices is not None and slices > 1:
        raise XpsReadError(f"{p}: Scienta {where}: {int(slices)} slices (an image, angle- or "
                           "position-resolved); expected one slice, a spectrum")
    hv = _opt_float(_to_float(info.get("Excitation Energy", "") or "nan"))
    scale = info.get("Energy Scale", "").strip().lower()
    if scale not in ("binding", "kinetic"):
        raise XpsReadError(f"{p}: Scienta {where}: 'Energy Scale={info.get('Energy Scale', '')}'; "
                           "expected Binding or Kinetic")
    kinetic = scale == "kinetic"
    if kinetic and (hv is None or hv <= 0):
        raise XpsReadError(f"{p}: Scienta {where}: kinetic-energy axis but no positive "
                           "'Excitation Energy='; expected the photon energy")
    be = kinetic_to_binding(x, hv) if kinetic else np.asarray(x, dtype=float).copy()
    n_merged, (be, inten) = _sort_ascending(be, np.asarray(y, dtype=float),
                                            where=f"{p}: Scienta {where}")
    name = info.get("Region Name", "")
    sweeps = _to_float(info.get("Number of Sweeps", "") or "nan")
    step_ms = _opt_float(_to_float(info.get("Step Time", "") or "nan"))
    meta: dict[str, Any] = {
        "format": fmt, "region_name": name, "ses_info": dict(info), "intensity_unit": "counts",
        "intensity_unit_stated": False, "work_function_applied_ev": 0.0,
        "n_points": int(be.size), "merged_duplicate_points": n_merged,
        "lens_mode": info.get("Lens Mode", ""), "acquisition_mode": info.get("Acquisition Mode", "")}
    return XpsSpectrum(
        binding_energy_ev=be, intensity=inten, source=str(p), label=label,
        sample=info.get("Sample", ""), region=_find_orbital(name) or name,
        photon_energy_ev=hv, pass_energy_ev=_opt_float(_to_float(info.get("Pass Energy", "")
                                                                  or "nan")),
        dwell_s=None if step_ms is None else step_ms / 1000.0,
        n_scans=int(sweeps) if sweeps is not None and np.isfinite(sweeps) else None,
        kinetic_axis=kinetic, time_s=_ses_time(info), metadata=meta)


# --------------------------------------------------------------------------------------------
# the .txt export


def _sections(p: Path) -> tuple[list[tuple[str, list[tuple[int, str]]]], list[str]]:
    """The ``[name]`` sections of a SES text file in order, each with its (line number, text)
    lines; and the file's lines."""
    lines, _ = _read_lines(p)
    sections: list[tuple[str, list[tuple[int, str]]]] = []
    for n, raw in enumerate(lines, start=1):
        s = raw.strip()
        m = _SECTION_RE.match(s)
        if m:
            sections.append((m.group(1), []))
        elif s and sections:
            sections[-1][1].append((n, s))
    return sections, lines


def _keys(body: list[tuple[int, str]]) -> dict[str, str]:
    return {k.strip(): v.strip() for _n, s in body if "=" in s for k, v in [s.split("=", 1)]}


def _txt_region(p: Path, k: str, parts: dict[str, list[tuple[int, str]]]) -> XpsSpectrum:
    """Region ``k`` of a SES text file from its [Region k], [Info k] and [Data k] sections."""
    where = f"region {k}"
    if f"Data {k}" not in parts:
        raise XpsReadError(f"{p}: Scienta .txt {where}: no [Data {k}] section; expected the "
                           "energy and intensity rows")
    region, info = _keys(parts.get(f"Region {k}", [])), _keys(parts.get(f"Info {k}", []))
    rows, line_of = [], []
    for n, s in parts[f"Data {k}"]:
        try:
            row = [float(t) for t in s.split()]
        except ValueError:
            raise XpsReadError(f"{p}: Scienta .txt line {n} ([Data {k}]): expected numbers "
                               f"(energy, intensity), got {s[:60]!r}") from None
        if len(row) != 2:
            raise XpsReadError(f"{p}: Scienta .txt line {n} ([Data {k}]): {len(row)} columns; "
                               "expected two (energy, intensity): more are image slices")
        rows.append(row)
        line_of.append(n)
    arr = np.array(rows, dtype=float).reshape(-1, 2)
    size = _to_float(region.get("Dimension 1 size", "") or "nan")
    if size is not None and np.isfinite(size) and int(size) != len(arr):
        raise XpsReadError(f"{p}: Scienta .txt {where}: 'Dimension 1 size={int(size)}' but "
                           f"{len(arr)} data rows; the file is cut off or damaged")
    _check_magnitudes(p, line_of, arr[:, 0], arr[:, 1])
    name = info.get("Region Name") or region.get("Region Name", f"region {k}")
    info.setdefault("Region Name", name)
    s = _spectrum(p, f".txt {where} ({name!r})", arr[:, 0], arr[:, 1], info, name,
                  "Scienta txt")
    s.metadata["axis_name"] = region.get("Dimension 1 name", "")
    return s


def read_scienta_txt(path: PathLike) -> list[XpsSpectrum]:
    """Every region of a Scienta SES ``.txt`` export, one :class:`XpsSpectrum` each.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.txt`` export (``[Info]``, ``[Region n]``, ``[Info n]``, ``[Data n]`` sections).

    Returns
    -------
    spectra : list of XpsSpectrum
        One per region, in file order, on ascending binding energy (eV); the label is the
        region name (with its number where two regions share a name).

    Raises
    ------
    XpsReadError
        Naming the file, the region or line, and what was expected there.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "ag.txt"
    >>> _ = path.write_text("[Info]\\nNumber of Regions=0001\\n[Region 1]\\nRegion Name=Ag3d\\n"
    ...     "Dimension 1 size=2\\n[Info 1]\\nRegion Name=Ag3d\\nExcitation Energy=520\\n"
    ...     "Energy Scale=Kinetic\\nNumber of Slices=1\\n[Data 1]\\n152.0 7.5\\n152.1 9.0\\n")
    >>> (s,) = read_scienta_txt(path)
    >>> s.label, s.region, s.kinetic_axis, np.round(s.binding_energy_ev, 1).tolist()
    ('Ag3d', 'Ag 3d', True, [367.9, 368.0])
    """
    p = _check_exists(path)
    sections, _ = _sections(p)
    parts = {name: body for name, body in sections}
    head = _keys(parts.get("Info", []))
    stated = _to_float(head.get("Number of Regions", "") or "nan")
    found = [name.split()[1] for name, _b in sections
             if name.startswith("Region ") and len(name.split()) == 2]
    if not found:
        raise XpsReadError(f"{p}: no [Region n] section; expected a Scienta SES .txt export")
    if stated is not None and np.isfinite(stated) and int(stated) != len(found):
        raise XpsReadError(f"{p}: 'Number of Regions={int(stated)}' but {len(found)} [Region n] "
                           "sections; the file is cut off or damaged")
    spectra = [_txt_region(p, k, parts) for k in found]
    names = [s.label for s in spectra]
    for k, s in zip(found, spectra):
        if names.count(s.label) > 1:
            s.label = f"{s.label} #{k}"
    return spectra


def _sniff_txt(head: bytes) -> bool:
    text = _head_text(head).lstrip()
    return text.startswith("[Info]") and "Number of Regions=" in text[:200]


# --------------------------------------------------------------------------------------------
# the Igor binary wave

_IBW_TYPES = {2: "f4", 4: "f8", 8: "i1", 16: "i2", 32: "i4", 72: "u1", 80: "u2", 96: "u4"}
_IBW_HEAD = 64 + 320  # BinHeader5 and WaveHeader5: the data follows


def _ibw_wave(p: Path, raw: bytes) -> tuple[np.ndarray, float, float, str]:
    """(values, x start, x step, note) of a one-dimensional Igor binary wave of version 5."""
    if len(raw) < _IBW_HEAD:
        raise XpsReadError(f"{p}: Igor binary wave (.ibw): {len(raw)} bytes, fewer than its "
                           f"{_IBW_HEAD}-byte header; the file is cut off")
    order = "<" if struct.unpack("<h", raw[:2])[0] in (2, 5) else ">"
    version = struct.unpack(order + "h", raw[:2])[0]
    if version != 5:
        raise XpsReadError(f"{p}: Igor binary wave (.ibw) version {version} is not read; "
                           "expected version 5 (as Scienta SES writes)")
    if sum(struct.unpack(order + f"{_IBW_HEAD // 2}h", raw[:_IBW_HEAD])) & 0xFFFF:
        raise XpsReadError(f"{p}: Igor binary wave (.ibw): the header checksum is wrong; the "
                           "file is damaged")
    wh = 64
    wfm_size, formula_size, note_size = struct.unpack(order + "3i", raw[4:16])
    n_points, wtype = struct.unpack(order + "ih", raw[wh + 12: wh + 18])
    dims = struct.unpack(order + "4i", raw[wh + 68: wh + 84])
    step = struct.unpack(order + "d", raw[wh + 84: wh + 92])[0]
    start = struct.unpack(order + "d", raw[wh + 116: wh + 124])[0]
    if wtype not in _IBW_TYPES:
        raise XpsReadError(f"{p}: Igor binary wave (.ibw): data type {wtype} is not read; "
                           "expected real numbers")
    if dims[1] > 0:
        raise XpsReadError(f"{p}: Igor binary wave (.ibw) of {sum(d > 0 for d in dims)} "
                           "dimensions (an image); expected a one-dimensional spectrum")
    dtype = np.dtype(order + _IBW_TYPES[wtype])
    end = _IBW_HEAD + n_points * dtype.itemsize
    if n_points < 1 or end > len(raw):
        raise XpsReadError(f"{p}: Igor binary wave (.ibw): {n_points} points need {end} bytes, "
                           f"the file has {len(raw)}; the file is cut off")
    values = np.frombuffer(raw[_IBW_HEAD:end], dtype=dtype).astype(float)
    note_at = wh + wfm_size + formula_size
    note = raw[note_at: note_at + note_size].decode("latin-1") if note_size > 0 else ""
    return values, start, step, note


def read_scienta_ibw(path: PathLike) -> list[XpsSpectrum]:
    """The spectrum of a Scienta SES Igor binary wave (``.ibw``), as a one-item list.

    Parameters
    ----------
    path : str or pathlib.Path
        A one-dimensional Igor binary wave (version 5) whose note holds the SES notes.

    Returns
    -------
    spectra : list of XpsSpectrum
        One spectrum on ascending binding energy (eV), labelled with the region name.

    Raises
    ------
    XpsReadError
        For a wave that is not one-dimensional real numbers, a damaged header, or a note
        without the SES notes.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "bad.ibw"
    >>> _ = path.write_bytes(b"\\x05\\x00" + bytes(400))
    >>> try:
    ...     read_scienta_ibw(path)
    ... except XpsReadError as err:
    ...     print(str(err).split(": ", 1)[1])
    Igor binary wave (.ibw): the header checksum is wrong; the file is damaged
    """
    p = _check_exists(path)
    values, start, step, note = _ibw_wave(p, p.read_bytes())
    info = {k.strip(): v.strip() for line in note.replace("\r\n", "\n").replace("\r", "\n")
            .split("\n") if "=" in line for k, v in [line.split("=", 1)]}
    if "Energy Scale" not in info:
        raise XpsReadError(f"{p}: Igor binary wave (.ibw) without the Scienta SES notes "
                           "('Energy Scale=' missing); expected a wave written by Scienta SES")
    x = start + step * np.arange(values.size)
    name = info.get("Region Name", p.stem)
    s = _spectrum(p, f".ibw ({name!r})", x, values, info, name, "Scienta ibw")
    s.metadata["wave_scaling"] = {"start": start, "step": step}
    return [s]


REGISTRY.register("scienta-txt", read=read_scienta_txt, sniff=_sniff_txt,
                  description="Scienta SES .txt export (one spectrum per region)")
REGISTRY.register("scienta-ibw", read=read_scienta_ibw, suffixes=(".ibw",),
                  description="Scienta SES Igor binary wave (.ibw), one-dimensional")
