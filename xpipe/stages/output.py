"""Small helpers shared by the stages' tables and figures."""

from __future__ import annotations

import math

import numpy as np


def csv_value(v) -> str:
    """A table cell: floats to 8 significant digits, NaN/inf and None as empty cells.

    Parameters
    ----------
    v : object
        The value: a float (Python or numpy), None, or anything ``str`` writes.

    Returns
    -------
    str
        What the CSV cell holds.

    Examples
    --------
    >>> import numpy as np
    >>> csv_value(1 / 3), csv_value(np.float32(2.5)), csv_value(float("nan")), csv_value(None)
    ('0.33333333', '2.5', '', '')
    >>> csv_value(7), csv_value("V4+")
    ('7', 'V4+')
    """
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return "" if not math.isfinite(v) else f"{v:.8g}"
    return str(v)


def float_or_nan(v) -> float:
    """``v`` as a float for an HDF5 array, NaN where it is unknown (None).

    Parameters
    ----------
    v : float, int or None
        The value.

    Returns
    -------
    float
        ``float(v)``, or NaN for None.

    Examples
    --------
    >>> float_or_nan(3), float_or_nan(None)
    (3.0, nan)
    """
    return float("nan") if v is None else float(v)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (figures are written, never shown).

    matplotlib is imported on first use, so listing or validating recipes does not pay for it.

    Returns
    -------
    module
        ``matplotlib.pyplot``, with the Agg backend selected.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> plt = pyplot()
    >>> plt.get_backend().lower()
    'agg'
    >>> fig, axes = plt.subplots(1, 2, figsize=(2, 1))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "two_panels.png"
    >>> fig.savefig(out)
    >>> plt.close(fig)
    >>> out.name, len(axes), out.stat().st_size > 0
    ('two_panels.png', 2, True)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
