"""Stage: XAS series, from raw scans to normalised XANES, edges, valence and EXAFS shells.

Items are the spectra of every series (standards first): each is read, calibrated on its foil,
deglitched, merged with its repeats, normalised with the series' fixed settings and measured
(edge, pre-edge, optionally chi(k) and |chi(R)|) in a worker, and checkpointed, so a batch
survives a bad file and resumes. Once every spectrum is done, :meth:`XasStage.write` places the
series on the valence calibration made from its standards, runs LCF and PCA, fits EXAFS shells
with FEFF paths, and writes ``/entry/xas/<series>`` and ``/entry/exafs/<series>``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..nexus import write_instrument
from ..recipe.sections.xas import State, XasSeriesConfig, resolve_states
from ..store import nx_group
from ..xas.exafs import Chi, fit_shells, run_feff, select_paths
from ..xas.readers import read_scan
from ..xas.readers.athena import athena_selection_problem
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
    edge_windows,
    main_edge_e0,
    resolve_norm_settings,
    tabulated_edge_ev,
)
from .base import Stage, StageSummary
from .xas_results import SeriesOutcome, write_exafs, write_outputs, write_series

log = logging.getLogger("xpipe")


# ----------------------------------------------------------------------------- settings


def _series_settings(cfg: XasSeriesConfig, first_scan=None) -> XanesSettings:
    """Resolve the fixed settings of a series (normalisation resolved once on ``first_scan``)."""
    edge_ev = tabulated_edge_ev(cfg.element, cfg.edge)
    ec = cfg.edge_position
    auto = edge_windows(cfg.element, cfg.edge)  # the element's windows where the recipe gives none
    pre_w = tuple(ec.pre_edge_window_ev or auto.pre_edge_window_ev)
    main_w = tuple(ec.main_edge_window_ev or auto.main_edge_window_ev)
    given = asdict(cfg.normalisation)
    if any(v is None for v in given.values()):
        if first_scan is None:
            raise ValueError("normalisation settings left to be resolved need the first spectrum")
        main = (edge_ev + main_w[0], edge_ev + main_w[1])
        e0 = ec.fixed_e0_ev or main_edge_e0(first_scan.energy_ev, first_scan.mu, window_ev=main)
        norm = resolve_norm_settings(first_scan.energy_ev, first_scan.mu, e0, given)
    else:
        norm = NormSettings(**given)
    ex = cfg.exafs
    return XanesSettings(
        element=cfg.element, edge=cfg.edge, edge_ev=edge_ev, norm=norm, reference=cfg.calibration.reference,
        align_window_ev=tuple(cfg.calibration.window_ev), deglitch=cfg.deglitch, deglitch_threshold=cfg.deglitch_threshold,
        merge_reject=cfg.merge_reject, pre_edge_window_ev=pre_w,
        main_edge_window_ev=main_w, edge_method=ec.method, edge_fraction=ec.fraction,
        smooth_ev=ec.smooth_ev, e0_ev=ec.fixed_e0_ev,
        exafs=None if ex is None else ExafsSettings(rbkg_a=ex.rbkg_a, kweight=ex.kweight, kmin=ex.kmin, kmax=ex.kmax,
                                                     dk=ex.dk, window=ex.window))


def _read_state(files: list[str], group: int | str | None = None):
    scans = []
    for f in files:
        if not os.path.isfile(f):
            raise XasReadError(f"{f}: file not found")
        problem = athena_selection_problem(f, group)  # a project's groups are never merged
        if problem:
            raise XasReadError(f"{f}: {problem}")
        got = read_scan(f, group=group)
        if not got:
            raise XasReadError(f"{f}: no spectrum in the file")
        scans.extend(got)
    return scans


# ----------------------------------------------------------------------------- worker


_SCALARS = ("e0_ev", "edge_step", "noise", "edge_energy_ev", "edge_energy_err_ev", "pre_edge_centroid_ev",
            "pre_edge_centroid_err_ev", "pre_edge_area", "pre_edge_area_err", "pre_edge_height")
_ARRAYS = ("energy_ev", "mu", "norm", "flat", "k", "chi", "r_a", "chir_mag")


class _XasWorker:
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
                scans = _read_state(st.files, st.group)
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


def _result_from_checkpoint(m: dict, arrays) -> SpectrumResult:
    i = m["index"]
    get = {name: (np.asarray(arrays[f"{i}__{name}"]) if f"{i}__{name}" in arrays else None) for name in _ARRAYS}
    cals = [None if c is None else Calibration(**{**c, "window_ev": tuple(c["window_ev"])}) for c in m["calibrations"]]
    return SpectrumResult(label=m["label"], sources=m["sources"], calibrations=cals, merged_used=m["merged_used"],
                          glitches=m["glitches_ev"], flags=m["flags"], time_s=m["time_s"], voltage_v=m.get("voltage_v"),
                          **{k: m[k] for k in _SCALARS}, **get)


# ----------------------------------------------------------------------------- stage


class XasStage(Stage):
    """Per-spectrum stage over every XAS series of the recipe.

    Items are the states of every series, standards first (``<series>/standard/<name>``, then
    ``<series>/<file>``); :meth:`write` analyses each series once all are done and writes
    ``/entry/xas/<series>`` and ``/entry/exafs/<series>``.

    Parameters
    ----------
    series : list of xpipe.recipe.sections.xas.XasSeriesConfig
        The recipe's ``xas`` section, one entry per series.
    base_dir : Path
        The recipe's folder.

    Examples
    --------
    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> from xpipe.store import CheckpointStore
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xanes.yaml")
    >>> [stage] = build_stages(loaded.recipe, loaded.base_dir)
    >>> keys = stage.keys()
    >>> len(keys), keys[0], keys[5]
    (11, 'V_K/standard/V2O3', 'V_K/nvp_xanes_0.xdi')
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> ck = CheckpointStore(folder / "xas")
    >>> ck.reset({})
    >>> ck.save(0, keys, stage.worker().process(list(range(len(keys)))))  # as an executor would
    >>> with h5py.File(folder / "results.h5", "w") as h5:
    ...     summary = stage.write(h5.create_group("entry"), ck)
    ...     valence = h5["entry/xas/V_K/spectra/valence"][()]
    >>> summary.done, summary.failed, valence.round(2).tolist()  # V valence on charge
    (11, [], [3.0, 3.21, 3.42, 3.59, 3.8, 3.98])
    """

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
                    first = _read_state(spectra[0].files, spectra[0].group)[0]
                out[cfg.name] = _series_settings(cfg, first)
            self._settings = out
        return self._settings

    def keys(self) -> list[str]:
        return [s.key for s in self.states]

    def fingerprint(self):
        return self.series, sorted({f for s in self.states for f in s.files})

    def worker(self):
        return _XasWorker(self.states, self.settings())

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
                done[key] = _result_from_checkpoint(m, arrays)
                failures.pop(key, None)
            for key, reason in info["failures"]:
                if key not in done:
                    failures[key] = reason
        settings = self.settings()
        inputs: list[tuple[str, str | None]] = []
        xas_root = nx_group(entry, "xas", "NXsubentry")
        write_instrument(entry, "xas")  # the probe; edge and element are attributes of each series
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
                lcf_window_ev=tuple(v.lcf_window_ev), edge_ev=o.settings.edge_ev, run_pca=v.pca, report=v.report,
                settings=o.settings, max_gap=v.max_standard_gap)
            o.messages.extend(o.valence.messages)
        if cfg.exafs is not None and cfg.exafs.fit is not None:
            try:
                o.shells, o.shell_labels = _fit_series_shells(o, spectra)
            except Exception as exc:  # FEFF or fit failure: report, keep the XANES results
                o.messages.append(f"EXAFS shell fit failed: {exc}")


def _feff_cache_dir() -> Path:
    root = os.environ.get("XPIPE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "xpipe")
    return Path(root) / "feff"


def _fit_series_shells(o: SeriesOutcome, spectra: list[State]):
    f = o.cfg.exafs.fit
    ex = o.cfg.exafs
    chosen = [s for s in spectra if f.spectra is None or s.label in f.spectra]
    chis = [Chi(k=o.results[s.key].k, chi=o.results[s.key].chi, e0_ev=o.results[s.key].e0_ev, settings={}, label=s.label)
            for s in chosen if o.results[s.key].k is not None]
    if not chis:
        raise ValueError("no spectrum with chi(k) to fit")
    feff = run_feff(str(f.feff), absorber=f.absorber or o.cfg.element, cache_dir=_feff_cache_dir(),
                    rmax_a=max(f.rmax_a + 1.0, 4.0), version=f.feff_version)
    paths = select_paths(feff, indices=f.paths) if f.paths else select_paths(feff, rmax_a=f.rmax_a, max_legs=2)
    if not paths:
        raise ValueError(f"no FEFF path selected (paths {f.paths}, rmax {f.rmax_a} A)")
    fit = fit_shells(chis, paths, kmin=ex.kmin, kmax=ex.kmax, dk=ex.dk, window=ex.window, kweight=ex.kweight,
                     rmin_a=f.rmin_a, rmax_a=f.rmax_a, shared=tuple(f.shared),
                     fixed={"s02": f.fixed_s02} if f.fixed_s02 is not None else None,
                     degeneracy_fixed=not f.refine_n)
    return fit, [c.label for c in chis]
