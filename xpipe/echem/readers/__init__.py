"""Readers that turn battery-cycler files into one table (:class:`CyclerData`).

Supported files (``read_cycler`` asks :data:`REGISTRY`: the first bytes of the file decide,
then its suffix, case-insensitive; a suffix no format claims is an error):

============  ==================  ==========================================================
suffix        ``format``          read with
============  ==================  ==========================================================
``.mpr``      ``biologic-mpr``    yadg's EC-Lab extractor, else ``galvani`` (binary EC-Lab
                                  file; see :mod:`.eclab_mpr`)
``.mpt``      ``biologic-mpt``    the parser here (EC-Lab text export)
``.nda``      ``neware-nda``      ``NewareNDA``
``.ndax``     ``neware-ndax``     ``NewareNDA``
``.res``      ``arbin-res``       ``access_parser`` (Arbin's Access/Jet database)
``.csv``      ``csv``             the parser here (also ``.tsv`` and ``.txt``; delimiter
                                  sniffed; a ``.txt``/``.csv`` that starts with
                                  ``EC-Lab ASCII FILE`` is read as ``biologic-mpt``)
============  ==================  ==========================================================

One module per format (:mod:`.biologic`, :mod:`.neware`, :mod:`.arbin`, :mod:`.csv`) defines
its reader and registers it. The vendor libraries are imported inside the readers, so
importing this package is cheap and only the library of the format being read has to be
installed.

Conventions of the returned table
---------------------------------
* ``time_s``: seconds since the first record, monotonic non-decreasing (test time, not step
  time); ``start`` is the wall-clock time of ``time_s == 0`` (naive or tz-aware as the file
  gives it). Pauses of a Neware test (timestamps running on while the step time stands
  still) are part of ``time_s``, so that ``start + time_s`` follows the wall clock.
* ``current_ma``: mA, positive = charge (oxidation of the working electrode), the sign
  convention of all three vendors.
* ``capacity_mah``: net charge passed since the first record (mAh, charge positive),
  cumulative over the whole file. Vendors whose counters restart at every step (Neware) or
  cycle (Arbin) and count charge and discharge separately are summed up here.
* ``direction``: +1 charge, -1 discharge, 0 rest (``|I| <= rest_current_ma`` or the cycler's
  own rest state).
* ``half_cycle``: 0 before the first segment with current, then 1, 2, 3 ... incremented at
  every change of current direction; rest rows keep the number of the segment before them.
* ``cycle``: 1-based; the cycler's counter where the file has one, otherwise a new cycle
  starts at each half-cycle with the direction of the first half-cycle.
* ``step``: the cycler's (program) step index, 1-based; derived from changes of direction if
  the file has none.

Errors: a missing file raises :class:`CyclerFileNotFoundError` (a ``FileNotFoundError``);
everything else that makes a file unusable raises :class:`CyclerReadError` with a message that
names the file and what was expected.
"""

from __future__ import annotations

from .base import (
    OLE_EPOCH,
    REGISTRY,
    REST_CURRENT_MA,
    CyclerData,
    CyclerFileNotFoundError,
    CyclerReadError,
    CyclerRegistry,
    PathLike,
    _check_file,
)

# isort: off
# the import order is the sniff order, and the order formats and suffixes are listed in
from .biologic import read_biologic_mpr, read_biologic_mpt
from .neware import read_neware
from .arbin import read_arbin_res
from .csv import read_cycler_csv
# isort: on

__all__ = [
    "FORMATS",
    "OLE_EPOCH",
    "REGISTRY",
    "REST_CURRENT_MA",
    "CyclerData",
    "CyclerFileNotFoundError",
    "CyclerReadError",
    "CyclerRegistry",
    "read_arbin_res",
    "read_biologic_mpr",
    "read_biologic_mpt",
    "read_cycler",
    "read_cycler_csv",
    "read_neware",
]

FORMATS = tuple(REGISTRY.names())
"""The values of :attr:`CyclerData.format` (and of the ``format`` argument of read_cycler)."""


def read_cycler(path: PathLike, format: str = "auto", columns: dict[str, str] | None = None,
                time_format: str | None = None, capacity: str = "auto", *,
                rest_current_ma: float = REST_CURRENT_MA) -> CyclerData:
    """Read a cycler file into a :class:`CyclerData`.

    Parameters
    ----------
    path : str or Path
        The file.
    format : str
        ``"auto"`` (by content, then by the suffix: ``.mpr .mpt .nda .ndax .res .csv .tsv
        .txt``, case-insensitive), one of :data:`FORMATS`, or a suffix without its dot
        (``"mpr"``).
    columns : dict or None
        For delimited tables only: our names -> the file's column names (see
        :func:`read_cycler_csv`).
    time_format : str or None
        For delimited tables only: strptime pattern of a date column (None: ISO 8601).
    capacity : {"auto", "file", "integrate"}
        ``"auto"`` takes the cycler's own charge counter where the file has one and
        integrates the current (trapezoid) otherwise; ``"file"`` insists on the counter;
        ``"integrate"`` always integrates the current.
    rest_current_ma : float
        ``|I|`` at or below this (mA) is rest.

    Returns
    -------
    CyclerData
        One record per row: ``time_s`` (s), ``voltage_v`` (V), ``current_ma`` (mA),
        ``capacity_mah`` (mAh), cycle, half-cycle, direction and step.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> path = folder / "cell.csv"
    >>> _ = path.write_text("time/s,Ewe/V,I/mA\\n0,3.2,2\\n900,3.3,2\\n1800,3.4,-2\\n"
    ...                     "2700,3.3,-2\\n")
    >>> d = read_cycler(path)
    >>> d.format, len(d), d.n_half_cycles
    ('csv', 4, 2)
    >>> round(float(d.capacity_mah.max()), 3)
    0.5
    >>> _ = (folder / "cell.xyz").write_text("1 2 3\\n")
    >>> try:
    ...     read_cycler(folder / "cell.xyz")
    ... except CyclerReadError as exc:
    ...     print(str(exc).split(": ", 1)[1].split(";")[0])
    cannot tell the cycler format from the suffix '.xyz'
    """
    p = _check_file(path)
    return REGISTRY.read(p, format, columns=columns, time_format=time_format,
                         capacity=capacity, rest_current_ma=rest_current_ma)
