"""Recipe section ``xrd.patterns``: already integrated 1D patterns instead of frames."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from ...io.frames import FrameRef, expand_inputs
from ...io.patterns import READERS
from ..schema import Context, setting
from .xrd_frames import ScanLogConfig


@dataclass(kw_only=True)
class PatternsConfig:
    r"""Already-reduced 1D patterns, one file per time step, instead of 2D frames.

    Recipe section ``xrd.patterns``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("scan_10.xye", "scan_2.xye"):
    ...     _ = (folder / name).write_text("10.0 1.0 1.0\n")
    >>> cfg = build(PatternsConfig, {"files": "scan_*.xye", "unit": "q_A^-1"}, "xrd.patterns", 1,
    ...             Context(base_dir=folder))
    >>> [os.path.basename(r.path) for r in cfg.refs], cfg.unit, cfg.grid
    (['scan_2.xye', 'scan_10.xye'], 'q_A^-1', 'common')
    """

    files: str | list[str] = setting(
        doc="Pattern files: a glob ('xrd_data/*.xye') or a list of paths or globs, sorted "
        "naturally (scan_2 before scan_10). Read are .xye (x, intensity, sigma), .xy/.dat/.txt/"
        ".csv (2 or 3 columns; '#' and text header lines are skipped and kept), Fit2D .chi and "
        "GSAS .fxye."
    )
    unit: Literal["2th_deg", "q_A^-1", "q_nm^-1"] = setting(
        "2th_deg", doc="Unit of the files' x column: 2theta in degrees, or Q in 1/angstrom or 1/nm."
    )
    wavelength_a: float | None = setting(
        None,
        doc="X-ray wavelength. Required for xrd.phases (indexing, cells, phase fractions) and for "
        "the d-spacing axis of 2theta patterns; without it peaks are tracked on the axis as read. "
        "Never guessed.",
        unit="angstrom",
        minimum=0,
        exclusive_minimum=True,
    )
    columns: list[int] | None = setting(
        None,
        doc="0-based column numbers of x, intensity and optionally sigma, for files with more "
        "than 3 columns; default: 2 columns are (x, intensity), 3 are (x, intensity, sigma).",
        minimum=0,
    )
    error_model: Literal["file", "poisson", "none"] = setting(
        "file",
        doc="Uncertainty of each point: 'file' the files' sigma column (NaN where a file has none), "
        "'poisson' sqrt(max(intensity, 1)) (raw counts only), 'none' (sigma stored as NaN).",
    )
    time_source: Literal["auto", "scan_log", "header", "mtime"] = setting(
        "auto",
        doc="Pattern time from the scan log, a header line holding a date (ISO 8601 and the "
        "formats detectors write), or the file modification time. 'auto': scan log if given, "
        "else header, else modification time.",
    )
    scan_log: ScanLogConfig | None = setting(
        None, doc="Scan-log CSV giving pattern times (file name, stem or scan id the name starts with)."
    )
    range: list[float] | None = setting(
        None,
        doc="Keep only points from low to high, in 'unit', as the files are read; default all.",
        length=2,
        increasing=True,
    )
    grid: Literal["common", "first"] = setting(
        "common",
        doc="When the files' x axes differ (by more than 1e-6 relative), every pattern is "
        "interpolated linearly onto the first pattern's points: 'common' keeps the range all "
        "patterns cover, 'first' the first pattern's whole range (NaN where a pattern has no "
        "data). Identical axes are used as read.",
    )

    def check(self, ctx: Context):
        try:
            self._refs = expand_inputs(self.files, ctx.base_dir)
        except (FileNotFoundError, ValueError) as exc:
            yield "files", str(exc)
            return
        stacks = [r for r in self._refs if r.dataset is not None]
        if stacks:
            yield "files", (
                f"'{stacks[0].path}' is an HDF5 frame stack; xrd.patterns reads 1D pattern files "
                "(HDF5 frames go to xrd.frames with xrd.integrate)"
            )
            return
        unknown = [r.path for r in self._refs if os.path.splitext(r.path)[1].lower() not in READERS]
        if unknown:
            yield "files", (
                f"{len(unknown)} file(s) of an unknown pattern format, e.g. '{os.path.basename(unknown[0])}'; "
                f"read are {', '.join(sorted(READERS))}"
            )
            return
        if self.columns is not None:
            if len(self.columns) not in (2, 3) or len(set(self.columns)) != len(self.columns):
                yield "columns", (
                    f"expected 2 or 3 different column numbers (x, intensity[, sigma]), found {self.columns}"
                )
            elif self.error_model == "file" and len(self.columns) == 2:
                yield "columns", "error_model 'file' needs a sigma column: name 3 columns, or use 'poisson' or 'none'"
        if self.time_source == "scan_log" and self.scan_log is None:
            yield "scan_log", "time_source is 'scan_log' but no scan_log is given"
            return
        self._log_times = None
        if self.scan_log is not None and self.time_source in ("auto", "scan_log"):
            times = yield from self.scan_log.times_of(self._refs, "pattern file")
            if times is None:
                return
            self._log_times = times

    @property
    def refs(self) -> list[FrameRef]:
        return self._refs
