"""xpipe: recipe-driven processing of operando X-ray data from battery experiments.

The top level is flat and lazy: nothing heavy is imported until a name is used.

- ``xpipe.load_recipe(path)``, ``xpipe.run(recipe, output)``, ``xpipe.open_results(path)``:
  the recipe workflow (:mod:`xpipe.api`); ``open_results`` gives ``.xrd``, ``.xas``, ``.xps``,
  ``.echem`` and ``.timeline`` as xarray and pandas objects (docs/api.md), and raises
  ``xpipe.TechniqueNotRun`` for a technique the run did not have.
- the readers of each file family: ``xpipe.read_scan`` (XAS: XDI, beamline
  columns, Athena, NeXus), ``xpipe.read_xps`` (VAMAS, SPECS, text), ``xpipe.read_cycler``
  (BioLogic, Neware, Arbin, CSV), ``xpipe.read_pattern`` (1D diffraction patterns).

Examples
--------
>>> import xpipe
>>> callable(xpipe.run), "open_results" in dir(xpipe)
(True, True)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it; imported on first use (PEP 562)
_LAZY = {
    "load_recipe": "xpipe.api",
    "run": "xpipe.api",
    "open_results": "xpipe.api",
    "TechniqueNotRun": "xpipe.api",
    "read_scan": "xpipe.xas.readers",
    "read_xps": "xpipe.xps.readers",
    "read_cycler": "xpipe.echem.readers",
    "read_pattern": "xpipe.io.patterns",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xpipe' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
