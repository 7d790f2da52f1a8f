"""The whole recipe: top-level keys and one section per technique, and the loader."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..stages.xas import XasSeriesConfig
from ..stages.xps import XpsSeriesConfig
from ..stages.xrd_integrate import XrdConfig
from .schema import Context, Problem, RecipeInvalid, _Bad, build, setting
from .yamlio import LineDict, YamlSyntaxError, load_yaml


@dataclass(kw_only=True)
class RunConfig:
    """How the run is executed."""

    workers: int | Literal["auto"] = setting(
        "auto",
        doc="Worker processes ('auto': one per CPU core, at most one per chunk). The integration "
        "engine is built once and shared by the workers. The command-line --workers overrides.",
        minimum=1,
        maximum=512,
    )
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

    def check(self, ctx: Context):
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
    source = str(path)
    if not path.is_file():
        why = "is a folder" if path.is_dir() else "does not exist"
        raise RecipeInvalid(source, [Problem("", None, f"recipe file {why}")])
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeInvalid(source, [Problem("", None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    try:
        data = load_yaml(text)
    except YamlSyntaxError as exc:
        raise RecipeInvalid(source, [Problem("", exc.line, f"invalid YAML: {exc}")]) from None
    ctx = Context(base_dir=path.resolve().parent)
    if data is None:
        data = LineDict()
    try:
        recipe = build(Recipe, data, "", 1, ctx)
    except _Bad as exc:
        ctx.add("", 1, exc.message)
        recipe = None
    if ctx.problems or recipe is None:
        raise RecipeInvalid(source, ctx.problems)
    return LoadedRecipe(recipe=recipe, path=path.resolve(), text=text, sha256=hashlib.sha256(raw).hexdigest())
