"""What the XAS, XPS and cycler readers make of a file, for the report.

Each ``describe_*`` calls the family's public reader (``read_scan``, ``read_xps``,
``read_cycler``) with the format the registry chose, and reads the returned objects' documented
attributes, each with a fallback, so that a reader that gains or loses a metadata entry does
not break the report.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "cell.csv"
>>> _ = path.write_text("time/s,Ewe/V,I/mA\\n0,3.2,2\\n900,3.3,2\\n1800,3.4,-2\\n2700,3.3,-2\\n")
>>> out = describe_cycler(path, "csv")
>>> out["n_points"], out["ranges"]["time_s"], [c["unit"] for c in out["columns"]]
(4, [0.0, 2700.0], ['s', 'V', 'mA'])
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ..echem.readers import read_cycler
from ..xas.readers import read_scan
from ..xps.readers import read_xps
from .values import flat, iso, plain, span, unit_of

#: Items (scans, blocks, regions) described one by one.
MAX_ITEMS = 200
#: The kind of item each format's file holds.
ITEM_KINDS = {"athena": "group", "vamas": "block", "specs-xy": "region", "nexus": "entry"}


def _times(epochs: list[Any], source: str) -> dict[str, Any]:
    known = [float(t) for t in epochs if t is not None and np.isfinite(float(t))]
    if not known:
        return {"first": None, "last": None, "source": None}
    return {"first": iso(min(known)), "last": iso(max(known)), "source": source}


def _xas_columns(scan) -> list[dict[str, Any]]:
    """The file's columns the reader used, by role, with the unit the XDI header gives."""
    meta = getattr(scan, "metadata", {}) or {}
    xdi = meta.get("xdi") if isinstance(meta.get("xdi"), dict) else {}
    units = {}
    for key, value in xdi.items():
        if str(key).lower().startswith("column.") and isinstance(value, str):
            name, _, unit = value.strip().partition(" ")
            units[name.lower()] = unit.strip() or None
    used = meta.get("columns") if isinstance(meta.get("columns"), dict) else {}
    out = []
    for role, column in used.items():
        names = column if isinstance(column, list | tuple) else [column]
        for name in names:
            unit = units.get(str(name).lower()) or ("eV" if role == "energy" and not units else None)
            if role == "energy" and meta.get("energy_units_in_file"):
                unit = str(meta["energy_units_in_file"])
            out.append({"name": str(name), "unit": unit, "role": str(role)})
    return out


def describe_xas(path: str | Path, fmt_name: str) -> dict[str, Any]:
    """XAS scans (XDI, beamline columns, Athena groups, NeXus entries): energy range, mode, edge.

    Parameters
    ----------
    path : str or Path
        The file.
    fmt_name : str
        The XAS format chosen (``"xdi"``, ``"athena"``, ``"columns"``, ``"nexus"``).

    Returns
    -------
    dict
        The report's fields: one item per scan, ``energy_ev`` over all of them.

    Examples
    --------
    >>> import tempfile
    >>> e = np.linspace(7080.0, 7180.0, 26)
    >>> path = Path(tempfile.mkdtemp()) / "fe.xdi"
    >>> rows = "\\n".join(f"{a:.2f} {b:.5f}" for a, b in zip(e, np.arctan(e - 7112.0)))
    >>> _ = path.write_text("# XDI/1.0\\n# Column.1: energy eV\\n# Column.2: mutrans\\n#----\\n"
    ...                     + rows + "\\n")
    >>> out = describe_xas(path, "xdi")
    >>> out["ranges"]["energy_ev"], out["columns"][0]
    ([7080.0, 7180.0], {'name': 'energy', 'unit': 'eV', 'role': 'energy'})
    """
    scans = read_scan(path, format=fmt_name)
    kind = ITEM_KINDS.get(fmt_name, "scan")
    items = []
    for scan in scans[:MAX_ITEMS]:
        energy = getattr(scan, "energy_ev", np.array([]))
        items.append({
            "name": str(getattr(scan, "label", "")), "kind": kind, "n_points": int(np.size(energy)),
            "ranges": {"energy_ev": span(energy), "mu": span(getattr(scan, "mu", None))},
            "timestamp": iso(getattr(scan, "time_s", None)),
            "details": {"mode": plain(getattr(scan, "mode", None)),
                        "element": plain(getattr(scan, "element", None)),
                        "edge": plain(getattr(scan, "edge", None)),
                        "reference": getattr(scan, "reference_mu", None) is not None},
        })
    energies = [getattr(s, "energy_ev", None) for s in scans]
    energies = [np.asarray(e, dtype=float) for e in energies if e is not None and np.size(e)]
    first = scans[0] if scans else None
    notes = [] if len(scans) <= MAX_ITEMS else [f"{len(scans)} scans; the first {MAX_ITEMS} are listed"]
    meta = dict(getattr(first, "metadata", {}) or {})
    skipped = meta.get("athena_skipped")
    if skipped:
        notes.append(f"{len(skipped)} group(s) skipped (not mu(E)): {', '.join(map(str, skipped[:8]))}")
    return {
        "items": items,
        "columns": _xas_columns(first) if first is not None else [],
        "n_points": int(sum(e.size for e in energies)),
        "ranges": {"energy_ev": span(np.concatenate(energies)) if energies else None},
        "timestamps": _times([getattr(s, "time_s", None) for s in scans], "file header"),
        "metadata": flat(meta),
        "notes": notes,
    }


