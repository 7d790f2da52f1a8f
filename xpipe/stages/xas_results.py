"""The XAS stage's output: ``/entry/xas/<series>`` and ``/entry/exafs/<series>``, CSV tables, the
Athena project and the figures of every series."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..nexus import nx_data, set_units, units_from_name
from ..outfiles import atomic_open, atomic_path, safe_target
from ..recipe.sections.xas import State, XasSeriesConfig, state_time, state_voltage
from ..store import nx_group, set_attrs, write_record, write_strings
from ..xas.readers import write_athena
from ..xas.series import SpectrumResult, XanesSettings
from .output import csv_value, float_or_nan
from .xas_figures import plot_exafs, plot_valence, plot_xanes
from .xas_valence_results import write_valence_check

log = logging.getLogger("xpipe")

#: largest series for which ``athena: auto`` writes the Athena project
ATHENA_AUTO_MAX = 200


@dataclass
class SeriesOutcome:
    """One XAS series once every spectrum is done: its settings, states, results and analysis.

    Parameters
    ----------
    cfg : xpipe.recipe.sections.xas.XasSeriesConfig
        The series' recipe entry.
    settings : xpipe.xas.series.XanesSettings
        The fixed processing settings of the series (normalisation resolved).
    states : list of xpipe.recipe.sections.xas.State
        Standards and spectra of the series, in recipe order.
    results : dict of str to xpipe.xas.series.SpectrumResult
        The processed spectra by state key (states that failed are missing).
    valence : xpipe.xas.series.SeriesValence or None
        Valence by edge calibration and/or LCF, with PCA; None without standards.
    shells, shell_labels : object or None, list of str or None
        The EXAFS shell fit and the labels of the spectra fitted.
    messages : list of str or None
        What the analysis noticed (logged and written with the series).

    Examples
    --------
    One spectrum of the bundled V K-edge series, processed with the series' settings:

    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.xas.readers import read_scan
    >>> from xpipe.xas.series import process_spectrum
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xanes.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> cfg, settings, state = stage.series[0], stage.settings()["V_K"], stage.states[5]
    >>> result = process_spectrum(read_scan(state.files[0]), settings, label=state.label)
    >>> o = SeriesOutcome(cfg, settings, [state], {state.key: result}, messages=[])
    >>> o.cfg.name, state.key, round(o.results[state.key].edge_energy_ev, 1), o.valence  # eV
    ('V_K', 'V_K/nvp_xanes_0.xdi', 5478.3, None)
    """

    cfg: XasSeriesConfig
    settings: XanesSettings
    states: list[State]
    results: dict[str, SpectrumResult]
    valence: object | None = None
    shells: object | None = None
    shell_labels: list[str] | None = None
    messages: list[str] | None = None


def write_series(root, o: SeriesOutcome, failures: dict[str, str]) -> None:
    """``/entry/xas/<series>``: spectra on a common grid, edges, pre-edge, valence, settings.

    Parameters
    ----------
    root : h5py.Group
        ``/entry/xas`` of the results file being written.
    o : SeriesOutcome
        The series.
    failures : dict of str to str
        Reason by state key of every state that failed (those of this series are written).

    Returns
    -------
    None
        Energies in eV (calibrated), times in s since the Unix epoch, voltages in V.

    Examples
    --------
    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.xas.readers import read_scan
    >>> from xpipe.xas.series import process_spectrum
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xanes.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> cfg, settings, state = stage.series[0], stage.settings()["V_K"], stage.states[5]
    >>> result = process_spectrum(read_scan(state.files[0]), settings, label=state.label)
    >>> o = SeriesOutcome(cfg, settings, [state], {state.key: result}, messages=[])
    >>> with h5py.File(pathlib.Path(tempfile.mkdtemp()) / "results.h5", "w") as h5:
    ...     write_series(h5.create_group("xas"), o, {"V_K/nvp_xanes_9.xdi": "file not found"})
    ...     edge = h5["xas/V_K/spectra/edge_energy_ev"]
    ...     edge[()].round(1).tolist(), edge.attrs["units"], h5["xas/V_K/failed/key"].len()
    ([5478.3], 'eV', 1)
    """
    cfg, s = o.cfg, o.settings
    g = nx_group(root, cfg.name, "NXcollection")
    set_attrs(g, element=cfg.element, edge=cfg.edge, tabulated_edge_ev=s.edge_ev)
    ordered = [st for st in o.states if st.key in o.results]
    spectra = [st for st in ordered if not st.is_standard]
    stds = [st for st in ordered if st.is_standard]
    for group_name, sts in (("spectra", spectra), ("standards", stds)):
        if not sts:
            continue
        sg = nx_group(g, group_name, "NXdata")
        res = [o.results[st.key] for st in sts]
        grid = res[0].energy_ev
        norm = np.stack([np.interp(grid, r.energy_ev, r.norm, left=np.nan, right=np.nan) for r in res])
        nx_data(g, group_name, "norm", ["spectrum_index", "energy_ev"])
        sg.create_dataset("spectrum_index", data=np.arange(len(res), dtype=np.int64))
        sg.create_dataset("energy_ev", data=grid).attrs["units"] = "eV"
        set_units(sg.create_dataset("norm", data=norm, compression="gzip"), "1", "normalised mu [spectrum, energy]")
        write_strings(sg, "label", [r.label for r in res])
        write_strings(sg, "source", [";".join(r.sources) for r in res])
        for k in ("edge_energy_ev", "edge_energy_err_ev", "e0_ev", "edge_step", "noise", "pre_edge_centroid_ev",
                  "pre_edge_centroid_err_ev", "pre_edge_area", "pre_edge_area_err", "pre_edge_height"):
            d = sg.create_dataset(k, data=np.array([getattr(r, k) for r in res]))
            set_units(d, "eV" if k.endswith("_ev") or k.startswith("pre_edge_area") else "1")
        sg.create_dataset("calibration_shift_ev", data=np.array([r.shift_ev for r in res])).attrs["units"] = "eV"
        sg.create_dataset("calibrated", data=np.array([any(c is not None for c in r.calibrations) for r in res]))
        sg.create_dataset("time_s", data=np.array([float_or_nan(state_time(st, o.results[st.key])) for st in sts])).attrs["units"] = "s"
        sg.create_dataset("voltage_v", data=np.array([float_or_nan(state_voltage(st, o.results[st.key])) for st in sts])).attrs["units"] = "V"
        write_strings(sg, "flags", ["; ".join(r.flags) for r in res])
        if group_name == "standards":
            set_units(sg.create_dataset("declared_valence", data=np.array([st.valence for st in sts])), "1")
    if o.valence is not None and spectra:
        _write_valence(g, o.valence)
    st_g = nx_group(g, "settings", "NXparameters")
    write_record(st_g, _jsonable(s.as_dict()))
    st_g.create_dataset("settings_json", data=json.dumps(_jsonable(s.as_dict())))
    mine = {k: r for k, r in failures.items() if k.startswith(cfg.name + "/")}
    fg = nx_group(g, "failed", "NXcollection")
    write_strings(fg, "key", list(mine))
    write_strings(fg, "reason", list(mine.values()))
    write_strings(g, "messages", list(o.messages or []))


def _write_valence(g, v) -> None:
    """The valence of the series' spectra in ``g``: edge calibration, LCF and PCA, where run."""
    sg = g["spectra"]
    set_units(sg.create_dataset("valence", data=v.valence), "1", "mean valence")
    set_units(sg.create_dataset("valence_err", data=v.valence_err), "1")
    set_attrs(sg["valence"], method=v.method)
    if v.calibration is not None:
        set_units(sg.create_dataset("calibration_valence", data=v.calibration_valence), "1")
        set_units(sg.create_dataset("calibration_valence_err", data=v.calibration_valence_err), "1")
        sg.create_dataset("calibration_extrapolated", data=v.extrapolated)
        cal = nx_group(g, "calibration", "NXcollection")
        write_record(cal, v.calibration.describe())
        set_units(cal["valence"], "1")
        for name in ("x", "x_err"):  # the feature: an edge energy, or a pre-edge area (normalised mu x eV)
            set_units(cal[name], "eV")
        set_units(cal["residual"], "1", "declared minus calibrated valence of each standard")
        if cal["x0"].dtype.kind == "f":  # least-squares curves: coefficients in powers of (x - x0)
            set_units(cal["x0"], "eV")
    if v.lcf is not None:
        lg = nx_group(g, "lcf", "NXcollection")
        names = next((f.names for f in v.lcf if f is not None), [])
        write_strings(lg, "components", names)
        nan = np.full(len(names), np.nan)
        set_units(lg.create_dataset("weights", data=np.stack([f.weights if f else nan for f in v.lcf])), "1")
        set_units(lg.create_dataset("weights_err",
                                    data=np.stack([f.weights_err if f else nan for f in v.lcf])), "1")
        for name in ("valence", "valence_err", "r_factor", "reduced_chi_square"):
            values = [getattr(f, name) if f else np.nan for f in v.lcf]
            set_units(lg.create_dataset(name, data=np.array(values)), "1")
        window = next((f.window_ev for f in v.lcf if f), (np.nan, np.nan))
        lg.create_dataset("window_ev", data=np.array(window))
    if v.pca is not None:
        pg = nx_group(g, "pca", "NXcollection")
        set_units(pg.create_dataset("eigenvalues", data=v.pca.eigenvalues), "1")
        set_units(pg.create_dataset("explained_variance", data=v.pca.explained_variance), "1")
        set_units(pg.create_dataset("ind", data=v.pca.ind), "1", "Malinowski indicator function, n = 1, 2, ...")
        pg.create_dataset("n_components", data=v.pca.n_components)
        pg.create_dataset("window_ev", data=np.array(v.pca.window_ev))
    write_valence_check(g, v)


