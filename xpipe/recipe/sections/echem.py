"""Recipe section ``echem``: the cycler record, its clock and the electrode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ...io.frames import parse_time
from ..schema import Context, InputFile, setting

if TYPE_CHECKING:
    from ...echem.electrode import Electrode  # annotations only: no import at run time


@dataclass(kw_only=True)
class CsvColumnsConfig:
    """Column names of a CSV cycler export (only the ones the file has).

    Recipe section ``echem.columns``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> CsvColumnsConfig(time_s="Time (s)", voltage_v="Ewe/V").mapping()
    {'time_s': 'Time (s)', 'voltage_v': 'Ewe/V'}
    """

    time_s: str | None = setting(None, doc="Column of test time in seconds.")
    time_min: str | None = setting(None, doc="Column of test time in minutes (instead of time_s).")
    time_h: str | None = setting(None, doc="Column of test time in hours (instead of time_s).")
    datetime: str | None = setting(None, doc="Column of wall-clock date and time (ISO 8601, or echem.time_format).")
    voltage_v: str | None = setting(None, doc="Column of cell voltage in V.")
    current_ma: str | None = setting(None, doc="Column of current in mA (positive on charge).")
    current_a: str | None = setting(None, doc="Column of current in A (instead of current_ma).")
    capacity_mah: str | None = setting(None, doc="Column of net charge passed since the start, mAh.")
    capacity_ah: str | None = setting(None, doc="Column of net charge passed since the start, Ah (instead of capacity_mah).")
    cycle: str | None = setting(None, doc="Column of the cycle number.")
    step: str | None = setting(None, doc="Column of the step number.")

    def mapping(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None and not k.startswith("_")}


@dataclass(kw_only=True)
class ElectrodeConfig:
    """The working electrode's active material: gives x (ion content) and the state of charge.

    Recipe section ``echem.electrode``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> ctx = Context(base_dir=Path("."))
    >>> data = {"formula": "Na3V2(PO4)3", "active_mass_mg": 2.5}
    >>> electrode = build(ElectrodeConfig, data, "echem.electrode", 1, ctx).build()
    >>> electrode.x_start, electrode.molar_mass_g_mol  # x from the formula; g/mol
    (3.0, 455.7618)
    >>> build(ElectrodeConfig, {**data, "formula": "Na3V2(PO4"}, "echem.electrode", 1, ctx)
    >>> ctx.problems[0].message
    "formula 'Na3V2(PO4': unbalanced '('"
    """

    formula: str = setting(doc="Pristine formula of the active material, e.g. 'Na3V2(PO4)3'.")
    active_mass_mg: float = setting(doc="Mass of active material in the electrode.", unit="mg", minimum=0, exclusive_minimum=True)
    ion: str = setting("Na", doc="The mobile ion (element symbol as in the formula).")
    ion_charge: int = setting(1, doc="Charge of the mobile ion (1 for Li+, Na+, K+; 2 for Mg2+, Zn2+).", minimum=1, maximum=3)
    x_start: float | None = setting(None, doc="Ion content at the start of the record (default: the count in the formula).", minimum=0)
    x_min: float | None = setting(None, doc="Ion content at full charge, for the state of charge (e.g. 1 for Na3V2(PO4)3 -> NaV2(PO4)3).", minimum=0)
    theoretical_capacity_mah_g: float | None = setting(
        None, doc="Specific capacity for the state of charge, instead of x_min (e.g. 117.6 for Na3V2(PO4)3, 2 Na).",
        unit="mAh/g", minimum=0, exclusive_minimum=True)
    charge_removes_ion: bool = setting(True, doc="True for a cathode (charging extracts the ion), false for an anode.")

    def check(self, ctx: Context):
        try:
            self._electrode = self.build()
        except ValueError as exc:
            yield "formula", str(exc)

    def build(self) -> Electrode:
        from ...echem.electrode import Electrode  # deferred: only echem recipes need it

        return Electrode(self.formula, self.active_mass_mg, ion=self.ion, ion_charge=self.ion_charge, x_start=self.x_start,
                         x_min=self.x_min, theoretical_capacity_mah_g=self.theoretical_capacity_mah_g,
                         charge_removes_ion=self.charge_removes_ion)


@dataclass(kw_only=True)
class VoltageLogConfig:
    """A log of voltages measured at known wall times (e.g. the beamline's potentiostat readback).

    Recipe section ``echem.voltage_log``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = VoltageLogConfig(file="potentiostat.csv")
    >>> cfg.time_column, cfg.voltage_column
    ('time', 'voltage_v')
    """

    file: InputFile = setting(doc="CSV file with a time column and a voltage column.")
    time_column: str = setting("time", doc="Column of wall-clock times (ISO 8601).")
    voltage_column: str = setting("voltage_v", doc="Column of cell voltage in V.")


@dataclass(kw_only=True)
class EchemConfig:
    r"""The cycler record and the clock that puts frames and scans on it.

    Recipe section ``echem``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "cycler.csv").write_text("time_s,voltage_v\n0,3.0\n")
    >>> ctx = Context(base_dir=folder)
    >>> cfg = build(EchemConfig, {"file": "cycler.csv"}, "echem", 1, ctx)
    >>> Path(cfg.file).name, cfg.format, cfg.offset_s, cfg.offset_search_s
    ('cycler.csv', 'auto', 0.0, [-7200.0, 7200.0])
    >>> build(EchemConfig, {"file": "cycler.csv", "offset_s": "auto"}, "echem", 1, ctx)
    >>> ctx.problems[0].message
    "'auto' estimates the offset from logged voltages: add echem.voltage_log"
    """

    file: InputFile = setting(doc="Cycler file: BioLogic .mpr/.mpt, Neware .nda/.ndax, Arbin .res, or CSV.")
    format: Literal["auto", "mpr", "mpt", "nda", "ndax", "res", "csv"] = setting(
        "auto", doc="File format ('auto': from the suffix).")
    columns: CsvColumnsConfig | None = setting(None, doc="CSV only: which column holds what (default: recognised by name).")
    time_format: str | None = setting(None, doc="CSV only: strptime format of the datetime column when not ISO 8601.")
    start_time: str | None = setting(
        None, doc="Wall-clock time of the record's zero (ISO 8601), for files without one (CSV with "
        "test time only); overrides the file's own.")
    timezone: str | None = setting(
        None, doc="Time zone of local (naive) times when the other clock gives UTC offsets, e.g. 'Europe/Paris'.")
    offset_s: float | Literal["auto"] = setting(
        0.0, doc="Seconds added to frame and scan times to put them on the cycler clock (positive "
        "when the beamline clock is behind the cycler's). 'auto': estimated from voltage_log.", unit="s")
    voltage_log: VoltageLogConfig | None = setting(
        None, doc="Voltages logged with the frames on the beamline clock; with offset_s: auto the "
        "offset is the one that best matches them to the cycler curve.")
    offset_search_s: list[float] = setting(
        default_factory=lambda: [-7200.0, 7200.0], doc="Range searched for offset_s: auto.", unit="s", length=2, increasing=True)
    electrode: ElectrodeConfig | None = setting(None, doc="Active material, for x and the state of charge (see echem.electrode).")

    def check(self, ctx: Context):
        if self.columns is not None and self.format not in ("auto", "csv"):
            yield "columns", f"a column mapping is for CSV files, but format is {self.format!r}"
        if self.offset_s == "auto" and self.voltage_log is None:
            yield "offset_s", "'auto' estimates the offset from logged voltages: add echem.voltage_log"
        if self.start_time is not None and parse_time(self.start_time) is None:
            yield "start_time", f"expected an ISO 8601 date and time, e.g. 2025-03-14T09:00:00, found {self.start_time!r}"
        if self.timezone is not None:
            from zoneinfo import ZoneInfo

            try:
                ZoneInfo(self.timezone)
            except Exception:
                yield "timezone", f"{self.timezone!r} is not a known time zone name (e.g. 'Europe/Paris', 'UTC')"
