"""Small helpers shared by the stages' tables and figures."""

from __future__ import annotations

import math

import numpy as np


def csv_value(v) -> str:
    """A table cell: floats to 8 significant digits, NaN/inf and None as empty cells."""
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return "" if not math.isfinite(v) else f"{v:.8g}"
    return str(v)


def float_or_nan(v) -> float:
    """``v`` as a float for an HDF5 array, NaN where it is unknown (None)."""
    return float("nan") if v is None else float(v)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (figures are written, never shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
