"""Small helpers shared by the stages' tables and figures."""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..outfiles import atomic_savefig

#: resolution of every PNG figure (journals ask for 300 dpi line art and halftones)
FIGURE_DPI = 300
#: every figure is written in these formats: PNG for viewing, SVG for editing and print
FIGURE_FORMATS = ("png", "svg")

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

#: the house style of the stage figures, the same for XRD, XAS and XPS
HOUSE_STYLE = {
    "axes.prop_cycle": None,  # filled in by house_style() (needs matplotlib's cycler)
    "font.size": 9.0,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9.0,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "lines.linewidth": 1.1,
    "axes.linewidth": 0.8,
    "legend.frameon": False,
    "image.cmap": "viridis",
    "svg.fonttype": "none",  # text stays text in the SVG, editable in a drawing program
}

#: column suffix of a value in the stack's radial unit, for tables with units in the header
RADIAL_COLUMN = {"2th_deg": "two_theta_deg", "q_A^-1": "q_inv_angstrom", "q_nm^-1": "q_inv_nm"}


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


@contextmanager
def house_style():
    """Draw inside this block to get the house style of every stage figure.

    The style (font sizes, inward ticks on all sides, the Okabe-Ito colour cycle, viridis maps,
    SVG text kept as text) is applied with ``matplotlib.rc_context``, so the caller's own
    matplotlib settings are back as they were afterwards.

    Yields
    ------
    module
        ``matplotlib.pyplot``.

    Examples
    --------
    >>> with house_style() as plt:
    ...     fig, ax = plt.subplots()
    ...     first = ax.plot([0, 1])[0].get_color()
    ...     inward = plt.rcParams["xtick.direction"]
    >>> plt.close(fig)
    >>> first, inward
    ('#0072B2', 'in')
    """
    plt = pyplot()
    import matplotlib  # loaded by pyplot() above; only its rc_context and cycler are needed

    rc = dict(HOUSE_STYLE, **{"axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO)})
    with matplotlib.rc_context(rc):
        yield plt


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` in every figure format: ``path`` as PNG at 300 dpi, and an SVG beside it.

    Both files are written atomically; the figure is not closed.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        The PNG file to write; the SVG takes the same name with ``.svg``.

    Returns
    -------
    Path
        The PNG path (``path``).

    Examples
    --------
    >>> import tempfile
    >>> with house_style() as plt:
    ...     fig, ax = plt.subplots(figsize=(2, 1.5))
    ...     _ = ax.plot([0, 1], [1, 0])
    >>> png = save_figure(fig, Path(tempfile.mkdtemp()) / "line.png")
    >>> plt.close(fig)
    >>> sorted(p.name for p in png.parent.iterdir())
    ['line.png', 'line.svg']
    >>> from PIL import Image
    >>> Image.open(png).size  # 2 x 1.5 inches at 300 dpi
    (600, 450)
    """
    path = Path(path)
    for fmt in FIGURE_FORMATS:
        atomic_savefig(fig, path.with_suffix(f".{fmt}"), dpi=FIGURE_DPI)
    return path


def styled(draw):
    """Decorator: run a figure-drawing function inside :func:`house_style`.

    Parameters
    ----------
    draw : callable
        A function that draws and saves a figure.

    Returns
    -------
    callable
        The same function, drawing in the house style.

    Examples
    --------
    >>> @styled
    ... def tick_direction():
    ...     return pyplot().rcParams["ytick.direction"]
    >>> tick_direction()
    'in'
    """

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with house_style():
            return draw(*args, **kwargs)

    return wrapper
