"""1D diffraction patterns stored in NeXus/HDF5: a stack of curves on a radial axis.

Integration programs (Dioptas' batch integration, pyFAI, DAWN) write their 1D results as an
NXdata group whose signal is one curve or a stack of curves, shape (patterns, points), with a
radial axis along the last dimension (2theta in degrees, or Q): e.g.
``/processed/result/data`` with ``@axes = ['.', 'binning']``. The group is found the way NeXus
readers find a plot (``@default``, ``@signal``, the legacy ``signal=1``; see
:mod:`xpipe.io.frames.nexus`). Each row is one :class:`Pattern`, its numbers as stored.

The radial unit is read from the axis (``units`` or ``unit``, ``long_name``, its name) or the
program's ``NXprocess/int_unit`` (pyFAI's unit names); a file that states none is read only when
the caller names the unit, and a file that states another unit than the caller asked for is
refused, never converted silently.

Examples
--------
>>> import os, tempfile, h5py, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "proc.nxs")
>>> with h5py.File(path, "w") as h5:
...     h5.attrs["default"] = "processed"
...     res = h5.create_group("processed/result")
...     h5["processed"].attrs["default"] = "result"
...     res.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": [".", "binning"]})
...     res["data"] = np.arange(60.0).reshape(3, 20)
...     res["binning"] = np.linspace(5, 24, 20)
...     res["binning"].attrs.update({"long_name": "two_theta (degrees)", "unit": "deg"})
>>> patterns = read_nexus_patterns(path)
>>> len(patterns), patterns[1].unit, float(patterns[1].intensity[0]), patterns[1].reader
(3, '2th_deg', 20.0, 'nexus')
"""

from __future__ import annotations

import re

import h5py
import numpy as np

from ..frames.hdf5 import open_hdf5
from ..frames.nexus import attr_text, curves_reason, frame_places, is_radial, last_axis
from .base import MIN_POINTS, PATTERN_UNITS, Pattern, PatternReadError

#: pyFAI unit names an NXprocess may state, and the pattern unit each is.
_PYFAI_UNITS = {"2th_deg": "2th_deg", "q_nm^-1": "q_nm^-1", "q_A^-1": "q_A^-1"}


def _axis_unit(axis, process_unit: str | None) -> str | None:
    """The pattern unit of a radial axis, from its attributes, name and the process's unit;
    None when none says. A unit stated but not read here (2theta in radians) is returned as
    pyFAI names it, for the error."""
    stated = attr_text(axis, "units") or attr_text(axis, "unit") or ""
    label = " ".join([axis.name.rsplit("/", 1)[-1], attr_text(axis, "long_name", "") or ""]).lower()
    units = " ".join([stated, label]).lower().replace("\u00e5", "a")
    if re.search(r"two_?theta|2_?theta|(?<![a-z0-9])(2th|tth)(?![a-z])", label):
        if re.search(r"\brad(ian)?s?\b", units):
            return "2th_rad"
        if "deg" in units:
            return "2th_deg"
    if re.search(r"(^|[^a-z])q([^a-z]|$)", label):
        if re.search(r"nm\^?-1|1/nm|nm\u207b\u00b9", units):
            return "q_nm^-1"
        if re.search(r"\ba\^?-1|1/a\b|a\u207b\u00b9|angstrom", units):
            return "q_A^-1"
    return _PYFAI_UNITS.get(process_unit or "")


def _process_unit(group) -> str | None:
    """The ``int_unit`` an NXprocess beside the data's NXdata states (pyFAI's spelling)."""
    entry = group.parent
    for key in entry:
        obj = entry.get(key)
        if isinstance(obj, h5py.Group) and attr_text(obj, "NX_class") == "NXprocess" and "int_unit" in obj:
            value = obj["int_unit"][()]
            value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            return value.strip()
    return None


def _find_curves(h5, path: str):
    """The first place of the file holding curves on a radial axis, and that axis' name."""
    for place, _how in frame_places(h5):
        try:
            ds = h5[place]
        except (KeyError, OSError, RuntimeError, ValueError):
            continue
        if not isinstance(ds, h5py.Dataset) or curves_reason(ds) is None:
            continue
        axis = last_axis(ds)
        if axis is not None and is_radial(ds.parent[axis]):
            return ds, axis
    raise PatternReadError(
        f"'{path}' holds no 1D diffraction patterns: no NXdata signal of curves on a radial "
        "(2theta or Q) axis")


