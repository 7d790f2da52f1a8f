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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..io.frames import expand_inputs
from ..recipe.schema import Context, InputFile, RecipeInvalid, load_document, setting
from ..store import nx_group, set_attrs, write_strings
from .base import Stage, StageSummary
from .output import csv_value, float_or_nan

log = logging.getLogger("xpipe")

Shape = Literal["gl", "sgl", "pseudo_voigt", "voigt", "ds", "la"]
SHAPE_PARAMS = ("m", "eta", "lorentz_fwhm", "alpha", "beta", "gauss_fwhm")


# ----------------------------------------------------------------------------- component library


@dataclass(kw_only=True)
class ComponentConfig:
    """One component or spin-orbit doublet of a library."""

    name: str = setting(doc="Name used in links, results and figures (e.g. 'V5+ 2p', 'O lattice').")
    kind: Literal["component", "doublet"] = setting("component", doc="A single peak, or a spin-orbit doublet (two lines linked).")
    orbital: Literal["p", "d", "f"] | None = setting(None, doc="Doublet orbital: area ratio 1:2 (p), 2:3 (d), 3:4 (f) by degeneracy.")
    center: float = setting(doc="Binding energy (of the j = l + 1/2 line for a doublet).", unit="eV")
    fwhm: float = setting(1.2, doc="Width parameter of the lineshape.", unit="eV", minimum=0.05)
    shape: Shape = setting("gl", doc="Lineshape: CasaXPS GL(m) product or SGL(m) sum, pseudo_voigt, voigt, ds (Doniach-Sunjic x Gaussian), la (asymmetric Lorentzian x Gaussian).")
    m: float | None = setting(None, doc="Lorentzian percentage of GL/SGL (0-100).", minimum=0, maximum=100)
    eta: float | None = setting(None, doc="Lorentzian fraction of pseudo_voigt.", minimum=0, maximum=1)
    lorentz_fwhm: float | None = setting(None, doc="Lorentzian FWHM of voigt and ds.", unit="eV", minimum=0)
    alpha: float | None = setting(None, doc="Asymmetry of ds (0-0.5) or high-BE exponent of la.", minimum=0)
    beta: float | None = setting(None, doc="Low-BE exponent of la.", minimum=0.55)
    gauss_fwhm: float | None = setting(None, doc="Gaussian broadening of la.", unit="eV", minimum=0)
    splitting: float | None = setting(None, doc="Doublet spin-orbit splitting, minor minus major line (default: tabulated for the element and level).", unit="eV", minimum=0)
    area_ratio: float | None = setting(None, doc="Doublet area ratio minor/major (default: degeneracy).", minimum=0, maximum=2)
    fwhm_ratio: float = setting(1.0, doc="Doublet FWHM of the minor line / major (Coster-Kronig broadening).", minimum=0.3, maximum=4)
    vary_splitting: bool = setting(False, doc="Refine the splitting (within max(0.3 eV, 10 %)).")
    vary_area_ratio: bool = setting(False, doc="Refine the area ratio (within 0.5-1.5 x its default).")
    center_bounds: tuple[float, float] | None = setting(None, doc="Allowed centre range (default: centre +- 1.5 eV).", unit="eV", length=2, increasing=True)
    fwhm_bounds: tuple[float, float] = setting((0.3, 4.0), doc="Allowed width range.", unit="eV", length=2, increasing=True)
    fix: list[str] = setting(default_factory=list, doc="Quantities held at their value: center, fwhm, area, m, ...")
    valence: float | None = setting(None, doc="Oxidation state this component stands for (mean valence, valence fractions).")
    sensitivity: float = setting(1.0, doc="Relative sensitivity factor dividing the area (atomic fractions).", minimum=0, exclusive_minimum=True)

    def check(self, ctx: Context):
        if self.kind == "doublet" and self.orbital is None:
            yield "orbital", f"doublet {self.name!r} needs orbital: p, d or f"
        if self.kind == "component" and (self.orbital or self.splitting or self.area_ratio):
            yield "kind", f"{self.name!r} sets doublet keys (orbital, splitting, area_ratio); give kind: doublet"

    def entry(self):
        from ..xps.fit import Component, Doublet

        params = {k: getattr(self, k) for k in SHAPE_PARAMS if getattr(self, k) is not None}
        common = dict(name=self.name, center=self.center, shape=self.shape, fwhm=self.fwhm, shape_params=params,
                      center_bounds=tuple(self.center_bounds) if self.center_bounds else None,
                      fwhm_bounds=tuple(self.fwhm_bounds), vary={k: False for k in self.fix},
                      label_valence=self.valence, sensitivity=self.sensitivity)
        if self.kind == "doublet":
            return Doublet(orbital=self.orbital, splitting=self.splitting, area_ratio=self.area_ratio,
                           fwhm_ratio=self.fwhm_ratio, vary_splitting=self.vary_splitting,
                           vary_area_ratio=self.vary_area_ratio, **common)
        return Component(**common)


