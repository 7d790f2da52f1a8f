"""The cycler record and the timeline of a results file as pandas DataFrames.

``open_results(path).echem`` is the cycler record (:func:`echem_table`); ``.timeline`` is a
:class:`Timeline`: the decimated cycler curve and every series (lattice, fractions, valences,
frames) placed on the cycler clock, each one a DataFrame, and all of them in one long table.
"""

from __future__ import annotations

from ._h5 import attrs_of, fields, find_named, groups, label, ordered, read_array, table
from ._lazy import pd

#: the cycler record's columns in their usual order (any other 1D field follows)
ECHEM_COLUMNS = ("time_s", "voltage_v", "current_ma", "capacity_mah", "cycle", "half_cycle", "step",
                 "direction", "x", "soc")
#: the per-point fields of a timeline series in their usual order
SERIES_COLUMNS = ("time_s", "time_err_s", "value", "value_err", "x", "x_err", "voltage_v", "half_cycle",
                  "placement", "notes", "stated_voltage_v")
#: series attributes copied into every row of :attr:`Timeline.table`
SERIES_ATTRS = ("technique", "quantity", "kind", "units", "label", "phase", "element", "species")


def echem_table(group) -> pd.DataFrame:
    """The cycler record (``/entry/echem``) as a DataFrame, one row per record.

    Parameters
    ----------
    group : h5py.Group
        ``/entry/echem`` of an open results file.

    Returns
    -------
    pandas.DataFrame
        Columns ``time_s`` (s since the first record), ``voltage_v``, ``current_ma``
        (positive on charge), ``capacity_mah`` (net charge since the first record), ``cycle``,
        ``half_cycle``, ``step``, ``direction`` (+1 charge, -1 discharge, 0 rest) and, with an
        electrode, ``x`` and ``soc``. ``df.attrs``: ``units`` and ``long_names`` per column,
        ``start_time`` (wall time of ``time_s = 0``), ``source``, ``format``, and the
        ``electrode``, ``clock`` and ``meta`` records as dicts.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("e.h5", "w", driver="core", backing_store=False) as h5:
    ...     g = h5.create_group("echem")
    ...     g.attrs["start_time"] = "2025-03-14T09:00:00"
    ...     g["time_s"], g["voltage_v"] = [0.0, 60.0], [3.30, 3.35]
    ...     g["time_s"].attrs["units"], g["voltage_v"].attrs["units"] = "s", "V"
    ...     g.create_group("clock").attrs["offset_s"] = 0.0
    ...     df = echem_table(g)
    >>> df.to_dict("list"), df.attrs["units"], df.attrs["clock"], df.attrs["start_time"]
    ({'time_s': [0.0, 60.0], 'voltage_v': [3.3, 3.35]}, {'time_s': 's', 'voltage_v': 'V'}, {'offset_s': 0.0}, '2025-03-14T09:00:00')
    """
    n = group["time_s"].shape[0] if "time_s" in group else None
    df = table(group, n=n, names=ordered(fields(group), ECHEM_COLUMNS))
    df.attrs["long_names"] = {k: str(group[k].attrs["long_name"]) for k in df if "long_name" in group[k].attrs}
    for key, value in attrs_of(group).items():
        if key != "NX_class":
            df.attrs[key] = value
    for name, sub in groups(group).items():
        record = attrs_of(sub)
        record.pop("NX_class", None)
        for k, ds in fields(sub).items():
            record[k] = read_array(ds).tolist()
        df.attrs[name] = record
    return df


def _series_frame(g) -> pd.DataFrame:
    n = g["time_s"].shape[0] if "time_s" in g else None
    df = table(g, n=n, names=ordered(fields(g), SERIES_COLUMNS))
    meta = {k: v for k, v in attrs_of(g).items() if k != "NX_class"}
    unit = meta.pop("units", "")  # the value's unit as the series states it; the field's own wins
    units = df.attrs["units"]
    for k in ("value", "value_err"):
        if k in df and not units.get(k) and unit:
            units[k] = unit
    df.attrs.update(meta, name=label(g))
    return df


