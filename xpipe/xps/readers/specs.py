"""SPECS Prodigy ``.xy`` exports.

A ``.xy`` export is text: ``#`` header lines (export settings, then per group, region, cycle
and curve) and energy/intensity columns. A file is taken for one when its first 60 lines name
SpecsLab or the XY-Serializer, or when it starts with ``#`` and has a ``# Region:`` line.

Every curve is its own spectrum: regions are never joined, and a region name that comes back
(in another group, or twice in one group) gets the group and the spectrum ID in its label.
Curves whose first column is not an energy (``# ColumnLabels: index ...`` of a FixedEnergies
alignment scan, a detector-voltage scan) are not spectra: they are left out, each with a note in
``metadata['skipped_curves']`` of the spectra returned. The export setting
``# Energy Axis:`` says whether the first column is kinetic or binding energy; a region's
``# Kinetic Energy:`` or ``# Binding Energy:`` line is only how the region was defined.

SpecsLab2 ``.xml`` files are recognised and refused with the reason (export them as ``.xy``
or VAMAS from Prodigy).
"""

from __future__ import annotations

import re
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
    _check_last_row,
    _check_magnitudes,
    _ends_with_line_end,
    _head_text,
    _opt_float,
    _read_lines,
    _region_name,
    _sort_ascending,
    _to_float,
    kinetic_to_binding,
)

__all__ = ["read_specs_xy"]

_SPECS_KEY_RE = re.compile(r"^#\s*([^:]+?)\s*:\s*(.*?)\s*$")
_SPECS_CURVE_RE = re.compile(r"^#\s*Cycle:\s*\d+\s*,\s*Curve:")
_SPECS_IDX_RE = re.compile(r"(Cycle|Curve|Scan|Channel):\s*(\d+)")
# Prodigy scan modes whose first column is not a kinetic or binding energy
_NON_ENERGY_SCAN_MODES = ("fixedenergies", "detectorvoltagescan")


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
    if head.lstrip().startswith("<"):  # SpecsLab2 XML names SpecsLab too
        return False
    return "SpecsLab" in head or "XY-Serializer" in head or (
        head.startswith("#") and "# Region:" in head)


class _Curves:
    """The curves of an export, collected line by line with the header entries in force."""

    def __init__(self, path: Path):
        self.path = path
        self.settings: dict[str, str] = {}
        self.group: dict[str, str] = {}
        self.region: dict[str, str] | None = None
        self.curves: list[dict[str, Any]] = []
        self.cur: dict[str, Any] | None = None
        self.n_regions = 0

    def new_curve(self, header: str, lineno: int) -> dict[str, Any]:
        c = {"settings": self.settings, "group": dict(self.group),
             "region": dict(self.region or {}), "region_no": self.n_regions,
             "index": {k.lower(): int(v) for k, v in _SPECS_IDX_RE.findall(header)},
             "meta": {}, "rows": [], "lines": [], "line": lineno}
        self.curves.append(c)
        return c

    def header(self, s: str, lineno: int) -> None:
        """A ``#`` line: a new curve, or a key of the curve, region, group or export."""
        if _SPECS_CURVE_RE.match(s):
            self.cur = self.new_curve(s, lineno)
            return
        m = _SPECS_KEY_RE.match(s)
        if not m:
            return
        key, val = m.group(1), m.group(2)
        if key == "Region":
            self.region = {"Region": val}
            self.n_regions += 1
            self.cur = None
        elif key == "Cycle" and self.region is not None:
            self.region["Cycle"] = val  # '# Number of Scans:' of this cycle follows
            self.cur = None
        elif key == "Group":
            self.group = {"Group": val}
            self.region, self.cur = None, None
        elif self.cur is not None:
            self.cur["meta"][key] = val
        elif self.region is not None:
            self.region[key] = val
        elif self.group:
            self.group[key] = val
        else:
            self.settings[key] = val

    def row(self, s: str, lineno: int) -> None:
        """A data line: its numbers, added to the current curve."""
        p = self.path
        toks = s.replace(",", " ").split()
        try:
            row = [float(t) for t in toks]
        except ValueError:
            raise XpsReadError(f"{p}: SPECS .xy line {lineno}: expected numbers (energy, "
                               f"intensity) or a '#' header line, got {s[:60]!r}") from None
        if len(row) < 2:
            raise XpsReadError(f"{p}: SPECS .xy line {lineno}: expected at least two columns "
                               f"(energy, intensity), got {s[:60]!r}")
        if self.cur is None:
            if self.region is None:
                raise XpsReadError(f"{p}: SPECS .xy line {lineno}: data before any "
                                   "'# Region:' header; expected a Prodigy .xy export")
            self.cur = self.new_curve("", lineno)
        self.cur["rows"].append(row)
        self.cur["lines"].append(lineno)


