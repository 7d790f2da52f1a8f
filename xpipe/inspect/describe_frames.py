"""What the frame, 1D pattern, PONI, recipe and CIF readers make of a file, for the report.

Each ``describe_*`` reads the file with the family's public reader and returns the report's
fields it fills (``items``, ``columns``, ``n_points``, ``frames``, ``ranges``, ``timestamps``,
``metadata``, ``notes``). A frame stack is never loaded whole: the frames are listed from the
file's metadata and one frame is read, for its shape, data type and counts.

Examples
--------
>>> import os, tempfile, h5py, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "scan.h5")
>>> with h5py.File(path, "w") as h5:
...     h5["entry/data/data"] = np.zeros((5, 3, 4), np.uint16)
>>> out = describe_frames(path, "hdf5")
>>> out["frames"]["count"], out["frames"]["frame_shape"], out["frames"]["dtype"]
(5, [3, 4], 'uint16')
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..io.frames import REGISTRY as FRAME_REGISTRY
from ..io.frames import FrameReader, FrameReadError, expand_inputs, hdf5_times, open_hdf5
from ..io.geometry import read_poni_header
from ..io.patterns import PATTERN_UNITS, PatternReadError, read_pattern
from .values import flat, iso, plain, span

#: Datasets of an HDF5 file described one by one (an Eiger master may link hundreds).
MAX_DATASETS = 20
#: The report's name of a 1D pattern's x axis, by xpipe's radial unit.
X_NAMES = {"2th_deg": "two_theta_deg", "q_A^-1": "q_per_angstrom", "q_nm^-1": "q_per_nm"}
#: The unit of that axis, as a reader writes it.
X_UNITS = {"2th_deg": "deg", "q_A^-1": "1/angstrom", "q_nm^-1": "1/nm"}
#: h c in keV angstrom, for the photon energy of a PONI wavelength.
HC_KEV_ANGSTROM = 12.398419843320026


def _dataset_info(path: str, name: str, count: int) -> dict[str, Any]:
    info: dict[str, Any] = {"path": name, "frames": count, "shape": None, "dtype": None,
                            "chunks": None, "compression": None}
    try:
        with open_hdf5(path) as h5:
            ds = h5[name]
            info.update(shape=list(ds.shape), dtype=str(ds.dtype),
                        chunks=list(ds.chunks) if ds.chunks else None,
                        compression=ds.compression or _filters(ds))
    except Exception:  # noqa: BLE001, S110 - the listing already vouched for it; details are extra
        pass
    return info


def _filters(ds) -> str | None:
    """A named HDF5 filter (bitshuffle, LZ4, Blosc...) when h5py does not name it."""
    try:
        plist = ds.id.get_create_plist()
        names = [plist.get_filter(i)[3].decode(errors="replace") for i in range(plist.get_nfilters())]
    except Exception:  # noqa: BLE001 - an unknown filter is just not named
        return None
    return ", ".join(n for n in names if n) or None


def _frame_times(path: str, first_ref, first_time, count: int) -> dict[str, Any]:
    if first_ref.dataset is not None:
        try:
            times = hdf5_times(path, first_ref.dataset, count)
        except Exception:  # noqa: BLE001 - a file without readable times has none to show
            times = None
        if times:
            return {"first": iso(times[0].start), "last": iso(times[-1].start), "source": "hdf5"}
        return {"first": None, "last": None, "source": None}
    start = getattr(first_time, "start", None)
    source = getattr(first_time, "source", None) if start is not None else None
    return {"first": iso(start), "last": iso(start), "source": source}


def describe_frames(path: str | Path, fmt_name: str) -> dict[str, Any]:
    """The frames of an image or HDF5/NeXus file: count, shape and type of one frame, datasets.

    Parameters
    ----------
    path : str or Path
        The file.
    fmt_name : str
        The frame format chosen (``"cbf"``, ``"hdf5"``...).

    Returns
    -------
    dict
        The report's ``frames``, ``items``, ``n_points``, ``ranges``, ``timestamps`` and
        ``metadata``.

    Raises
    ------
    FrameReadError
        The reader's refusal, naming the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from fabio.edfimage import EdfImage
    >>> path = os.path.join(tempfile.mkdtemp(), "frame.edf")
    >>> EdfImage(data=np.ones((4, 5), np.float32), header={"count_time": "2.5"}).write(path)
    >>> out = describe_frames(path, "edf")
    >>> out["frames"]["count"], out["frames"]["frame_shape"], out["metadata"]["exposure_s"]
    (1, [4, 5], 2.5)
    """
    path = str(path)
    source = FRAME_REGISTRY[fmt_name].read
    list_frames = getattr(source, "list_frames", None)
    if callable(list_frames):
        refs = list_frames(path, None, False)
    else:  # a format without a listing of its own: the dispatcher's
        refs = expand_inputs([path], Path(path).parent)
    if not refs:
        raise FrameReadError(f"'{path}' holds no frames")
    reader = FrameReader()
    try:
        data, first_time = reader.read(refs[0])
    finally:
        reader.close()
    data = np.asarray(data)
    counts: dict[str | None, int] = {}
    for ref in refs:
        counts[ref.dataset] = counts.get(ref.dataset, 0) + 1
    datasets = [_dataset_info(path, name, n) for name, n in list(counts.items())[:MAX_DATASETS]
                if name is not None]
    items = [{"name": d["path"], "kind": "dataset", "n_points": d["frames"], "ranges": {},
              "timestamp": None, "details": {k: d[k] for k in ("shape", "dtype", "compression")}}
             for d in datasets]
    notes = []
    if len(counts) > MAX_DATASETS:
        notes.append(f"{len(counts)} frame datasets; the first {MAX_DATASETS} are listed")
    return {
        "frames": {"count": len(refs), "frame_shape": list(data.shape), "dtype": str(data.dtype),
                   "datasets": datasets},
        "items": items,
        "n_points": len(refs),
        "ranges": {"first_frame_counts": span(data)},
        "timestamps": _frame_times(path, refs[0], first_time, len(refs)),
        "metadata": {"exposure_s": plain(getattr(first_time, "exposure_s", None)),
                     "frame_read": refs[0].key},
        "notes": notes,
    }


def _read_pattern_any_unit(path: str):
    """The pattern read in xpipe's default unit, or in the unit its column titles state."""
    first: PatternReadError | None = None
    for unit in PATTERN_UNITS:
        try:
            return read_pattern(path, unit=unit), unit, first
        except PatternReadError as exc:
            if first is None:
                first = exc
            if "column titles" not in str(exc):
                break
    raise first


