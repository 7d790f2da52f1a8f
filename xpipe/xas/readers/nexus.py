"""NeXus/HDF5 XAS files: NXxas entries and their close relatives (Larch's layout, NXdata).

Each NXentry is read from ``instrument/monochromator/energy`` with
``instrument/incoming_beam/data`` as I0 and ``instrument/absorbed_beam/data`` as It (or If when
``data/mode`` says fluorescence); Larch's layout (``instrument/i0``, ``itrans``, ``ifluor``,
``irefer``) and an NXdata holding ``energy`` with ``mu`` (or its @signal) are read too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..scan import XasReadError, XasScan
from .base import (
    REGISTRY,
    PathLike,
    _edge_name,
    _element_symbol,
    _existing_file,
    _parse_time,
    _plain,
    _Table,
)
from .build import _build_scan

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ROLES = ("i0", "itrans", "ifluor", "iref", "mu", "mu_ref")


def _nx_class(obj: Any) -> str:
    return str(_plain(obj.attrs.get("NX_class", "")))


def _h5_text(obj: Any) -> str | None:
    import h5py  # loaded only when an HDF5 file is read

    if not isinstance(obj, h5py.Dataset):
        return None
    value = obj[()]
    if isinstance(value, np.ndarray):
        value = value.flat[0] if value.size else ""
    return str(_plain(value)).strip()


def _h5_array(group: Any, *paths: str) -> tuple[np.ndarray, str, str] | None:
    """First 1-D or 2-D numeric dataset found among paths: (values, path, units)."""
    import h5py  # loaded only when an HDF5 file is read

    for sub in paths:
        obj = group.get(sub)
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu" and obj.ndim in (1, 2):
            return np.asarray(obj[()], dtype=float), sub, str(_plain(obj.attrs.get("units", "")))
    return None


def _data_paths(entry: Any) -> list[str]:
    """The entry's NXdata groups, 'data' first ('.' for a bare NXdata at the top of the file)."""
    import h5py  # loaded only when an HDF5 file is read

    nxdata = [k for k, v in entry.items()
              if isinstance(v, h5py.Group) and _nx_class(v) == "NXdata"]
    data_paths = (["data"] if "data" in entry else []) + [k for k in nxdata if k != "data"]
    if _nx_class(entry) == "NXdata":
        data_paths.insert(0, ".")
    return data_paths


def _find_roles(entry: Any, data_paths: list[str]) -> dict[str, Any]:
    """(values, path, units) of each detector role found in the entry, or None per role."""
    roles = {
        "i0": ("instrument/incoming_beam/data", "instrument/i0/data",
               *[f"{d}/incoming_beam" for d in data_paths], *[f"{d}/i0" for d in data_paths]),
        "absorbed": ("instrument/absorbed_beam/data",
                     *[f"{d}/absorbed_beam" for d in data_paths]),
        "itrans": ("instrument/itrans/data", *[f"{d}/itrans" for d in data_paths]),
        "ifluor": ("instrument/ifluor/data", *[f"{d}/ifluor" for d in data_paths]),
        "iref": ("instrument/irefer/data", "instrument/reference/data",
                 *[f"{d}/irefer" for d in data_paths]),
        "mu": tuple(f"{d}/{m}" for d in data_paths for m in ("mu", "mutrans", "mufluor")),
        "mu_ref": tuple(f"{d}/{m}" for d in data_paths for m in ("mu_ref", "murefer")),
    }
    found = {role: _h5_array(entry, *paths) for role, paths in roles.items()}
    for d in data_paths:  # an NXdata whose @signal is the absorption ('intensity' in NXxas_*)
        signal = _plain(entry[d].attrs.get("signal", ""))
        if found["mu"] is None and signal and signal not in ("absorbed_beam", "incoming_beam"):
            found["mu"] = _h5_array(entry, f"{d}/{signal}")
    return found


