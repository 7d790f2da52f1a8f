"""The data of a fit: one spectrum cut to its region, its weights and its data background.

``x`` is sorted ascending (binding energy, eV); ``sigma`` defaults to Poisson
``sqrt(max(|y|, 1))``; X-ray satellites of a non-monochromatic anode are removed on the whole
measured range before the region is cut. The Shirley, linear and Tougaard backgrounds are
computed once from the data; the active Shirley is rebuilt from the model peaks during the fit
(:mod:`xpipe.xps.fit.evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import backgrounds as _bg
from .compiled import _Compiled
from .model import BACKGROUNDS
from .results import Diagnostic


@dataclass
class _Spectrum:
    index: int
    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray
    region: tuple[float, float]
    kind: str
    bg_opts: dict
    bg_static: np.ndarray
    comp: _Compiled | None = None
    low: str | None = None  # active Shirley end-level parameters
    high: str | None = None
    bg_note: list[Diagnostic] = field(default_factory=list)
    weights: str = "poisson"


def _prepare(x, y, sigma, region, source) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float], str]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.size} and {y.size}")
    if sigma is None or (isinstance(sigma, str) and sigma == "poisson"):
        s = np.sqrt(np.maximum(np.abs(y), 1.0))
        weights = "poisson sqrt(max(|y|, 1))"
    else:
        s = np.broadcast_to(np.asarray(sigma, dtype=float), y.shape).astype(float)
        weights = "given sigma"
    order = np.argsort(x, kind="stable")
    x, y, s = x[order], y[order], s[order]
    if source is not None:  # on the whole measured range: parents above the region count
        y = np.asarray(_bg.xray_satellites(x, y, source=source), dtype=float)
    if region is None:
        lo, hi = float(x[0]), float(x[-1])
    else:
        reg = [region] if np.ndim(region) == 1 else list(region)
        try:
            lo = float(min(min(r) for r in reg))
            hi = float(max(max(r) for r in reg))
        except (TypeError, ValueError):
            raise ValueError(f"region {region!r}: expected (lo, hi) in eV or a list of such pairs") from None
    keep = (x >= lo) & (x <= hi) & np.isfinite(y) & np.isfinite(s) & (s > 0)
    if keep.sum() < 8:
        raise ValueError(f"only {int(keep.sum())} usable points in the region {lo:g}-{hi:g} eV (data {x[0]:g}-{x[-1]:g} eV)")
    return x[keep], y[keep], s[keep], (lo, hi), weights


def _static_background(kind: str, x, y, opts) -> tuple[np.ndarray, list[Diagnostic]]:
    notes: list[Diagnostic] = []
    avg = opts.get("avg_points", 5)
    if kind == "none":
        return np.zeros_like(y), notes
    if kind == "linear":
        return np.asarray(_bg.linear(x, y, avg_points=avg), dtype=float), notes
    if kind in ("shirley", "active_shirley"):
        kw = {k: opts[k] for k in ("max_iter", "tol") if k in opts}
        try:
            out = _bg.shirley(x, y, avg_points=avg, **kw)
        except (ValueError, FloatingPointError, RuntimeError) as err:
            if kind == "active_shirley":  # only the starting areas use it
                return np.asarray(_bg.linear(x, y, avg_points=avg), dtype=float), notes
            notes.append(Diagnostic("shirley_not_converged", f"Shirley background failed ({err}); a linear "
                                    "background between the end averages is used instead", "error", ()))
            return np.asarray(_bg.linear(x, y, avg_points=avg), dtype=float), notes
        if isinstance(out, tuple):
            out = out[0]
        return np.asarray(out, dtype=float), notes
    if kind == "tougaard":
        kw = {k: v for k, v in opts.items() if k in ("B", "C", "D", "C_sign", "fit_B", "material")}
        out = _bg.tougaard(x, y, avg_points=avg, **kw)
        if isinstance(out, tuple):
            out = out[0]
        return np.asarray(out, dtype=float), notes
    raise ValueError(f"unknown background {kind!r}; expected one of {', '.join(BACKGROUNDS)}")


def _end_levels(y, avg) -> tuple[float, float]:
    n = max(1, min(int(avg), y.size // 2))
    return float(np.mean(y[:n])), float(np.mean(y[-n:]))
