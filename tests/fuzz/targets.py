"""What the fuzz suite calls on a mutant, what it must raise, and what valid data looks like.

Each target is a public reader (or the recipe loader) with the input error that it documents.
A call passes when it returns data that keeps the reader's documented promises (``check``
returns None) or raises that error. Anything else is a finding. The xpipe modules are imported
on first use, inside the worker process.

Examples
--------
>>> sorted(TARGETS)
['cycler', 'frames', 'pattern', 'poni', 'recipe', 'scan', 'xps']
>>> TARGETS["pattern"].error_name
'xpipe.io.patterns.PatternReadError'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Target:
    """A reader under test.

    ``call(path, **options)`` reads; ``error_name`` is the dotted name of the exception that
    refusing an input must raise (its subclasses count too); ``check(value)`` returns None for
    valid data, else what is wrong.
    """

    call: Callable[..., Any]
    error_name: str
    check: Callable[[Any], str | None]
    label: str

    def error(self) -> type[BaseException]:
        module, _, name = self.error_name.rpartition(".")
        return getattr(importlib.import_module(module), name)


def _strictly_increasing(a: np.ndarray) -> bool:
    a = np.asarray(a, dtype=float)
    return bool(a.ndim == 1 and np.all(np.isfinite(a)) and np.all(np.diff(a) > 0))


def _read_frames(entry: str) -> list[tuple[tuple[int, ...], str]]:
    from xpipe.io.frames import FrameReader, expand_inputs

    refs = expand_inputs(entry, Path(entry.partition("::")[0]).parent)
    reader = FrameReader()
    try:
        out = []
        for ref in refs:
            data, t = reader.read(ref)
            out.append((np.shape(data), type(data).__name__, type(t).__name__))
        return out
    finally:
        reader.close()


def _check_frames(frames: list) -> str | None:
    for shape, kind, _ in frames:
        if kind != "ndarray" or len(shape) != 2 or 0 in shape:
            return f"a frame of shape {shape} ({kind}); expected a 2D array"
    return None


def _check_scans(scans: Any) -> str | None:
    from xpipe.xas.scan import XasReadError, XasScan

    if not isinstance(scans, list) or not scans:
        return f"{type(scans).__name__} {scans!r:.60}; expected a non-empty list of XasScan"
    for s in scans:
        if not isinstance(s, XasScan):
            return f"a {type(s).__name__} in the list; expected XasScan"
        try:
            s.check()
        except XasReadError as exc:
            return f"a scan that fails XasScan.check(): {exc}"
    return None


def _check_xps(spectra: Any) -> str | None:
    from xpipe.xps.readers import XpsSpectrum

    if not isinstance(spectra, list) or not spectra:
        return f"{type(spectra).__name__} {spectra!r:.60}; expected a non-empty list of XpsSpectrum"
    for s in spectra:
        if not isinstance(s, XpsSpectrum):
            return f"a {type(s).__name__} in the list; expected XpsSpectrum"
        if not _strictly_increasing(s.binding_energy_ev):
            return f"spectrum {s.label!r}: binding energies not finite and strictly ascending"
        if np.shape(s.intensity) != np.shape(s.binding_energy_ev):
            return f"spectrum {s.label!r}: intensity and energy lengths differ"
    return None


def _check_cycler(data: Any) -> str | None:
    from xpipe.echem.readers import CyclerData

    if not isinstance(data, CyclerData):
        return f"a {type(data).__name__}; expected CyclerData"
    t = np.asarray(data.time_s, dtype=float)
    if t.ndim != 1 or t.size == 0:
        return f"time_s of shape {t.shape}; expected at least one record"
    names = ("voltage_v", "current_ma", "capacity_mah", "cycle", "half_cycle", "direction", "step")
    lengths = {n: np.shape(getattr(data, n)) for n in names}
    if any(shape != t.shape for shape in lengths.values()):
        return f"columns of different lengths: time_s {t.shape}, {lengths}"
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        return "time_s not finite and non-decreasing"
    return None


def _check_pattern(p: Any) -> str | None:
    from xpipe.io.patterns import MIN_POINTS, Pattern

    if not isinstance(p, Pattern):
        return f"a {type(p).__name__}; expected Pattern"
    if not _strictly_increasing(p.x):
        return "x not finite and strictly increasing"
    if np.shape(p.intensity) != np.shape(p.x) or (p.sigma is not None and np.shape(p.sigma) != np.shape(p.x)):
        return "x, intensity and sigma lengths differ"
    if p.x.size < MIN_POINTS:
        return f"{p.x.size} points; fewer than MIN_POINTS ({MIN_POINTS})"
    return None


def _check_poni(h: Any) -> str | None:
    from xpipe.io.geometry import PoniHeader

    if not isinstance(h, PoniHeader) or not isinstance(h.detector_config, dict):
        return f"a {type(h).__name__}; expected PoniHeader with a dict detector_config"
    return None


def _check_recipe(loaded: Any) -> str | None:
    from xpipe.recipe.model import LoadedRecipe

    return None if isinstance(loaded, LoadedRecipe) else f"a {type(loaded).__name__}; expected LoadedRecipe"


def _lazy(module: str, name: str) -> Callable[..., Any]:
    return lambda path, **kw: getattr(importlib.import_module(module), name)(path, **kw)


TARGETS: dict[str, Target] = {
    "frames": Target(_read_frames, "xpipe.io.frames.FrameReadError", _check_frames,
                     "expand_inputs + FrameReader.read"),
    "poni": Target(_lazy("xpipe.io.geometry", "read_poni_header"), "builtins.ValueError", _check_poni,
                   "read_poni_header"),
    "scan": Target(_lazy("xpipe", "read_scan"), "xpipe.xas.scan.XasReadError", _check_scans, "read_scan"),
    "xps": Target(_lazy("xpipe", "read_xps"), "xpipe.xps.readers.XpsReadError", _check_xps, "read_xps"),
    "cycler": Target(_lazy("xpipe", "read_cycler"), "xpipe.echem.readers.CyclerReadError", _check_cycler,
                     "read_cycler"),
    "pattern": Target(_lazy("xpipe", "read_pattern"), "xpipe.io.patterns.PatternReadError",
                      _check_pattern, "read_pattern"),
    "recipe": Target(_lazy("xpipe.recipe.model", "load_recipe"), "xpipe.recipe.schema.RecipeInvalid",
                     _check_recipe, "load_recipe"),
}