def _read_curves(p: Path) -> list[dict[str, Any]]:
    """Every curve of the file that holds data rows, in file order."""
    lines, _ = _read_lines(p)
    if not _ends_with_line_end(p):
        _check_last_row(p, lines)
    parser = _Curves(p)
    for lineno, raw in enumerate(lines, start=1):
        s = raw.strip()
        if not s:
            continue
        if s.startswith("#"):
            parser.header(s, lineno)
        else:
            parser.row(s, lineno)
    curves = [c for c in parser.curves if c["rows"]]
    if not curves:
        raise XpsReadError(f"{p}: no data rows found; expected a SPECS Prodigy .xy export with "
                           "'# Region:' headers and energy/intensity columns")
    return curves


def _not_a_spectrum(c: dict[str, Any]) -> str:
    """Why a curve is not an energy spectrum ('' when it is one): its first column is named
    something other than the energy, or its scan mode holds the energy fixed."""
    reg = c["region"]
    labels = (c["meta"].get("ColumnLabels") or "").split()
    mode = reg.get("Scan Mode", "")
    where = (f"region {reg.get('Region', '')!r} (group {c['group'].get('Group', '')!r}, "
             f"spectrum ID {reg.get('Spectrum ID', '?')}, from line {c['line']})")
    if labels and labels[0].lower() != "energy":
        return (f"{where}: first column is {labels[0]!r}, not an energy (scan mode "
                f"{mode or 'not given'}); not a spectrum, left out")
    if mode.replace(" ", "").lower() in _NON_ENERGY_SCAN_MODES:
        return f"{where}: scan mode {mode} does not sweep the energy; not a spectrum, left out"
    return ""


def _labels(curves: list[dict[str, Any]]) -> list[str]:
    """A label per curve, unique in the file: the region name, with the group in front where
    the name comes back in another group, ``#<spectrum ID>`` after where it comes back in the
    same group, and ``/cycle c/curve k/scan s`` where its region holds more than one curve."""
    groups: dict[str, set] = {}
    regions: dict[tuple, set] = {}
    curves_in: dict[int, int] = {}
    for c in curves:
        name, group = c["region"].get("Region", ""), c["group"].get("Group", "")
        groups.setdefault(name, set()).add(group)
        regions.setdefault((group, name), set()).add(c["region_no"])
        curves_in[c["region_no"]] = curves_in.get(c["region_no"], 0) + 1
    labels = []
    for c in curves:
        name, group = c["region"].get("Region", ""), c["group"].get("Group", "")
        label = f"{group}/{name}" if len(groups[name]) > 1 else name
        if len(regions[(group, name)]) > 1:
            label += f" #{c['region'].get('Spectrum ID', c['region_no'])}"
        if curves_in[c["region_no"]] > 1:
            label += "".join(f"/{k} {v}" for k, v in c["index"].items())
        labels.append(label)
    count: dict[str, int] = {}
    for k, lab in enumerate(labels):  # still the same (curves without indices): number them
        count[lab] = count.get(lab, 0) + 1
        if count[lab] > 1:
            labels[k] = f"{lab} ({count[lab]})"
    return labels


def read_specs_xy(path: PathLike, *, subtract_work_function: bool = False) -> list[XpsSpectrum]:
    """Every curve of a SPECS Prodigy ``.xy`` export, one :class:`XpsSpectrum` each.

    Regions (``# Region:``), cycles, scans and curves (``# Cycle: c, Curve: k, Scan: s``) are
    read in file order; the label is the region name, with ``/cycle c/curve k/scan s``
    appended where a region holds more than one curve. A kinetic-energy export
    (``# Energy Axis: Kinetic Energy``) is converted with ``BE = hv - KE`` (Prodigy's kinetic
    energies are Fermi-referenced; ``subtract_work_function=True`` also subtracts
    ``# Eff. Workfunction``). Columns after the second are in ``metadata['columns']``.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.xy`` export.
    subtract_work_function : bool, optional
        Also subtract the region's ``# Eff. Workfunction`` (eV) from ``hv - KE``.

    Returns
    -------
    spectra : list of XpsSpectrum
        One per curve, in file order, on ascending binding energy (eV).

    Raises
    ------
    XpsReadError
        Naming the file and line, and what was expected there.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "c1s.xy"
    >>> _ = path.write_text("# Created by: SpecsLab Prodigy\\n# Energy Axis: Kinetic Energy\\n"
    ...                     "# Region: C1s\\n# Excitation Energy: 1486.61\\n"
    ...                     "1200.0  5\\n1201.0  7\\n")
    >>> (s,) = read_specs_xy(path)
    >>> s.label, s.region, s.kinetic_axis
    ('C1s', 'C 1s', True)
    >>> np.round(s.binding_energy_ev, 2).tolist(), s.intensity.tolist()
    ([285.61, 286.61], [7.0, 5.0])
    """
    p = _check_exists(path)
    curves = _read_curves(p)
    skipped = [why for c in curves if (why := _not_a_spectrum(c))]
    curves = [c for c in curves if not _not_a_spectrum(c)]
    if not curves:
        raise XpsReadError(f"{p}: SPECS .xy export without an energy spectrum: "
                           f"{'; '.join(skipped)[:300]}")
    spectra = [_spectrum(p, c, label, subtract_work_function)
               for c, label in zip(curves, _labels(curves))]
    for s in spectra:
        s.metadata["skipped_curves"] = list(skipped)
    return spectra