@dataclass(kw_only=True)
class LibraryConfig:
    """A component library file: components and the links between them."""

    description: str | None = setting(None, doc="What the library models and where its values come from.")
    components: list[ComponentConfig] = setting(doc="Components and doublets.")
    links: list[str] = setting(default_factory=list, doc="Constraints, e.g. 'fwhm(V4+ 2p) = fwhm(V5+ 2p)', 'center(B) = center(A) + 1.5', 'area(S) = 0.2 * area(A)'.")


def load_library(path: Path) -> LibraryConfig:
    """Read and validate a component library; :class:`RecipeInvalid` names the file, key and line."""
    return load_document(LibraryConfig, path, "component library")[0]


# ----------------------------------------------------------------------------- recipe


@dataclass(kw_only=True)
class ChargeConfig:
    """Charge correction from a reference line fitted in the data of each sample."""

    block: str | None = setting("C 1s", doc="Block (region label) of the same file holding the reference line; null: the fitted region itself.")
    reference: str = setting("C 1s C-C", doc="Reference line: 'C 1s C-C' (284.8 eV), 'O 1s lattice' (530.0 eV), 'Au 4f7/2' (83.96 eV), or a name with energy_ev.")
    energy_ev: float | None = setting(None, doc="Reference binding energy (default: the tabulated value of the reference).", unit="eV")
    window_ev: tuple[float, float] | None = setting(None, doc="Fit window of the reference line (default: around the reference).", unit="eV", length=2, increasing=True)
    shift_ev: float | None = setting(None, doc="A fixed shift for every sample instead of fitting a reference.", unit="eV")
    required: bool = setting(True, doc="A sample whose reference cannot be fitted fails (false: it is fitted uncorrected and flagged).")
    library: InputFile | None = setting(None, doc="Component library YAML of the reference region (e.g. xps/c1s.yaml with carbon black and binder lines) instead of the default model; the reference line is the component named like the end of 'reference' (e.g. 'C-C'), else the first one.")

    def check(self, ctx: Context):
        if self.library is not None:
            try:
                self._library = load_library(Path(self.library))
            except RecipeInvalid as exc:
                yield "library", exc.report().replace("\n", "; ")

    def model(self):
        """(model entries, links) of the library, or (None, ()) for the default model."""
        if self.library is None:
            return None, ()
        lib = getattr(self, "_library", None) or load_library(Path(self.library))
        return [c.entry() for c in lib.components], list(lib.links)


