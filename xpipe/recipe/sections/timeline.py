"""Recipe section ``timeline``: placing every series on the cycler clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..schema import setting


@dataclass(kw_only=True)
class ExSituConfig:
    """How the samples of one ex situ XAS or XPS series are placed on the cycler record.

    Recipe section ``timeline.ex_situ[]``; its keys are the keyword arguments, each documented by
    its ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> cfg = build(ExSituConfig, {"series": "V K", "values": [3, 2.5]}, "timeline.ex_situ[0]", 1,
    ...             Context(base_dir=Path(".")))
    >>> cfg.by, cfg.values
    ('x', [3.0, 2.5])
    """

    series: str = setting(doc="Name of an xas[] or xps[] series.")
    by: Literal["voltage", "x", "capacity_mah"] = setting(
        "x", doc="Place by the stated ion content x (needs echem.electrode), the charge passed, or the "
        "voltage. A rest voltage sits below the operando curve on charge (polarisation) and a plateau "
        "matches a long stretch, so x or charge place better when known.")
    values: list[float] | None = setting(
        None, doc="The stated x, charge (mAh) or voltage (V) of each sample, in series order "
        "(default for 'voltage': the voltages the files or the series state).")
    half_cycle: Literal["first_charge", "first_discharge"] | int | None = setting(
        None, doc="Half-cycle to place them on (default: timeline.ex_situ_half_cycle).")


@dataclass(kw_only=True)
class TimelineConfig:
    """How ex situ and operando series are put on the cycler clock.

    Recipe section ``timeline``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> ctx = Context(base_dir=Path("."))
    >>> build(TimelineConfig, {"ex_situ": [{"series": "V K"}]}, "timeline", 1, ctx) is None
    True
    >>> ctx.problems[0].key, ctx.problems[0].message
    ('timeline.ex_situ[0].values', 'placing by x needs the stated value of each sample')
    >>> TimelineConfig().voltage_tolerance_v
    0.003
    """

    placement: Literal["auto", "clock", "voltage"] = setting(
        "auto", doc="Spectra placement: 'clock' by their scan times, 'voltage' by their stated "
        "voltage on ex_situ_half_cycle; 'auto' uses the clock when a scan time falls inside the "
        "cycler record, the voltage otherwise.")
    ex_situ_half_cycle: Literal["first_charge", "first_discharge"] | int = setting(
        "first_charge", doc="Half-cycle on which ex situ samples are placed by voltage (a number counts half-cycles from 1).")
    voltage_tolerance_v: float = setting(
        0.003, doc="Voltage placement: the stretch of curve within this of the stated voltage sets "
        "the placement uncertainty (flat plateaus place loosely).", unit="V", minimum=0)
    ex_situ: list[ExSituConfig] = setting(
        default_factory=list, doc="Per-series placement of ex situ samples by stated x, charge or voltage (see timeline.ex_situ[]).")

    def check(self, ctx):
        names = [e.series for e in self.ex_situ]
        for n in sorted({n for n in names if names.count(n) > 1}):
            yield "ex_situ", f"series {n!r} is listed twice"
        for i, e in enumerate(self.ex_situ):
            if e.by != "voltage" and e.values is None:
                yield f"ex_situ[{i}].values", f"placing by {e.by} needs the stated value of each sample"
