"""The whole recipe: top-level keys and one section per technique, and the loader."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..stages.echem import EchemConfig
from ..stages.paper_figures import PaperFiguresConfig
from ..stages.timeline import TimelineConfig
from ..stages.xas import XasSeriesConfig
from ..stages.xps import XpsSeriesConfig
from ..stages.xrd_integrate import XrdConfig
from .schema import Context, load_document, setting


@dataclass(kw_only=True)
class RunConfig:
    """How the run is executed."""

    executor: Literal["processes", "serial", "dask"] = setting(
        "processes",
        doc="Where chunks run: 'processes' (a pool of local processes), 'serial' (this process "
        "only) or 'dask' (a Dask cluster: 'scheduler' if given, else a local cluster of "
        "'workers' processes). The command-line --workers, --scheduler and --dask-local override.",
    )
    workers: int | Literal["auto"] = setting(
        "auto",
        doc="Worker processes ('auto': one per CPU core, at most one per chunk). The integration "
        "engine is built once and shared by the workers. The command-line --workers overrides.",
        minimum=1,
        maximum=512,
    )
    scheduler: str | None = setting(
        None,
        doc="A running Dask scheduler: its address, e.g. 'tcp://10.0.0.5:8786', or the JSON file "
        "written by 'dask scheduler --scheduler-file' (relative to the recipe). Chunks then run on "
        "its workers, which must see the input files under the same paths (see docs/cluster.md).",
    )

    def check(self, ctx: Context):
        if self.scheduler is None:
            return
        if self.scheduler.lower().endswith(".json") and "://" not in self.scheduler:
            path = Path(self.scheduler).expanduser()
            path = path if path.is_absolute() else ctx.base_dir / path
            self.scheduler = str(path)  # may not exist yet: the scheduler writes it when it starts
        elif not re.match(r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$", self.scheduler):
            yield "scheduler", (f"expected a scheduler address such as 'tcp://host:8786' or a scheduler "
                                f"file 'scheduler.json', found {self.scheduler!r}")
    chunk_frames: int = setting(
        16, doc="Frames per chunk: the unit of work handed to a worker and of checkpointing.", minimum=1, maximum=100000
    )


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
