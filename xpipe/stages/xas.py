"""Stage: XAS series, from raw scans to normalised XANES, edges, valence and EXAFS shells.

Items are the spectra of every series (standards first): each is read, calibrated on its foil,
deglitched, merged with its repeats, normalised with the series' fixed settings and measured
(edge, pre-edge, optionally chi(k) and |chi(R)|) in a worker, and checkpointed, so a batch
survives a bad file and resumes. Once every spectrum is done, :meth:`XasStage.write` places the
series on the valence calibration made from its standards, runs LCF and PCA, fits EXAFS shells
with FEFF paths, and writes ``/entry/xas/<series>`` and ``/entry/exafs/<series>``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..recipe.sections.xas import State, XasSeriesConfig, resolve_states, state_time, state_voltage
from ..store import nx_group, set_attrs, write_record, write_strings
from ..xas.exafs import Chi, fit_shells, run_feff, select_paths
from ..xas.readers import read_scan, write_athena
from ..xas.scan import XasReadError
from ..xas.series import (
    ExafsSettings,
    SpectrumResult,
    XanesSettings,
    process_spectrum,
    series_valence,
)
from ..xas.xanes import (
    Calibration,
    NormSettings,
    XasEdgeError,
    main_edge_e0,
    resolve_norm_settings,
    tabulated_edge_ev,
)
from .base import Stage, StageSummary
from .output import csv_value, float_or_nan
from .xas_figures import plot_exafs, plot_valence, plot_xanes

log = logging.getLogger("xpipe")


# ----------------------------------------------------------------------------- recipe






# ----------------------------------------------------------------------------- settings


def series_settings(cfg: XasSeriesConfig, first_scan=None) -> XanesSettings:
    """Resolve the fixed settings of a series (normalisation resolved once on ``first_scan``)."""
    edge_ev = tabulated_edge_ev(cfg.element, cfg.edge)
    ec = cfg.edge_position
    given = asdict(cfg.normalisation)
    if any(v is None for v in given.values()):
        if first_scan is None:
            raise ValueError("normalisation settings left to be resolved need the first spectrum")
        main = (edge_ev + ec.main_edge_window_ev[0], edge_ev + ec.main_edge_window_ev[1])
        e0 = ec.fixed_e0_ev or main_edge_e0(first_scan.energy_ev, first_scan.mu, window_ev=main)
        norm = resolve_norm_settings(first_scan.energy_ev, first_scan.mu, e0, given)
    else:
        norm = NormSettings(**given)
    ex = cfg.exafs
    return XanesSettings(
        element=cfg.element, edge=cfg.edge, edge_ev=edge_ev, norm=norm, reference=cfg.calibration.reference,
        align_window_ev=tuple(cfg.calibration.window_ev), deglitch=cfg.deglitch, deglitch_threshold=cfg.deglitch_threshold,
        merge_reject=cfg.merge_reject, pre_edge_window_ev=tuple(ec.pre_edge_window_ev),
        main_edge_window_ev=tuple(ec.main_edge_window_ev), edge_method=ec.method, edge_fraction=ec.fraction,
        smooth_ev=ec.smooth_ev, e0_ev=ec.fixed_e0_ev,
        exafs=None if ex is None else ExafsSettings(rbkg_a=ex.rbkg_a, kweight=ex.kweight, kmin=ex.kmin, kmax=ex.kmax,
                                                     dk=ex.dk, window=ex.window))


def read_state(files: list[str]):
    scans = []
    for f in files:
        if not os.path.isfile(f):
            raise XasReadError(f"{f}: file not found")
        got = read_scan(f)
        if not got:
            raise XasReadError(f"{f}: no spectrum in the file")
        scans.extend(got)
    return scans


# ----------------------------------------------------------------------------- worker


_SCALARS = ("e0_ev", "edge_step", "noise", "edge_energy_ev", "edge_energy_err_ev", "pre_edge_centroid_ev",
            "pre_edge_centroid_err_ev", "pre_edge_area", "pre_edge_area_err", "pre_edge_height")
_ARRAYS = ("energy_ev", "mu", "norm", "flat", "k", "chi", "r_a", "chir_mag")


class XasWorker:
    """Processes spectra (picklable; one per worker process)."""

    def __init__(self, states: list[State], settings: dict[str, XanesSettings]) -> None:
        self.states = states
        self.settings = settings

    def warm_up(self) -> None:
        """Import Larch once in the parent, so worker processes start with it loaded."""
        import larch.io  # noqa: F401
        import larch.xafs  # noqa: F401

    def setup(self) -> None:
        pass

    def process(self, indices: list[int]) -> dict:
        arrays, meta, failures = {}, [], []
        for index in indices:
            st = self.states[index]
            series = st.key.split("/")[0]
            try:
                scans = read_state(st.files)
                res = process_spectrum(scans, self.settings[series], label=st.label)
            except (XasReadError, XasEdgeError, ValueError) as exc:
                failures.append((index, f"{st.key}: {exc}"))
                continue
            except Exception as exc:  # a library error on one spectrum must not stop the batch
                failures.append((index, f"{st.key}: {type(exc).__name__}: {exc}"))
                continue
            for name in _ARRAYS:
                v = getattr(res, name)
                if v is not None:
                    arrays[f"{index}__{name}"] = np.asarray(v, dtype=float)
            m = {"index": index, **{k: float(getattr(res, k)) for k in _SCALARS}}
            m.update(label=res.label, sources=res.sources, merged_used=res.merged_used, glitches_ev=res.glitches,
                     flags=res.flags, time_s=res.time_s, voltage_v=res.voltage_v,
                     calibrations=[None if c is None else asdict(c) for c in res.calibrations])
            meta.append(m)
        return {"arrays": arrays, "meta": meta, "failures": failures}


def result_from_checkpoint(m: dict, arrays) -> SpectrumResult:
    i = m["index"]
    get = {name: (np.asarray(arrays[f"{i}__{name}"]) if f"{i}__{name}" in arrays else None) for name in _ARRAYS}
    cals = [None if c is None else Calibration(**{**c, "window_ev": tuple(c["window_ev"])}) for c in m["calibrations"]]
    return SpectrumResult(label=m["label"], sources=m["sources"], calibrations=cals, merged_used=m["merged_used"],
                          glitches=m["glitches_ev"], flags=m["flags"], time_s=m["time_s"], voltage_v=m.get("voltage_v"),
                          **{k: m[k] for k in _SCALARS}, **get)


# ----------------------------------------------------------------------------- stage


@dataclass
class SeriesOutcome:
    cfg: XasSeriesConfig
    settings: XanesSettings
    states: list[State]
    results: dict[str, SpectrumResult]
    valence: object | None = None
    shells: object | None = None
    shell_labels: list[str] | None = None
    messages: list[str] | None = None


class XasStage(Stage):
    """Per-spectrum stage over every XAS series of the recipe."""

    name = "xas"
    label = "spectra"

    @classmethod
    def from_recipe(cls, recipe, base_dir: Path, built: dict[str, Stage]) -> XasStage | None:
        return cls(recipe.xas, base_dir) if recipe.xas else None

    def __init__(self, series: list[XasSeriesConfig], base_dir: Path) -> None:
        self.series = series
        self.base_dir = base_dir
        self.states: list[State] = []
        for cfg in series:
            self.states.extend(resolve_states(cfg, base_dir))
        self._settings: dict[str, XanesSettings] | None = None
        self.outcomes: list[SeriesOutcome] = []

    def settings(self) -> dict[str, XanesSettings]:
        if self._settings is None:
            out = {}
            for cfg in self.series:
                first = None
                if any(v is None for v in asdict(cfg.normalisation).values()):
                    spectra = [s for s in self.states if s.key.startswith(cfg.name + "/") and not s.is_standard]
                    first = read_state(spectra[0].files)[0]
                out[cfg.name] = series_settings(cfg, first)
            self._settings = out
        return self._settings

    def keys(self) -> list[str]:
        return [s.key for s in self.states]

    def fingerprint(self):
        return self.series, sorted({f for s in self.states for f in s.files})

    def worker(self):
        return XasWorker(self.states, self.settings())

    def plan_lines(self) -> list[str]:
        lines = []
        for cfg in self.series:
            n_std = len(cfg.standards)
            n = sum(1 for s in self.states if s.key.startswith(cfg.name + "/") and not s.is_standard)
            lines.append(f"{cfg.name}: {cfg.element} {cfg.edge} edge, {n} spectra, {n_std} standards, "
                         f"edge by {cfg.edge_position.method}, valence by {cfg.valence.method}"
                         + (", EXAFS" + (" with shell fit" if cfg.exafs.fit else "") if cfg.exafs else ""))
        return lines

    def write(self, entry, checkpoints):

        done: dict[str, SpectrumResult] = {}
        failures: dict[str, str] = {}
        for info, arrays in checkpoints.iter_chunks():
            for key, m in zip(info["ok_keys"], info["meta"]):
                done[key] = result_from_checkpoint(m, arrays)
                failures.pop(key, None)
            for key, reason in info["failures"]:
                if key not in done:
                    failures[key] = reason
        settings = self.settings()
        inputs: list[tuple[str, str | None]] = []
        xas_root = nx_group(entry, "xas", "NXsubentry")
        for cfg in self.series:
            states = [s for s in self.states if s.key.startswith(cfg.name + "/")]
            outcome = SeriesOutcome(cfg, settings[cfg.name], states, {s.key: done[s.key] for s in states if s.key in done}, messages=[])
            self._analyse(outcome)
            for m in outcome.messages:
                log.warning("xas %s: %s", cfg.name, m)
            write_series(xas_root, outcome, failures)
            if cfg.exafs is not None and any(r.k is not None for r in outcome.results.values()):
                write_exafs(nx_group(entry, "exafs", "NXsubentry"), outcome)
            self.outcomes.append(outcome)
            for s in states:
                inputs.extend((f, None) for f in s.files)
            if cfg.exafs is not None and cfg.exafs.fit is not None:
                inputs.append((str(cfg.exafs.fit.feff), None))
        return StageSummary(len(done), sorted(failures.items()), inputs)

    def after(self, results_path: Path, outdir: Path) -> list[Path]:
        return write_outputs(self.outcomes, outdir)

    def _analyse(self, o: SeriesOutcome) -> None:
        cfg = o.cfg
        spectra = [s for s in o.states if not s.is_standard and s.key in o.results]
        stds = [(o.results[s.key], s.valence) for s in o.states if s.is_standard and s.key in o.results]
        if not spectra:
            o.messages.append("no spectrum of the series could be processed")
            return
        if cfg.standards:
            v = cfg.valence
            o.valence = series_valence(
                [o.results[s.key] for s in spectra], stds, method=v.method, feature=v.feature, model=v.model,
                calibration_standards=v.standards, lcf_references=v.lcf_references,
                lcf_window_ev=tuple(v.lcf_window_ev), edge_ev=o.settings.edge_ev, run_pca=v.pca, report=v.report)
            o.messages.extend(o.valence.messages)
        if cfg.exafs is not None and cfg.exafs.fit is not None:
            try:
                o.shells, o.shell_labels = fit_series_shells(o, spectra)
            except Exception as exc:  # FEFF or fit failure: report, keep the XANES results
                o.messages.append(f"EXAFS shell fit failed: {exc}")


def feff_cache_dir() -> Path:
    root = os.environ.get("XPIPE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "xpipe")
    return Path(root) / "feff"


def fit_series_shells(o: SeriesOutcome, spectra: list[State]):
    f = o.cfg.exafs.fit
    ex = o.cfg.exafs
    chosen = [s for s in spectra if f.spectra is None or s.label in f.spectra]
    chis = [Chi(k=o.results[s.key].k, chi=o.results[s.key].chi, e0_ev=o.results[s.key].e0_ev, settings={}, label=s.label)
            for s in chosen if o.results[s.key].k is not None]
    if not chis:
        raise ValueError("no spectrum with chi(k) to fit")
    feff = run_feff(str(f.feff), absorber=f.absorber or o.cfg.element, cache_dir=feff_cache_dir(),
                    rmax_a=max(f.rmax_a + 1.0, 4.0), version=f.feff_version)
    paths = select_paths(feff, indices=f.paths) if f.paths else select_paths(feff, rmax_a=f.rmax_a, max_legs=2)
    if not paths:
        raise ValueError(f"no FEFF path selected (paths {f.paths}, rmax {f.rmax_a} A)")
    fit = fit_shells(chis, paths, kmin=ex.kmin, kmax=ex.kmax, dk=ex.dk, window=ex.window, kweight=ex.kweight,
                     rmin_a=f.rmin_a, rmax_a=f.rmax_a, shared=tuple(f.shared),
                     fixed={"s02": f.fixed_s02} if f.fixed_s02 is not None else None,
                     degeneracy_fixed=not f.refine_n)
    return fit, [c.label for c in chis]


# ----------------------------------------------------------------------------- results






def write_series(root, o: SeriesOutcome, failures: dict[str, str]) -> None:
    """``/entry/xas/<series>``: spectra on a common grid, edges, pre-edge, valence, settings."""
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
        set_attrs(sg, signal="norm", axes=[".", "energy_ev"])
        sg.create_dataset("energy_ev", data=grid).attrs["units"] = "eV"
        sg.create_dataset("norm", data=norm, compression="gzip").attrs["long_name"] = "normalised mu [spectrum, energy]"
        write_strings(sg, "label", [r.label for r in res])
        write_strings(sg, "source", [";".join(r.sources) for r in res])
        for k in ("edge_energy_ev", "edge_energy_err_ev", "e0_ev", "edge_step", "noise", "pre_edge_centroid_ev",
                  "pre_edge_centroid_err_ev", "pre_edge_area", "pre_edge_area_err", "pre_edge_height"):
            d = sg.create_dataset(k, data=np.array([getattr(r, k) for r in res]))
            if k.endswith("_ev"):
                d.attrs["units"] = "eV"
        sg.create_dataset("calibration_shift_ev", data=np.array([r.shift_ev for r in res])).attrs["units"] = "eV"
        sg.create_dataset("calibrated", data=np.array([any(c is not None for c in r.calibrations) for r in res]))
        sg.create_dataset("time_s", data=np.array([float_or_nan(state_time(st, o.results[st.key])) for st in sts])).attrs["units"] = "s"
        sg.create_dataset("voltage_v", data=np.array([float_or_nan(state_voltage(st, o.results[st.key])) for st in sts])).attrs["units"] = "V"
        write_strings(sg, "flags", ["; ".join(r.flags) for r in res])
        if group_name == "standards":
            sg.create_dataset("declared_valence", data=np.array([st.valence for st in sts]))
    v = o.valence
    if v is not None and spectra:
        sg = g["spectra"]
        sg.create_dataset("valence", data=v.valence)
        sg.create_dataset("valence_err", data=v.valence_err)
        set_attrs(sg["valence"], method=v.method)
        if v.calibration is not None:
            sg.create_dataset("calibration_valence", data=v.calibration_valence)
            sg.create_dataset("calibration_valence_err", data=v.calibration_valence_err)
            sg.create_dataset("calibration_extrapolated", data=v.extrapolated)
            write_record(nx_group(g, "calibration", "NXcollection"), v.calibration.describe())
        if v.lcf is not None:
            lg = nx_group(g, "lcf", "NXcollection")
            names = next((f.names for f in v.lcf if f is not None), [])
            write_strings(lg, "components", names)
            nan = np.full(len(names), np.nan)
            lg.create_dataset("weights", data=np.stack([f.weights if f else nan for f in v.lcf]))
            lg.create_dataset("weights_err", data=np.stack([f.weights_err if f else nan for f in v.lcf]))
            lg.create_dataset("valence", data=np.array([f.valence if f else np.nan for f in v.lcf]))
            lg.create_dataset("valence_err", data=np.array([f.valence_err if f else np.nan for f in v.lcf]))
            lg.create_dataset("r_factor", data=np.array([f.r_factor if f else np.nan for f in v.lcf]))
            lg.create_dataset("reduced_chi_square", data=np.array([f.reduced_chi_square if f else np.nan for f in v.lcf]))
            lg.create_dataset("window_ev", data=np.array(next((f.window_ev for f in v.lcf if f), (np.nan, np.nan))))
        if v.pca is not None:
            pg = nx_group(g, "pca", "NXcollection")
            pg.create_dataset("eigenvalues", data=v.pca.eigenvalues)
            pg.create_dataset("explained_variance", data=v.pca.explained_variance)
            pg.create_dataset("ind", data=v.pca.ind).attrs["long_name"] = "Malinowski indicator function, n = 1, 2, ..."
            pg.create_dataset("n_components", data=v.pca.n_components)
            pg.create_dataset("window_ev", data=np.array(v.pca.window_ev))
    st_g = nx_group(g, "settings", "NXcollection")
    write_record(st_g, _jsonable(s.as_dict()))
    st_g.create_dataset("settings_json", data=json.dumps(_jsonable(s.as_dict())))
    mine = {k: r for k, r in failures.items() if k.startswith(cfg.name + "/")}
    fg = nx_group(g, "failed", "NXcollection")
    write_strings(fg, "key", list(mine))
    write_strings(fg, "reason", list(mine.values()))
    write_strings(g, "messages", list(o.messages or []))


def _jsonable(d):
    if isinstance(d, dict):
        return {k: _jsonable(v) for k, v in d.items() if v is not None}
    if isinstance(d, tuple):
        return list(d)
    return d


def write_exafs(root, o: SeriesOutcome) -> None:
    """``/entry/exafs/<series>``: chi(k), |chi(R)| of every spectrum, and the shell fit."""
    g = nx_group(root, o.cfg.name, "NXcollection")
    spectra = [st for st in o.states if st.key in o.results and not st.is_standard and o.results[st.key].k is not None]
    res = [o.results[st.key] for st in spectra]
    if res:
        k = res[0].k
        g.create_dataset("k", data=k).attrs["units"] = "1/angstrom"
        g.create_dataset("chi", data=np.stack([np.interp(k, r.k, r.chi) for r in res]))
        g.create_dataset("r", data=res[0].r_a).attrs["units"] = "angstrom"
        g.create_dataset("chir_mag", data=np.stack([np.interp(res[0].r_a, r.r_a, r.chir_mag) for r in res]))
        write_strings(g, "label", [r.label for r in res])
    fit = o.shells
    if fit is None:
        return
    fg = nx_group(g, "fit", "NXcollection")
    rows = shell_rows(o)
    for col in ("spectrum", "path", "label"):
        write_strings(fg, col, [str(r[col]) for r in rows])
    for col in ("reff_a", "r_a", "r_err_a", "n", "n_err", "sigma2_a2", "sigma2_err_a2", "de0_ev", "de0_err_ev", "s02", "s02_err"):
        fg.create_dataset(col, data=np.array([float_or_nan(r[col]) for r in rows]))
    for col in ("r_factor", "chi_square", "reduced_chi_square", "n_independent", "n_variables"):
        fg.create_dataset(col, data=float(getattr(fit, col)))
    curves = fit.curves
    for i, c in enumerate(curves):
        cg = nx_group(fg, f"curve_{i}", "NXcollection")
        for name, val in (c.items() if isinstance(c, dict) else vars(c).items()):
            if isinstance(val, np.ndarray):
                cg.create_dataset(name, data=val)
            elif isinstance(val, str):
                cg.create_dataset(name, data=val)
    fg.create_dataset("settings_json", data=json.dumps(_jsonable(fit.settings), default=str))


def shell_rows(o: SeriesOutcome) -> list[dict]:
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


# ----------------------------------------------------------------------------- tables


def write_tables(o: SeriesOutcome, outdir: Path) -> list[Path]:
    """``xas_<series>.csv`` (one row per spectrum and standard) and ``exafs_<series>.csv``."""
    outdir.mkdir(parents=True, exist_ok=True)
    files = []
    path = outdir / f"xas_{o.cfg.name}.csv"
    spectra = [st for st in o.states if st.key in o.results and not st.is_standard]
    v = o.valence
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "kind", "declared_valence", "voltage_v", "time_s", "calibration_shift_ev", "e0_ev", "edge_step",
                    "edge_energy_ev", "edge_energy_err_ev", "pre_edge_centroid_ev", "pre_edge_centroid_err_ev",
                    "pre_edge_area", "pre_edge_area_err", "valence", "valence_err", "lcf_valence", "lcf_valence_err",
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
        rows = shell_rows(o)
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            cols = list(rows[0].keys()) if rows else []
            w.writerow(cols + ["r_factor"])
            for r in rows:
                w.writerow([csv_value(r[c]) for c in cols] + [csv_value(float(o.shells.r_factor))])
        files.append(path)
    return files


#: largest series for which ``athena: auto`` writes the Athena project
ATHENA_AUTO_MAX = 200


def write_athena_project(o: SeriesOutcome, path: Path) -> Path | None:
    """The processed spectra and standards as an Athena project (calibrated energies, the
    series' normalisation parameters), for Athena or Larix."""
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
    return write_athena(path, items)


def write_outputs(outcomes: list[SeriesOutcome], outdir: Path) -> list[Path]:
    """Tables, figures and Athena projects of every series, beside results.h5."""
    files: list[Path] = []
    for o in outcomes:
        if not o.results:
            continue
        files.extend(write_tables(o, outdir))
        figs = outdir / "figures"
        files.append(plot_xanes(o, figs / f"xanes_{o.cfg.name}.png"))
        for f in (plot_valence(o, figs / f"valence_{o.cfg.name}.png"),
                  plot_exafs(o, figs / f"exafs_{o.cfg.name}.png") if o.cfg.exafs is not None else None):
            if f is not None:
                files.append(f)
        n_groups = len(o.results)
        if o.cfg.athena == "always" or (o.cfg.athena == "auto" and n_groups <= ATHENA_AUTO_MAX):
            try:
                p = write_athena_project(o, outdir / f"xas_{o.cfg.name}.prj")
                if p is not None:
                    files.append(p)
            except Exception as exc:  # the project file is a convenience; never lose the run for it
                log.warning("xas %s: Athena project not written: %s", o.cfg.name, exc)
    return files

