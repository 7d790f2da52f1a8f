"""The XAS and XPS series of a results file as xarray Datasets and pandas DataFrames.

``open_results(path).xas`` and ``.xps`` are :class:`SeriesMap` objects: one entry per series of
the recipe, keyed by the series label, holding an :class:`XasSeries` or an :class:`XpsSeries`.
Series groups are found by what they hold (XAS: a ``spectra`` or ``standards`` group; XPS: a
``label`` field or a ``components`` group), so other groups beside them are passed over.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import numpy as np

from ..nexus import nx_name
from ..store import read_record
from ._h5 import (
    attrs_of,
    basename,
    data_var,
    fields,
    groups,
    label,
    ordered,
    parse_json,
    read_array,
    scalar,
    table,
    text,
    units_of,
)
from ._lazy import pd
from .xas_valence import XasValenceCheck, read_valence_check

#: column order of the per-spectrum XAS table (other fields follow)
XAS_COLUMNS = ("label", "source", "time_s", "voltage_v", "calibrated", "calibration_shift_ev", "e0_ev", "edge_step",
               "edge_energy_ev", "edge_energy_err_ev", "pre_edge_centroid_ev", "pre_edge_centroid_err_ev",
               "pre_edge_area", "pre_edge_area_err", "pre_edge_height", "noise", "valence", "valence_err",
               "calibration_valence", "calibration_valence_err", "calibration_extrapolated", "declared_valence", "flags")
#: column order of the XPS samples, components and species tables
XPS_SAMPLE_COLUMNS = ("label", "source_file", "voltage_v", "charge_shift_ev", "charge_shift_err_ev", "mean_valence",
                      "mean_valence_err", "reduced_chi_square", "diagnostics", "flags")
XPS_ITEM_COLUMNS = ("sample", "label", "component", "species", "valence", "center", "center_err", "fwhm", "fwhm_err",
                    "area", "area_err", "height", "fraction", "fraction_err")
#: per-spectrum fields kept as coordinates (what a spectrum is) rather than results
SPECTRUM_COORDS = ("label", "source", "time_s", "voltage_v")


class SeriesMap(Mapping):
    """The series of one technique, by label (``@long_name``, else the group name); a series
    is also found by its group name.

    Examples
    --------
    >>> m = SeriesMap("xps", {"V2p_O1s": "series object"}, {"V2p_O1s": "V2p_O1s"}, "r.h5")
    >>> list(m), m["V2p_O1s"]
    (['V2p_O1s'], 'series object')
    >>> m["C1s"]
    Traceback (most recent call last):
    ...
    KeyError: "r.h5: no xps series 'C1s' (there are: V2p_O1s)"
    """

    def __init__(self, technique: str, series: dict, names: dict, file: str) -> None:
        self._technique, self._series, self._names, self._file = technique, series, names, file

    def __getitem__(self, key: str):
        if key in self._series:
            return self._series[key]
        for lab, name in self._names.items():
            if key == name:
                return self._series[lab]
        raise KeyError(f"{self._file}: no {self._technique} series {key!r} (there are: {', '.join(self._series)})")

    def __iter__(self) -> Iterator[str]:
        return iter(self._series)

    def __len__(self) -> int:
        return len(self._series)

    def __repr__(self) -> str:
        return f"<{self._technique} series: {', '.join(self._series) or 'none'}>"


def series_map(technique: str, group, is_series, make, file: str) -> SeriesMap:
    """A :class:`SeriesMap` of the sub-groups of ``group`` for which ``is_series(g)`` holds.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("m.h5", "w", driver="core", backing_store=False) as h5:
    ...     _ = h5.create_group("xas/V_K/spectra"); _ = h5.create_group("xas/instrument")
    ...     m = series_map("xas", h5["xas"], lambda g: "spectra" in g, lambda g, f: basename(g), "r.h5")
    >>> dict(m)
    {'V_K': 'V_K'}
    """
    found = [g for g in groups(group).values() if is_series(g)]
    return SeriesMap(technique, {label(g): make(g, file) for g in found}, {label(g): basename(g) for g in found}, file)


def _spectrum_set(sg):
    """An NXdata group of spectra on one energy grid as an ``xarray.Dataset`` on ``spectrum``
    and the energy axis."""
    import xarray as xr

    signal = text(sg.attrs.get("signal", "norm"))
    axes = [text(a) for a in np.atleast_1d(sg.attrs.get("axes", []))]
    axis = next((a for a in reversed(axes) if a in sg and a != "."), "energy_ev")
    n, npt = sg[signal].shape
    coords = {axis: (axis, read_array(sg[axis]), attrs_of(sg[axis])), "spectrum": np.arange(n)}
    data = {}
    for k, ds in fields(sg).items():
        if k in (axis, "spectrum", *axes):  # the axes themselves (a spectrum index among them)
            continue
        if ds.shape == (n, npt):
            data[k] = data_var(ds, ("spectrum", axis))
        elif ds.shape == (n,):
            if k in SPECTRUM_COORDS:
                coords[k] = ("spectrum", read_array(ds), attrs_of(ds))
            else:
                data[k] = data_var(ds, ("spectrum",))
    return xr.Dataset(data, coords=coords)


def _is_xas_series(g) -> bool:
    return "spectra" in g or "standards" in g


def _is_xps_series(g) -> bool:
    return "label" in g or "components" in g


class XasSeries:
    """One XAS series (``/entry/xas/<series>``): spectra, standards, valence, LCF, PCA.

    Parameters
    ----------
    group : h5py.Group
        The series group of an open results file.
    file : str
        The file's path, for messages.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "results.h5"
    >>> with h5py.File(path, "w") as h5:
    ...     sg = h5.create_group("entry/xas/V_K/spectra")
    ...     sg.attrs.update(signal="norm", axes=[".", "energy_ev"])
    ...     sg["energy_ev"] = [5460.0, 5470.0, 5480.0]
    ...     sg["energy_ev"].attrs["units"] = "eV"
    ...     sg["norm"] = [[0.0, 0.5, 1.0], [0.0, 0.4, 1.0]]
    ...     sg["label"] = np.array([b"s0", b"s1"], dtype=object)
    ...     sg["valence"], sg["valence_err"] = [3.0, 3.5], [0.05, 0.06]
    ...     xas = XasSeries(h5["entry/xas/V_K"], str(path))
    ...     spectra, table = xas.spectra, xas.table
    >>> spectra.norm.dims, spectra.energy_ev.attrs["units"], spectra.label.values.tolist()
    (('spectrum', 'energy_ev'), 'eV', ['s0', 's1'])
    >>> table[["label", "valence", "valence_err"]].to_dict("list")
    {'label': ['s0', 's1'], 'valence': [3.0, 3.5], 'valence_err': [0.05, 0.06]}
    """

    def __init__(self, group, file: str) -> None:
        self._g, self._file = group, file
        self.name = basename(group)
        self.label = label(group)
        #: ``element``, ``edge``, ``tabulated_edge_ev`` and the other attributes of the series
        self.attrs = {k: v for k, v in attrs_of(group).items() if k != "NX_class"}

    def __repr__(self) -> str:
        return f"<XasSeries {self.label}: {', '.join(k for k in groups(self._g))}>"

    def _need(self, name: str, what: str):
        if name not in self._g:
            raise LookupError(f"{self._file}: XAS series {self.label!r} has no {what} ({self._g.name}/{name})")
        return self._g[name]

    @property
    def spectra(self):
        """The processed spectra as an ``xarray.Dataset`` on ``spectrum`` and ``energy_ev``
        (calibrated grid, eV): ``norm`` [spectrum, energy_ev] (normalised mu), and per spectrum
        ``edge_energy_ev`` and ``edge_energy_err_ev``, ``e0_ev``, ``edge_step``, ``noise``,
        pre-edge centroid, area and height with their errors, ``calibration_shift_ev``,
        ``calibrated``, ``valence`` and ``valence_err`` (attr ``method``), the calibration
        valence, ``flags``. Coordinates ``label``, ``source``, ``time_s`` (epoch s),
        ``voltage_v``."""
        return _spectrum_set(self._need("spectra", "spectra"))

    @property
    def standards(self):
        """The standards, as :attr:`spectra` (with ``declared_valence``)."""
        return _spectrum_set(self._need("standards", "standards"))

    @property
    def table(self) -> pd.DataFrame:
        """One row per spectrum with every per-spectrum value of :attr:`spectra` (no curves),
        and the LCF valence, its error and R-factor as ``lcf_valence``, ``lcf_valence_err``,
        ``lcf_r_factor`` where LCF ran; ``df.attrs["units"]`` per column."""
        sg = self._need("spectra", "spectra")
        n = sg["norm"].shape[0] if "norm" in sg else None
        df = table(sg, n=n, names=ordered(fields(sg), XAS_COLUMNS))
        if "lcf" in self._g:
            lcf = self._g["lcf"]
            for k in ("valence", "valence_err", "r_factor"):
                if k in lcf and lcf[k].shape == (len(df),):
                    df[f"lcf_{k}"] = read_array(lcf[k])
        return df

    @property
    def lcf(self):
        """The linear combination fit as an ``xarray.Dataset`` on ``spectrum`` and
        ``component`` (the standards' labels): ``weights``, ``weights_err``, and per spectrum
        ``valence``, ``valence_err``, ``r_factor``, ``reduced_chi_square``; attrs ``window_ev``."""
        import xarray as xr

        g = self._need("lcf", "linear combination fit (valence.lcf)")
        comps = read_array(g["components"]).tolist()
        data = {k: data_var(g[k], ("spectrum", "component")) for k in ("weights", "weights_err") if k in g}
        n = g["weights"].shape[0]
        for k, ds in fields(g).items():
            if ds.shape == (n,) and k not in data:
                data[k] = data_var(ds, ("spectrum",))
        ds = xr.Dataset(data, coords={"spectrum": np.arange(n), "component": comps})
        if "label" in self._g.get("spectra", {}):
            ds = ds.assign_coords(label=("spectrum", read_array(self._g["spectra/label"])))
        if "window_ev" in g:
            ds.attrs["window_ev"] = read_array(g["window_ev"]).tolist()
        return ds

    @property
    def pca(self) -> pd.DataFrame:
        """Principal components, one row per component (1, 2, ...): ``eigenvalue``,
        ``explained_variance``, ``ind`` (Malinowski indicator, NaN where not defined);
        ``df.attrs`` holds ``n_components`` and ``window_ev``."""
        g = self._need("pca", "principal component analysis (valence.pca)")
        eig = read_array(g["eigenvalues"])
        ind = read_array(g["ind"]) if "ind" in g else np.array([])
        df = pd.DataFrame({"eigenvalue": eig, "explained_variance": read_array(g["explained_variance"]),
                           "ind": np.concatenate([ind, np.full(max(eig.size - ind.size, 0), np.nan)])[: eig.size]},
                          index=pd.RangeIndex(1, eig.size + 1, name="component"))
        df.attrs.update(n_components=int(g["n_components"][()]) if "n_components" in g else None,
                        window_ev=read_array(g["window_ev"]).tolist() if "window_ev" in g else None)
        return df

    @property
    def calibration(self) -> dict:
        """The valence calibration: ``model``, ``feature``, ``standards``, ``valence``, ``x``,
        ``x_err``, ``coefficients``."""
        return read_record(self._need("calibration", "valence calibration (valence.calibration)"))

    @property
    def valence_check(self) -> XasValenceCheck:
        """How far to trust each valence method (docs/xas_valence.md): ``.methods`` (one row
        per method: its leave-one-out ``calibration_err``, ``rms_error``, ``max_error`` on the
        standards), ``.leave_one_out`` (one row per method and standard), ``.spectra`` (each
        spectrum's ``valence_status`` and every method's valence), ``.reported``. Raises
        LookupError for a series without standards."""
        return read_valence_check(self._g, self._file)

    @property
    def settings(self) -> dict:
        """Every resolved setting of the series (parsed from ``settings_json``)."""
        g = self._need("settings", "settings")
        return parse_json(g["settings_json"]) if "settings_json" in g else read_record(g)

    @property
    def failed(self) -> pd.DataFrame:
        """``key`` and ``reason`` of every spectrum that failed."""
        return _failed(self._g)

    def _exafs_group(self):
        root = self._g.file.get("entry/exafs")
        g = None if root is None else root.get(self.name)
        if g is None or "k" not in g:
            raise LookupError(f"{self._file}: XAS series {self.label!r} has no EXAFS (the recipe's xas[].exafs "
                              "section writes /entry/exafs/<series>)")
        return g

    @property
    def exafs(self):
        """chi(k) and |chi(R)| of every spectrum as an ``xarray.Dataset``: ``chi`` [spectrum,
        k_inv_angstrom] and ``chir_mag`` [spectrum, r_angstrom] (units in each variable's attrs),
        with the spectrum ``label`` as a coordinate. Raises LookupError without an EXAFS part."""
        import xarray as xr

        g = self._exafs_group()
        ds = xr.Dataset({"chi": data_var(g["chi"], ("spectrum", "k_inv_angstrom")),
                         "chir_mag": data_var(g["chir_mag"], ("spectrum", "r_angstrom"))},
                        coords={"k_inv_angstrom": ("k_inv_angstrom", read_array(g["k"]), attrs_of(g["k"])),
                                "r_angstrom": ("r_angstrom", read_array(g["r"]), attrs_of(g["r"]))})
        if "label" in g:
            ds = ds.assign_coords(label=("spectrum", read_array(g["label"])))
        return ds

    @property
    def shells(self) -> pd.DataFrame:
        """The EXAFS shell fit, one row per spectrum and path: ``reff_a``, ``r_a`` and ``r_err_a``,
        ``n``, ``sigma2_a2``, ``de0_ev``, ``s02`` with their errors; the fit's ``r_factor``,
        ``chi_square``, ``reduced_chi_square``, ``n_independent`` and ``n_variables`` in
        ``df.attrs``. Raises LookupError when no shell fit ran."""
        g = self._exafs_group()
        if "fit" not in g:
            raise LookupError(f"{self._file}: XAS series {self.label!r} has no EXAFS shell fit "
                              "(xas[].exafs.shells)")
        fg = g["fit"]
        n = fg["r_a"].shape[0]
        cols = ordered([k for k, ds in fields(fg).items() if ds.shape == (n,)], ["spectrum", "path", "label"])
        df = table(fg, n=n, names=cols)
        df.attrs.update({k: float(scalar(fg[k])) for k in ("r_factor", "chi_square", "reduced_chi_square",
                                                          "n_independent", "n_variables") if k in fg})
        return df

    @property
    def messages(self) -> list[str]:
        """Series-level warnings (calibration, LCF, EXAFS fit)."""
        return read_array(self._g["messages"]).tolist() if "messages" in self._g else []


def _failed(g) -> pd.DataFrame:
    if "failed" not in g:
        return pd.DataFrame({"key": [], "reason": []})
    return table(g["failed"], names=["key", "reason"])


def _long(g, names: list[str], key: str, samples: pd.DataFrame) -> pd.DataFrame:
    """[sample, item] fields of ``g`` in long form: one row per sample and item."""
    n, m = len(samples), len(names)
    out = {"sample": np.repeat(np.arange(n), m), key: np.tile(np.array(names, dtype=object), n)}
    if "label" in samples:
        out["label"] = np.repeat(samples["label"].to_numpy(), m)
    units = {}
    for k, ds in fields(g).items():
        if ds.shape == (n, m):
            out[k] = read_array(ds).ravel()
        elif ds.shape == (m,) and k not in ("name",):
            out[k] = np.tile(read_array(ds), n)
        else:
            continue
        if units_of(ds):
            units[k] = units_of(ds)
    df = pd.DataFrame(out)[ordered(out, XPS_ITEM_COLUMNS)]
    df.attrs["units"] = units
    return df


class XpsSeries:
    """One XPS series (``/entry/xps/<series>``): samples, fitted components and species,
    valence fractions and every fitted spectrum.

    Parameters
    ----------
    group : h5py.Group
        The series group of an open results file.
    file : str
        The file's path, for messages.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "results.h5"
    >>> with h5py.File(path, "w") as h5:
    ...     g = h5.create_group("entry/xps/V2p_O1s")
    ...     g["label"] = np.array([b"e0", b"e1"], dtype=object)
    ...     g["mean_valence"], g["mean_valence_err"] = [3.1, 3.6], [0.02, 0.03]
    ...     c = g.create_group("components")
    ...     c["name"] = np.array([b"V3+ 2p3/2", b"O lattice"], dtype=object)
    ...     c["center"], c["center_err"] = [[516.1, 530.2], [516.2, 530.3]], [[0.01, 0.02], [0.01, 0.02]]
    ...     c["center"].attrs["units"] = "eV"
    ...     xps = XpsSeries(g, str(path))
    ...     samples, comps = xps.samples, xps.components
    >>> samples.to_dict("list")
    {'label': ['e0', 'e1'], 'mean_valence': [3.1, 3.6], 'mean_valence_err': [0.02, 0.03]}
    >>> comps[["label", "component", "center", "center_err"]].values.tolist()[:2]
    [['e0', 'V3+ 2p3/2', 516.1, 0.01], ['e0', 'O lattice', 530.2, 0.02]]
    >>> comps.attrs["units"]
    {'center': 'eV'}
    """

    def __init__(self, group, file: str) -> None:
        self._g, self._file = group, file
        self.name = basename(group)
        self.label = label(group)
        #: ``region_ev``, ``background`` and the other attributes of the series
        self.attrs = {k: v for k, v in attrs_of(group).items() if k != "NX_class"}

    def __repr__(self) -> str:
        return f"<XpsSeries {self.label}: {len(self.samples)} sample(s)>"

    @property
    def samples(self) -> pd.DataFrame:
        """One row per fitted sample: ``label``, ``source_file``, ``voltage_v``,
        ``charge_shift_ev`` and ``charge_shift_err_ev``, ``mean_valence`` and
        ``mean_valence_err``, ``reduced_chi_square``, ``diagnostics``, ``flags``."""
        n = self._g["label"].shape[0] if "label" in self._g else None
        return table(self._g, n=n, names=ordered(fields(self._g), XPS_SAMPLE_COLUMNS))

    def _items(self, sub: str, key: str) -> pd.DataFrame:
        if sub not in self._g:
            raise LookupError(f"{self._file}: XPS series {self.label!r} has no {sub} ({self._g.name}/{sub})")
        g = self._g[sub]
        return _long(g, read_array(g["name"]).tolist(), key, self.samples)

    @property
    def components(self) -> pd.DataFrame:
        """Every fitted line of every sample, one row each: ``sample`` (row of
        :attr:`samples`), ``label`` (the sample's), ``component``, ``center`` and
        ``center_err``, ``fwhm`` (true FWHM) and ``fwhm_err``, ``area`` and ``area_err``,
        ``height``, ``fraction`` and ``fraction_err``; ``df.attrs["units"]`` per column."""
        return self._items("components", "component")

    @property
    def species(self) -> pd.DataFrame:
        """Each component or doublet once per sample: ``sample``, ``label``, ``species``,
        ``valence`` (NaN where the species has none), ``area``, ``area_err``, ``fraction``,
        ``fraction_err``."""
        df = self._items("species", "species")
        return df.drop(columns=[c for c in df if c.startswith("valence_fraction")])

    @property
    def valence_fractions(self) -> pd.DataFrame:
        """Share of each valence-labelled species per sample: ``sample``, ``label``,
        ``species``, ``valence_fraction``, ``valence_fraction_err`` (empty when no component
        carries a valence)."""
        g = self._g.get("species")
        if g is None or "valence_fraction_species" not in g:
            return pd.DataFrame({"sample": [], "label": [], "species": [], "valence_fraction": [],
                                 "valence_fraction_err": []})
        names = read_array(g["valence_fraction_species"]).tolist()
        samples = self.samples
        n, m = len(samples), len(names)
        return pd.DataFrame({"sample": np.repeat(np.arange(n), m), "label": np.repeat(samples["label"].to_numpy(), m),
                             "species": np.tile(np.array(names, dtype=object), n),
                             "valence_fraction": read_array(g["valence_fraction"]).ravel(),
                             "valence_fraction_err": read_array(g["valence_fraction_err"]).ravel()})

    def _spectrum_groups(self) -> list:
        found = []
        for name, g in groups(self._g).items():
            m = re.fullmatch(r"spectrum_(\d+)", name)
            if m and "binding_energy_ev" in g:
                found.append((int(m.group(1)), g))
        return [g for _, g in sorted(found, key=lambda p: p[0])]

    def spectrum(self, sample: int | str):
        """One fitted spectrum as an ``xarray.Dataset`` on ``binding_energy_ev`` (eV):
        ``intensity``, ``sigma``, ``background``, ``model`` and ``lines`` [component,
        binding_energy_ev] (each line without background), with attrs ``label`` and
        ``parameters`` (every fit parameter: value, err, bounds, expression).

        Parameters
        ----------
        sample : int or str
            Row of :attr:`samples`, or the sample's label.
        """
        groups_ = self._spectrum_groups()
        labels = self.samples["label"].tolist() if "label" in self._g else []
        i = labels.index(sample) if isinstance(sample, str) and sample in labels else sample
        if not isinstance(i, int | np.integer) or not 0 <= i < len(groups_):
            raise KeyError(f"{self._file}: XPS series {self.label!r} has no spectrum {sample!r} "
                           f"(samples: {', '.join(labels) or len(groups_)})")
        return self._spectrum_set(groups_[int(i)])

    @property
    def spectra(self) -> list:
        """Every fitted spectrum, in the order of :attr:`samples` (see :meth:`spectrum`)."""
        return [self._spectrum_set(g) for g in self._spectrum_groups()]

    def _spectrum_set(self, g):
        import xarray as xr

        x = g["binding_energy_ev"]
        dims = ("binding_energy_ev",)
        data = {k: data_var(ds, dims) for k, ds in fields(g).items() if ds.shape == x.shape and k != "binding_energy_ev"}
        names = read_array(self._g["components/name"]).tolist() if "components/name" in self._g else []
        lines = list(fields(g["lines"]).values()) if "lines" in g else []
        ordered = _line_order(lines, names)
        if ordered:
            data["lines"] = xr.DataArray(np.stack([read_array(ds) for _, ds in ordered]), dims=("component", *dims))
        ds = xr.Dataset(data, coords={"binding_energy_ev": (dims, read_array(x), attrs_of(x)),
                                      "component": [lab for lab, _ in ordered]})
        ds.attrs["label"] = text(g.attrs.get("label", basename(g)))
        if "parameters_json" in g:
            ds.attrs["parameters"] = parse_json(g["parameters_json"])
        return ds

    def parameters(self, sample: int | str) -> pd.DataFrame:
        """Every fit parameter of one spectrum, one row each: ``parameter`` (as the fit names
        it, e.g. ``center(V5+ 2p3/2)``), ``value``, ``err``, ``vary``, ``expr``, ``min``, ``max``."""
        params = self.spectrum(sample).attrs.get("parameters", {})
        return pd.DataFrame([{"parameter": k, **{q: v.get(q) for q in ("value", "err", "vary", "expr", "min", "max")}}
                             for k, v in params.items()])

    @property
    def settings(self) -> dict:
        """Every choice of the fit (parsed from ``settings_json``)."""
        return parse_json(self._g["settings_json"]) if "settings_json" in self._g else {}

    @property
    def failed(self) -> pd.DataFrame:
        """``key`` and ``reason`` of every file that could not be read, corrected or fitted."""
        return _failed(self._g)


def _line_order(lines: list, names: list[str]) -> list[tuple[str, object]]:
    """(component label, dataset) of every line: the label from ``@long_name``, else matched to
    the components' names (written as the name with '/' as '_', or as its NeXus name), in the
    components' order."""
    by_label = {}
    for ds in lines:
        lab = text(ds.attrs["long_name"]) if "long_name" in ds.attrs else None
        if lab is None:
            base = basename(ds)
            lab = next((n for n in names if base in (n, n.replace("/", "_"), nx_name(n))), base)
        by_label[lab] = ds
    order = [n for n in names if n in by_label] + [k for k in by_label if k not in names]
    return [(k, by_label[k]) for k in order]


def xas_series(group, file: str) -> SeriesMap:
    """The XAS series under ``/entry/xas`` (see :class:`XasSeries`).

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("xs.h5", "w", driver="core", backing_store=False) as h5:
    ...     _ = h5.create_group("xas/V_K/spectra")
    ...     list(xas_series(h5["xas"], "r.h5"))
    ['V_K']
    """
    return series_map("xas", group, _is_xas_series, XasSeries, file)


def xps_series(group, file: str) -> SeriesMap:
    """The XPS series under ``/entry/xps`` (see :class:`XpsSeries`).

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("ps.h5", "w", driver="core", backing_store=False) as h5:
    ...     _ = h5.create_group("xps/V2p_O1s/components")
    ...     list(xps_series(h5["xps"], "r.h5"))
    ['V2p_O1s']
    """
    return series_map("xps", group, _is_xps_series, XpsSeries, file)
