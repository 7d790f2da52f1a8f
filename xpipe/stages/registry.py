"""The stages a run can have, in the order they run.

The runner builds a run's stages from this list alone: each stage class decides from the recipe
whether it takes part (:meth:`~xpipe.stages.base.Stage.from_recipe`), so the runner names no
stage. A new stage is a module with a :class:`~xpipe.stages.base.Stage` subclass, added here at
the place where the results it reads are already written.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .base import Stage

#: Every stage, in run order: XRD (frames or patterns, then phases), XAS, XPS, the cycler
#: record, then the timeline that places everything on the cycler clock. Each is named by its
#: module and class, with the recipe sections it can take part for (any of them; a dotted
#: name is a key inside a section), so a run imports only the stages its recipe has sections
#: for (an XRD recipe loads no XAS code, integrating frames loads no phase analysis).
STAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("xrd_patterns", "PatternStage", ("xrd.patterns",)),
    ("xrd_integrate", "IntegrateStage", ("xrd",)),
    ("xrd_phases", "PhasesStage", ("xrd.peaks",)),
    ("xas", "XasStage", ("xas",)),
    ("xps", "XpsStage", ("xps",)),
    ("echem", "EchemStage", ("echem",)),
    ("timeline", "TimelineStage", ("echem", "figures")),
)


def stage_class(module: str, name: str) -> type[Stage]:
    """The stage class ``name`` of ``xpipe.stages.<module>``, imported on first use.

    Parameters
    ----------
    module, name : str
        An entry of :data:`STAGES`.

    Returns
    -------
    type
        The :class:`~xpipe.stages.base.Stage` subclass.

    Examples
    --------
    >>> stage_class("xas", "XasStage").__name__
    'XasStage'
    """
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def build_stages(recipe, base_dir: Path) -> list[Stage]:
    """The stages ``recipe`` asks for, in run order.

    Parameters
    ----------
    recipe : xpipe.recipe.model.Recipe
        A validated recipe.
    base_dir : Path
        The recipe's folder (relative paths in it are relative to this).

    Returns
    -------
    list of Stage
        One per section the recipe has, in the order of :data:`STAGES`; each stage is given
        the stages built before it (the timeline gets the cycler record's).

    Examples
    --------
    >>> import xpipe
    >>> loaded = xpipe.load_recipe(Path(xpipe.__file__).parents[1] / "recipes" / "nvp_full.yaml")
    >>> [s.name for s in build_stages(loaded.recipe, loaded.base_dir)]
    ['xrd.integrate', 'xrd_phases', 'xas', 'xps', 'echem', 'timeline']
    """
    built: dict[str, Stage] = {}
    for module, name, sections in STAGES:
        if not any(_has(recipe, section) for section in sections):
            continue
        stage = stage_class(module, name).from_recipe(recipe, base_dir, built)
        if stage is not None:
            built[stage.name] = stage
    return list(built.values())


def _has(recipe, dotted: str) -> bool:
    """Whether the recipe sets the section or key ``dotted`` (e.g. ``xrd.peaks``)."""
    value = recipe
    for name in dotted.split("."):
        value = getattr(value, name, None)
        if value is None:
            return False
    return bool(value)
