"""Read xpipe results files from Python (notebooks, scripts, later stages).

``open_results(path)`` opens ``OUTDIR/results.h5`` read-only and gives every technique as
xarray Datasets (arrays with coordinates: patterns on ``time_s`` and ``two_theta_deg``, spectra
on ``energy_ev``, lattice on frame time) and pandas DataFrames (tables: peaks, events, fitted
components, the cycler record, timeline series), with units in coordinate names and in
``attrs["units"]``. See docs/api.md.

Example (after ``xpipe run recipes/nvp_full.yaml``)::

    import xpipe

    with xpipe.open_results("results/nvp_full/results.h5") as res:
        res.techniques                      # ('xrd', 'xas', 'xps', 'echem', 'timeline')
        stack = res.xrd.patterns            # xarray.Dataset: intensity[time_s, two_theta_deg]
        cells = res.xrd.lattice             # xarray.Dataset: a, a_err, ... [phase, time_s]
        xanes = res.xas["V_K"].table        # DataFrame: one row per spectrum
        comps = res.xps["V2p_O1s"].components
        cycler = res.echem                  # DataFrame: time_s, voltage_v, ...
        valence = res.timeline.table        # DataFrame: every series on the cycler clock

A technique that did not run raises :class:`TechniqueNotRun` (a ``LookupError``) naming the
file, the recipe section that would produce it and what the file holds; ``res.techniques``
says beforehand what is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..store import read_record
from ._h5 import TechniqueNotRun
from .spectra import SeriesMap, XasSeries, XpsSeries, xas_series, xps_series
from .timeline import Timeline, echem_table
from .xrd import XrdResults

__all__ = ["PatternStack", "Results", "SeriesMap", "TechniqueNotRun", "Timeline", "XasSeries", "XpsSeries",
           "XrdResults", "open_results", "read_patterns"]

#: technique -> (what it is called, the recipe section that makes it)
TECHNIQUES = {
    "xrd": ("XRD", "xrd"),
    "xas": ("XAS", "xas"),
    "xps": ("XPS", "xps"),
    "echem": ("cycler (electrochemistry)", "echem"),
    "timeline": ("timeline", "timeline"),
}


@dataclass
class PatternStack:
    """The pattern stack of a run (integrated from frames or read from 1D pattern files) with
    its axes (xarray-like: arrays with coordinates).

    Attributes
    ----------
    intensity, sigma : [frame, radial] float32; sigma is NaN where no error model was used.
    radial : radial axis values, in ``radial_units``; ``radial_name`` says what it is
        (``two_theta_deg``, ``q_nm_inv``, ``q_a_inv``).
    d_spacing_a : d-spacing of each radial bin in angstrom (derived with the wavelength; None for
        2theta patterns read from files without one).
    frame_time_s : mid-exposure time of each frame in seconds after ``start_time`` (NaN if unknown).
    frame_index : position of each frame in the recipe's input list.
    source_file : where each frame came from (``file`` or ``file::dataset[i]``).
    wavelength_a : X-ray wavelength in angstrom (None when 1D patterns were read without one).
    unit : the radial unit in pyFAI's spelling (``2th_deg``, ``q_nm^-1``, ``q_A^-1``).

    Examples
    --------
    >>> stack = PatternStack(
    ...     intensity=np.ones((2, 3)), sigma=np.ones((2, 3)), radial=np.array([10.0, 10.5, 11.0]),
    ...     radial_name="two_theta_deg", radial_units="deg", d_spacing_a=None,
    ...     frame_time_s=np.array([0.0, 60.0]), frame_index=np.arange(2),
    ...     source_file=["a.xye", "b.xye"], start_time=None, wavelength_a=None, unit="2th_deg")
    >>> stack.n_frames, stack.radial_units
    (2, 'deg')
    """

    intensity: np.ndarray
    sigma: np.ndarray
    radial: np.ndarray
    radial_name: str
    radial_units: str
    d_spacing_a: np.ndarray | None
    frame_time_s: np.ndarray
    frame_index: np.ndarray
    source_file: list[str]
    start_time: str | None
    wavelength_a: float | None
    unit: str = ""

    @property
    def n_frames(self) -> int:
        return int(self.intensity.shape[0])


class Results:
    """An open results file; methods return plain arrays and dataclasses.

    Parameters
    ----------
    path : str or Path
        An xpipe results file (``OUTDIR/results.h5``), opened read-only; close it with
        :meth:`close` or use it in a ``with`` block.

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    ValueError
        When it is not HDF5, or has no ``/entry``.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from xpipe.store import write_record
    >>> path = Path(tempfile.mkdtemp()) / "results.h5"
    >>> with h5py.File(path, "w") as h5:  # two patterns of three 2theta bins, by hand
    ...     write_record(h5.require_group("entry/xrd"), {"integrated": {
    ...         "radial": [10.0, 10.5, 11.0], "intensity": [[1.0, 5.0, 1.0], [1.0, 4.0, 2.0]],
    ...         "sigma": [[1.0, 2.2, 1.0], [1.0, 2.0, 1.4]], "frame_time_s": [0.0, 60.0],
    ...         "frame_index": [0, 1], "source_file": ["a.xye", "b.xye"]},
    ...         "patterns": {"wavelength_a": 0.8}})
    >>> with Results(path) as res:
    ...     res.has("xrd/integrated"), res.failed(), res.integration_settings()
    (True, [], {'wavelength_a': 0.8})
    """

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"results file '{path}' does not exist")
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise ValueError(f"'{path}' is not a readable HDF5 results file: {exc}") from None
        if "entry" not in self._h5:
            self._h5.close()
            raise ValueError(f"'{path}' has no /entry group: not an xpipe results file")

    def close(self) -> None:
        self._h5.close()

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def entry(self):
        return self._h5["entry"]

    def has(self, path: str) -> bool:
        return path.strip("/") in self.entry

    def patterns(self) -> PatternStack:
        """The integrated pattern stack of ``/entry/xrd/integrated``."""
        if not self.has("xrd/integrated"):
            raise KeyError(f"'{self.path}' holds no integrated XRD patterns (/entry/xrd/integrated)")
        return read_patterns(self.entry)

    def failed(self) -> list[tuple[str, str]]:
        """(source, reason) of every item that failed."""
        if not self.has("xrd/failed/source_file"):
            return []
        g = self.entry["xrd/failed"]
        return [(_s(a), _s(b)) for a, b in zip(g["source_file"][()], g["reason"][()])]

    def integration_settings(self) -> dict:
        """Settings of the pyFAI integration (``/entry/xrd/integration``), or for a stack read
        from 1D pattern files, of the reading (``/entry/xrd/patterns``)."""
        if not self.has("xrd/integration") and self.has("xrd/patterns"):
            return read_record(self.entry["xrd/patterns"])
        return read_record(self.entry["xrd/integration"])

    def provenance(self) -> dict:
        """The run's provenance (``/entry/provenance``): recipe text, versions, input files..."""
        return read_record(self.entry["provenance"])

    # -- one property per technique ------------------------------------------------------------

    @property
    def techniques(self) -> tuple[str, ...]:
        """The techniques this file holds results of, in run order (``xrd``, ``xas``, ``xps``,
        ``echem``, ``timeline``): the properties of the same names that will not raise."""
        return tuple(t for t in TECHNIQUES if self._group(t) is not None)

    def _group(self, technique: str):
        """The group of a technique under ``/entry``: by its name, else a group labelled so."""
        import h5py

        entry = self.entry
        if technique in entry and isinstance(entry[technique], h5py.Group):
            return entry[technique]
        for g in entry.values():
            if isinstance(g, h5py.Group) and str(g.attrs.get("long_name", "")) == technique:
                return g
        return None

    def _technique(self, technique: str):
        g = self._group(technique)
        if g is None:
            what, section = TECHNIQUES[technique]
            held = ", ".join(self.techniques) or "nothing"
            raise TechniqueNotRun(f"{self.path} holds no {what} results: the run's recipe had no '{section}' "
                                  f"section (this file holds: {held}); check res.techniques first")
        return g

    @property
    def xrd(self) -> XrdResults:
        """Operando XRD: pattern stack, peaks, events, lattice, refinement (:class:`XrdResults`).

        Raises
        ------
        TechniqueNotRun
            When the run had no ``xrd`` section.
        """
        return XrdResults(self._technique("xrd"), str(self.path))

    @property
    def xas(self) -> SeriesMap:
        """XAS series by label, each an :class:`XasSeries` (spectra on ``energy_ev``, a table
        per spectrum, LCF, PCA, calibration).

        Raises
        ------
        TechniqueNotRun
            When the run had no ``xas`` section.
        """
        return xas_series(self._technique("xas"), str(self.path))

    @property
    def xps(self) -> SeriesMap:
        """XPS series by label, each an :class:`XpsSeries` (samples, components, species,
        valence fractions, fitted spectra on ``binding_energy_ev``).

        Raises
        ------
        TechniqueNotRun
            When the run had no ``xps`` section.
        """
        return xps_series(self._technique("xps"), str(self.path))

    @property
    def echem(self):
        """The cycler record as a DataFrame (see :func:`xpipe.results.timeline.echem_table`).

        Raises
        ------
        TechniqueNotRun
            When the run had no ``echem`` section.
        """
        return echem_table(self._technique("echem"))

    @property
    def timeline(self) -> Timeline:
        """Every technique on the cycler clock (:class:`Timeline`).

        Raises
        ------
        TechniqueNotRun
            When the run had no ``timeline`` (it needs an ``echem`` section).
        """
        return Timeline(self._technique("timeline"), str(self.path))

    def __repr__(self) -> str:
        state = "open" if self._h5 else "closed"
        return f"<Results {self.path} ({state}): {', '.join(self.techniques) if self._h5 else ''}>"


