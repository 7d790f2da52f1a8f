"""The whole recipe: top-level keys and one section per technique, and the loader."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .schema import Context, load_document, setting
from .sections.echem import EchemConfig
from .sections.figures import PaperFiguresConfig
from .sections.run import RunConfig
from .sections.timeline import TimelineConfig
from .sections.xas import XasSeriesConfig
from .sections.xps import XpsSeriesConfig
from .sections.xrd import XrdConfig


@dataclass(kw_only=True)
class Recipe:
    """An xpipe recipe: what to read, how to process it, where to write."""

    name: str = setting(doc="Short name of the experiment or analysis.")
    description: str | None = setting(None, doc="Free text, kept in the results file.")
    output: str = setting("results", doc="Output folder, relative to the recipe; the command-line -o overrides.")
    run: RunConfig = setting(default_factory=RunConfig, doc="Execution settings (see run).")
    xrd: XrdConfig | None = setting(None, doc="Operando XRD section (see xrd).")
    xas: list[XasSeriesConfig] | None = setting(None, doc="XAS series: XANES edges and valence, EXAFS shells (see xas[]).")
    xps: list[XpsSeriesConfig] | None = setting(None, doc="XPS series: charge correction, components, doublets, backgrounds (see xps[]).")
    echem: EchemConfig | None = setting(None, doc="Cycler record and clock alignment (see echem).")
    timeline: TimelineConfig = setting(default_factory=TimelineConfig, doc="Placing series on the cycler clock (see timeline).")
    figures: PaperFiguresConfig | None = setting(
        None, doc="Publication figures: contour map with the voltage beside it, lattice evolution, valence timeline (see figures).")

    def check(self, ctx: Context):
        if self.figures is not None and self.figures.axis == "x" and (self.echem is None or self.echem.electrode is None):
            yield "figures.axis", "an x axis needs the ion content: add echem with an electrode section"
        known = {s.name for s in (self.xas or [])} | {s.name for s in (self.xps or [])}
        for i, e in enumerate(self.timeline.ex_situ):
            if e.series not in known:
                yield f"timeline.ex_situ[{i}].series", f"no xas[] or xps[] series is named {e.series!r} (found: {', '.join(sorted(known)) or 'none'})"
        if self.xrd is None and not self.xas and not self.xps:
            yield "xrd", "the recipe has no technique section; add 'xrd', 'xas' or 'xps'"
        for key, sections in (("xas", self.xas), ("xps", self.xps)):
            names = [s.name for s in sections or []]
            if len(set(names)) != len(names):
                yield key, "series names must be unique"


@dataclass(kw_only=True)
class LoadedRecipe:
    """A validated recipe with its source text, hash and folder."""

    recipe: Recipe
    path: Path
    text: str
    sha256: str

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def load_recipe(path: str | Path) -> LoadedRecipe:
    """Read and validate a recipe file; raises :class:`RecipeInvalid` listing every problem.

    Paths inside the recipe are relative to the recipe's folder.
    """
    path = Path(path)
    recipe, raw, text = load_document(Recipe, path, "recipe file")
    return LoadedRecipe(recipe=recipe, path=path.resolve(), text=text, sha256=hashlib.sha256(raw).hexdigest())
