"""Recipe sections ``xrd.phases``, ``xrd.peaks`` and ``xrd.lattice``: phases, peak tracking and refinement."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...xrd.reflections import Cell, crystal_system, load_structure, lost_symmetry
from ..schema import Context, InputFile, setting


@dataclass(kw_only=True)
class CellConfig:
    """An approximate unit cell; lengths the lattice system fixes may be left out.

    Recipe section ``xrd.phases[].cell``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> ctx = Context(base_dir=Path("."))
    >>> cfg = build(CellConfig, {"a": 8.7288, "c": 21.8042}, "xrd.phases[0].cell", 1, ctx)
    >>> cfg.b, cfg.c, cfg.alpha
    (None, 21.8042, 90.0)
    >>> build(CellConfig, {"a": 0.3}, "xrd.phases[0].cell", 1, ctx) is None
    True
    >>> ctx.problems[0].message
    'expected a number > 0.5, found 0.3'
    """

    a: float = setting(doc="Cell length a.", unit="angstrom", minimum=0.5, exclusive_minimum=True)
    b: float | None = setting(None, doc="Cell length b (default: as the lattice system implies, else a).", unit="angstrom", minimum=0.5, exclusive_minimum=True)
    c: float | None = setting(None, doc="Cell length c (default: as the lattice system implies, else a).", unit="angstrom", minimum=0.5, exclusive_minimum=True)
    alpha: float = setting(90.0, doc="Cell angle alpha.", unit="deg", minimum=0.0, maximum=180.0, exclusive_minimum=True)
    beta: float = setting(90.0, doc="Cell angle beta.", unit="deg", minimum=0.0, maximum=180.0, exclusive_minimum=True)
    gamma: float | None = setting(None, doc="Cell angle gamma (default: 120 for hexagonal/trigonal axes, else 90).", unit="deg", minimum=0.0, maximum=180.0, exclusive_minimum=True)


@dataclass(kw_only=True)
class PreferredOrientationConfig:
    """March-Dollase preferred orientation (W. A. Dollase, J. Appl. Cryst. 19 (1986) 267).

    Recipe section ``xrd.phases[].preferred_orientation``; its keys are the keyword arguments, each
    documented by its ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> ctx = Context(base_dir=Path("."))
    >>> cfg = build(PreferredOrientationConfig, {"march_dollase_hkl": [0, 0, 1]}, "po", 1, ctx)
    >>> cfg.march_dollase_r, cfg.refine
    (1.0, True)
    >>> build(PreferredOrientationConfig, {"march_dollase_hkl": [0, 0, 0]}, "po", 1, ctx)
    >>> ctx.problems[0].message
    'the texture direction cannot be [0, 0, 0]'
    """

    march_dollase_hkl: list[int] = setting(doc="Texture direction as a reciprocal-lattice vector [h, k, l] (the plate normal of plate-like crystals, e.g. [0, 0, 1]).", length=3)
    march_dollase_r: float = setting(1.0, doc="Starting March-Dollase r: 1 no texture, < 1 plates lying flat (more intensity along hkl), > 1 needles.", minimum=0.05, maximum=20.0)
    refine: bool = setting(True, doc="Refine r from the start value in each frame where the phase is strong; false keeps it fixed.")

    def check(self, ctx: Context):
        if not any(int(v) for v in self.march_dollase_hkl):
            yield "march_dollase_hkl", "the texture direction cannot be [0, 0, 0]"


@dataclass(kw_only=True)
class PhaseConfig:
    """One phase: a CIF, or a space group and an approximate cell.

    Recipe section ``xrd.phases[]``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> data = {"name": "NVP", "space_group": "R -3 c:H", "cell": {"a": 8.7288, "c": 21.8042}}
    >>> cfg = build(PhaseConfig, data, "xrd.phases[0]", 1, Context(base_dir=Path(".")))
    >>> cell = cfg.approximate_cell()  # b and gamma as the hexagonal axes imply
    >>> cell.b_a, cell.gamma_deg
    (8.7288, 120.0)
    """

    name: str = setting(doc="Phase name used in results, tables and figures (e.g. 'Na3V2(PO4)3').")
    cif: InputFile | None = setting(None, doc="CIF of the structure: reflections with |F|^2, cell, and the cell mass for weight fractions.")
    space_group: str | None = setting(None, doc="Space group (Hermann-Mauguin, gemmi spelling: 'F m -3 m', 'R -3 c:H', 'P 1 21/c 1'), when no CIF is given.")
    cell: CellConfig | None = setting(None, doc="Approximate cell; with a CIF it replaces the CIF's cell.")
    family: str | None = setting(None, doc="Members of one family can coexist in a two-phase reaction (default: phases of one space group whose cell lengths differ by < 10 %).")
    preferred_orientation: PreferredOrientationConfig | None = setting(None, doc="March-Dollase texture of this phase (current collectors, plate-like particles), see xrd.phases[].preferred_orientation.")

    def check(self, ctx: Context):
        if self.cif is None and (self.space_group is None or self.cell is None):
            yield "cif", f"phase {self.name!r}: give a CIF, or both space_group and cell"
        if self.cif is not None and Path(self.cif).is_file():
            try:
                why = lost_symmetry(load_structure(self.cif))
            except (ValueError, RuntimeError) as exc:
                yield "cif", f"{self.cif}: cannot be read as a crystal structure ({exc})"
            else:
                if why:
                    yield "cif", f"{self.cif}: {why}"
        if self.space_group is not None:
            try:
                crystal_system(self.space_group)
            except ValueError as exc:
                yield "space_group", str(exc)

    def approximate_cell(self) -> Cell | None:
        if self.cell is None:
            return None
        c = self.cell
        system = crystal_system(self.space_group) if self.space_group else None
        hexa = system == "hexagonal"
        gamma = c.gamma if c.gamma is not None else (120.0 if hexa else 90.0)
        b = c.b if c.b is not None else c.a
        cc = c.c if c.c is not None else c.a
        return Cell(c.a, b, cc, c.alpha, c.beta, gamma)


@dataclass(kw_only=True)
class PeaksConfig:
    """Peak finding, tracking and fitting on the integrated stack.

    Recipe section ``xrd.peaks``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> cfg = PeaksConfig()
    >>> cfg.background, cfg.prominence, cfg.min_frames
    ('snip', 10.0, 3)
    """

    range: list[float] | None = setting(None, doc="Radial range analysed (low, high), in the radial unit (xrd.integrate.unit or xrd.patterns.unit); default the whole axis.", length=2, increasing=True)
    background: str = setting("snip", doc="pybaselines method for the per-frame background (snip, asls, arpls, ...).")
    prominence: float = setting(10.0, doc="Smallest peak prominence, in units of the pattern noise.", minimum=0.0, exclusive_minimum=True)
    max_shift_fwhm: float = setting(1.0, doc="Largest move of a peak between frames, in FWHM (tracking gate).", minimum=0.0, exclusive_minimum=True)
    max_gap: int = setting(1, doc="Frames a peak may be missed and its track still continue.", minimum=0)
    min_frames: int = setting(3, doc="Tracks seen in fewer frames are dropped as noise.", minimum=1)
    separation_fwhm: float = setting(3.0, doc="Peaks closer than this many FWHM are fitted together in one window.", minimum=0.5)
    block_size: int = setting(16, doc="Frames fitted together per batch (warm start from the block before).", minimum=1)
    absolute_sigma: bool = setting(True, doc="Take the integration's error model as absolute (false: scale uncertainties by the reduced chi-square).")
    split_relative: float = setting(0.03, doc="Without indexed phases: a new peak closer than this relative distance to a live one is a split.", minimum=0.0)
    shift_sigma: float = setting(5.0, doc="A shift event must move a peak by more than this many standard uncertainties.", minimum=0.0)


@dataclass(kw_only=True)
class LatticeConfig:
    """Indexing of the tracked peaks and cell refinement.

    Recipe section ``xrd.lattice``; its keys are the keyword arguments, each documented by its
    ``setting(doc=...)`` below and in ``docs/recipes.md``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> ctx = Context(base_dir=Path("."))
    >>> build(LatticeConfig, {"stay_z": 6}, "xrd.lattice", 1, ctx) is None
    True
    >>> ctx.problems[0].message.split(":")[0]
    'stay_z (6) is above significance_z (5)'
    >>> LatticeConfig().method, LatticeConfig().lorentz
    ('auto', 'area_detector')
    """

    method: Literal["auto", "sequential", "peaks", "pawley"] = setting("auto", doc="auto or sequential: every frame refined as a whole pattern, all phases at once, seeded by the previous frame (Rietveld scales where a CIF gives the structure, Pawley intensities where not), presence by an F-test; peaks: least squares on 1/d^2 of clean indexed tracked peaks; pawley: whole-window fits started from the tracked peaks.")
    zero_shift: bool = setting(False, doc="Refine a 2theta zero shift with each cell (2theta axes only).")
    tolerance_relative: float = setting(0.004, doc="How far (relative) a reflection of a not yet located phase may be from a tracked peak to match it.", minimum=0.0, exclusive_minimum=True, maximum=0.05)
    tolerance_fwhm: float = setting(0.35, doc="How far (in FWHM) a reflection of a located phase may be from a tracked peak to match it.", minimum=0.0, exclusive_minimum=True)
    clean_fwhm: float = setting(1.5, doc="A peak is used for the 1/d^2 cell only if no other expected reflection lies within this many FWHM.", minimum=0.0)
    significance_z: float = setting(5.0, doc="A phase enters a frame when removing it raises chi^2 by this significance (F-test, one-sided Gaussian z; 5 is p = 3e-7).", minimum=1.0)
    stay_z: float = setting(3.0, doc="A phase present in the frame before stays while its significance is at least this (hysteresis); at most significance_z.", minimum=0.0)
    max_step: float = setting(0.004, doc="Largest relative change of a cell length from one frame to the next (the refinement's bound).", minimum=0.0, exclusive_minimum=True, maximum=0.05)
    max_cell_change: float = setting(0.06, doc="A cell length further than this (relative) from the CIF or recipe cell is a runaway: refitted from the previous frame and flagged.", minimum=0.0, exclusive_minimum=True, maximum=0.5)
    search_relative: float = setting(0.01, doc="A phase not yet seen is searched for with its cell scaled by up to this much (relative) around the CIF or recipe cell.", minimum=0.0, maximum=0.05)
    background_spacing_fwhm: float = setting(25.0, doc="Knot spacing of the refined cubic B-spline background, in typical peak widths (FWHM of the first frame's strongest peaks): wide enough that no Bragg peak is taken for background.", minimum=5.0)
    snip_background: bool = setting(True, doc="Add the SNIP baseline of each frame as one more refined background column (humps of cell windows and electrolyte).")
    refine_profile: bool = setting(True, doc="Refine each phase's Caglioti width (U, W) and eta where the phase is strong (significance >= 10); false keeps the starting profile.")
    direction: Literal["both", "forward"] = setting("both", doc="Seeding: forward in time, and (both) backwards from where a phase that appears late is strong.")
    fraction_jump: float = setting(0.08, doc="A weight fraction this far from the mean of both neighbouring frames (which agree) is refitted from a neighbour and flagged.", minimum=0.0, exclusive_minimum=True, maximum=1.0)
    lorentz: Literal["area_detector", "line_detector"] = setting("area_detector", doc="Lorentz factor of the calculated intensities for phase fractions: area_detector 1/(sin(theta) sin(2 theta)) for solid-angle-corrected 2D integration, line_detector 1/(sin^2(theta) cos(theta)).")

    def check(self, ctx: Context):
        if self.stay_z > self.significance_z:
            yield "stay_z", (f"stay_z ({self.stay_z:g}) is above significance_z ({self.significance_z:g}): a phase "
                             "would have to pass a stricter test to stay than to enter; set stay_z <= significance_z")