def read_patterns(entry) -> PatternStack:
    """The pattern stack under an open ``/entry`` group (``xrd/integrated``).

    Parameters
    ----------
    entry : h5py.Group
        ``/entry`` of an open results file.

    Returns
    -------
    PatternStack
        Every array read into memory; the wavelength (angstrom) from the integration
        geometry, else from the ``xrd.patterns`` settings, else None.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from xpipe.store import write_record
    >>> path = Path(tempfile.mkdtemp()) / "results.h5"
    >>> with h5py.File(path, "w") as h5:  # two patterns of three 2theta bins, by hand
    ...     write_record(h5.require_group("entry/xrd"), {"integrated": {
    ...         "radial": [10.0, 10.5, 11.0], "intensity": [[1.0, 5.0, 1.0], [1.0, 4.0, 2.0]],
    ...         "sigma": [[1.0, 2.2, 1.0], [1.0, 2.0, 1.4]], "frame_time_s": [0.0, 60.0],
    ...         "frame_index": [0, 1], "source_file": ["a.xye", "b.xye"]},
    ...         "patterns": {"wavelength_a": 0.8}})
    >>> with h5py.File(path, "r") as h5:
    ...     stack = read_patterns(h5["entry"])
    >>> stack.intensity.shape, stack.wavelength_a, stack.frame_time_s.tolist()
    ((2, 3), 0.8, [0.0, 60.0])
    """
    g = entry["xrd/integrated"]
    radial = g["radial"]
    wl = "xrd/integration/geometry/wavelength_a"
    if wl not in entry:  # a stack read from 1D pattern files: the recipe's wavelength, if any
        wl = "xrd/patterns/wavelength_a"
    return PatternStack(
        intensity=g["intensity"][()],
        sigma=g["sigma"][()],
        radial=radial[()],
        radial_name=_s(radial.attrs.get("long_name", "radial")),
        radial_units=_s(radial.attrs.get("units", "")),
        d_spacing_a=g["d_spacing_a"][()] if "d_spacing_a" in g else None,
        frame_time_s=g["frame_time_s"][()],
        frame_index=g["frame_index"][()],
        source_file=[_s(v) for v in g["source_file"][()]],
        start_time=_s(g["frame_time_s"].attrs.get("start_time")) if "start_time" in g["frame_time_s"].attrs else None,
        wavelength_a=float(entry[wl][()]) if wl in entry else None,
        unit=_s(radial.attrs.get("pyfai_unit", "")),
    )


