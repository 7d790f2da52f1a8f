"""Recipe section ``xrd``: operando diffraction, from frames or patterns to phases, exports and figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..schema import Context, setting
from .xrd_frames import FramesConfig, IntegrateConfig
from .xrd_patterns import PatternsConfig
from .xrd_phases import LatticeConfig, PeaksConfig, PhaseConfig


@dataclass(kw_only=True)
class ExportConfig:
    """Extra files written beside results.h5.

    Recipe section ``xrd.export``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> ExportConfig().xye
    False
    """

    xye: bool = setting(False, doc="Write one .xye file (radial, intensity, sigma) per frame, GSAS-II/TOPAS friendly.")


@dataclass(kw_only=True)
class XrdFiguresConfig:
    """Quick-look figures.

    Recipe section ``xrd.figures``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = XrdFiguresConfig()
    >>> cfg.contour_scale, cfg.time_unit
    ('sqrt', 'h')
    """

    contour: bool = setting(True, doc="Draw figures/xrd_contour.png (radial axis against time).")
    contour_scale: Literal["sqrt", "log", "linear"] = setting("sqrt", doc="Colour scale of the contour map.")
    time_unit: Literal["s", "min", "h"] = setting("h", doc="Time unit on the contour map.")
    tracked: bool = setting(True, doc="With xrd.peaks: draw figures/xrd_contour_tracked.png (contour with the fitted peak positions and hkl labels).")
    lattice: bool = setting(True, doc="With xrd.phases: draw figures/lattice.png (cell parameters, volume and phase fractions against time).")


@dataclass(kw_only=True)
class XrdConfig:
    """Operando XRD: 2D frames to integrate or 1D patterns, exports, figures, peak tracking and cells.

    Recipe section ``xrd``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "scan_1.xye").write_text("10.0 1.0 1.0\\n")
    >>> ctx = Context(base_dir=folder)
    >>> cfg = build(XrdConfig, {"patterns": {"files": "*.xye", "wavelength_a": 0.8}}, "xrd", 1, ctx)
    >>> cfg.patterns.wavelength_a, cfg.peaks, cfg.lattice.method
    (0.8, None, 'auto')
    >>> build(XrdConfig, {}, "xrd", 1, ctx) is None, ctx.problems[0].key
    (True, 'xrd.frames')
    """

    frames: FramesConfig | None = setting(None, doc="Input 2D frames (see xrd.frames); with xrd.integrate. Give these or xrd.patterns.")
    integrate: IntegrateConfig | None = setting(None, doc="Integration settings of xrd.frames (see xrd.integrate).")
    patterns: PatternsConfig | None = setting(None, doc="Already-reduced 1D patterns instead of xrd.frames and xrd.integrate (see xrd.patterns).")
    export: ExportConfig = setting(default_factory=ExportConfig, doc="Exports (see xrd.export).")
    figures: XrdFiguresConfig = setting(default_factory=XrdFiguresConfig, doc="Figures (see xrd.figures).")
    peaks: PeaksConfig | None = setting(None, doc="Track peaks through the stack (see xrd.peaks); an empty mapping takes the defaults.")
    phases: list[PhaseConfig] = setting(default_factory=list, doc="Phases to index the tracked peaks and refine cells for (see xrd.phases[]); needs xrd.peaks.")
    lattice: LatticeConfig = setting(default_factory=LatticeConfig, doc="Indexing and cell refinement (see xrd.lattice).")

    def check(self, ctx: Context):
        two_d = [k for k in ("frames", "integrate") if getattr(self, k) is not None]
        if self.patterns is not None and two_d:
            yield "patterns", (
                "give either xrd.frames with xrd.integrate (2D frames to integrate) or xrd.patterns "
                f"(1D patterns already reduced), not both; found xrd.{' and xrd.'.join(two_d)} and xrd.patterns"
            )
        elif self.patterns is None and not two_d:
            yield "frames", (
                "missing required key: give xrd.frames with xrd.integrate (2D frames to integrate), "
                "or xrd.patterns (1D patterns already reduced)"
            )
        elif self.patterns is None and self.integrate is None:
            yield "integrate", (
                "missing required key: xrd.frames (2D frames) needs xrd.integrate (the integration "
                "settings); for 1D patterns use xrd.patterns instead"
            )
        elif self.patterns is None and self.frames is None:
            yield "frames", "missing required key: xrd.integrate needs xrd.frames (the 2D frames to integrate)"
        if self.phases and self.patterns is not None and self.patterns.wavelength_a is None:
            yield "patterns.wavelength_a", (
                "xrd.phases needs the X-ray wavelength (reflection positions in 2theta, Lorentz "
                "factors); set xrd.patterns.wavelength_a in angstrom, or leave out xrd.phases to "
                "track peaks only"
            )
        if self.phases and self.peaks is None:
            yield "phases", "phases are indexed on tracked peaks: add an xrd.peaks section (an empty mapping takes the defaults)"
        names = [p.name for p in self.phases]
        for n in sorted({n for n in names if names.count(n) > 1}):
            yield "phases", f"phase name {n!r} is used twice; names must be unique"