def _jsonable(d):
    if isinstance(d, dict):
        return {k: _jsonable(v) for k, v in d.items() if v is not None}
    if isinstance(d, tuple):
        return list(d)
    return d


def write_exafs(root, o: SeriesOutcome) -> None:
    """``/entry/exafs/<series>``: chi(k), |chi(R)| of every spectrum, and the shell fit.

    Parameters
    ----------
    root : h5py.Group
        ``/entry/exafs`` of the results file being written.
    o : SeriesOutcome
        The series; spectra without chi(k) are left out, the fit written when there is one.

    Returns
    -------
    None
        k in 1/angstrom, R in angstrom.

    Examples
    --------
    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.xas.readers import read_scan
    >>> from xpipe.xas.series import process_spectrum
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xanes.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> cfg, settings, state = stage.series[0], stage.settings()["V_K"], stage.states[5]
    >>> result = process_spectrum(read_scan(state.files[0]), settings, label=state.label)
    >>> o = SeriesOutcome(cfg, settings, [state], {state.key: result}, messages=[])
    >>> with h5py.File(pathlib.Path(tempfile.mkdtemp()) / "results.h5", "w") as h5:
    ...     write_exafs(h5.create_group("exafs"), o)
    ...     g = h5["exafs/V_K"]
    ...     sorted(g), g["k"].attrs["units"], g["chi"].shape[0]
    (['chi', 'chir_mag', 'k', 'label', 'r'], '1/angstrom', 1)
    """
    g = nx_group(root, o.cfg.name, "NXcollection")
    spectra = [st for st in o.states if st.key in o.results and not st.is_standard and o.results[st.key].k is not None]
    res = [o.results[st.key] for st in spectra]
    if res:
        k = res[0].k
        g.create_dataset("k", data=k).attrs["units"] = "1/angstrom"
        set_units(g.create_dataset("chi", data=np.stack([np.interp(k, r.k, r.chi) for r in res])), "1", "chi(k)")
        g.create_dataset("r", data=res[0].r_a).attrs["units"] = "angstrom"
        w = o.cfg.exafs.kweight
        set_units(g.create_dataset("chir_mag", data=np.stack([np.interp(res[0].r_a, r.r_a, r.chir_mag) for r in res])),
                  f"angstrom^-{w + 1}", f"|chi(R)|, Fourier transform of k^{w} chi(k)")
        write_strings(g, "label", [r.label for r in res])
    fit = o.shells
    if fit is None:
        return
    fg = nx_group(g, "fit", "NXcollection")
    rows = _shell_rows(o)
    for col in ("spectrum", "path", "label"):
        write_strings(fg, col, [str(r[col]) for r in rows])
    for col in ("reff_a", "r_a", "r_err_a", "n", "n_err", "sigma2_a2", "sigma2_err_a2", "de0_ev", "de0_err_ev", "s02", "s02_err"):
        d = fg.create_dataset(col, data=np.array([float_or_nan(r[col]) for r in rows]))
        set_units(d, units_from_name(col) or "1")
    for col in ("r_factor", "chi_square", "reduced_chi_square", "n_independent", "n_variables"):
        set_units(fg.create_dataset(col, data=float(getattr(fit, col))), "1")
    curves = fit.curves
    for i, c in enumerate(curves):
        cg = nx_group(fg, f"curve_{i}", "NXcollection")
        for name, val in (c.items() if isinstance(c, dict) else vars(c).items()):
            if isinstance(val, np.ndarray):
                cg.create_dataset(name, data=val)
            elif isinstance(val, str):
                cg.create_dataset(name, data=val)
    fg.create_dataset("settings_json", data=json.dumps(_jsonable(fit.settings), default=str))


