"""The XRD part of a results file as xarray Datasets and pandas DataFrames.

:class:`XrdResults` is what ``open_results(path).xrd`` returns: the pattern stack, the tracked
peaks and their tracks, the events and stretches, the lattice and phase fractions per phase and
frame, the whole-pattern refinement and the integration settings. Each property reads its part
of ``/entry/xrd`` when asked, into memory.
"""

from __future__ import annotations

import numpy as np

from ..store import read_record
from ._h5 import (
    TechniqueNotRun,
    attrs_of,
    data_var,
    fields,
    find_named,
    groups,
    label,
    ordered,
    read_array,
    table,
    text,
    units_of,
)
from ._lazy import pd

#: the unit-named aliases of the radial axis a stack may carry, and the pyFAI unit of each
RADIAL_NAMES = {"two_theta_deg": "2th_deg", "q_nm_inv": "q_nm^-1", "q_a_inv": "q_A^-1"}
#: the per-frame fields of a stack, kept as coordinates along ``time_s``
FRAME_COORDS = ("frame_index", "source_file", "exposure_s", "time_source", "valid_pixels")
#: column order of the peaks and events tables (other fields follow)
PEAK_COLUMNS = ("position", "position_err", "fwhm", "fwhm_err", "area", "area_err", "eta", "eta_err",
                "detected_position", "success", "reason", "clean")
EVENT_COLUMNS = ("kind", "track", "frame", "end_frame", "frame_time_s", "end_time_s", "partner", "phase", "hkl",
                 "position", "change", "change_err")
#: the per-track fields of the peaks group
TRACK_FIELDS = ("track", "track_phase", "track_label", "track_status", "track_first_frame",
                "track_last_frame", "track_window")


def radial_name(data) -> str:
    """The unit-bearing name of a stack's radial axis (``two_theta_deg``, ``q_nm_inv``,
    ``q_a_inv``): the alias the stack carries, else from ``radial@pyfai_unit``, else the
    radial's ``@long_name`` when it is one of those names, else ``radial``.

    Parameters
    ----------
    data : h5py.Group
        An NXdata group with a ``radial`` field (``/entry/xrd/integrated``).

    Returns
    -------
    str

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("x.h5", "w", driver="core", backing_store=False) as h5:
    ...     h5["radial"] = [10.0, 10.5]
    ...     h5["radial"].attrs["pyfai_unit"] = "q_nm^-1"
    ...     radial_name(h5)
    'q_nm_inv'
    """
    for name in RADIAL_NAMES:
        if name in data:
            return name
    rad = data["radial"]
    unit = text(rad.attrs.get("pyfai_unit", ""))
    for name, pyfai in RADIAL_NAMES.items():
        if unit == pyfai or text(rad.attrs.get("long_name", "")) == name:
            return name
    return "radial"


