"""Smooth backgrounds under patterns, estimated with pybaselines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BASELINE_DEFAULTS: dict[str, dict] = {
    "snip": {"max_half_window": None, "decreasing": True, "smooth_half_window": None},
    "asls": {"lam": 1e6, "p": 0.01},
    "arpls": {"lam": 1e5},
}


@dataclass(frozen=True)
class BackgroundEstimate:
    """A baseline estimated under one pattern or a stack, with how it was obtained.

    Attributes
    ----------
    baseline : same shape as the input intensity (counts or the input's intensity unit).
    method : baseline algorithm (``snip``, ``asls``, ``arpls``, or another pybaselines method).
    params : every parameter passed to the algorithm, defaults resolved (for provenance).
    library : implementation and its version, e.g. ``pybaselines 1.2.1``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(10, 12, 401)
    >>> est = background(x, 50 + 5 * (x - 10), "asls")
    >>> est.baseline.shape, est.method, est.params
    ((401,), 'asls', {'lam': 1000000.0, 'p': 0.01})
    """

    baseline: np.ndarray
    method: str
    params: dict
    library: str


def background(x: np.ndarray, y: np.ndarray, method: str = "snip", **params) -> BackgroundEstimate:
    """Estimate the smooth background under a pattern or under each pattern of a stack.

    Parameters
    ----------
    x : radial axis, shape (n_points,), any unit (degrees 2theta, 1/angstrom, ...).
    y : intensity, shape (n_points,) or (n_frames, n_points).
    method : a `pybaselines <https://pybaselines.readthedocs.io>`_ method of
        ``pybaselines.Baseline``: ``snip`` (statistics-sensitive non-linear iterative peak
        clipping; ``max_half_window`` in points, default ``n_points // 40``, and
        ``smooth_half_window`` default ``max_half_window // 10``, ``decreasing=True``), ``asls``
        (asymmetric least squares; ``lam``, ``p``), ``arpls`` (``lam``), or any other name.
    **params : passed to the pybaselines method; recorded with the defaults resolved.

    Returns
    -------
    BackgroundEstimate
        ``baseline`` has the shape of ``y``.

    Raises
    ------
    ImportError
        pybaselines is not installed.
    ValueError
        unknown method, or ``x`` and ``y`` do not match.


    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xrd.peaks import pseudo_voigt
    >>> x = np.linspace(10, 12, 401)
    >>> y = 50 + 5 * (x - 10) + 100 * pseudo_voigt(x, 11.0, 0.05, 1.0, 0.3)
    >>> est = background(x, y, max_half_window=40)
    >>> np.round(est.baseline[[0, 200, 400]], 1).tolist(), est.params["smooth_half_window"]
    ([50.2, 56.3, 60.2], 4)
    """
    try:  # optional dependency, imported only when a background is estimated
        import pybaselines
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("background() needs pybaselines: pip install pybaselines") from exc
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if y.shape[-1] != x.shape[0] or y.ndim not in (1, 2):
        raise ValueError(f"y must be (n_points,) or (n_frames, n_points) with "
                         f"n_points={x.shape[0]}, got {y.shape}")
    fitter = pybaselines.Baseline(x_data=x)
    if not hasattr(fitter, method) or method.startswith("_"):
        raise ValueError(f"unknown background method {method!r} "
                         "(pybaselines.Baseline has no such method)")
    resolved = dict(_BASELINE_DEFAULTS.get(method, {}))
    resolved.update(params)
    if method == "snip":
        if resolved.get("max_half_window") is None:
            resolved["max_half_window"] = max(3, x.shape[0] // 40)
        if "smooth_half_window" not in params:  # clip the noise, not its lower envelope
            resolved["smooth_half_window"] = max(1, int(resolved["max_half_window"]) // 10)
    fn = getattr(fitter, method)
    rows = y.reshape(-1, x.shape[0])
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        out[i] = fn(row, **resolved)[0]
    return BackgroundEstimate(
        baseline=out.reshape(y.shape),
        method=method,
        params=resolved,
        library=f"pybaselines {pybaselines.__version__}",
    )
