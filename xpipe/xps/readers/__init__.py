"""Readers for XPS spectra: ISO 14976 VAMAS, SPECS Prodigy ``.xy``, Scienta SES ``.txt`` and
``.ibw``, CasaXPS text exports and two-column text.

Every reader returns :class:`XpsSpectrum` objects on an ascending binding-energy axis, with
the intensity (and any further recorded variable) reordered to match, and raises
:class:`XpsReadError` with a message that names the file, the block or line, and what was
expected.

One module per format registers its reader with :data:`REGISTRY`
(:mod:`~xpipe.xps.readers.vamas`, :mod:`~xpipe.xps.readers.specs`,
:mod:`~xpipe.xps.readers.scienta`, :mod:`~xpipe.xps.readers.casa_text`,
:mod:`~xpipe.xps.readers.text`; CasaXPS comment lines in :mod:`~xpipe.xps.readers.casa`);
:func:`read_xps` asks the registry which one reads a file. The formats are asked in that
order, each by content or by suffix: VAMAS (the VAMAS first line, whatever the suffix, or a
``.vms`` file), SPECS ``.xy`` (its header), SpecsLab2 XML (recognised and refused with the
reason), Scienta ``.txt`` (its ``[Info]`` section) and ``.ibw``, CasaXPS text exports (a
``Characteristic Energy`` line under each block title), then text for anything else.

A file holding several regions or blocks gives one spectrum per region, each named, never
one joined spectrum; scans that are not spectra (a SPECS alignment scan over time at a fixed
energy) are left out with a note in ``metadata['skipped_curves']``.

Energy scale
------------
Binding energy from a kinetic-energy abscissa is ``BE = hv - KE - phi``
(:func:`kinetic_to_binding`). The vendors behind the VAMAS and ``.xy`` files read here (SPECS
Prodigy, Kratos, CasaXPS exports) write kinetic energies that are already referenced to the
spectrometer's Fermi level, ``KE = hv - BE``: the Prodigy ``.xy`` export of the same survey
lists binding energy 1350 eV where the VAMAS export lists kinetic energy 136.61 eV at
hv = 1486.61 eV, and the Kratos wide scan (KE 286.69 to 1491.69 eV at hv = 1486.69 eV) is the
usual 1200 to -5 eV binding-energy survey. The work function in those files (4.1082 eV for
SPECS, -4.5 eV for Kratos) is a record of the instrument setting, not a correction still to be
made, so :func:`read_vamas` and :func:`read_specs_xy` use ``phi = 0`` unless told otherwise
(``subtract_work_function=True``); the file's value is kept in ``work_function_ev``.
Synchrotron text files give kinetic energies against the analyser's vacuum level: there the
caller passes the photon energy and the work function to :func:`read_text`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import (
    REGISTRY,
    UNSET_ABOVE,
    PathLike,
    XpsFileNotFoundError,
    XpsReadError,
    XpsSpectrum,
    _check_exists,
    kinetic_to_binding,
)
from .casa import parse_casa_comp, parse_casa_region

# The format modules register themselves on import: this order is the order of detection.
# isort: off
from .vamas import VAMAS_MAGIC, read_vamas
from .specs import read_specs_xy
from .scienta import read_scienta_ibw, read_scienta_txt
from .casa_text import read_casa_text
from .text import read_text
# isort: on

__all__ = [
    "REGISTRY",
    "UNSET_ABOVE",
    "VAMAS_MAGIC",
    "XpsFileNotFoundError",
    "XpsReadError",
    "XpsSpectrum",
    "kinetic_to_binding",
    "parse_casa_comp",
    "parse_casa_region",
    "read_casa_text",
    "read_scienta_ibw",
    "read_scienta_txt",
    "read_specs_xy",
    "read_text",
    "read_vamas",
    "read_xps",
]


def read_xps(path: PathLike | Path, *, format: str = "auto", **kw: Any) -> list[XpsSpectrum]:
    """Read any supported XPS file into a list of spectra.

    VAMAS when the first non-blank line is the VAMAS header (whatever the extension: PHI
    MultiPak writes VAMAS as ``.npl``); a ``.vms`` file without that header is an error. SPECS
    Prodigy ``.xy``, Scienta SES ``.txt`` and CasaXPS text exports when their headers say so,
    Scienta ``.ibw`` by its suffix; SpecsLab2 ``.xml`` is refused with the reason; otherwise
    two-column text (one spectrum). Keyword arguments go to the reader chosen.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    format : str, optional
        ``'auto'`` to detect the format, else a name in ``REGISTRY.names()`` (``'vamas'``,
        ``'specs-xy'``, ``'scienta-txt'``, ``'casa-text'``, ``'text'``...) or a suffix one of
        them claims.
    **kw
        Passed to the reader, e.g. ``subtract_work_function=True`` (VAMAS, SPECS) or
        ``photon_energy_ev=...`` (text).

    Returns
    -------
    spectra : list of XpsSpectrum
        On ascending binding energy (eV), in file order.

    Raises
    ------
    XpsReadError
        When the file is missing (:class:`XpsFileNotFoundError`) or cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "two.txt").write_text("285.0 30\\n284.0 10\\n")
    >>> [(s.label, s.binding_energy_ev.tolist()) for s in read_xps(folder / "two.txt")]
    [('two', [284.0, 285.0])]
    >>> REGISTRY.names(), REGISTRY.detect(folder / "two.txt").name
    (['vamas', 'specs-xy', 'specs-xml', 'scienta-txt', 'scienta-ibw', 'casa-text', 'text'], 'text')
    >>> _ = (folder / "bad.vms").write_text("285.0 30\\n")
    >>> try:
    ...     read_xps(folder / "bad.vms")
    ... except XpsReadError as err:
    ...     print(str(err).split(": ", 1)[1][:33])
    expected a VAMAS file (first line
    """
    p = _check_exists(path)
    return REGISTRY.read(p, format, **kw)
