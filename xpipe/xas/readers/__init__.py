"""Readers for XAS data files, and a writer for Athena projects.

Every reader returns :class:`~xpipe.xas.scan.XasScan` objects that passed ``check()``, and
raises :class:`~xpipe.xas.scan.XasReadError` with a message that names the file and says what
was expected. Larch does the parsing where it does it well (XDI, Athena projects, the header
conventions of many beamlines); these modules pick the columns, build mu(E) and tidy the
energy axis.

One module per format, each registering its reader with :data:`REGISTRY`: NeXus/HDF5
(:mod:`.nexus`), Athena projects (:mod:`.athena`), XDI (:mod:`.xdi`) and beamline text columns
(:mod:`.columns`, which also takes any file no other format claims). :func:`read_scan` asks the
registry which format a file is.

Energy axis rules, for every format:

- energies in keV (all values below 200) are converted to eV; angles are converted with the
  monochromator d-spacing when the file gives one;
- a scan recorded from high to low energy is reversed (``metadata['reversed_energy']``);
- repeated energy points are averaged (``metadata['merged_duplicate_points']`` counts the
  points removed);
- an energy that goes back and forth is an error: nothing is sorted silently.
"""

from __future__ import annotations

from typing import Any

from ..scan import XasReadError, XasScan
from .base import REGISTRY, ColumnSpec, PathLike, _existing_file
from .build import DUPLICATE_STEP_EV, HC_EV_ANGSTROM, KEV_BELOW

# The format modules register themselves on import: this order is the sniff order.
# isort: off
from .nexus import read_nexus
from .athena import read_athena, write_athena
from .xdi import read_xdi, read_xdi_blocks
from .columns import read_columns
# isort: on

__all__ = ["DUPLICATE_STEP_EV", "HC_EV_ANGSTROM", "KEV_BELOW", "REGISTRY", "ColumnSpec",
           "PathLike", "XasReadError", "XasScan", "read_athena", "read_columns", "read_nexus",
           "read_scan", "read_xdi", "read_xdi_blocks", "write_athena"]


def read_scan(path: PathLike, format: str = "auto", *, group: str | int | None = None,
              **kw: Any) -> list[XasScan]:
    """Read any supported XAS file, its format found by content, then by suffix.

    The formats are those in :data:`REGISTRY`: XDI (an ``# XDI/`` first line or ``.xdi``),
    Athena projects (``.prj``, plain or gzip), NeXus/HDF5 (the HDF5 signature, ``.h5``,
    ``.nxs``, ...) and, for any other file, beamline text columns (:func:`read_columns`).

    Parameters
    ----------
    path : str or Path
        The file.
    format : str
        ``'auto'`` to detect the format, or a format name from ``REGISTRY.names()`` ('xdi',
        'athena', 'nexus', 'columns') or one of its suffixes.
    group : str or int, optional
        One group of an Athena project, by label or index (see :func:`read_athena`); refused
        for the other formats.
    **kw
        Passed to the reader of the format (``mode=``, ``energy=``, ``entry=``, ...).

    Returns
    -------
    list of XasScan
        Always a list, also for formats that hold a single scan; energies in eV.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> e = np.linspace(7080.0, 7180.0, 26)
    >>> mu = 0.5 + np.arctan((e - 7112.0) / 2.0) / np.pi
    >>> path = Path(tempfile.mkdtemp()) / "scan_001.txt"
    >>> rows = [f"{a:.2f} {b:.5f}" for a, b in zip(e, mu)]
    >>> _ = path.write_text("# XDI/1.0\\n# Column.1: energy eV\\n# Column.2: mutrans\\n#----\\n"
    ...                     + "\\n".join(rows) + "\\n")
    >>> REGISTRY.detect(path).name
    'xdi'
    >>> [(s.label, s.mode, s.energy_ev.size) for s in read_scan(path)]
    [('scan_001', 'mu', 26)]
    >>> REGISTRY.names()
    ['nexus', 'athena', 'xdi', 'columns']
    """
    p = _existing_file(path)
    if group is not None:
        fmt = REGISTRY.detect(p) if (format or "auto").lower() == "auto" else REGISTRY[format]
        if fmt.name != "athena":
            raise XasReadError(f"{p}: 'group' selects a group of an Athena project; this file "
                               f"is read as {fmt.name!r}, which has no groups")
        kw["group"] = group
    return REGISTRY.read(p, format, **kw)
