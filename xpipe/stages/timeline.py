"""Recipe stage ``timeline``: every technique on the cycler's clock, in ``/entry/timeline``.

It runs after the technique stages, on what they wrote into the results being assembled:
XRD frames and lattice parameters (clock-placed by their frame times), XANES valences
(clock-placed when the scan times fall inside the cycler record, otherwise placed by the stated
voltage on a chosen half-cycle) and XPS valences (placed by voltage). Each series carries its
time, x and voltage with the placement uncertainty, and its value with its uncertainty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ..echem.align import (
    Placement,
    cycler_seconds,
    decimate,
    epoch_to_datetime,
    half_cycle_of,
    place,
    state_at,
)
from ..echem.electrode import pretty_formula
from ..io.frames import parse_time
from ..nexus import labelled, nx_data, nx_name, set_units
from ..outfiles import safe_target
from ..recipe.sections.timeline import ExSituConfig, TimelineConfig
from ..store import nx_group, set_attrs, write_strings
from .base import Stage, StageSummary
from .paper_figures import plot_contour_map, plot_lattice_evolution, plot_valence_timeline

log = logging.getLogger("xpipe")

CURVE_POINTS = 20000


@dataclass
class Series:
    """One named series on the timeline: values with errors, placed on the cycler clock.

    Parameters
    ----------
    name : str
        Its group name in ``/entry/timeline/series`` (``xanes_valence_V_K``).
    quantity, units : str
        What the values are (``valence``, ``volume``, ``fraction``) and their unit (``''``
        for none, ``angstrom^3``).
    technique, kind : str
        ``xrd``, ``xanes`` or ``xps``; ``operando`` or ``ex_situ``.
    label, source : str
        The legend text, and the results dataset the values come from.
    value, value_err : numpy.ndarray
        The values and their standard uncertainties.
    time_s, time_err_s : numpy.ndarray
        Each point's time on the cycler clock and its placement uncertainty, in s.
    placement : list of str
        How each point was placed (``clock``, ``voltage``, ``x``, ``capacity``, ``unplaced``).
    attrs : dict
        More attributes of the group (the phase, the element, the stated voltages).

    Examples
    --------
    >>> s = Series("xps_valence_V2p", "valence", "", "xps", "ex_situ", "XPS V2p mean valence",
    ...            "/entry/xps/V2p/mean_valence", np.array([3.1, 3.6]), np.array([0.02, 0.03]),
    ...            np.array([0.0, 5400.0]), np.array([0.0, 60.0]), ["voltage", "voltage"])
    >>> s.name, s.value.tolist(), (s.time_s / 3600).tolist(), s.attrs
    ('xps_valence_V2p', [3.1, 3.6], [0.0, 1.5], {})
    """

    name: str
    quantity: str
    units: str
    technique: str
    kind: str
    label: str
    source: str
    value: np.ndarray
    value_err: np.ndarray
    time_s: np.ndarray
    time_err_s: np.ndarray
    placement: list[str]
    attrs: dict = field(default_factory=dict)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _safe(name: str) -> str:
    """A part of a series label: the label keeps its phase or species as written (the group is
    named with :func:`~xpipe.nexus.nx_name` of the whole label when it is written)."""
    return name.replace("/", "_").replace(" ", "_")


class TimelineStage(Stage):
    """Whole-results stage: builds ``/entry/timeline`` in :meth:`write`, draws figures after.

    Parameters
    ----------
    cfg : xpipe.recipe.sections.timeline.TimelineConfig
        The recipe's ``timeline`` section (placement of spectra, ex situ samples).
    echem_stage : EchemStage or None
        The cycler-record stage, whose clock and electrode the series are put on.
    figures_cfg : xpipe.recipe.sections.figures.PaperFiguresConfig or None
        The recipe's ``figures`` section; None draws no publication figure.
    base_dir : Path
        The recipe's folder.

    Examples
    --------
    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_full.yaml")
    >>> stages = {s.name: s for s in build_stages(loaded.recipe, loaded.base_dir)}
    >>> stages["timeline"].echem is stages["echem"]
    True
    >>> with h5py.File(pathlib.Path(tempfile.mkdtemp()) / "results.h5", "w") as h5:
    ...     entry = h5.create_group("entry")
    ...     _ = stages["echem"].write(entry, None)  # the cycler record, then the timeline on it
    ...     summary = stages["timeline"].write(entry, None)
    ...     sorted(entry["timeline"]), entry["timeline"].attrs["x_label"], summary.failed
    (['echem', 'series'], 'x in NaₓV₂(PO₄)₃', [])
    """

    name = "timeline"
    label = "timeline"

    @classmethod
    def from_recipe(cls, recipe, base_dir: Path, built: dict[str, Stage]) -> TimelineStage | None:
        echem = built.get("echem")
        if echem is None and recipe.figures is None:
            return None
        return cls(recipe.timeline, echem, recipe.figures, base_dir)

    def __init__(self, cfg: TimelineConfig, echem_stage, figures_cfg, base_dir: Path) -> None:
        self.cfg = cfg
        self.echem = echem_stage
        self.figures = figures_cfg
        self.base_dir = Path(base_dir)
        self.series: list[Series] = []
        self.notes: list[str] = []

    def keys(self) -> list[str]:
        return []

    def worker(self):
        return None

    def plan_lines(self) -> list[str]:
        return [f"series on the cycler clock; spectra placed by {self.cfg.placement}; ex situ on {self.cfg.ex_situ_half_cycle}"]

    # ------------------------------------------------------------------ building
    def write(self, entry, checkpoints):

        cyc = self.echem.data if self.echem is not None else None
        failed: list[tuple[str, str]] = []
        start = cyc.start if cyc is not None else None
        offset = self.echem.offset_s if self.echem is not None else 0.0
        tz = self.echem.cfg.timezone if self.echem is not None else None
        if start is None:
            start = _first_xrd_start(entry)
        series: list[Series] = []
        try:
            series += self._xrd(entry, start, offset, tz)
        except Exception as exc:  # a timeline problem must not lose the technique results
            failed.append(("timeline xrd", str(exc)))
        half = None
        if cyc is not None:
            try:
                half = half_cycle_of(cyc, self.cfg.ex_situ_half_cycle)
            except ValueError as exc:
                self.notes.append(f"ex situ placement: {exc}")
        for fn in (self._xanes, self._xps):
            try:
                series += fn(entry, start, offset, tz, half)
            except Exception as exc:
                failed.append((f"timeline {fn.__name__.strip('_')}", str(exc)))
        for name, reason in failed:
            log.error("%s: %s", name, reason)
        self.series = series
        _write_timeline(entry, self, start, offset)
        return StageSummary(0, failed, [])

    def _state(self, t):
        cyc = self.echem.data if self.echem is not None else None
        if cyc is None:
            n = np.size(t)
            nan = np.full(n, np.nan)
            return nan, nan, nan, np.full(n, -1)
        st = state_at(cyc, t)
        x = self.echem.electrode.x(st.capacity_mah) if self.echem.electrode else np.full(st.voltage_v.shape, np.nan)
        return st.voltage_v, x, st.capacity_mah, st.half_cycle

    def _xrd(self, entry, start, offset, tz) -> list[Series]:
        if "xrd/integrated" not in entry or start is None:
            return []
        g = entry["xrd/integrated"]
        t0 = parse_time(_text(g["frame_time_s"].attrs.get("start_time", "")))
        rel = g["frame_time_s"][()]
        frame_index = g["frame_index"][()]
        if t0 is None:
            return []
        times = [t0 + timedelta(seconds=float(s)) if np.isfinite(s) else None for s in rel]
        t = cycler_seconds(times, start, offset, tz)
        zeros = np.zeros_like(t)
        out = [Series("xrd_frames", "frame", "", "xrd", "operando", "XRD frames", "/entry/xrd/integrated/frame_index",
                      frame_index.astype(float), np.zeros_like(t), t, zeros, ["clock"] * t.size)]
        if "xrd/lattice" not in entry:
            return out
        for phase, lg in labelled(entry["xrd/lattice"]).items():
            present = lg["present"][()] if "present" in lg else np.ones(t.size, bool)
            system = _text(lg.attrs.get("system", ""))
            params = [("a", "a", "angstrom")]
            if system not in ("cubic", "tetragonal", "hexagonal", "trigonal", "rhombohedral"):
                params.append(("b", "b", "angstrom"))
            if system != "cubic":
                params.append(("c", "c", "angstrom"))
            params += [("volume", "volume", "angstrom^3"), ("phase_fraction", "fraction", "")]
            for key, q, unit in params:
                if key not in lg:
                    continue
                v = np.where(present, lg[key][()], np.nan)
                e = np.where(present, lg[f"{key}_err"][()], np.nan) if f"{key}_err" in lg else np.full(t.size, np.nan)
                out.append(Series(f"xrd_{q}_{_safe(phase)}", q, unit, "xrd", "operando", f"XRD {phase} {key}",
                                  f"{lg.name}/{key}", v, e, t, zeros, ["clock"] * t.size,
                                  {"phase": phase, "family": _text(lg.attrs.get("family", ""))}))
        return out

    def _place(self, start, offset, tz, half, epoch_s, voltage_v, series: str = "") -> list[Placement]:
        cyc = self.echem.data if self.echem is not None else None
        rule = next((e for e in self.cfg.ex_situ if e.series == series), None)
        if rule is not None:
            return self._place_stated(cyc, half, rule, voltage_v)
        out = []
        aware = start is not None and start.tzinfo is not None
        for ts, v in zip(epoch_s, voltage_v):
            when = epoch_to_datetime(ts, aware) if ts is not None else None
            on_clock = np.nan
            if when is not None and start is not None:
                on_clock = float(cycler_seconds([when], start, offset, tz)[0])
            inside = cyc is not None and np.isfinite(on_clock) and cyc.time_s[0] <= on_clock <= cyc.time_s[-1]
            mode = self.cfg.placement
            if mode == "clock" or (mode == "auto" and inside):
                out.append(Placement(on_clock, 0.0, "clock") if np.isfinite(on_clock) else Placement(np.nan, np.nan, "unplaced", "no scan time"))
            elif cyc is not None and half is not None and v is not None and np.isfinite(v):
                out.append(place(cyc, float(v), half, "voltage", self.cfg.voltage_tolerance_v))
            else:
                out.append(Placement(np.nan, np.nan, "unplaced", "no cycler record, scan time or stated voltage to place it by"))
        return out

    def _place_stated(self, cyc, half, rule: ExSituConfig, voltage_v) -> list[Placement]:
        n = len(voltage_v)
        values = rule.values if rule.values is not None else list(voltage_v)
        if len(values) != n:
            raise ValueError(f"timeline.ex_situ for {rule.series!r}: {len(values)} values for {n} samples")
        if cyc is None:
            return [Placement(np.nan, np.nan, "unplaced", "no cycler record") for _ in range(n)]
        if rule.half_cycle is not None:
            half = half_cycle_of(cyc, rule.half_cycle)
        if half is None:
            return [Placement(np.nan, np.nan, "unplaced", "no half-cycle to place on") for _ in range(n)]
        out = []
        for v in values:
            if v is None or not np.isfinite(v):
                out.append(Placement(np.nan, np.nan, "unplaced", "no stated value"))
            elif rule.by == "voltage":
                out.append(place(cyc, float(v), half, "voltage", self.cfg.voltage_tolerance_v))
            else:
                e = self.echem.electrode
                if rule.by == "x" and e is None:
                    raise ValueError(f"timeline.ex_situ for {rule.series!r}: placing by x needs echem.electrode")
                cap = float(e.capacity_mah(v)) if rule.by == "x" else float(v)
                p = place(cyc, cap, half, "capacity", 0.0)
                out.append(Placement(p.time_s, p.time_err_s, rule.by, p.note))
        return out

    def _xanes(self, entry, start, offset, tz, half) -> list[Series]:
        out = []
        if "xas" not in entry:
            return out
        for name, g in entry["xas"].items():
            sp = g.get("spectra")
            if sp is None or "valence" not in sp:
                continue
            epoch = [float(x) if np.isfinite(x) else None for x in sp["time_s"][()]]
            volts = sp["voltage_v"][()]
            pl = self._place(start, offset, tz, half, epoch, volts, name)
            kind = "operando" if all(p.how == "clock" for p in pl) else "ex_situ"
            element = _text(g.attrs.get("element", ""))
            out.append(Series(f"xanes_valence_{_safe(name)}", "valence", "", "xanes", kind,
                              f"XANES {element} {_text(g.attrs.get('edge', ''))} ({kind.replace('_', ' ')})",
                              f"/entry/xas/{name}/spectra/valence", sp["valence"][()], sp["valence_err"][()],
                              np.array([p.time_s for p in pl]), np.array([p.time_err_s for p in pl]), [p.how for p in pl],
                              {"element": element, "stated_voltage_v": volts,
                               "notes": [p.note for p in pl]}))
        return out

    def _xps(self, entry, start, offset, tz, half) -> list[Series]:
        out = []
        if "xps" not in entry:
            return out
        for name, g in entry["xps"].items():
            if "mean_valence" not in g:
                continue
            volts = g["voltage_v"][()] if "voltage_v" in g else np.full(g["mean_valence"].shape, np.nan)
            pl = self._place(start, offset, tz, half, [None] * volts.size, volts, name)
            t = np.array([p.time_s for p in pl])
            te = np.array([p.time_err_s for p in pl])
            how = [p.how for p in pl]
            notes = [p.note for p in pl]
            element = _text(g.attrs.get("element", ""))
            out.append(Series(f"xps_valence_{_safe(name)}", "valence", "", "xps", "ex_situ", f"XPS {name} mean valence (ex situ)",
                              f"/entry/xps/{name}/mean_valence", g["mean_valence"][()], g["mean_valence_err"][()], t, te, how,
                              {"element": element, "stated_voltage_v": volts, "notes": notes}))
            sp = g.get("species")
            if sp is not None and "valence_fraction" in sp:
                names = [_text(s) for s in sp["valence_fraction_species"][()]]
                frac = sp["valence_fraction"][()]
                err = sp["valence_fraction_err"][()]
                for j, s in enumerate(names):
                    out.append(Series(f"xps_fraction_{_safe(s)}_{_safe(name)}", "fraction", "", "xps", "ex_situ",
                                      f"XPS {s} fraction (ex situ)", f"/entry/xps/{name}/species/valence_fraction",
                                      frac[:, j], err[:, j], t, te, how, {"species": s, "element": element}))
        return out

    def after(self, results_path: Path, outdir: Path) -> list[Path]:
        if self.figures is None:
            return []
        files: list[Path] = []
        for fn, stem, cfg in ((plot_contour_map, "contour_map", self.figures.contour),
                              (plot_lattice_evolution, "lattice_evolution", self.figures.lattice),
                              (plot_valence_timeline, "valence_timeline", self.figures.timeline)):
            if not cfg.enabled:
                continue
            out_stem = safe_target(outdir, f"figures/{stem}")  # a folder linked elsewhere stops the run
            try:
                res = fn(results_path, out_stem, self.figures)
            except Exception as exc:  # a figure never loses results
                log.error("figure %s: %s", stem, exc)
                self.notes.append(f"figure {stem} not drawn: {exc}")
                continue
            if res is not None:
                files.extend(res.paths)
        return files


def _first_xrd_start(entry) -> datetime | None:
    if "xrd/integrated/frame_time_s" not in entry:
        return None
    return parse_time(_text(entry["xrd/integrated/frame_time_s"].attrs.get("start_time", "")))


def _write_timeline(entry, stage: TimelineStage, start: datetime | None, offset_s: float) -> None:
    """``/entry/timeline``: the cycler curve and every series with time, x, voltage and errors."""
    echem = stage.echem
    electrode = echem.electrode if echem is not None else None
    tg = nx_group(entry, "timeline", "NXcollection", clock_start=start.isoformat() if start else "unknown",
                  offset_s=offset_s, axis="time_s")
    if electrode is not None:
        set_attrs(tg, formula=electrode.x_formula, ion=electrode.ion,
                  x_label=f"x in {pretty_formula(electrode.x_formula)}")
    if stage.notes:
        write_strings(tg, "notes", stage.notes)
    cyc = echem.data if echem is not None else None
    if cyc is not None:
        keep = decimate(len(cyc), CURVE_POINTS)
        eg = nx_data(tg, "echem", "voltage_v", ["time_s"])
        eg.attrs["decimated_from"] = len(cyc)
        for name, unit in (("time_s", "s"), ("voltage_v", "V"), ("current_ma", "mA"), ("capacity_mah", "mA*h")):
            eg.create_dataset(name, data=getattr(cyc, name)[keep]).attrs["units"] = unit
        eg.create_dataset("half_cycle", data=cyc.half_cycle[keep].astype(np.int64))
        eg.create_dataset("direction", data=cyc.direction[keep].astype(np.int8))
        x = electrode.x(cyc.capacity_mah[keep]) if electrode else np.full(keep.size, np.nan)
        set_units(eg.create_dataset("x", data=x), "1", "x in " + electrode.x_formula if electrode else "x")
        if electrode:
            soc, basis = electrode.soc(cyc.capacity_mah[keep], float(np.nanmax(cyc.capacity_mah)))
        else:
            soc, basis = np.full(keep.size, np.nan), "unknown"
        set_units(eg.create_dataset("soc", data=soc), "1", "state of charge", basis=basis)
    sg = nx_group(tg, "series", "NXcollection")
    for s in stage.series:
        g = nx_data(sg, nx_name(s.name), "value", ["time_s"])
        set_attrs(g, long_name=s.name, quantity=s.quantity, units=s.units, technique=s.technique, kind=s.kind,
                  label=s.label, source=s.source)
        voltage, x, _, half = stage._state(s.time_s)
        _, x_lo, _, _ = stage._state(s.time_s - s.time_err_s)
        _, x_hi, _, _ = stage._state(s.time_s + s.time_err_s)
        x_err = np.where(s.time_err_s > 0, 0.5 * np.abs(x_hi - x_lo), 0.0)
        for name, data in (("time_s", s.time_s), ("time_err_s", s.time_err_s), ("x", x), ("x_err", x_err),
                           ("voltage_v", voltage), ("value", s.value), ("value_err", s.value_err)):
            g.create_dataset(name, data=np.asarray(data, dtype=float))
        g["time_s"].attrs["units"] = "s"
        g["voltage_v"].attrs["units"] = "V"
        for name in ("x", "x_err"):
            g[name].attrs["units"] = "1"
        for name in ("value", "value_err"):
            set_units(g[name], s.units or ("1" if s.quantity != "frame" else None), s.label if name == "value" else None)
        g["value_errors"] = g["value_err"]  # NeXus convention: <signal>_errors (a link, no copy)
        g.create_dataset("half_cycle", data=np.asarray(half, dtype=np.int64))
        write_strings(g, "placement", s.placement)
        for k, v in s.attrs.items():
            if isinstance(v, str):
                g.attrs[k] = v
            elif isinstance(v, np.ndarray):
                g.create_dataset(k, data=v)
            elif isinstance(v, list) and all(isinstance(i, str) for i in v):
                write_strings(g, k, v)
