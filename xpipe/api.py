"""The notebook API: load a recipe, run it, open what it wrote.

These are the functions ``import xpipe`` offers at the top level (``xpipe.load_recipe``,
``xpipe.run``, ``xpipe.open_results``, and the readers of every file family). The command line
is a thin layer over the same calls.

Examples
--------
>>> import tempfile, pathlib, xpipe
>>> recipe = pathlib.Path(xpipe.__file__).parents[1] / "recipes" / "nvp_xps.yaml"
>>> loaded = xpipe.load_recipe(recipe)
>>> loaded.recipe.version, [s.name for s in loaded.recipe.xps][:1]
(1, ['V2p_O1s'])
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from .recipe.model import LoadedRecipe, load_recipe
from .results import Results, TechniqueNotRun, open_results
from .runner import RunReport, output_dir
from .runner import run as _run_loaded

__all__ = ["load_recipe", "open_results", "run", "LoadedRecipe", "Results", "RunReport", "TechniqueNotRun"]


def run(recipe: str | PathLike[str] | LoadedRecipe, output: str | PathLike[str] | None = None, *,
        workers: int | None = None, resume: bool = False, use_cache: bool = True,
        dry_run: bool = False, quiet: bool = True) -> RunReport:
    """Run a recipe, as ``xpipe run`` does.

    Parameters
    ----------
    recipe : path or LoadedRecipe
        A recipe file (validated here; :class:`~xpipe.recipe.schema.RecipeInvalid` lists every
        problem) or a recipe already loaded with :func:`load_recipe`.
    output : path, optional
        Output folder; default: the recipe's ``output`` key, relative to the recipe.
    workers : int, optional
        Local worker processes (1: serial); default: the recipe's ``run`` section.
    resume : bool
        Continue an interrupted run in ``output``, skipping finished items.
    use_cache : bool
        Reuse the results of stages whose inputs and settings are unchanged since the last run
        into ``output``.
    dry_run : bool
        Only report what would be done (nothing is written).
    quiet : bool
        No progress lines (the default in a notebook); warnings still go to the log.

    Returns
    -------
    RunReport
        ``results`` (the path of ``results.h5``, None for a dry run), ``done`` and ``failed``
        items, the ``files`` written, and ``exit_code`` as the command line would return it.

    Examples
    --------
    >>> import tempfile, pathlib, xpipe
    >>> recipe = pathlib.Path(xpipe.__file__).parents[1] / "recipes" / "nvp_xps.yaml"
    >>> report = xpipe.run(recipe, tempfile.mkdtemp(), dry_run=True)
    >>> report.results is None, report.exit_code
    (True, 0)
    """
    loaded = recipe if isinstance(recipe, LoadedRecipe) else load_recipe(recipe)
    outdir = output_dir(loaded, Path(output) if output is not None else None)
    echo = (lambda *a, **k: None) if quiet else print
    return _run_loaded(loaded, outdir, workers=workers, resume=resume, dry_run=dry_run,
                       quiet=quiet, echo=echo, use_cache=use_cache)
