"""What a stage is to the runner: the base class every stage derives from, and its summary.

A stage wraps a science core for a recipe section. The runner asks it for its items
(:meth:`Stage.keys`; none for a stage that works on the whole results, such as phase analysis
on the pattern stack), hands them to an executor through :meth:`Stage.worker`, lets it
:meth:`Stage.write` its part of ``results.h5`` and draw its figures and tables
(:meth:`Stage.after`). For the stage cache it declares the stages it reads
(:attr:`Stage.depends_on`), its settings and input files (:meth:`Stage.fingerprint`) and, for
a whole-results stage, the state it needs to redraw without recomputing
(:attr:`Stage.caches_state`, :meth:`Stage.cache_state`, :meth:`Stage.restore_state`). Stages
import this module, never the runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["Stage", "StageSummary"]


@dataclass
class StageSummary:
    """What a stage's :meth:`Stage.write` reports to the runner.

    Parameters
    ----------
    done : int
        Items done (frames, spectra, fitted samples).
    failed : list of (str, str)
        Every item that failed: its key and the reason.
    inputs : list of (str, str or None)
        The input files read: path and sha256 checksum (None when the runner is to compute it).
    engine_builds : int
        Integration engines pyFAI built (0 for stages that integrate nothing).

    Examples
    --------
    >>> s = StageSummary(2, [("f_0003.cbf", "truncated file")], [("f_0001.cbf", None)])
    >>> s.done, len(s.failed), s.engine_builds
    (2, 1, 0)
    """

    done: int
    failed: list[tuple[str, str]]
    inputs: list[tuple[str, str | None]]
    engine_builds: int = 0


class Stage:
    """Base class of the stages; the defaults are those of a stage that needs none of it.

    A subclass sets :attr:`name` and :attr:`label`, builds itself in :meth:`from_recipe` and
    overrides what it uses: :meth:`keys` and :meth:`worker` for per-item work, :meth:`write`
    for its part of ``results.h5``, :meth:`after` for the files beside it.

    The base class takes no arguments; each stage's ``__init__`` takes its recipe section and
    the recipe's folder.

    Attributes
    ----------
    name, label : str
        The stage's name (results, checkpoints, logs) and what its items are called.
    depends_on : tuple of str
        The stages whose results this one reads.
    caches_state : bool
        Whether a whole-results stage can be replayed from the stage cache.

    Examples
    --------
    >>> class Sums(Stage):
    ...     name, label = "sums", "numbers"
    ...     def keys(self):
    ...         return ["1", "2", "3"]
    >>> st = Sums()
    >>> st.keys(), st.worker(), st.fingerprint(), st.depends_on
    (['1', '2', '3'], None, None, ())
    >>> Sums.from_recipe(None, Path("."), {}) is None  # the default takes no part
    True

    The stages of a real recipe derive from it:

    >>> import xpipe
    >>> from xpipe.stages.registry import build_stages
    >>> loaded = xpipe.load_recipe(Path(xpipe.__file__).parents[1] / "recipes" / "nvp_xps.yaml")
    >>> stages = build_stages(loaded.recipe, loaded.base_dir)
    >>> [(type(s).__name__, isinstance(s, Stage)) for s in stages]
    [('XpsStage', True)]
    """

    #: Name in results, checkpoints and logs, and what its items are called.
    name: str = ""
    label: str = ""
    #: Names of the stages whose results this one reads (their cache hashes enter its own).
    depends_on: tuple[str, ...] = ()
    #: True for a whole-results stage whose written part can be replayed from the cache.
    caches_state: bool = False
    #: sha256 of the fingerprint's input files by path, as the runner computed them for the
    #: stage cache (empty without it): a worker may take them instead of hashing the files again.
    input_digests: Mapping[str, str] = MappingProxyType({})

    @classmethod
    def from_recipe(cls, recipe: Any, base_dir: Path, built: dict[str, Stage]) -> Stage | None:
        """This stage for ``recipe`` (its resolved :class:`~xpipe.recipe.model.Recipe`), or None
        when the recipe does not ask for it. ``built`` holds the stages made before this one, by
        name, for a stage that works with another (the timeline with the cycler record)."""
        return None

    def keys(self) -> list[str]:
        """Items for the executor, in order; empty for a stage that works in :meth:`write`."""
        return []

    def worker(self) -> Any:
        """The picklable worker that processes one chunk of items, or None."""
        return None

    def plan_lines(self) -> list[str]:
        """Lines that ``xpipe run --dry-run`` prints about this stage."""
        return []

    def fingerprint(self) -> tuple[Any, list[str]] | None:
        """(settings, input file paths) that decide whether cached results still hold, or
        None for a stage that is always run."""
        return None

    def cache_state(self) -> Any:
        """With :attr:`caches_state`: what :meth:`after` needs, kept with the cached results."""
        return None

    def restore_state(self, state: Any) -> None:
        """With :attr:`caches_state`: take back what :meth:`cache_state` gave."""

    def write(self, entry: Any, checkpoints: Any) -> StageSummary:
        """Write this stage's part of ``results.h5`` under ``entry``."""
        raise NotImplementedError

    def after(self, results_path: Path, outdir: Path) -> list[Path]:
        """Figures and tables beside ``results.h5``; the files written."""
        return []