def _shell_rows(o: SeriesOutcome) -> list[dict]:
    rows = []
    for sh in o.shells.shells:
        d = sh if isinstance(sh, dict) else vars(sh)
        spec = d.get("spectrum", 0)
        rows.append({
            "spectrum": o.shell_labels[spec] if isinstance(spec, int) and spec < len(o.shell_labels) else spec,
            "path": d.get("path_index", d.get("path", "")), "label": d.get("label", ""),
            **{c: d.get(c) for c in ("reff_a", "r_a", "r_err_a", "n", "n_err", "sigma2_a2", "sigma2_err_a2",
                                      "de0_ev", "de0_err_ev", "s02", "s02_err")}})
    return rows


def _write_tables(o: SeriesOutcome, outdir: Path) -> list[Path]:
    """``xas_<series>.csv`` (one row per spectrum and standard) and ``exafs_<series>.csv``."""
    outdir.mkdir(parents=True, exist_ok=True)
    files = []
    path = outdir / f"xas_{o.cfg.name}.csv"
    spectra = [st for st in o.states if st.key in o.results and not st.is_standard]
    v = o.valence
    with atomic_open(path, "w", newline="", outdir=outdir) as fh:
        w = csv.writer(fh)
        w.writerow(["label", "kind", "declared_valence", "voltage_v", "time_s", "calibration_shift_ev", "e0_ev", "edge_step",
                    "edge_energy_ev", "edge_energy_err_ev", "pre_edge_centroid_ev", "pre_edge_centroid_err_ev",
                    "pre_edge_area_ev", "pre_edge_area_err_ev", "valence", "valence_err", "lcf_valence", "lcf_valence_err",
                    "lcf_r_factor", "flags", "source"])
        for st in o.states:
            r = o.results.get(st.key)
            if r is None:
                continue
            val = ve = lv = lve = lr = None
            if not st.is_standard and v is not None:
                i = spectra.index(st)
                val, ve = float(v.valence[i]), float(v.valence_err[i])
                if v.lcf is not None and v.lcf[i] is not None:
                    lv, lve, lr = v.lcf[i].valence, v.lcf[i].valence_err, v.lcf[i].r_factor
            w.writerow([r.label, "standard" if st.is_standard else "spectrum", csv_value(st.valence), csv_value(state_voltage(st, r)),
                        csv_value(state_time(st, r)), csv_value(r.shift_ev), csv_value(r.e0_ev),
                        csv_value(r.edge_step), csv_value(r.edge_energy_ev), csv_value(r.edge_energy_err_ev),
                        csv_value(r.pre_edge_centroid_ev), csv_value(r.pre_edge_centroid_err_ev), csv_value(r.pre_edge_area),
                        csv_value(r.pre_edge_area_err), csv_value(val), csv_value(ve), csv_value(lv), csv_value(lve), csv_value(lr),
                        "; ".join(r.flags), ";".join(r.sources)])
    files.append(path)
    if o.shells is not None:
        path = outdir / f"exafs_{o.cfg.name}.csv"
        rows = _shell_rows(o)
        with atomic_open(path, "w", newline="", outdir=outdir) as fh:
            w = csv.writer(fh)
            cols = list(rows[0].keys()) if rows else []
            w.writerow(cols + ["r_factor"])
            for r in rows:
                w.writerow([csv_value(r[c]) for c in cols] + [csv_value(float(o.shells.r_factor))])
        files.append(path)
    return files