@dataclass(kw_only=True)
class XpsSeriesConfig:
    """One XPS series: one region of several samples, fitted with one component library."""

    name: str = setting(doc="Series name, used under /entry/xps/<name> and in file names.")
    files: str | list[str] = setting(doc="Spectra files (VAMAS .vms/.npl, SPECS .xy, two-column text): a glob or a list, one sample each.")
    block: str | None = setting(None, doc="Block (region label) to fit, matched case-insensitively as a substring (default: the only block).")
    region_ev: tuple[float, float] = setting(doc="Fit range of binding energy (after charge correction).", unit="eV", length=2, increasing=True)
    library: InputFile | None = setting(None, doc="Component library YAML (see recipes/xps/), relative to the recipe.")
    components: list[ComponentConfig] | None = setting(None, doc="Components given inline instead of a library.")
    links: list[str] = setting(default_factory=list, doc="More constraints, added to the library's.")
    shared: list[str] = setting(default_factory=list, doc="Quantities with one value for the whole series (joint fit), e.g. 'fwhm(V5+ 2p)', 'splitting(V5+ 2p)'.")
    background: Literal["shirley", "active_shirley", "linear", "tougaard", "none"] = setting("shirley", doc="Background: iterative Shirley (endpoint averages), Shirley fitted with the peaks, linear, Tougaard (universal cross-section), none.")
    avg_points: int = setting(5, doc="Points averaged at each end of the region for the background endpoints.", minimum=1)
    source: Literal["mono", "Al", "Mg"] = setting("mono", doc="X-ray source: monochromatic, or non-monochromatic Al/Mg Ka whose satellites are removed first.")
    charge: ChargeConfig | None = setting(default_factory=ChargeConfig, doc="Charge correction (null: none).")
    monte_carlo: int = setting(0, doc="Monte-Carlo refits of noisy copies for uncertainties that respect correlations (0: covariance only).", minimum=0, maximum=2000)
    transmission_exponent: float | None = setting(None, doc="Analyser transmission T(KE) = (KE / 1000 eV)^-x: areas are divided by it (with the sensitivity factors) before fractions (null: no correction).", minimum=0, maximum=2)
    voltages_v: list[float] | None = setting(None, doc="Voltage of each sample, in file order (default: the file's 'Cell voltage' variable when present).", unit="V")

    def check(self, ctx: Context):
        if (self.library is None) == (self.components is None):
            yield "library", "give a component library file or inline components (one of them)"
            return
        try:
            self._paths = [r.path for r in expand_inputs(self.files, ctx.base_dir)]
        except (FileNotFoundError, ValueError) as exc:
            yield "files", str(exc)
            return
        if self.voltages_v is not None and len(self.voltages_v) != len(self._paths):
            yield "voltages_v", f"{len(self.voltages_v)} voltages for {len(self._paths)} files"
        if self.library is not None:
            try:
                self._library = load_library(Path(self.library))
            except RecipeInvalid as exc:
                yield "library", exc.report().replace("\n", "; ")
                return
        comps = self.model_configs()
        names = [c.name for c in comps]
        if len(set(names)) != len(names):
            yield "components", "component names must be unique"

    def model_configs(self) -> list[ComponentConfig]:
        if self.components is not None:
            return list(self.components)
        lib = getattr(self, "_library", None) or load_library(Path(self.library))
        return list(lib.components)

    def all_links(self) -> list[str]:
        lib_links = []
        if self.library is not None:
            lib = getattr(self, "_library", None) or load_library(Path(self.library))
            lib_links = list(lib.links)
        return lib_links + list(self.links)


# ----------------------------------------------------------------------------- work


@dataclass
class Sample:
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


def _pick(spectra, block: str | None, path: str):
    if block is None:
        if len(spectra) == 1:
            return spectra[0]
        labels = ", ".join(repr(s.label) for s in spectra)
        raise ValueError(f"{path}: {len(spectra)} blocks ({labels}); set 'block' to choose one")
    key = block.lower()
    hits = [s for s in spectra if key in s.label.lower() or key in (s.region or "").lower()]
    if not hits:
        labels = ", ".join(repr(s.label) for s in spectra)
        raise ValueError(f"{path}: no block matching {block!r}; the file holds {labels}")
    return hits[0]


def prepare_sample(cfg: XpsSeriesConfig, path: str, voltage: float | None) -> Sample:
    """Read a file, charge-correct it, and cut the block to fit. Raises ValueError (naming the file)."""
    from ..xps.charge import charge_shift
    from ..xps.readers import read_xps

    spectra = read_xps(path)
    target = _pick(spectra, cfg.block, path)
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
        else:
            ref = _pick(spectra, ch.block, path) if ch.block else target
            try:
                model, links = ch.model()
                cs = charge_shift(ref.binding_energy_ev, ref.intensity, reference=ch.reference,
                                  reference_ev=ch.energy_ev, window=tuple(ch.window_ev) if ch.window_ev else None,
                                  model=model, links=links)
                s.charge_shift_ev, s.charge_shift_err_ev, s.charge_measured_ev = cs.shift_ev, cs.shift_err_ev, cs.measured_ev
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
    cfg: XpsSeriesConfig
    samples: list[Sample]
    fits: list  # XpsFit per sample (None where the fit failed)
    joint: object | None
    failures: list[tuple[str, str]]
    settings: dict