def describe_xps(path: str | Path, fmt_name: str) -> dict[str, Any]:
    """XPS spectra (VAMAS blocks, SPECS regions, text): binding-energy range, photon energy.

    Parameters
    ----------
    path : str or Path
        The file.
    fmt_name : str
        The XPS format chosen (``"vamas"``, ``"specs-xy"``, ``"text"``).

    Returns
    -------
    dict
        The report's fields: one item per spectrum, ``binding_energy_ev`` over all of them.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "c1s.txt"
    >>> _ = path.write_text("285.0 30\\n284.0 10\\n")
    >>> out = describe_xps(path, "text")
    >>> out["items"][0]["name"], out["ranges"]["binding_energy_ev"]
    ('c1s', [284.0, 285.0])
    """
    spectra = read_xps(path, format=fmt_name)
    kind = ITEM_KINDS.get(fmt_name, "spectrum")
    items = []
    for s in spectra[:MAX_ITEMS]:
        meta = getattr(s, "metadata", {}) or {}
        be = getattr(s, "binding_energy_ev", np.array([]))
        items.append({
            "name": str(getattr(s, "label", "")), "kind": kind, "n_points": int(np.size(be)),
            "ranges": {"binding_energy_ev": span(be), "intensity": span(getattr(s, "intensity", None))},
            "timestamp": iso(getattr(s, "time_s", None)),
            "details": {name: plain(getattr(s, name, None)) for name in
                        ("region", "sample", "photon_energy_ev", "pass_energy_ev", "dwell_s",
                         "n_scans", "kinetic_axis")} | {"intensity_unit": plain(meta.get("intensity_unit"))},
        })
    energies = [np.asarray(getattr(s, "binding_energy_ev", []), dtype=float) for s in spectra]
    unit = (getattr(spectra[0], "metadata", {}) or {}).get("intensity_unit") if spectra else None
    notes = [] if len(spectra) <= MAX_ITEMS else [f"{len(spectra)} spectra; the first {MAX_ITEMS} are listed"]
    if any(getattr(s, "kinetic_axis", False) for s in spectra):
        notes.append("the file's axis is kinetic energy, converted to binding energy "
                     "(BE = hv - KE - phi)")
    meta = dict(getattr(spectra[0], "metadata", {}) or {}) if spectra else {}
    return {
        "items": items,
        "columns": [{"name": "binding_energy_ev", "unit": "eV", "role": "x"},
                    {"name": "intensity", "unit": plain(unit), "role": "intensity"}],
        "n_points": int(sum(e.size for e in energies)),
        "ranges": {"binding_energy_ev": span(np.concatenate(energies)) if energies else None},
        "timestamps": _times([getattr(s, "time_s", None) for s in spectra], "file"),
        "metadata": flat(meta.get("file", {}), "file.") | flat({k: v for k, v in meta.items() if k != "file"}),
        "notes": notes,
    }


def _cycler_columns(data) -> list[dict[str, Any]]:
    """The file's columns (as the file names them, with the unit the name states) and the
    common table's column each was used for."""
    meta = getattr(data, "meta", {}) or {}
    used = meta.get("columns") if isinstance(meta.get("columns"), dict) else {}
    role_of = {str(v): str(k) for k, v in used.items()}
    found = meta.get("columns_found")
    if not isinstance(found, list | tuple) or not found:
        found = list(used.values()) or list(getattr(data, "COLUMNS", ()))
    return [{"name": str(c), "unit": unit_of(str(c)), "role": role_of.get(str(c))} for c in found]


def describe_cycler(path: str | Path, fmt_name: str) -> dict[str, Any]:
    """A cycler record: its columns, records, time span, voltage/current/capacity ranges.

    Parameters
    ----------
    path : str or Path
        The file.
    fmt_name : str
        The cycler format chosen (``"biologic-mpr"``, ``"csv"``...).

    Returns
    -------
    dict
        The report's fields; ``time_s`` from 0 to the last record, the wall clock in
        ``timestamps`` when the file gives its start.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "c.csv"
    >>> _ = path.write_text("time/s,Ewe/V,I/mA\\n0,3.2,2\\n900,3.3,2\\n1800,3.4,-2\\n")
    >>> describe_cycler(path, "csv")["metadata"]["half_cycles"]
    2
    """
    data = read_cycler(path, format=fmt_name)
    t = np.asarray(getattr(data, "time_s", []), dtype=float)
    start = getattr(data, "start", None)
    last = None
    if start is not None and t.size and np.isfinite(t[-1]):
        last = start + timedelta(seconds=float(t[-1]))
    meta = {"cycles": plain(getattr(data, "n_cycles", None)),
            "half_cycles": plain(getattr(data, "n_half_cycles", None))}
    flat(getattr(data, "meta", {}) or {}, "", meta)
    return {
        "columns": _cycler_columns(data),
        "n_points": int(t.size),
        "ranges": {name: span(getattr(data, name, None))
                   for name in ("time_s", "voltage_v", "current_ma", "capacity_mah")},
        "timestamps": {"first": iso(start), "last": iso(last),
                       "source": "file" if start is not None else None},
        "metadata": meta,
        "notes": [] if start is not None else ["the file gives no start time: time_s counts from "
                                               "its first record"],
    }