def _write_athena_project(o: SeriesOutcome, path: Path, outdir: Path) -> Path | None:
    """The processed spectra and standards as an Athena project (calibrated energies, the
    series' normalisation parameters), for Athena or Larix. Larch writes a temporary file that
    is renamed over ``path`` (a link planted there is replaced, not written through)."""
    items = []
    n = o.settings.norm
    for st in o.states:
        r = o.results.get(st.key)
        if r is None:
            continue
        items.append((r.label, r.energy_ev, r.mu, {"e0": r.e0_ev, "pre1": n.pre1_ev, "pre2": n.pre2_ev, "norm1": n.norm1_ev,
                                                   "norm2": n.norm2_ev, "nnorm": n.nnorm, "nvict": n.nvict,
                                                   "element": o.settings.element, "edge": o.settings.edge}))
    if not items:
        return None
    with atomic_path(path, outdir=outdir) as tmp:
        write_athena(tmp, items)
        _gzip_name(tmp, path.name)
    return path


def _gzip_name(path: Path, name: str) -> None:
    """Record ``name`` as the original file name in the header of the gzip file ``path``
    (Larch's gzip records the name of the temporary it wrote)."""
    data = path.read_bytes()
    flags = data[3] if len(data) > 10 and data[:3] == b"\x1f\x8b\x08" else 0
    if not flags & 0x08 or flags & 0x04:  # no name, or an extra field before it: leave as is
        return
    try:
        fname = name.encode("latin-1")
    except UnicodeEncodeError:
        return
    end = data.index(b"\x00", 10)
    path.write_bytes(data[:10] + fname + data[end:])