class XrdResults:
    """The operando XRD results of one run (``/entry/xrd``), read on demand.

    Parameters
    ----------
    group : h5py.Group
        ``/entry/xrd`` of an open results file.
    file : str
        The file's path, for messages.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from pathlib import Path
    >>> from xpipe.store import write_record
    >>> path = Path(tempfile.mkdtemp()) / "results.h5"
    >>> with h5py.File(path, "w") as h5:
    ...     write_record(h5.require_group("entry/xrd"), {"integrated": {
    ...         "radial": [10.0, 10.5, 11.0], "intensity": [[1.0, 5.0, 1.0], [1.0, 4.0, 2.0]],
    ...         "sigma": [[1.0, 2.2, 1.0], [1.0, 2.0, 1.4]], "frame_time_s": [0.0, 60.0],
    ...         "frame_index": [0, 1], "source_file": ["a.xye", "b.xye"]}})
    ...     h5["entry/xrd/integrated/radial"].attrs["pyfai_unit"] = "2th_deg"
    ...     h5["entry/xrd/integrated/radial"].attrs["units"] = "deg"
    ...     xrd = XrdResults(h5["entry/xrd"], str(path))
    ...     stack = xrd.patterns
    >>> stack.intensity.dims, stack.two_theta_deg.attrs["units"], stack.time_s.values.tolist()
    (('time_s', 'two_theta_deg'), 'deg', [0.0, 60.0])
    >>> stack.intensity.sel(time_s=60.0).values.tolist()
    [1.0, 4.0, 2.0]
    """

    def __init__(self, group, file: str) -> None:
        self._g = group
        self._file = file

    def __repr__(self) -> str:
        return f"<XrdResults {self._file}: {', '.join(self.parts) or 'empty'}>"

    @property
    def parts(self) -> list[str]:
        """Which parts the run wrote: ``patterns``, ``peaks``, ``events``, ``lattice``,
        ``refinement`` (each one a property of this object)."""
        names = {"integrated": "patterns", "peaks": "peaks", "events": "events", "lattice": "lattice",
                 "refinement": "refinement"}
        return [v for k, v in names.items() if k in self._g]

    def _part(self, name: str, what: str, section: str):
        if name not in self._g:
            raise TechniqueNotRun(f"{self._file} holds no {what} (/entry/xrd/{name}): the recipe had no "
                                  f"'{section}' section; this file's XRD holds: {', '.join(self.parts) or 'nothing'}")
        return self._g[name]

    @property
    def patterns(self):
        """The pattern stack as an ``xarray.Dataset``.

        Dimensions ``time_s`` (mid-exposure time of each frame in s after ``attrs["start_time"]``;
        NaN where unknown) and the radial axis named with its unit (``two_theta_deg``,
        ``q_nm_inv`` or ``q_a_inv``). Variables ``intensity`` and ``sigma`` (standard
        uncertainty, NaN without an error model). Coordinates along ``time_s``: ``frame_index``,
        ``source_file``, ``exposure_s``, ``time_source``, ``valid_pixels``; along the radial
        axis: ``d_spacing_a``. Attributes: ``start_time``, ``wavelength_a``, ``pyfai_unit``.
        """
        import xarray as xr

        g = self._part("integrated", "XRD pattern stack", "xrd")
        axis = radial_name(g)
        rad = g["radial"]
        t = g["frame_time_s"]
        coords = {"time_s": ("time_s", read_array(t), attrs_of(t)), axis: (axis, read_array(rad), attrs_of(rad))}
        n = t.shape[0]
        for k in FRAME_COORDS:
            if k in g and g[k].shape == (n,):
                coords[k] = ("time_s", read_array(g[k]), attrs_of(g[k]))
        if "d_spacing_a" in g:
            coords["d_spacing_a"] = (axis, read_array(g["d_spacing_a"]), attrs_of(g["d_spacing_a"]))
        dims = ("time_s", axis)
        sigma = g["sigma"] if "sigma" in g else g["intensity_errors"]
        ds = xr.Dataset({"intensity": data_var(g["intensity"], dims), "sigma": data_var(sigma, dims)}, coords=coords)
        wl = self._wavelength_a()
        ds.attrs.update(start_time=text(t.attrs["start_time"]) if "start_time" in t.attrs else None,
                        wavelength_a=wl, pyfai_unit=text(rad.attrs.get("pyfai_unit", RADIAL_NAMES.get(axis, ""))))
        return ds

    def _wavelength_a(self) -> float | None:
        for path in ("integration/geometry/wavelength_a", "patterns/wavelength_a"):
            if path in self._g:
                value = self._g[path][()]
                return float(value) if np.isfinite(value) else None
        return None

    @property
    def failed(self) -> pd.DataFrame:
        """Frames that could not be integrated or read: ``frame_index``, ``source_file``,
        ``reason`` (empty when none failed)."""
        if "failed" not in self._g:
            return pd.DataFrame({"frame_index": [], "source_file": [], "reason": []})
        return table(self._g["failed"], names=["frame_index", "source_file", "reason"])

    @property
    def integration(self) -> dict:
        """Every resolved integration setting (``/entry/xrd/integration``, with ``geometry``),
        or for a stack read from 1D pattern files, the reading settings."""
        for name in ("integration", "patterns"):
            if name in self._g:
                return read_record(self._g[name])
        raise TechniqueNotRun(f"{self._file} holds no XRD integration or pattern-reading settings")

    @property
    def tracks(self) -> pd.DataFrame:
        """One row per tracked peak: ``track``, ``phase``, ``hkl`` (tuple; None where not
        indexed to one reflection), ``label``, ``status``, ``first_frame``, ``last_frame``,
        ``window`` and the window's ``window_lo``, ``window_hi`` in the radial unit."""
        p = self._part("peaks", "tracked XRD peaks", "xrd.peaks")
        df = table(p, names=list(TRACK_FIELDS))
        df = df.rename(columns={k: k.removeprefix("track_") for k in TRACK_FIELDS if k != "track"})
        if "track_hkl" in p:
            df["hkl"] = [None if (h == -9999).any() else tuple(int(v) for v in h) for h in read_array(p["track_hkl"])]
        if "windows" in p and "window" in df:
            w = read_array(p["windows"])
            df["window_lo"] = [w[i, 0] if 0 <= i < len(w) else np.nan for i in df["window"]]
            df["window_hi"] = [w[i, 1] if 0 <= i < len(w) else np.nan for i in df["window"]]
            df.attrs["units"] = {"window_lo": units_of(p["windows"]), "window_hi": units_of(p["windows"])}
        return df

    @property
    def peaks(self) -> pd.DataFrame:
        """The tracked peaks in long form: one row per track and frame of its life (first to
        last detection, gaps included), as in ``xrd_peaks.csv``.

        Columns ``frame``, ``time_s``, ``track``, ``phase``, ``hkl``, ``label``, then every
        ``[frame, track]`` field of the file: ``position``, ``fwhm``, ``area``, ``eta`` each
        with its ``*_err`` (pseudo-Voigt fit, standard uncertainties), ``detected_position``,
        ``success``, ``reason``, ``clean``; NaN where the fit failed. ``df.attrs["units"]``
        gives each column's unit (position and FWHM in the radial unit).
        """
        p = self._part("peaks", "tracked XRD peaks", "xrd.peaks")
        tracks = self.tracks
        per = {k: ds for k, ds in fields(p).items() if ds.ndim == 2 and ds.shape[1] == len(tracks) and k != "track_hkl"}
        per.update({k: ds for k, ds in fields(p).items() if "shape" in ds.attrs and k not in per})
        t = read_array(p["frame_time_s"])
        f = np.arange(t.size)[:, None]
        first = tracks["first_frame"].to_numpy() if "first_frame" in tracks else np.zeros(len(tracks), int)
        last = tracks["last_frame"].to_numpy() if "last_frame" in tracks else np.full(len(tracks), t.size - 1)
        frames, cols = np.nonzero((f >= first[None, :]) & (f <= last[None, :]))
        out = {"frame": frames, "time_s": t[frames], "track": tracks["track"].to_numpy()[cols]}
        for k in ("phase", "hkl", "label"):
            if k in tracks:
                out[k] = tracks[k].to_numpy()[cols]
        units = {"time_s": units_of(p["frame_time_s"]) or "s"}
        for k in ordered(per, PEAK_COLUMNS):
            ds = per[k]
            out[k] = read_array(ds)[frames, cols]
            if units_of(ds):
                units[k] = units_of(ds)
        df = pd.DataFrame(out).sort_values(["track", "frame"], kind="stable").reset_index(drop=True)
        df.attrs["units"] = units
        return df

    @property
    def events(self) -> pd.DataFrame:
        """One row per event (``appear``, ``vanish``, ``split``, ``merge``, ``shift``):
        ``kind``, ``track``, ``frame``, ``end_frame``, ``frame_time_s``, ``end_time_s``,
        ``partner``, ``phase``, ``hkl``, ``position``, ``change``, ``change_err``."""
        ev = self._part("events", "XRD events", "xrd.peaks")
        n = ev["kind"].shape[0] if "kind" in ev else None
        skip = {"frame_kind", "stretch_kind", "stretch_first_frame", "stretch_last_frame"}
        return table(ev, n=n, names=ordered([k for k in fields(ev) if k not in skip], EVENT_COLUMNS))

    @property
    def stretches(self) -> pd.DataFrame:
        """Runs of frames of one kind (``two-phase``, ``solid-solution``, ``stable``): ``kind``,
        ``first_frame``, ``last_frame``, ``start_time_s``, ``end_time_s``; ``df.attrs["frame_kind"]``
        holds the kind of every frame."""
        ev = self._part("events", "XRD events", "xrd.peaks")
        df = pd.DataFrame({"kind": read_array(ev["stretch_kind"]),
                           "first_frame": read_array(ev["stretch_first_frame"]),
                           "last_frame": read_array(ev["stretch_last_frame"])})
        t = read_array(self._g["peaks/frame_time_s"]) if "peaks/frame_time_s" in self._g else None
        if t is not None and t.size:
            df["start_time_s"] = t[df["first_frame"].to_numpy()]
            df["end_time_s"] = t[df["last_frame"].to_numpy()]
        df.attrs["units"] = {"start_time_s": "s", "end_time_s": "s"}
        df.attrs["frame_kind"] = read_array(ev["frame_kind"]).tolist() if "frame_kind" in ev else []
        return df

    @property
    def phases(self) -> list[str]:
        """The phase labels of the lattice results, in file order."""
        return [label(g) for g in groups(self._part("lattice", "XRD lattice results", "xrd.phases")).values()]

    @property
    def lattice(self):
        """Cells and phase fractions as an ``xarray.Dataset`` on dimensions ``phase`` (labels)
        and ``time_s`` (frame time, s).

        Variables: ``a``, ``b``, ``c`` (angstrom), ``alpha``, ``beta``, ``gamma`` (deg),
        ``volume`` (angstrom^3), each with ``*_err`` and ``*_change_percent``;
        ``phase_fraction`` and ``phase_fraction_err``; ``present``, ``n_reflections``,
        ``significance_z``, ``detection_limit``, ``method``, ``status``, ``reason``; every
        per-frame field the file holds, NaN where a phase is absent. Coordinates along
        ``phase``: ``system``, ``space_group``, ``family``, ``source``; along ``time_s``:
        ``frame``; ``start_cell`` [phase, cell] when written. Units in each ``attrs["units"]``.
        """
        import xarray as xr

        lat = self._part("lattice", "XRD lattice results", "xrd.phases")
        phases = list(groups(lat).values())
        if not phases:
            raise TechniqueNotRun(f"{self._file}: /entry/xrd/lattice holds no phase")
        t = phases[0]["frame_time_s"]
        n = t.shape[0]
        names = [k for k, ds in fields(phases[0]).items() if ds.shape == (n,) and k != "frame_time_s"]
        data = {}
        for k in names:
            if all(k in g and g[k].shape == (n,) for g in phases):
                values = np.stack([read_array(g[k]) for g in phases])
                data[k] = xr.DataArray(values, dims=("phase", "time_s"), attrs=attrs_of(phases[0][k]))
        if all("start_cell" in g for g in phases):
            data["start_cell"] = xr.DataArray(np.stack([read_array(g["start_cell"]) for g in phases]),
                                              dims=("phase", "cell"), attrs={"units": "angstrom, deg"})
        coords = {"phase": [label(g) for g in phases], "time_s": ("time_s", read_array(t), attrs_of(t)),
                  "frame": ("time_s", np.arange(n))}
        for key in ("system", "space_group", "family", "source"):
            coords[key] = ("phase", [text(g.attrs.get(key, "")) for g in phases])
        if "start_cell" in data:
            coords["cell"] = ["a", "b", "c", "alpha", "beta", "gamma"]
        return xr.Dataset(data, coords=coords)

    def phase(self, name: str):
        """The lattice results of one phase (by label or file name) as an ``xarray.Dataset``
        on ``time_s``; see :attr:`lattice`."""
        lat = self._part("lattice", "XRD lattice results", "xrd.phases")
        wanted = label(find_named(lat, name, "phase", self._file))
        return self.lattice.sel(phase=wanted)

    @property
    def refinement(self):
        """The sequential whole-pattern refinement as an ``xarray.Dataset``: per frame
        (``time_s``) ``chi2_reduced``, ``rwp``, ``zero_shift``; per frame and radial point
        (``point``, coordinate ``radial``) ``calculated`` and ``background``; per frame and
        ``phase`` the scales, profile and texture parameters (each with ``*_err`` where fitted)."""
        import xarray as xr

        g = self._part("refinement", "whole-pattern refinement", "xrd.phases")
        t = g["frame_time_s"]
        n = t.shape[0]
        phase_names = read_array(g["phase"]).tolist() if "phase" in g else []
        npt = g["radial"].shape[0] if "radial" in g else -1
        data = {}
        for k, ds in fields(g).items():
            if k in ("frame_time_s", "phase", "radial") or not ds.shape or ds.shape[0] != n:
                continue
            if ds.ndim == 1:
                data[k] = data_var(ds, ("time_s",))
            elif ds.ndim == 2 and ds.shape[1] == len(phase_names):
                data[k] = data_var(ds, ("time_s", "phase"))
            elif ds.ndim == 2 and ds.shape[1] == npt:
                data[k] = data_var(ds, ("time_s", "point"))
        coords = {"time_s": ("time_s", read_array(t), attrs_of(t)), "phase": phase_names}
        if npt >= 0:
            coords["radial"] = ("point", read_array(g["radial"]), attrs_of(g["radial"]))
        ds = xr.Dataset(data, coords=coords)
        ds.attrs.update({k: v for k, v in attrs_of(g).items() if k != "NX_class"})
        return ds