class XpsStage(Stage):
    """Whole-series stage: reads, charge-corrects and fits every XPS series in :meth:`write`."""

    name = "xps"
    caches_state = True
    label = "series"

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
            write_series(root, res)
            failed.extend(res.failures)
            done += sum(1 for f in res.fits if f is not None)
            inputs.extend((s.path, None) for s in res.samples)
            if cfg.library is not None:
                inputs.append((str(cfg.library), None))
            if cfg.charge is not None and cfg.charge.library is not None:
                inputs.append((str(cfg.charge.library), None))
        return StageSummary(done, failed, inputs)

    def after(self, results_path: Path, outdir: Path) -> list[Path]:
        from .xps_figures import plot_series_fits, plot_xps_valence

        files = []
        for res in self.results:
            if not any(f is not None for f in res.fits):
                continue
            files.append(write_table(res, outdir))
            files.append(plot_series_fits(res, outdir / "figures" / f"xps_{res.cfg.name}.png"))
            p = plot_xps_valence(res, outdir / "figures" / f"xps_{res.cfg.name}_valence.png")
            if p is not None:
                files.append(p)
        return files


def fit_series_config(cfg: XpsSeriesConfig, base_dir: Path) -> SeriesResult:
    """Read, charge-correct and fit every file of a series; failures are recorded, not raised."""
    from ..xps.fit import fit_series, fit_spectrum

    paths = [r.path for r in expand_inputs(cfg.files, base_dir)]
    samples, failures = [], []
    for i, p in enumerate(paths):
        try:
            samples.append(prepare_sample(cfg, p, cfg.voltages_v[i] if cfg.voltages_v else None))
        except Exception as exc:  # one bad file must not stop the series
            failures.append((f"{cfg.name}/{Path(p).name}", str(exc) if Path(p).name in str(exc) else f"{p}: {exc}"))
    hv = next((s.meta.get("photon_energy_ev") for s in samples if s.meta.get("photon_energy_ev")), None)
    model = model_entries(cfg, hv)
    links = cfg.all_links()
    source = None if cfg.source == "mono" else cfg.source
    opts = {"avg_points": cfg.avg_points}
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
        "components": [_component_settings(c) for c in cfg.model_configs()], "links": links, "shared": list(cfg.shared),
        "charge": None if cfg.charge is None else {k: getattr(cfg.charge, k) for k in ("block", "reference", "energy_ev", "window_ev", "shift_ev", "required", "library")},
        "monte_carlo": cfg.monte_carlo,
        "transmission_exponent": cfg.transmission_exponent,
        "transmission_photon_energy_ev": hv if cfg.transmission_exponent is not None else None,
    }
    return SeriesResult(cfg, samples, fits, joint, failures, settings)


def model_entries(cfg: XpsSeriesConfig, photon_energy_ev: float | None) -> list:
    """The fit model; with a transmission exponent x, each line's sensitivity is multiplied by
    the analyser transmission T(KE) = (KE / 1000 eV)^-x at its kinetic energy KE = hv - BE
    (constant-pass-energy mode; x about 0.5-1 depending on the lens mode, from the instrument's
    calibration), so that fractions compare electrons emitted, not electrons counted."""
    entries = [c.entry() for c in cfg.model_configs()]
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
    return d


# ----------------------------------------------------------------------------- valence fractions


def valence_fractions(fit) -> dict[str, tuple[float, float]]:
    """Share of each valence-labelled species among them (area / sensitivity), with errors from
    the fit's species fractions (the common denominator cancels; errors propagated by the
    delta method with the fraction errors, which already hold the covariance)."""
    sp = [s for s in fit.species if s.label_valence is not None]
    total = sum(s.fraction for s in sp)
    if not sp or total <= 0:
        return {}
    out = {}
    for s in sp:
        f = s.fraction / total
        # d(f_i)/d(frac_j): (delta_ij - f_i) / total; fractions' errors treated as independent here
        var = sum(((1.0 if t is s else 0.0) - f) ** 2 * (t.fraction_err or 0.0) ** 2 for t in sp) / total**2
        out[s.name] = (f, math.sqrt(var))
    return out


# ----------------------------------------------------------------------------- results