def write_outputs(outcomes: list[SeriesOutcome], outdir: Path) -> list[Path]:
    """Tables, figures and Athena projects of every series, beside results.h5.

    Per series with a processed spectrum: ``xas_<series>.csv`` (and ``exafs_<series>.csv``
    with a shell fit), ``figures/xanes_<series>.png``, ``figures/valence_<series>.png`` with
    a valence, ``figures/exafs_<series>.png`` with EXAFS, and ``xas_<series>.prj`` as the
    series' ``athena`` setting asks.

    Parameters
    ----------
    outcomes : list of SeriesOutcome
        The series of the stage.
    outdir : Path
        The run's output folder.

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    A series without EXAFS (its recipe entry without ``exafs``):

    >>> import dataclasses, pathlib, tempfile, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.xas.readers import read_scan
    >>> from xpipe.xas.series import process_spectrum
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xanes.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> cfg, settings, state = stage.series[0], stage.settings()["V_K"], stage.states[5]
    >>> result = process_spectrum(read_scan(state.files[0]), settings, label=state.label)
    >>> no_exafs = dataclasses.replace(cfg, exafs=None)
    >>> o = SeriesOutcome(no_exafs, settings, [state], {state.key: result}, messages=[])
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> [f.relative_to(folder).as_posix() for f in write_outputs([o], folder)]
    ['xas_V_K.csv', 'figures/xanes_V_K.png', 'xas_V_K.prj']
    """
    files: list[Path] = []
    for o in outcomes:
        if not o.results:
            continue
        files.extend(_write_tables(o, outdir))
        files.append(plot_xanes(o, safe_target(outdir, f"figures/xanes_{o.cfg.name}.png")))
        for f in (plot_valence(o, safe_target(outdir, f"figures/valence_{o.cfg.name}.png")),
                  plot_exafs(o, safe_target(outdir, f"figures/exafs_{o.cfg.name}.png"))
                  if o.cfg.exafs is not None else None):
            if f is not None:
                files.append(f)
        n_groups = len(o.results)
        if o.cfg.athena == "always" or (o.cfg.athena == "auto" and n_groups <= ATHENA_AUTO_MAX):
            try:
                p = _write_athena_project(o, outdir / f"xas_{o.cfg.name}.prj", outdir)
                if p is not None:
                    files.append(p)
            except Exception as exc:  # the project file is a convenience; never lose the run for it
                log.warning("xas %s: Athena project not written: %s", o.cfg.name, exc)
    return files