def _binding_axis(p: Path, c: dict[str, Any], x: np.ndarray, subtract_wf: bool
                  ) -> tuple[np.ndarray, bool, float | None, float | None, float]:
    """(binding energy in eV, kinetic axis?, hv, work function, work function subtracted)."""
    reg, st = c["region"], c["settings"]
    axis = st.get("Energy Axis", "").lower()
    if "kinetic" in axis or "binding" in axis:
        kinetic = "kinetic" in axis
    else:  # no export setting: the energy the region was defined in is the best guess
        kinetic = "Kinetic Energy" in reg and "Binding Energy" not in reg
    hv = _opt_float(_to_float(reg.get("Excitation Energy") or "nan"))
    wf = _opt_float(_to_float(reg.get("Eff. Workfunction") or "nan"))
    if not kinetic:
        return x.copy(), kinetic, hv, wf, 0.0
    if hv is None or hv <= 0:
        raise XpsReadError(f"{p}: SPECS .xy region {reg.get('Region', '')!r}: kinetic-energy "
                           "axis but no '# Excitation Energy:'; expected the photon energy")
    phi = wf if (subtract_wf and wf is not None) else 0.0
    return kinetic_to_binding(x, hv, phi), kinetic, hv, wf, phi


def _spectrum(p: Path, c: dict[str, Any], label: str, subtract_wf: bool) -> XpsSpectrum:
    """One curve as a spectrum, under ``label`` (unique in the file)."""
    reg, st, cm = c["region"], c["settings"], c["meta"]
    width = min(len(r) for r in c["rows"])
    if any(len(r) != width for r in c["rows"]):
        raise XpsReadError(f"{p}: SPECS .xy curve from line {c['line']}: expected the same "
                           "number of columns in every row")
    arr = np.array(c["rows"], dtype=float)
    name = reg.get("Region", "")
    stated = _to_float(reg.get("Values/Curve") or "nan")
    if stated is not None and np.isfinite(stated) and len(arr) < stated:
        raise XpsReadError(f"{p}: SPECS .xy curve from line {c['line']} (region {name!r}): "
                           f"'# Values/Curve: {int(stated)}' but {len(arr)} rows, the last on "
                           f"line {c['lines'][-1]}; the file is cut off")
    _check_magnitudes(p, c["lines"], arr[:, 0], arr[:, 1])
    be, kinetic, hv, wf, phi = _binding_axis(p, c, arr[:, 0], subtract_wf)
    extra_cols = [arr[:, j] for j in range(2, width)]
    n_merged, (be, inten, *extra_cols) = _sort_ascending(
        be, arr[:, 1], *extra_cols, where=f"{p}: SPECS .xy curve from line {c['line']}")
    labels = (cm.get("ColumnLabels") or "").split()
    columns = {}
    for j, col in enumerate(extra_cols, start=2):
        key = labels[j] if j < len(labels) else f"column{j}"
        columns[key] = col
    idx = c["index"]
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
    return XpsSpectrum(
        binding_energy_ev=be, intensity=inten, source=str(p), label=label,
        sample=c["group"].get("Group", ""), region=_region_name(name), photon_energy_ev=hv,
        work_function_ev=wf,
        pass_energy_ev=_opt_float(_to_float(reg.get("Pass Energy") or "nan")),
        source_label=reg.get("Source", ""), dwell_s=dwell,
        n_scans=None if n_scans is None else int(n_scans), kinetic_axis=kinetic,
        time_s=t, metadata=meta)


def _sniff(head: bytes) -> bool:
    return _is_specs(_head_text(head).replace("\r\n", "\n").split("\n"))


REGISTRY.register("specs-xy", read=read_specs_xy, sniff=_sniff,
                  description="SPECS Prodigy .xy export")


def _refuse_specs_xml(path: PathLike, **_kw: Any) -> list[XpsSpectrum]:
    """SpecsLab2 ``.xml``: recognised, not read (its counts are per detector channel and scan,
    with the channel energy shifts in a calibration the file only names)."""
    p = _check_exists(path)
    raise XpsReadError(f"{p}: SpecsLab2 XML (.xml) is not a format xpipe reads; expected a SPECS "
                       "Prodigy .xy or VAMAS export of the same spectra")


def _sniff_xml(head: bytes) -> bool:
    text = _head_text(head).lstrip()
    return text.startswith("<?xml") and "XMLSerializer" in text and "RegionGroup" in text


REGISTRY.register("specs-xml", read=_refuse_specs_xml, sniff=_sniff_xml,
                  description="SpecsLab2 XML (recognised, refused: export .xy or VAMAS)")
