"""Stage: XPS series, from VAMAS/SPECS/text files to charge-corrected, deconvoluted components.

A series is one region (e.g. V 2p + O 1s under one background) measured on several samples or
states. Each file is charge-corrected with a reference line fitted in the data (another block of
the same file, e.g. adventitious C 1s at 284.8 eV; the shift is applied to every region of that
sample), then the region is fitted with the component library of the recipe: lineshapes,
spin-orbit doublets, links written as a scientist says them, bounds, the background. With
``shared`` keys the spectra are fitted jointly. Whole-series stage: it works in ``write``.
Writes ``/entry/xps/<series>``, ``xps_<series>.csv`` and ``figures/xps_<series>*.png``.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.frames import expand_inputs
from ..nexus import nx_data, nx_names, set_units, write_instrument
from ..outfiles import atomic_open, safe_target
from ..recipe.sections.xps import SHAPE_PARAMS, ComponentConfig, XpsSeriesConfig, pick_block
from ..store import nx_group, set_attrs, write_strings
from .base import Stage, StageSummary
from .output import csv_value, float_or_nan
from .xps_figures import plot_series_fits, plot_xps_valence, valence_fractions

log = logging.getLogger("xpipe")



# ----------------------------------------------------------------------------- component library




# ----------------------------------------------------------------------------- recipe


# ----------------------------------------------------------------------------- work


@dataclass
class Sample:
    """One XPS file, read, charge-corrected and cut to the block to fit.

    Parameters
    ----------
    path, label : str
        The file, and its name without suffix (the sample's label).
    voltage_v : float or None
        The cell voltage in V: the recipe's ``voltages_v``, else the file's header, else None.
    x, y : numpy.ndarray or None
        Charge-corrected binding energy (eV) and counts of the fitted region.
    charge_shift_ev, charge_shift_err_ev : float
        The charge correction added to the binding energies and its uncertainty (eV).
    charge_measured_ev : float or None
        Where the reference line was found before the correction (eV), when fitted.
    meta : dict
        Photon and pass energy (eV), source, block and region of the file.
    flags : list of str
        What the reading noticed (a reference that could not be fitted).
    charge_corrected : bool
        Whether a charge correction was applied (a fixed shift or a fitted reference).

    Examples
    --------
    >>> s = Sample("data/nvp_xps_0.vms", "nvp_xps_0", 3.162)
    >>> s.label, s.voltage_v, s.charge_shift_ev, s.x, s.flags, s.charge_corrected
    ('nvp_xps_0', 3.162, 0.0, None, [], False)
    """

    path: str
    label: str
    voltage_v: float | None
    x: np.ndarray | None = None  # charge-corrected binding energy of the fitted block
    y: np.ndarray | None = None
    charge_shift_ev: float = 0.0
    charge_shift_err_ev: float = 0.0
    charge_measured_ev: float | None = None
    meta: dict = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    charge_corrected: bool = False


def _prepare_sample(cfg: XpsSeriesConfig, path: str, voltage: float | None) -> Sample:
    """Read a file, charge-correct it, and cut the block to fit. Raises ValueError (naming the file)."""
    from ..xps.charge import charge_shift  # imports lmfit (a second): only when a file is read
    from ..xps.readers import read_xps  # with the line above

    spectra = read_xps(path)
    target = pick_block(spectra, cfg.block, path)
    s = Sample(path=path, label=Path(path).stem, voltage_v=voltage)
    if s.voltage_v is None:
        v = target.metadata.get("experimental_variables", {}).get("Cell voltage")
        try:
            s.voltage_v = float(v) if v is not None else None
        except ValueError:
            pass
    s.meta = {"photon_energy_ev": target.photon_energy_ev, "pass_energy_ev": target.pass_energy_ev,
              "source_label": target.source_label, "block": target.label, "region": target.region}
    ch = cfg.charge
    if ch is not None:
        if ch.shift_ev is not None:
            s.charge_shift_ev = ch.shift_ev
            s.charge_corrected = True
        else:
            ref = target
            try:
                ref = pick_block(spectra, ch.block, path) if ch.block else target
                model, links = ch.model()
                cs = charge_shift(ref.binding_energy_ev, ref.intensity, reference=ch.reference,
                                  reference_ev=ch.energy_ev, window=tuple(ch.window_ev) if ch.window_ev else None,
                                  model=model, links=links)
                s.charge_shift_ev, s.charge_shift_err_ev, s.charge_measured_ev = cs.shift_ev, cs.shift_err_ev, cs.measured_ev
                s.charge_corrected = True
            except Exception as exc:  # a reference that cannot be fitted: the sample fails or is flagged
                if ch.required:
                    raise ValueError(f"{path}: charge reference {ch.reference!r} in block {ref.label!r} could not be fitted: {exc}") from None
                s.flags.append(f"not charge-corrected: {exc}")
    x = target.binding_energy_ev + s.charge_shift_ev
    lo, hi = cfg.region_ev
    m = (x >= lo) & (x <= hi)
    if m.sum() < 20:
        raise ValueError(f"{path}: block {target.label!r} covers {x[0]:.1f}-{x[-1]:.1f} eV after charge correction; "
                         f"expected the region {lo:g}-{hi:g} eV (at least 20 points)")
    if not np.all(np.isfinite(target.intensity[m])):
        raise ValueError(f"{path}: block {target.label!r} holds NaN or infinite counts in {lo:g}-{hi:g} eV")
    s.x, s.y = x[m], target.intensity[m]
    return s


@dataclass
class SeriesResult:
    """One XPS series once fitted: its samples, their fits and what failed.

    Parameters
    ----------
    cfg : xpipe.recipe.sections.xps.XpsSeriesConfig
        The series' recipe entry.
    samples : list of Sample
        The files read, in recipe order (those that could not be read are left out).
    fits : list
        The :class:`xpipe.xps.fit.XpsFit` of each sample, None where its fit failed.
    joint : object or None
        The joint fit when the series shares parameters (``shared``), else None.
    failures : list of (str, str)
        ``(<series>/<file>, reason)`` of every file that could not be read or fitted.
    settings : dict
        The settings used, as written to the results file.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> recipe = pathlib.Path(tempfile.mkdtemp()) / "one_electrode.yaml"
    >>> _ = recipe.write_text(  # one electrode of the bundled series, a fixed charge shift
    ...     f"name: one electrode\\noutput: out\\nxps:\\n- name: V2p_O1s\\n"
    ...     f"  files: {root}/example_data/nvp_xps/nvp_xps_0.vms\\n  block: V 2p\\n"
    ...     f"  region_ev: [510, 538]\\n  library: {root}/recipes/xps/v2p_o1s.yaml\\n"
    ...     "  charge: {shift_ev: -0.68}\\n")
    >>> loaded = xpipe.load_recipe(recipe)
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> res = fit_series_config(stage.series[0], loaded.base_dir)
    >>> [s.label for s in res.samples], res.failures, res.joint, res.settings["background"]
    (['nvp_xps_0'], [], None, 'shirley')
    """

    cfg: XpsSeriesConfig
    samples: list[Sample]
    fits: list  # XpsFit per sample (None where the fit failed)
    joint: object | None
    failures: list[tuple[str, str]]
    settings: dict


class XpsStage(Stage):
    """Whole-series stage: reads, charge-corrects and fits every XPS series in :meth:`write`.

    Writes ``/entry/xps/<series>``; after, the table ``xps_<series>.csv`` and the figures
    ``figures/xps_<series>.png`` and ``figures/xps_<series>_valence.png``.

    Parameters
    ----------
    series : list of xpipe.recipe.sections.xps.XpsSeriesConfig
        The recipe's ``xps`` section, one entry per series.
    base_dir : Path
        The recipe's folder.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> recipe = pathlib.Path(tempfile.mkdtemp()) / "one_electrode.yaml"
    >>> _ = recipe.write_text(  # one electrode of the bundled series, a fixed charge shift
    ...     f"name: one electrode\\noutput: out\\nxps:\\n- name: V2p_O1s\\n"
    ...     f"  files: {root}/example_data/nvp_xps/nvp_xps_0.vms\\n  block: V 2p\\n"
    ...     f"  region_ev: [510, 538]\\n  library: {root}/recipes/xps/v2p_o1s.yaml\\n"
    ...     "  charge: {shift_ev: -0.68}\\n")
    >>> loaded = xpipe.load_recipe(recipe)
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> stage.plan_lines()[0][:42]
    'V2p_O1s: 1 files, 510-538 eV, 6 components'
    >>> import h5py
    >>> with h5py.File(recipe.parent / "results.h5", "w") as h5:
    ...     summary = stage.write(h5.create_group("entry"), None)
    ...     valence = h5["entry/xps/V2p_O1s/mean_valence"][()]
    >>> summary.done, summary.failed, valence.round(2).tolist()
    (1, [], [3.11])
    """

    name = "xps"
    caches_state = True
    label = "series"

    @classmethod
    def from_recipe(cls, recipe, base_dir: Path, built: dict[str, Stage]) -> XpsStage | None:
        return cls(recipe.xps, base_dir) if recipe.xps else None

    def __init__(self, series: list[XpsSeriesConfig], base_dir: Path) -> None:
        self.series = series
        self.base_dir = base_dir
        self.results: list[SeriesResult] = []

    def keys(self) -> list[str]:
        return []

    def fingerprint(self):
        return self.series, sorted({p for c in self.series for p in c._paths})

    def cache_state(self):
        return self.results

    def restore_state(self, state) -> None:
        self.results = state

    def worker(self):
        return None

    def plan_lines(self) -> list[str]:
        out = []
        for c in self.series:
            n = len(expand_inputs(c.files, self.base_dir))
            ch = "no charge correction" if c.charge is None else (
                f"charge shift {c.charge.shift_ev} eV" if c.charge.shift_ev is not None else f"charge reference {c.charge.reference}")
            out.append(f"{c.name}: {n} files, {c.region_ev[0]:g}-{c.region_ev[1]:g} eV, {len(c.model_configs())} components, "
                       f"{c.background} background, {ch}" + (f", joint fit sharing {', '.join(c.shared)}" if c.shared else ""))
        return out

    def write(self, entry, checkpoints):

        root = nx_group(entry, "xps", "NXsubentry")
        failed: list[tuple[str, str]] = []
        inputs: list[tuple[str, str | None]] = []
        done = 0
        for cfg in self.series:
            res = fit_series_config(cfg, self.base_dir)
            self.results.append(res)
            _write_series(root, res)
            failed.extend(res.failures)
            done += sum(1 for f in res.fits if f is not None)
            inputs.extend((s.path, None) for s in res.samples)
            if cfg.library is not None:
                inputs.append((str(cfg.library), None))
            if cfg.charge is not None and cfg.charge.library is not None:
                inputs.append((str(cfg.charge.library), None))
        return StageSummary(done, failed, inputs)

    def after(self, results_path: Path, outdir: Path) -> list[Path]:
        files = []
        for res in self.results:
            if not any(f is not None for f in res.fits):
                continue
            files.append(_write_table(res, outdir))
            files.append(plot_series_fits(res, safe_target(outdir, f"figures/xps_{res.cfg.name}.png")))
            p = plot_xps_valence(res, safe_target(outdir, f"figures/xps_{res.cfg.name}_valence.png"))
            if p is not None:
                files.append(p)
        return files


def fit_series_config(cfg: XpsSeriesConfig, base_dir: Path) -> SeriesResult:
    """Read, charge-correct and fit every file of a series; failures are recorded, not raised.

    Each file is fitted alone, or all jointly when the series shares parameters (``shared``);
    a file that cannot be read, or whose fit fails, is recorded in ``failures``.

    Parameters
    ----------
    cfg : xpipe.recipe.sections.xps.XpsSeriesConfig
        The series' recipe entry.
    base_dir : Path
        The recipe's folder (the files' glob is relative to it).

    Returns
    -------
    SeriesResult
        Samples, fits (binding energies in eV) and failures of the series.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> recipe = pathlib.Path(tempfile.mkdtemp()) / "one_electrode.yaml"
    >>> _ = recipe.write_text(  # one electrode of the bundled series, a fixed charge shift
    ...     f"name: one electrode\\noutput: out\\nxps:\\n- name: V2p_O1s\\n"
    ...     f"  files: {root}/example_data/nvp_xps/nvp_xps_0.vms\\n  block: V 2p\\n"
    ...     f"  region_ev: [510, 538]\\n  library: {root}/recipes/xps/v2p_o1s.yaml\\n"
    ...     "  charge: {shift_ev: -0.68}\\n")
    >>> loaded = xpipe.load_recipe(recipe)
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> res = fit_series_config(stage.series[0], loaded.base_dir)
    >>> fit = res.fits[0]
    >>> round(fit.mean_valence, 2), round(res.samples[0].voltage_v, 3), res.failures
    (3.11, 3.162, [])
    """
    from ..xps.fit import fit_series, fit_spectrum  # imports lmfit (a second): only when fitting

    paths = [r.path for r in expand_inputs(cfg.files, base_dir)]
    samples, failures = [], []
    for i, p in enumerate(paths):
        try:
            samples.append(_prepare_sample(cfg, p, cfg.voltages_v[i] if cfg.voltages_v else None))
        except Exception as exc:  # one bad file must not stop the series
            failures.append((f"{cfg.name}/{Path(p).name}", str(exc) if Path(p).name in str(exc) else f"{p}: {exc}"))
    hv = next((s.meta.get("photon_energy_ev") for s in samples if s.meta.get("photon_energy_ev")), None)
    model = _model_entries(cfg, hv)
    links = cfg.all_links()
    source = None if cfg.source == "mono" else cfg.source
    opts = {"avg_points": cfg.avg_points}
    if cfg.background == "tougaard" and cfg.tougaard is not None:
        opts.update(cfg.tougaard.options())
    fits: list = [None] * len(samples)
    joint = None
    if samples and cfg.shared:
        try:
            joint = fit_series([(s.x, s.y) for s in samples], model, shared=cfg.shared, links=links, background=cfg.background,
                               monte_carlo=cfg.monte_carlo, source=source, background_options=opts)
            fits = list(joint)
        except Exception as exc:
            failures.extend((f"{cfg.name}/{Path(s.path).name}", f"{s.path}: joint fit failed: {exc}") for s in samples)
    else:
        for i, s in enumerate(samples):
            try:
                fits[i] = fit_spectrum(s.x, s.y, model, links=links, background=cfg.background, monte_carlo=cfg.monte_carlo,
                                       source=source, background_options=opts)
            except Exception as exc:
                failures.append((f"{cfg.name}/{Path(s.path).name}", f"{s.path}: fit failed: {exc}"))
    settings = {
        "region_ev": list(cfg.region_ev), "block": cfg.block, "background": cfg.background, "avg_points": cfg.avg_points,
        "source": cfg.source, "library": str(cfg.library) if cfg.library else None,
        **({"tougaard": cfg.tougaard.options()} if cfg.tougaard is not None else {}),
        **({"fix": list(cfg.fix)} if cfg.fix else {}), **({"free": list(cfg.free)} if cfg.free else {}),
        "components": [_component_settings(c) for c in cfg.model_configs()], "links": links, "shared": list(cfg.shared),
        "charge": None if cfg.charge is None else {k: getattr(cfg.charge, k) for k in ("block", "reference", "energy_ev", "window_ev", "shift_ev", "required", "library")},
        "monte_carlo": cfg.monte_carlo,
        "transmission_exponent": cfg.transmission_exponent,
        "transmission_photon_energy_ev": hv if cfg.transmission_exponent is not None else None,
    }
    return SeriesResult(cfg, samples, fits, joint, failures, settings)


def _model_entries(cfg: XpsSeriesConfig, photon_energy_ev: float | None) -> list:
    """The fit model; with a transmission exponent x, each line's sensitivity is multiplied by
    the analyser transmission T(KE) = (KE / 1000 eV)^-x at its kinetic energy KE = hv - BE
    (constant-pass-energy mode; x about 0.5-1 depending on the lens mode, from the instrument's
    calibration), so that fractions compare electrons emitted, not electrons counted."""
    entries = cfg.entries()
    x = cfg.transmission_exponent
    if x is None:
        return entries
    if not photon_energy_ev:
        raise ValueError("transmission_exponent needs the photon energy, which the files do not give")
    for e in entries:
        ke = photon_energy_ev - e.center
        if ke <= 0:
            raise ValueError(f"component {e.name!r} at {e.center} eV lies above the photon energy {photon_energy_ev} eV")
        e.sensitivity *= (ke / 1000.0) ** (-x)
    return entries


def _component_settings(c: ComponentConfig) -> dict:
    d = {k: getattr(c, k) for k in ("name", "kind", "orbital", "center", "fwhm", "shape", "splitting", "area_ratio", "fwhm_ratio",
                                     "vary_splitting", "vary_area_ratio", "valence", "sensitivity") if getattr(c, k) is not None}
    d["shape_params"] = {k: getattr(c, k) for k in SHAPE_PARAMS if getattr(c, k) is not None}
    d["center_bounds"] = list(c.center_bounds) if c.center_bounds else None
    d["fwhm_bounds"] = list(c.fwhm_bounds)
    d["fix"] = list(c.fix)
    if c.free:
        d["free"] = list(c.free)
    if c.link is not None:
        d["link"] = c.link.given()
    return d


# ----------------------------------------------------------------------------- valence fractions




# ----------------------------------------------------------------------------- results


def _write_series(root, res: SeriesResult) -> None:
    cfg = res.cfg
    g = nx_group(root, cfg.name, "NXcollection")
    ok = [(s, f) for s, f in zip(res.samples, res.fits) if f is not None]
    set_attrs(g, region_ev=list(cfg.region_ev), background=cfg.background)
    write_strings(g, "label", [s.label for s, _ in ok])
    write_strings(g, "source_file", [s.path for s, _ in ok])
    g.create_dataset("voltage_v", data=np.array([float_or_nan(s.voltage_v) for s, _ in ok])).attrs["units"] = "V"
    g.create_dataset("charge_shift_ev", data=np.array([s.charge_shift_ev for s, _ in ok])).attrs["units"] = "eV"
    g.create_dataset("charge_shift_err_ev", data=np.array([s.charge_shift_err_ev for s, _ in ok])).attrs["units"] = "eV"
    set_units(g.create_dataset("mean_valence", data=np.array([float_or_nan(f.mean_valence) for _, f in ok])), "1")
    set_units(g.create_dataset("mean_valence_err", data=np.array([float_or_nan(f.mean_valence_err) for _, f in ok])), "1")
    set_units(g.create_dataset("reduced_chi_square", data=np.array([f.reduced_chi_square for _, f in ok])), "1")
    write_strings(g, "diagnostics", ["; ".join(f"{d.kind}: {d.message}" for d in f.diagnostics) for _, f in ok])
    write_strings(g, "flags", ["; ".join(s.flags) for s, _ in ok])
    if ok:
        names = [c.name for c in ok[0][1].components]
        cg = nx_group(g, "components", "NXcollection")
        write_strings(cg, "name", names)
        units = {"center": "eV", "fwhm": "eV", "area": "counts*eV", "height": "counts", "fraction": "1"}
        for q in ("center", "center_err", "fwhm", "fwhm_err", "area", "area_err", "height", "fraction", "fraction_err"):
            d = cg.create_dataset(q, data=np.array([[getattr(c, q) for c in f.components] for _, f in ok]))
            set_units(d, units[q.removesuffix("_err")])
        cg["fwhm"].attrs["note"] = "true full width at half maximum of the fitted line"
        species = [s.name for s in ok[0][1].species]
        sg = nx_group(g, "species", "NXcollection")
        write_strings(sg, "name", species)
        set_units(sg.create_dataset("valence", data=np.array([float_or_nan(s.label_valence) for s in ok[0][1].species])), "1")
        for q in ("area", "area_err", "fraction", "fraction_err"):
            d = sg.create_dataset(q, data=np.array([[getattr(s, q) for s in f.species] for _, f in ok]))
            set_units(d, "counts*eV" if q.startswith("area") else "1")
        vf = [valence_fractions(f) for _, f in ok]
        vnames = list(vf[0]) if vf else []
        if vnames:
            set_units(sg.create_dataset("valence_fraction", data=np.array([[v[n][0] for n in vnames] for v in vf])), "1")
            set_units(sg.create_dataset("valence_fraction_err", data=np.array([[v[n][1] for n in vnames] for v in vf])), "1")
            write_strings(sg, "valence_fraction_species", vnames)
        for i, (s, f) in enumerate(ok):
            sp = nx_data(g, f"spectrum_{i}", "intensity", ["binding_energy_ev"], label=s.label)
            sp.create_dataset("binding_energy_ev", data=f.x).attrs["units"] = "eV"
            set_units(sp.create_dataset("intensity", data=f.y), "counts")
            set_units(sp.create_dataset("sigma", data=f.sigma), "counts", "standard uncertainty of intensity")
            sp["intensity_errors"] = sp["sigma"]  # NeXus convention: <signal>_errors (a link, no copy)
            set_units(sp.create_dataset("background", data=f.background), "counts")
            set_units(sp.create_dataset("model", data=f.model), "counts")
            lines = nx_group(sp, "lines", "NXcollection")
            for label, name in nx_names(f.curves).items():
                set_units(lines.create_dataset(name, data=f.curves[label]), "counts", label)
            sp.create_dataset("parameters_json", data=json.dumps(f.parameters, default=float))
    fg = nx_group(g, "failed", "NXcollection")
    write_strings(fg, "key", [k for k, _ in res.failures])
    write_strings(fg, "reason", [r for _, r in res.failures])
    meta = ok[0][0].meta if ok else {}
    st = dict(res.settings)
    st["instrument"] = {k: meta.get(k) for k in ("photon_energy_ev", "pass_energy_ev", "source_label")}
    write_instrument(root.parent, "xps", photon_energy_ev=meta.get("photon_energy_ev"), source_name=meta.get("source_label"))
    g.create_dataset("settings_json", data=json.dumps(st, default=str))


def _write_table(res: SeriesResult, outdir: Path) -> Path:
    """``xps_<series>.csv``: one row per sample and fitted line, plus a row per sample summary."""
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / f"xps_{res.cfg.name}.csv"
    with atomic_open(path, "w", newline="", outdir=outdir) as fh:
        w = csv.writer(fh)
        w.writerow(["sample", "voltage_v", "charge_shift_ev", "charge_shift_err_ev", "line", "species", "valence", "center_ev",
                    "center_err_ev", "fwhm_ev", "fwhm_err_ev", "area_counts_ev", "area_err_counts_ev", "fraction", "fraction_err",
                    "mean_valence", "mean_valence_err", "reduced_chi_square", "diagnostics"])
        for s, f in zip(res.samples, res.fits):
            if f is None:
                continue
            diag = "; ".join(d.kind for d in f.diagnostics)
            for c in f.components:
                w.writerow([s.label, csv_value(s.voltage_v), csv_value(s.charge_shift_ev), csv_value(s.charge_shift_err_ev), c.name, c.doublet or c.name,
                            csv_value(c.label_valence), csv_value(c.center), csv_value(c.center_err), csv_value(c.fwhm), csv_value(c.fwhm_err),
                            csv_value(c.area), csv_value(c.area_err), csv_value(c.fraction), csv_value(c.fraction_err),
                            csv_value(f.mean_valence), csv_value(f.mean_valence_err), csv_value(f.reduced_chi_square), diag])
    return path
