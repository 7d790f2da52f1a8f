"""Read xpipe results files from Python (notebooks, scripts, later stages).

Example (after ``xpipe run recipes/nvp_operando.yaml``)::

    from xpipe.results import open_results

    with open_results("results/nvp_operando/results.h5") as res:
        stack = res.patterns()
    stack.intensity.shape, stack.radial_name, stack.radial_units
    # ((38, 2000), 'two_theta_deg', 'deg')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .store import read_record


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
    """An open results file; methods return plain arrays and dataclasses."""

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
        return read_record(self.entry["provenance"])


def read_patterns(entry) -> PatternStack:
    """The pattern stack under an open ``/entry`` group (``xrd/integrated``)."""
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
    """Open an xpipe results file (``OUTDIR/results.h5``)."""
    return Results(path)


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
