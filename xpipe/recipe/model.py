"""The whole recipe: top-level keys and one section per technique, and the loader."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .schema import Context, load_document, setting
from .sections.echem import EchemConfig
from .sections.figures import PaperFiguresConfig
from .sections.run import RunConfig
from .sections.timeline import TimelineConfig
from .sections.xas import XasSeriesConfig
from .sections.xps import XpsSeriesConfig
from .sections.xrd import XrdConfig
from .versions import CURRENT_VERSION, migrate


@dataclass(kw_only=True)
class Recipe:
    """An xpipe recipe: what to read, how to process it, where to write.

    The top level of a recipe file; each key is a keyword argument, documented by its
    ``setting(doc=...)`` below and in the top-level table of ``docs/recipes.md``. At least one
    technique section (``xrd``, ``xas`` or ``xps``) is required.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import Context, build
    >>> ctx = Context(base_dir=Path("."))
    >>> build(Recipe, {"name": "demo"}, "", 1, ctx) is None
    True
    >>> ctx.problems[0].message
    "the recipe has no technique section; add 'xrd', 'xas' or 'xps'"
    >>> Recipe(name="demo").output, Recipe(name="demo").run.chunk_frames
    ('results', 16)
    """

    version: int = setting(
        CURRENT_VERSION, doc="Recipe format version the file is written for (older formats are "
        "migrated when read; 'xpipe validate --effective' shows the recipe in the current one).",
        minimum=1, maximum=CURRENT_VERSION)
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
    """A validated recipe with its source text, hash and folder.

    Parameters
    ----------
    recipe : Recipe
        The validated settings (current format, paths made absolute).
    path : Path
        The recipe file, absolute.
    text : str
        The file as written, kept in the results' provenance.
    sha256 : str
        Hex digest of the file's bytes.
    written_version : int
        The format version the file was written for (before migration).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "scan_1.xye").write_text("10.0 1.0 1.0\\n")
    >>> _ = (folder / "recipe.yaml").write_text(
    ...     'name: demo\\nxrd:\\n  patterns:\\n    files: "*.xye"\\n')
    >>> loaded = load_recipe(folder / "recipe.yaml")
    >>> loaded.base_dir == folder.resolve(), loaded.written_version
    (True, 1)
    >>> loaded.effective()["run"]["chunk_frames"]
    16
    """

    recipe: Recipe
    path: Path
    text: str
    sha256: str

    #: The format version the file was written for (before migration).
    written_version: int = CURRENT_VERSION

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def effective(self) -> dict[str, Any]:
        """Every setting of the recipe with its effective value, defaults included (see
        :func:`effective_settings`)."""
        return effective_settings(self.recipe)


def effective_settings(section: Any) -> Any:
    """A recipe or section as plain data: every key with the value in force, defaults included.

    What is written into ``/entry/provenance/effective_settings`` and what
    ``xpipe validate --effective`` prints. Settings left to the data (``auto`` values resolved
    per file or per frame) appear as ``auto``; each stage records what it resolved them to.

    Parameters
    ----------
    section : Any
        A recipe, a section, or a value inside one.

    Returns
    -------
    Any
        Sections as dicts of key to value, lists and tuples as lists, paths (``InputFile``)
        as plain absolute-path strings, other values as they are.

    Examples
    --------
    >>> from xpipe.recipe.sections.run import RunConfig
    >>> effective_settings(RunConfig())["chunk_frames"]
    16
    """
    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        return {f.name: effective_settings(getattr(section, f.name)) for f in dataclasses.fields(section)}
    if isinstance(section, list | tuple):
        return [effective_settings(v) for v in section]
    if isinstance(section, dict):
        return {str(k): effective_settings(v) for k, v in section.items()}
    if isinstance(section, str):
        return str(section)  # InputFile: the absolute path it was resolved to
    return section


def load_recipe(path: str | Path) -> LoadedRecipe:
    """Read and validate a recipe file; raises :class:`RecipeInvalid` listing every problem.

    Paths inside the recipe are relative to the recipe's folder.

    Parameters
    ----------
    path : str or Path
        The recipe YAML file. A recipe of an older format version is migrated first.

    Returns
    -------
    LoadedRecipe
        The validated recipe with its text, sha256 and folder.

    Raises
    ------
    RecipeInvalid
        Every problem found, with its key path and line.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from xpipe.recipe.schema import RecipeInvalid
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "scan_1.xye").write_text("10.0 1.0 1.0\\n")
    >>> _ = (folder / "recipe.yaml").write_text(
    ...     'name: demo\\nxrd:\\n  patterns:\\n    files: "*.xye"\\n')
    >>> loaded = load_recipe(folder / "recipe.yaml")
    >>> loaded.recipe.name, loaded.recipe.xrd.patterns.unit, loaded.sha256[:12]
    ('demo', '2th_deg', 'ad066cc7bf57')
    >>> _ = (folder / "bad.yaml").write_text("name: demo\\nxrd:\\n  patterns:\\n    unit: deg\\n")
    >>> try:
    ...     load_recipe(folder / "bad.yaml")
    ... except RecipeInvalid as exc:
    ...     print([f"{p.line} {p.key}" for p in exc.problems])
    ['3 xrd.patterns.files', '4 xrd.patterns.unit']
    """
    path = Path(path)
    found: list[int] = []

    def prepare(data: dict) -> dict:
        current, version = migrate(data)
        found.append(version)
        return current

    recipe, raw, text = load_document(Recipe, path, "recipe file", prepare)
    return LoadedRecipe(recipe=recipe, path=path.resolve(), text=text, sha256=hashlib.sha256(raw).hexdigest(),
                        written_version=found[0] if found else CURRENT_VERSION)