def _errors(ds) -> np.ndarray | None:
    """The NXdata ``errors`` (or ``<signal>_errors``) beside the signal, same shape, or None."""
    name = ds.name.rsplit("/", 1)[-1]
    for key in (f"{name}_errors", "errors"):
        err = ds.parent.get(key)
        if isinstance(err, h5py.Dataset) and err.shape == ds.shape:
            return np.asarray(err[()])
    return None


def _resolve_unit(path: str, axis, file_unit: str | None, unit: str | None) -> str:
    if file_unit is not None and file_unit not in PATTERN_UNITS:
        raise PatternReadError(
            f"'{path}': the radial axis '{axis.name}' is in {file_unit}; read are "
            f"{', '.join(PATTERN_UNITS)}")
    if unit is not None and unit not in PATTERN_UNITS:
        raise ValueError(f"unknown radial unit {unit!r}; expected one of {', '.join(PATTERN_UNITS)}")
    if file_unit is None and unit is None:
        raise PatternReadError(
            f"'{path}': the radial axis '{axis.name}' states no unit; name it (unit='2th_deg', "
            "'q_A^-1' or 'q_nm^-1')")
    if file_unit is not None and unit is not None and file_unit != unit:
        raise PatternReadError(
            f"'{path}': the radial axis '{axis.name}' is in {file_unit}, not {unit} as asked")
    return file_unit or unit


def read_nexus_patterns(path: str, unit: str | None = None) -> list[Pattern]:
    """Read every 1D diffraction pattern of a NeXus/HDF5 file, in the order stored.

    Parameters
    ----------
    path : str or Path
        The NeXus/HDF5 file.
    unit : str or None
        Radial unit expected (``2th_deg``, ``q_A^-1``, ``q_nm^-1``); None takes the file's own.

    Returns
    -------
    list of Pattern
        One per row of the signal: ``x`` the radial axis (increasing; a decreasing axis is
        reversed with its rows), ``intensity`` the row as stored, ``sigma`` the NXdata errors
        when present, ``header`` naming the dataset, axis and row.

    Raises
    ------
    PatternReadError
        No file, not HDF5, no curves on a radial axis, no or another unit than ``unit``, fewer
        than 10 points, or an axis that is not finite and strictly monotonic.
    ValueError
        An unknown ``unit``.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "one.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["entry/data/I"] = np.ones(12)
    ...     h5["entry/data/q"] = np.linspace(1, 2, 12)
    ...     h5["entry/data/q"].attrs["units"] = "1/nm"
    ...     h5["entry/data"].attrs.update({"signal": "I", "axes": "q"})
    >>> [(p.n_points, p.unit) for p in read_nexus_patterns(path)]
    [(12, 'q_nm^-1')]
    """
    path = str(path)
    try:
        h5 = open_hdf5(path)
    except (OSError, RuntimeError, ValueError) as exc:
        raise PatternReadError(f"cannot open '{path}' as HDF5: {exc}") from None
    with h5:
        try:
            ds, axis_name = _find_curves(h5, path)
            axis = ds.parent[axis_name]
            chosen = _resolve_unit(path, axis, _axis_unit(axis, _process_unit(ds.parent)), unit)
            x = np.asarray(axis[()], dtype=float)
            rows = np.asarray(ds[()]).reshape(-1, x.size)
            sigma = _errors(ds)
            sigma = None if sigma is None else sigma.reshape(-1, x.size)
        except (KeyError, OSError, RuntimeError) as exc:
            raise PatternReadError(f"cannot read the 1D patterns of '{path}': {exc}") from None
        return _patterns(path, ds.name, axis.name, chosen, x, rows, sigma)


def _patterns(path: str, name: str, axis: str, unit: str, x: np.ndarray, rows: np.ndarray,
              sigma: np.ndarray | None) -> list[Pattern]:
    """Check the axis and split the rows into patterns."""
    if x.size < MIN_POINTS:
        raise PatternReadError(f"'{path}::{name}' has {x.size} points; need at least {MIN_POINTS}")
    if not np.all(np.isfinite(x)):
        raise PatternReadError(f"'{path}': the radial axis '{axis}' holds non-finite values")
    step = np.diff(x)
    if np.all(step < 0):
        x, rows = x[::-1], rows[:, ::-1]
        sigma = None if sigma is None else sigma[:, ::-1]
    elif not np.all(step > 0):
        raise PatternReadError(f"'{path}': the radial axis '{axis}' is not strictly monotonic")
    out = []
    for i, row in enumerate(rows):
        header = {"dataset": name, "axis": axis, "row": str(i)}
        out.append(Pattern(x, row, None if sigma is None else sigma[i], header, None,
                           [f"{k}: {v}" for k, v in header.items()], "nexus", 0, unit, path))
    return out