def write_series(root, res: SeriesResult) -> None:
    cfg = res.cfg
    g = nx_group(root, cfg.name, "NXcollection")
    ok = [(s, f) for s, f in zip(res.samples, res.fits) if f is not None]
    set_attrs(g, region_ev=list(cfg.region_ev), background=cfg.background)
    write_strings(g, "label", [s.label for s, _ in ok])
    write_strings(g, "source_file", [s.path for s, _ in ok])
    g.create_dataset("voltage_v", data=np.array([float_or_nan(s.voltage_v) for s, _ in ok])).attrs["units"] = "V"
    g.create_dataset("charge_shift_ev", data=np.array([s.charge_shift_ev for s, _ in ok])).attrs["units"] = "eV"
    g.create_dataset("charge_shift_err_ev", data=np.array([s.charge_shift_err_ev for s, _ in ok])).attrs["units"] = "eV"
    g.create_dataset("mean_valence", data=np.array([float_or_nan(f.mean_valence) for _, f in ok]))
    g.create_dataset("mean_valence_err", data=np.array([float_or_nan(f.mean_valence_err) for _, f in ok]))
    g.create_dataset("reduced_chi_square", data=np.array([f.reduced_chi_square for _, f in ok]))
    write_strings(g, "diagnostics", ["; ".join(f"{d.kind}: {d.message}" for d in f.diagnostics) for _, f in ok])
    write_strings(g, "flags", ["; ".join(s.flags) for s, _ in ok])
    if ok:
        names = [c.name for c in ok[0][1].components]
        cg = nx_group(g, "components", "NXcollection")
        write_strings(cg, "name", names)
        for q in ("center", "center_err", "fwhm", "fwhm_err", "area", "area_err", "height", "fraction", "fraction_err"):
            d = cg.create_dataset(q, data=np.array([[getattr(c, q) for c in f.components] for _, f in ok]))
            if q.startswith(("center", "fwhm")):
                d.attrs["units"] = "eV"
        cg["fwhm"].attrs["note"] = "true full width at half maximum of the fitted line"
        species = [s.name for s in ok[0][1].species]
        sg = nx_group(g, "species", "NXcollection")
        write_strings(sg, "name", species)
        sg.create_dataset("valence", data=np.array([float_or_nan(s.label_valence) for s in ok[0][1].species]))
        for q in ("area", "area_err", "fraction", "fraction_err"):
            sg.create_dataset(q, data=np.array([[getattr(s, q) for s in f.species] for _, f in ok]))
        vf = [valence_fractions(f) for _, f in ok]
        vnames = list(vf[0]) if vf else []
        if vnames:
            sg.create_dataset("valence_fraction", data=np.array([[v[n][0] for n in vnames] for v in vf]))
            sg.create_dataset("valence_fraction_err", data=np.array([[v[n][1] for n in vnames] for v in vf]))
            write_strings(sg, "valence_fraction_species", vnames)
        for i, (s, f) in enumerate(ok):
            sp = nx_group(g, f"spectrum_{i}", "NXdata")
            set_attrs(sp, signal="intensity", axes=["binding_energy_ev"], label=s.label)
            sp.create_dataset("binding_energy_ev", data=f.x).attrs["units"] = "eV"
            sp.create_dataset("intensity", data=f.y)
            sp.create_dataset("sigma", data=f.sigma)
            sp.create_dataset("background", data=f.background)
            sp.create_dataset("model", data=f.model)
            lines = nx_group(sp, "lines", "NXcollection")
            for name, arr in f.curves.items():
                lines.create_dataset(name.replace("/", "_"), data=arr)
            sp.create_dataset("parameters_json", data=json.dumps(f.parameters, default=float))
    fg = nx_group(g, "failed", "NXcollection")
    write_strings(fg, "key", [k for k, _ in res.failures])
    write_strings(fg, "reason", [r for _, r in res.failures])
    meta = ok[0][0].meta if ok else {}
    st = dict(res.settings)
    st["instrument"] = {k: meta.get(k) for k in ("photon_energy_ev", "pass_energy_ev", "source_label")}
    g.create_dataset("settings_json", data=json.dumps(st, default=str))


def write_table(res: SeriesResult, outdir: Path) -> Path:
    """``xps_<series>.csv``: one row per sample and fitted line, plus a row per sample summary."""
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / f"xps_{res.cfg.name}.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample", "voltage_v", "charge_shift_ev", "charge_shift_err_ev", "line", "species", "valence", "center_ev",
                    "center_err_ev", "fwhm_ev", "fwhm_err_ev", "area", "area_err", "fraction", "fraction_err",
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
