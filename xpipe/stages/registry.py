"""The stages a run can have, in the order they run.

The runner builds a run's stages from this list alone: each stage class decides from the recipe
whether it takes part (:meth:`~xpipe.stages.base.Stage.from_recipe`), so the runner names no
stage. A new stage is a module with a :class:`~xpipe.stages.base.Stage` subclass, added here at
the place where the results it reads are already written.
"""

from __future__ import annotations

from pathlib import Path

from .base import Stage
from .echem import EchemStage
from .timeline import TimelineStage
from .xas import XasStage
from .xps import XpsStage
from .xrd_integrate import IntegrateStage
from .xrd_patterns import PatternStage
from .xrd_phases import PhasesStage

#: Every stage class, in run order: XRD (frames or patterns, then phases), XAS, XPS, the
#: cycler record, then the timeline that places everything on the cycler clock.
STAGES: tuple[type[Stage], ...] = (
    PatternStage,
    IntegrateStage,
    PhasesStage,
    XasStage,
    XpsStage,
    EchemStage,
    TimelineStage,
)


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
    for cls in STAGES:
        stage = cls.from_recipe(recipe, base_dir, built)
        if stage is not None:
            built[stage.name] = stage
    return list(built.values())