def open_results(path: str | Path) -> Results:
    """Open an xpipe results file (``OUTDIR/results.h5``).

    Parameters
    ----------
    path : str or Path
        The results file.

    Returns
    -------
    Results
        The open file (a context manager that closes it).

    Examples
    --------
    >>> import tempfile, h5py
    >>> from xpipe.store import write_record
    >>> path = Path(tempfile.mkdtemp()) / "results.h5"
    >>> with h5py.File(path, "w") as h5:  # two patterns of three 2theta bins, by hand
    ...     write_record(h5.require_group("entry/xrd"), {"integrated": {
    ...         "radial": [10.0, 10.5, 11.0], "intensity": [[1.0, 5.0, 1.0], [1.0, 4.0, 2.0]],
    ...         "sigma": [[1.0, 2.2, 1.0], [1.0, 2.0, 1.4]], "frame_time_s": [0.0, 60.0],
    ...         "frame_index": [0, 1], "source_file": ["a.xye", "b.xye"]},
    ...         "patterns": {"wavelength_a": 0.8}})
    >>> with open_results(path) as res:
    ...     stack = res.patterns()
    >>> stack.n_frames, stack.radial.tolist(), stack.source_file
    (2, [10.0, 10.5, 11.0], ['a.xye', 'b.xye'])
    """
    return Results(path)


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
