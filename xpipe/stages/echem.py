"""Recipe stage ``echem``: the cycler record in, ``/entry/echem`` out.

The record is read once into the common table (time_s, voltage_v, current_ma, capacity_mah,
cycle, half_cycle, direction, step), the clock offset is taken from the recipe or estimated from
voltages logged with the frames, and with an ``electrode`` the ion content x and the state of
charge are derived. The timeline stage puts every technique on this clock.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import numpy as np

from ..echem.align import AlignmentError, OffsetFit, cycler_seconds, estimate_offset
from ..echem.electrode import Electrode
from ..echem.readers import CyclerData, CyclerReadError, read_cycler
from ..io.frames import parse_time
from ..nexus import nx_data, set_units
from ..recipe.sections.echem import EchemConfig, VoltageLogConfig
from ..store import nx_group, set_attrs, write_strings
from .base import Stage, StageSummary

log = logging.getLogger("xpipe")


def _read_voltage_log(cfg: VoltageLogConfig) -> tuple[list[datetime | None], np.ndarray]:
    import csv

    times: list[datetime | None] = []
    volts: list[float] = []
    with open(cfg.file, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        for col in (cfg.time_column, cfg.voltage_column):
            if col not in (reader.fieldnames or []):
                raise ValueError(f"{cfg.file}: no column {col!r} (columns: {', '.join(reader.fieldnames or [])})")
        for row in reader:
            times.append(parse_time(row[cfg.time_column]))
            try:
                volts.append(float(row[cfg.voltage_column]))
            except ValueError:
                volts.append(np.nan)
    return times, np.array(volts)


class EchemStage(Stage):
    """Whole-record stage: reads the cycler file in :meth:`write`.

    Writes ``/entry/echem``: the record (time in s, voltage in V, current in mA, capacity in
    mA h, cycle, half-cycle, direction, step), the clock offset and, with an electrode, the ion
    content x and the state of charge.

    Parameters
    ----------
    cfg : xpipe.recipe.sections.echem.EchemConfig
        The recipe's ``echem`` section.
    base_dir : Path
        The recipe's folder.

    Examples
    --------
    >>> import pathlib, tempfile, h5py, xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_full.yaml")
    >>> stage = {s.name: s for s in build_stages(loaded.recipe, loaded.base_dir)}["echem"]
    >>> stage.plan_lines()
    ['cycler file cycler.csv (auto); clock offset 0 s']
    >>> with h5py.File(pathlib.Path(tempfile.mkdtemp()) / "results.h5", "w") as h5:
    ...     summary = stage.write(h5.create_group("entry"), None)
    ...     x, units = h5["entry/echem/x"][()], h5["entry/echem/voltage_v"].attrs["units"]
    >>> summary.done, summary.failed, units, round(float(x.min()), 2)  # records; Na per formula
    (761, [], 'V', 1.05)
    """

    name = "echem"
    label = "cycler record"

    @classmethod
    def from_recipe(cls, recipe, base_dir: Path, built: dict[str, Stage]) -> EchemStage | None:
        return None if recipe.echem is None else cls(recipe.echem, base_dir)

    def __init__(self, cfg: EchemConfig, base_dir: Path) -> None:
        self.cfg = cfg
        self.base_dir = Path(base_dir)
        self.data: CyclerData | None = None
        self.electrode: Electrode | None = cfg.electrode.build() if cfg.electrode else None
        self.offset_s: float = 0.0
        self.offset_fit: OffsetFit | None = None
        self.error: str | None = None

    def keys(self) -> list[str]:
        return []

    def worker(self):
        return None

    def plan_lines(self) -> list[str]:
        off = "estimated from the voltage log" if self.cfg.offset_s == "auto" else f"{self.cfg.offset_s:g} s"
        return [f"cycler file {Path(self.cfg.file).name} ({self.cfg.format}); clock offset {off}"]

    def read(self) -> CyclerData:
        c = self.cfg
        data = read_cycler(c.file, format=c.format, columns=c.columns.mapping() if c.columns else None,
                           time_format=c.time_format)
        if c.start_time is not None:
            data.start = parse_time(c.start_time)
        return data

    def write(self, entry, checkpoints):

        try:
            self.data = data = self.read()
        except (CyclerReadError, OSError, ValueError) as exc:
            self.error = str(exc)
            log.error("echem: %s", exc)
            return StageSummary(0, [(str(self.cfg.file), str(exc))], [])
        if self.cfg.offset_s == "auto":
            try:
                if data.start is None:
                    raise AlignmentError("the cycler record has no wall-clock start; give echem.start_time")
                times, volts = _read_voltage_log(self.cfg.voltage_log)
                t = cycler_seconds(times, data.start, 0.0, self.cfg.timezone)
                self.offset_fit = estimate_offset(data, t, volts, tuple(self.cfg.offset_search_s))
                self.offset_s = self.offset_fit.offset_s
                log.info("echem: clock offset %.1f +- %.1f s (rms %.1f mV over %d logged points)", self.offset_s,
                         self.offset_fit.offset_err_s, 1e3 * self.offset_fit.rms_v, self.offset_fit.n_points)
            except (AlignmentError, OSError, ValueError) as exc:
                self.error = f"clock offset: {exc}"
                log.error("echem: %s", self.error)
                return StageSummary(len(data), [("echem.offset_s", str(exc))], [(str(self.cfg.file), None)])
        else:
            self.offset_s = float(self.cfg.offset_s)
        _write_echem(entry, self)
        return StageSummary(len(data), [], [(str(self.cfg.file), None)])

    def after(self, results_path: Path, outdir: Path) -> list[Path]:
        return []


def _write_echem(entry, stage: EchemStage) -> None:
    """``/entry/echem``: the whole record in the common table, the electrode and the clock."""
    d = stage.data
    g = nx_data(entry, "echem", "voltage_v", ["time_s"], source=str(d.source), format=d.format,
                start_time=d.start.isoformat() if d.start else "unknown")
    units = {"time_s": "s", "voltage_v": "V", "current_ma": "mA", "capacity_mah": "mA*h"}
    for name, unit in units.items():
        g.create_dataset(name, data=getattr(d, name), compression="gzip", shuffle=True).attrs["units"] = unit
    for name in ("cycle", "half_cycle", "step"):
        g.create_dataset(name, data=getattr(d, name).astype(np.int64), compression="gzip")
    ds = g.create_dataset("direction", data=d.direction.astype(np.int8), compression="gzip")
    ds.attrs["meaning"] = "+1 charge, -1 discharge, 0 rest"
    g["capacity_mah"].attrs["long_name"] = "net charge passed since the first record (charge positive)"
    g["time_s"].attrs["long_name"] = "test time since the first record"
    meta = nx_group(g, "meta", "NXcollection")
    for k, v in d.meta.items():
        if isinstance(v, (str, int, float, bool, np.integer, np.floating)):
            meta.attrs[k] = v
        elif isinstance(v, (list, tuple)) and all(isinstance(s, str) for s in v):
            write_strings(meta, k, list(v))
        else:
            meta.attrs[k] = str(v)
    clock = nx_group(g, "clock", "NXcollection")
    set_attrs(clock, offset_s=stage.offset_s, offset_method="estimated" if stage.offset_fit else "recipe")
    if stage.offset_fit is not None:
        f = stage.offset_fit
        set_attrs(clock, offset_err_s=f.offset_err_s, rms_v=f.rms_v, n_points=f.n_points)
    e = stage.electrode
    if e is not None:
        x = e.x(d.capacity_mah)
        set_units(g.create_dataset("x", data=x, compression="gzip"), "1", f"x in {e.x_formula}")
        practical = float(np.nanmax(d.capacity_mah)) if len(d) else None
        soc, basis = e.soc(d.capacity_mah, practical)
        set_units(g.create_dataset("soc", data=soc, compression="gzip"), "1", "state of charge", basis=basis)
        eg = nx_group(g, "electrode", "NXcollection")
        set_attrs(eg, formula=e.formula, x_formula=e.x_formula, ion=e.ion, ion_charge=e.ion_charge,
                  active_mass_mg=e.active_mass_mg, molar_mass_g_mol=e.molar_mass_g_mol, x_start=e.x_start,
                  mah_per_x=e.mah_per_x, charge_removes_ion=e.charge_removes_ion)
        if e.capacity_full_mah is not None:
            eg.attrs["capacity_full_mah"] = e.capacity_full_mah