def _mode_text(entry: Any, data_paths: list[str]) -> tuple[str, str]:
    """What the file says of the mode (lower case, may be ''), and its NeXus definition."""
    mode_text = ""
    for sub in [f"{d}/mode" for d in data_paths] + ["instrument/absorbed_beam/mode"]:
        mode_text = (_h5_text(entry.get(sub)) or "").lower()
        if mode_text:
            break
    definition = (_h5_text(entry.get("definition")) or "").strip()
    if not mode_text and definition.lower().startswith("nxxas_fluo"):
        mode_text = "fluorescence"
    return mode_text, definition


def _first_of(entry: Any, subs: tuple[str, ...], check: Any) -> str | None:
    for sub in subs:
        value = check(_h5_text(entry.get(sub)))
        if value:
            return value
    return None


def _nexus_mode(where: str, columns: dict[str, np.ndarray], mode_text: str, e_path: str,
                used: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The mode (the file's word first, else what the data allow) and the columns it reads."""
    has_trans = "i0" in columns and "itrans" in columns
    has_fluo = "i0" in columns and "ifluor" in columns
    if mode_text.startswith("fluo") and has_fluo:
        mode = "fluorescence"
    elif mode_text.startswith("trans") and has_trans:
        mode = "transmission"
    elif has_fluo and not has_trans:
        mode = "fluorescence"
    elif has_trans:
        mode = "transmission"
    elif "mu" in columns:
        mode = "mu"
    else:
        raise XasReadError(f"{where}: energy found at {e_path} but no absorption data; "
                           "expected instrument/incoming_beam/data with absorbed_beam/data, or "
                           f"mu in an NXdata group (found: {', '.join(used)})")
    roles_kw: dict[str, Any] = {"energy": "energy"}
    if mode == "transmission":
        roles_kw.update(i0="i0", itrans="itrans")
    elif mode == "fluorescence":
        roles_kw.update(i0="i0", ifluor="ifluor")
    else:
        roles_kw["mu"] = "mu"
    return mode, roles_kw


def _nexus_entry(entry: Any, path: Path, name: str) -> list[XasScan]:
    """The scans of one entry: one, or one per row of a 2-D mu; [] without an energy axis."""
    where = f"{path} [{name}]"
    data_paths = _data_paths(entry)
    e = _h5_array(entry, "instrument/monochromator/energy",
                  *[f"{d}/energy" for d in data_paths], "energy")
    if e is None:
        return []
    energy, e_path, e_units = e
    found = _find_roles(entry, data_paths)
    mode_text, definition = _mode_text(entry, data_paths)
    columns: dict[str, np.ndarray] = {"energy": energy}
    used: dict[str, str] = {"energy": e_path}
    if found["absorbed"] is not None:
        role = "ifluor" if mode_text.startswith("fluo") else "itrans"
        if found[role] is None:
            found[role] = found["absorbed"]
    for role in _ROLES:
        if found[role] is not None:
            columns[role], used[role] = found[role][0], found[role][1]
    meta: dict[str, Any] = {"format": "NeXus", "entry": name, "nexus_paths": used}
    if definition:
        meta["definition"] = definition
    sample = _h5_text(entry.get("sample/name"))
    if sample:
        meta["sample"] = sample
    start = _h5_text(entry.get("start_time"))
    if start:
        meta["start_time"] = start
    element = _first_of(entry, ("scan/xrayedge/element", "element/name", "element",
                                "sample/element"), _element_symbol)
    edge = _first_of(entry, ("scan/xrayedge/edge", "element/edge/name", "edge", "element/edge"),
                     _edge_name)
    label = _h5_text(entry.get("title")) or name
    mode, roles_kw = _nexus_mode(where, columns, mode_text, e_path, used)
    rows = [columns]
    mu2d = columns.get("mu")
    if mu2d is not None and mu2d.ndim == 2:
        rows = [{**{k: v for k, v in columns.items() if k != "mu"}, "mu": r} for r in mu2d]
    scans = []
    for k, cols in enumerate(rows):
        _check_shapes(where, cols)
        t = _Table(path=path, names=list(cols), data=cols, fmt="NeXus",
                   units={"energy": e_units} if e_units else {}, element=element, edge=edge,
                   time_s=_parse_time(start), metadata=dict(meta))
        scans.append(_build_scan(t, mode=mode, label=label if len(rows) == 1 else f"{label}[{k}]",
                                 **roles_kw))
    return scans


def _check_shapes(where: str, cols: dict[str, np.ndarray]) -> None:
    if any(v.ndim != 1 for v in cols.values()):
        raise XasReadError(f"{where}: expected 1-D energy and detector data, got "
                           f"shapes { {r: v.shape for r, v in cols.items()} }")
    sizes = {v.size for v in cols.values()}
    if len(sizes) != 1:
        raise XasReadError(f"{where}: energy and detector data differ in length "
                           f"({ {r: v.size for r, v in cols.items()} }); expected one value "
                           "per energy point")


def read_nexus(path: PathLike, entry: str | None = None) -> list[XasScan]:
    """Read XAS scans from a NeXus/HDF5 file (NXxas and close relatives).

    Each NXentry is read from ``instrument/monochromator/energy`` with
    ``instrument/incoming_beam/data`` as I0 and ``instrument/absorbed_beam/data`` as It (or If
    when ``data/mode`` says fluorescence); Larch's layout (``instrument/i0``, ``itrans``,
    ``ifluor``, ``irefer``) and an NXdata holding ``energy`` with ``mu`` (or its @signal) are
    read too.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.
    entry : str, optional
        Name of the entry to read; all entries with XAS data when omitted.

    Returns
    -------
    list of XasScan
        One per entry (one per row of a 2-D mu), energy in eV, labelled with the entry's title.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import h5py
    >>> import numpy as np
    >>> e = np.linspace(7080.0, 7180.0, 51)
    >>> path = Path(tempfile.mkdtemp()) / "fe.nxs"
    >>> with h5py.File(path, "w") as f:
    ...     entry = f.create_group("entry")
    ...     entry.attrs["NX_class"] = "NXentry"
    ...     entry["title"] = "Fe foil"
    ...     entry["instrument/monochromator/energy"] = e
    ...     entry["instrument/incoming_beam/data"] = np.full(e.size, 1e5)
    ...     entry["instrument/absorbed_beam/data"] = 1e5 * np.exp(-1 - np.arctan(e - 7112) / 3)
    >>> (scan,) = read_nexus(path)
    >>> scan.label, scan.mode, scan.metadata["nexus_paths"]["itrans"]
    ('Fe foil', 'transmission', 'instrument/absorbed_beam/data')
    >>> round(float(scan.mu[-1] - scan.mu[0]), 3)
    1.032
    """
    import h5py  # loaded only when an HDF5 file is read

    p = _existing_file(path)
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise XasReadError(f"{p}: not an HDF5/NeXus file ({exc}); expected an HDF5 file with an "
                           "NXxas entry") from exc
    with f:
        groups = [k for k, v in f.items() if isinstance(v, h5py.Group)]
        if entry is not None:
            if entry not in f or not isinstance(f[entry], h5py.Group):
                raise XasReadError(f"{p}: no entry '{entry}'; entries are: {', '.join(groups)}")
            names = [entry]
        else:
            flagged = [k for k in groups if _nx_class(f[k]) == "NXentry"]
            names = flagged or groups
        scans: list[XasScan] = []
        for name in names:
            scans.extend(_nexus_entry(f[name], p, name))
    if not scans:
        raise XasReadError(f"{p}: no XAS data found; expected an NXentry with "
                           "instrument/monochromator/energy and incoming_beam/absorbed_beam data, "
                           "or an NXdata group with energy and mu")
    return scans


def _sniff(head: bytes) -> bool:
    """The HDF5 signature at the start of the file."""
    return head.startswith(_HDF5_MAGIC)


REGISTRY.register("nexus", read=read_nexus,
                  suffixes=(".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".nx"), sniff=_sniff, description="NeXus/HDF5, NXxas and relatives (read_nexus)")