class Timeline:
    """Every technique on the cycler clock (``/entry/timeline``).

    Parameters
    ----------
    group : h5py.Group
        ``/entry/timeline`` of an open results file.
    file : str
        The file's path, for messages.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "results.h5"
    >>> with h5py.File(path, "w") as h5:
    ...     g = h5.create_group("entry/timeline/series/xrd_a_Na3V2_PO4_3")
    ...     g.attrs.update(long_name="xrd_a_Na3V2(PO4)3", technique="xrd", quantity="a", units="angstrom",
    ...                    kind="operando", label="XRD Na3V2(PO4)3 a", phase="Na3V2(PO4)3")
    ...     g["time_s"], g["value"], g["value_err"] = [0.0, 60.0], [8.73, 8.72], [0.002, 0.002]
    ...     tl = Timeline(h5["entry/timeline"], str(path))
    ...     names, one, long = tl.names, tl["xrd_a_Na3V2(PO4)3"], tl.table
    >>> names, one["value"].tolist(), one.attrs["units"]["value"], one.attrs["phase"]
    (['xrd_a_Na3V2(PO4)3'], [8.73, 8.72], 'angstrom', 'Na3V2(PO4)3')
    >>> long[["series", "quantity", "time_s", "value"]].values.tolist()
    [['xrd_a_Na3V2(PO4)3', 'a', 0.0, 8.73], ['xrd_a_Na3V2(PO4)3', 'a', 60.0, 8.72]]
    """

    def __init__(self, group, file: str) -> None:
        self._g, self._file = group, file
        #: ``clock_start``, ``offset_s``, ``axis``, and with an electrode ``formula``, ``ion``, ``x_label``
        self.attrs = {k: v for k, v in attrs_of(group).items() if k != "NX_class"}

    def __repr__(self) -> str:
        return f"<Timeline {self._file}: {len(self.names)} series>"

    def _series_groups(self) -> list:
        return list(groups(self._g["series"]).values()) if "series" in self._g else []

    @property
    def names(self) -> list[str]:
        """The series, by label (``@long_name``, else the group name): ``xrd_frames``,
        ``xrd_<a|b|c|volume|fraction>_<phase>``, ``xanes_valence_<series>``,
        ``xps_valence_<series>``, ``xps_fraction_<species>_<series>``."""
        return [label(g) for g in self._series_groups()]

    def __getitem__(self, name: str) -> pd.DataFrame:
        """One series as a DataFrame (see :attr:`series`), by label or group name."""
        if "series" not in self._g:
            raise KeyError(f"{self._file}: the timeline holds no series")
        return _series_frame(find_named(self._g["series"], name, "timeline series", self._file))

    @property
    def series(self) -> dict[str, pd.DataFrame]:
        """Every series, label -> DataFrame with one row per point: ``time_s`` and
        ``time_err_s`` (on the cycler clock, s), ``value`` and ``value_err``, ``x`` and
        ``x_err``, ``voltage_v``, ``half_cycle``, ``placement`` (and ``notes``,
        ``stated_voltage_v`` for ex situ spectra). ``df.attrs``: ``units`` per column (the
        value's unit under ``value``), ``technique``, ``quantity``, ``kind``, ``label``,
        ``source`` and ``phase``/``element``/``species`` where they apply."""
        return {label(g): _series_frame(g) for g in self._series_groups()}

    @property
    def table(self) -> pd.DataFrame:
        """All series in one long DataFrame: ``series`` (label), ``technique``, ``quantity``,
        ``kind``, ``units`` (of the value), ``label`` and ``phase``/``element``/``species``,
        then the per-point columns of :attr:`series`."""
        frames = []
        for name, df in self.series.items():
            head = pd.DataFrame({"series": [name] * len(df)}, index=df.index)
            for k in SERIES_ATTRS:
                head[k] = df.attrs["units"].get("value", "") if k == "units" else df.attrs.get(k, "")
            frames.append(pd.concat([head, df], axis=1))
        if not frames:
            return pd.DataFrame({"series": []})
        out = pd.concat(frames, ignore_index=True)
        out.attrs["units"] = {"time_s": "s", "time_err_s": "s", "voltage_v": "V"}
        return out

    @property
    def echem(self) -> pd.DataFrame:
        """The cycler curve as the figures draw it (at most 20000 rows, evenly decimated):
        ``time_s``, ``voltage_v``, ``current_ma``, ``capacity_mah``, ``x``, ``soc``,
        ``half_cycle``, ``direction``; ``df.attrs["units"]`` per column."""
        if "echem" not in self._g:
            raise LookupError(f"{self._file}: the timeline holds no cycler curve (no 'echem' section)")
        return echem_table(self._g["echem"])

    @property
    def notes(self) -> list[str]:
        """How the series were placed (clock offsets, points outside the record, ...)."""
        return read_array(self._g["notes"]).tolist() if "notes" in self._g else []