def describe_pattern(path: str | Path, fmt_name: str) -> dict[str, Any]:
    """A 1D pattern: its columns, points, x range (in the unit read), header time.

    Parameters
    ----------
    path : str or Path
        The file.
    fmt_name : str
        The pattern format chosen (``"xye"``, ``"columns"``...); :func:`read_pattern` picks
        the same by suffix.

    Returns
    -------
    dict
        The report's fields.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.xye")
    >>> _ = open(path, "w").write("\\n".join(f"{10 + 0.1 * i:.1f} {100 + i} 10" for i in range(20)))
    >>> out = describe_pattern(path, "xye")
    >>> out["n_points"], out["ranges"]["two_theta_deg"], [c["name"] for c in out["columns"]]
    (20, [10.0, 11.9], ['two_theta_deg', 'intensity', 'sigma'])
    """
    pattern, unit, refused = _read_pattern_any_unit(str(path))
    x_name = X_NAMES.get(unit, "x")
    columns = [{"name": x_name, "unit": X_UNITS.get(unit, unit), "role": "x"},
               {"name": "intensity", "unit": None, "role": "intensity"}]
    if getattr(pattern, "sigma", None) is not None:
        columns.append({"name": "sigma", "unit": None, "role": "sigma"})
    notes = []
    if refused is not None:
        notes.append(f"read with x in {unit}, as its column titles say (not xpipe's default "
                     f"{PATTERN_UNITS[0]})")
    elif unit == PATTERN_UNITS[0]:
        notes.append(f"x read as {unit}: xpipe's default for a file whose column titles "
                     "name no other unit (a recipe's unit key says otherwise)")
    dropped = int(getattr(pattern, "dropped_rows", 0) or 0)
    if dropped:
        notes.append(f"{dropped} row(s) not numbers were left out")
    t = getattr(pattern, "time", None)
    start = getattr(t, "start", None)
    return {
        "columns": columns,
        "n_points": int(np.asarray(pattern.x).size),
        "ranges": {x_name: span(pattern.x), "intensity": span(pattern.intensity)},
        "timestamps": {"first": iso(start), "last": iso(start),
                       "source": "header" if start is not None else None},
        "metadata": flat({"reader": getattr(pattern, "reader", fmt_name), "unit": unit,
                          "exposure_s": getattr(t, "exposure_s", None),
                          "header_lines": len(getattr(pattern, "header_lines", []) or []),
                          "header": getattr(pattern, "header", {})}),
        "notes": notes,
    }


def _poni_values(path: str) -> tuple[dict[str, str], int]:
    """The last value of each ``key: value`` line (pyFAI's rule), and how many calibrations."""
    values: dict[str, str] = {}
    n = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            key, sep, value = line.strip().partition(":")
            if not sep or key.startswith("#"):
                continue
            values[key.strip().lower()] = value.strip()
            n += key.strip().lower() == "distance"
    return values, n


def _number(values: dict[str, str], key: str) -> float | None:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return None


def describe_poni(path: str | Path, fmt_name: str = "poni") -> dict[str, Any]:
    """A pyFAI geometry file: distance, PONI, rotations, wavelength and detector, as written.

    Parameters
    ----------
    path : str or Path
        The ``.poni`` file.
    fmt_name : str
        ``"poni"``.

    Returns
    -------
    dict
        The report's fields; the geometry in ``metadata`` (metres, radians).

    Raises
    ------
    ValueError
        A file that is not a PONI file (see :func:`~xpipe.io.geometry.read_poni_header`).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> poni = pathlib.Path(tempfile.mkdtemp()) / "cal.poni"
    >>> _ = poni.write_text("Detector: Pilatus1M\\nDistance: 0.2\\nPoni1: 0.05\\nPoni2: 0.06\\n"
    ...                     "Wavelength: 1e-10\\n")
    >>> meta = describe_poni(poni)["metadata"]
    >>> meta["distance_m"], meta["wavelength_a"], round(meta["energy_kev"], 3)
    (0.2, 1.0, 12.398)
    """
    header = read_poni_header(str(path))
    values, n = _poni_values(str(path))
    meta: dict[str, Any] = {"poni_version": header.version, "detector": header.detector}
    for key, name in (("distance", "distance_m"), ("poni1", "poni1_m"), ("poni2", "poni2_m"),
                      ("rot1", "rot1_rad"), ("rot2", "rot2_rad"), ("rot3", "rot3_rad"),
                      ("wavelength", "wavelength_m")):
        meta[name] = _number(values, key)
    wavelength = meta["wavelength_m"]
    meta["wavelength_a"] = wavelength * 1e10 if wavelength else None
    meta["energy_kev"] = HC_KEV_ANGSTROM / meta["wavelength_a"] if wavelength else None
    flat(header.detector_config, "detector_config.", meta)
    notes = [] if n <= 1 else [f"the file holds {n} calibrations; the last one is used, as pyFAI does"]
    if wavelength is None:
        notes.append("no Wavelength line: a recipe must give the wavelength")
    return {"metadata": {k: plain(v) for k, v in meta.items()}, "n_points": n, "notes": notes}


def describe_recipe(path: str | Path, fmt_name: str = "yaml") -> dict[str, Any]:
    """A recipe, as far as its top level: version, sections, output. ``xpipe validate`` checks it.

    Parameters
    ----------
    path : str or Path
        The YAML file (read with ``yaml.safe_load``: nothing in it is executed).
    fmt_name : str
        ``"yaml"``.

    Returns
    -------
    dict
        The report's ``items`` (one per section) and ``metadata``.

    Raises
    ------
    ValueError
        Not YAML, or not a mapping.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.yaml"
    >>> _ = path.write_text("version: 3\\noutput: out\\nxas:\\n  files: '*.xdi'\\n")
    >>> out = describe_recipe(path)
    >>> [i["name"] for i in out["items"]], out["metadata"]["version"]
    (['xas'], 3)
    """
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())
        raise ValueError(f"'{path}' is not YAML: {problem}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"'{path}' is not a recipe: expected a mapping of sections, "
                         f"found {type(doc).__name__}")
    sections = [k for k, v in doc.items() if isinstance(v, dict)]
    items = [{"name": str(k), "kind": "section", "n_points": len(doc[k]), "ranges": {},
              "timestamp": None, "details": {"keys": plain(list(doc[k])[:16])}} for k in sections]
    meta = {k: plain(v) for k, v in doc.items() if not isinstance(v, dict)}
    return {"items": items, "metadata": meta,
            "notes": [f"a recipe is checked in full by: xpipe validate {path}"]}


def describe_structure(path: str | Path, fmt_name: str = "cif") -> dict[str, Any]:
    """A CIF structure, as the phase analysis reads it: space group, cell, sites.

    Parameters
    ----------
    path : str or Path
        The CIF file.
    fmt_name : str
        ``"cif"``.

    Returns
    -------
    dict
        The report's ``metadata`` (cell in angstrom and degrees) and ``n_points`` (sites).

    Examples
    --------
    >>> from importlib.resources import files
    >>> meta = describe_structure(files("xpipe.synth") / "structures" / "Cu_Fm-3m.cif")["metadata"]
    >>> meta["space_group"], meta["a_angstrom"]
    ('F m -3 m', 3.6149)
    """
    from ..xrd.reflections import load_structure  # heavy (gemmi): only for CIF files

    try:
        structure = load_structure(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - gemmi raises RuntimeError and friends on bad CIF
        raise ValueError(f"'{path}': not a CIF structure xpipe can read: "
                         f"{' '.join(str(exc).split())}") from None
    cell = structure.cell
    meta = {"name": structure.name, "space_group": structure.spacegroup.xhm(),
            "a_angstrom": cell.a, "b_angstrom": cell.b, "c_angstrom": cell.c,
            "alpha_deg": cell.alpha, "beta_deg": cell.beta, "gamma_deg": cell.gamma,
            "volume_angstrom3": round(cell.volume, 4)}
    sites = [re.sub(r"\s+", " ", f"{s.label} {s.type_symbol}") for s in structure.sites]
    return {"metadata": {k: plain(v) for k, v in meta.items()}, "n_points": len(sites),
            "items": [{"name": s, "kind": "site", "n_points": 1, "ranges": {}, "timestamp": None,
                       "details": {}} for s in sites[:50]]}
