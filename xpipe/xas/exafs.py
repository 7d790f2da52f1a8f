"""EXAFS analysis with Larch as the engine: FEFF paths, background removal, Fourier transform, shell fits.

The science is Larch's (``autobk``, ``xftf``, ``feffit``) and FEFF's (feff6l / feff8l shipped with
xraylarch); this module wraps them in typed results with units in the field names and every fitted
value beside its uncertainty.

* :func:`run_feff` turns a ``feff.inp`` or a CIF into scattering paths, cached on disk by the
  hash of the FEFF input text and FEFF version, so a repeated call does not rerun FEFF.
* :func:`background` removes the post-edge background (Larch ``autobk``) and returns chi(k).
* :func:`fourier` transforms chi(k) to chi(R) (Larch ``xftf``).
* :func:`select_paths` picks paths by half path length, FEFF index or label.
* :func:`fit_shells` fits paths to one spectrum or a series (Larch ``feffit``), with parameters
  shared across the series or refined per spectrum.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FEFF_VERSIONS = ("feff6l", "feff8l")
PARAMETER_KINDS = ("s02", "de0", "dr", "sigma2", "n")
_PER_PATH_ALLOWED = ("de0", "dr", "sigma2")
_DEFAULT_GUESSES = {"s02": 1.0, "de0": 0.0, "dr": 0.0, "sigma2": 0.005}

# FeffRunner changes the working directory of the process while FEFF runs: one run at a time.
_FEFF_LOCK = threading.Lock()


class FeffError(RuntimeError):
    """FEFF could not be run on an input, or ran and produced no scattering paths."""


# --------------------------------------------------------------------------------------------
# FEFF
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeffPath:
    """One scattering path computed by FEFF.

    ``index`` is FEFF's path number (``feffNNNN.dat``), ``reff_a`` the half path length,
    ``degeneracy`` the number of equivalent paths, ``nleg`` the number of legs, ``label`` the atoms
    visited starting at the absorber (``"Fe-O"`` for a single-scattering path, ``"Fe-O-O"`` for a
    three-leg path) and ``amplitude_pct`` FEFF's amplitude relative to the strongest path.
    """

    index: int
    file: Path
    reff_a: float
    degeneracy: float
    nleg: int
    label: str
    amplitude_pct: float = float("nan")


@dataclass
class FeffPaths:
    """The paths of one FEFF run and where it lives.

    ``folder`` is the cache folder holding ``feff.inp``, the ``feffNNNN.dat`` files and FEFF's
    log; ``cache_hit`` says whether the paths were found there instead of computed now, and
    ``elapsed_s`` is the wall time of this call.
    """

    paths: list[FeffPath]
    folder: Path
    feff_inp: Path
    version: str
    cache_hit: bool
    elapsed_s: float
    source: str = ""

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self):
        return iter(self.paths)

    def __getitem__(self, i: int) -> FeffPath:
        return self.paths[i]


def _is_cif(path: Path, text: str) -> bool:
    if path.suffix.lower() == ".cif":
        return True
    if path.suffix.lower() == ".inp":
        return False
    return bool(re.search(r"^\s*data_", text, re.M)) and "_atom_site" in text


def _set_card(text: str, card: str, value: str) -> str:
    """Replace the FEFF card ``card`` (first word of a line) by ``card value``, or insert it."""
    pattern = re.compile(rf"^[ \t]*{card}\b.*$", re.M | re.I)
    line = f"{card} {value}"
    if pattern.search(text):
        return pattern.sub(line, text, count=1)
    pot = re.search(r"^[ \t]*POTENTIALS\b", text, re.M | re.I)
    if pot is None:
        return text.rstrip("\n") + f"\n{line}\n"
    return text[: pot.start()] + line + "\n\n" + text[pot.start():]


def _absorber_z(text: str) -> int | None:
    """Atomic number of potential 0 in a feff.inp, or None when the POTENTIALS card is missing."""
    in_pots = False
    for raw in text.splitlines():
        line = raw.split("*")[0].strip()
        if not line:
            continue
        word = line.split()[0].upper()
        if word == "POTENTIALS":
            in_pots = True
            continue
        if in_pots:
            parts = line.split()
            if len(parts) >= 2 and parts[0].lstrip("-").isdigit():
                if int(parts[0]) == 0:
                    return int(parts[1])
                continue
            in_pots = False
    return None


def _structure2feffinp():
    """Larch's CIF-to-FEFF writer. Importing ``larch.xrd`` sets ``pyFAI.use_opencl = False`` for
    the whole process, which would take pyFAI's OpenCL engine away from XRD integration done
    later in it; pyFAI's setting is put back as it was."""
    import pyFAI

    before = pyFAI.use_opencl
    try:
        from larch.xrd.structure2feff import structure2feffinp
    finally:
        pyFAI.use_opencl = before
    return structure2feffinp


def _feff_input_text(source: Path, absorber: str | None, rmax_a: float | None, edge: str,
                     version: str) -> str:
    """The FEFF input this call runs: the feff.inp as given, or one written from the CIF."""
    try:
        text = source.read_text(errors="replace")
    except OSError as exc:
        raise FeffError(f"{source}: cannot read the FEFF source ({exc})") from exc
    card = "RMAX" if version == "feff6l" else "RPATH"
    if _is_cif(source, text):
        if absorber is None:
            raise ValueError(f"{source}: a CIF needs the absorber element (absorber='Fe', ...)")
        structure2feffinp = _structure2feffinp()
        rpath = 5.0 if rmax_a is None else float(rmax_a)
        try:
            with warnings.catch_warnings():  # pymatgen/spglib deprecation notes, not ours to act on
                warnings.simplefilter("ignore", DeprecationWarning)
                inp = structure2feffinp(text, absorber, edge=edge, cluster_size=rpath + 3.0,
                                        version8=(version == "feff8l"), fmt="cif", rng_seed=0)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from exc
        except Exception as exc:  # pymatgen raises many kinds of errors on a bad CIF
            raise FeffError(f"{source}: the CIF could not be turned into FEFF input ({exc})") from exc
        if not inp or inp.lstrip().startswith("# could not read"):
            raise FeffError(f"{source}: the CIF could not be read as a crystal structure")
        return _set_card(inp, card, f"{rpath:.4f}")
    if absorber is not None:
        from xraydb import atomic_number

        z = _absorber_z(text)
        if z is not None and z != atomic_number(absorber):
            raise ValueError(f"{source}: absorber {absorber} requested but potential 0 is Z={z}")
    if rmax_a is not None:
        text = _set_card(text, card, f"{float(rmax_a):.4f}")
    return text


def _read_files_dat(folder: Path) -> list[tuple[str, float, float, int, float]]:
    """(file, amplitude %, degeneracy, nleg, reff) rows of FEFF's files.dat."""
    rows = []
    files = folder / "files.dat"
    if not files.is_file():
        return rows
    pat = re.compile(r"^\s*(feff\d{4}\.dat)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\S+)", re.I)
    for line in files.read_text(errors="replace").splitlines():
        m = pat.match(line)
        if m:
            rows.append((m.group(1), float(m.group(3)), float(m.group(4)), int(m.group(5)),
                         float(m.group(6))))
    return rows


def _paths_in(folder: Path) -> list[FeffPath]:
    """The paths listed in ``folder/files.dat`` whose files exist; [] when none."""
    from larch.xafs.feffdat import FeffDatFile

    out = []
    for name, amp, degen, nleg, reff in _read_files_dat(folder):
        file = folder / name
        if not file.is_file():
            return []
        geom = getattr(FeffDatFile(filename=str(file)), "geom", None) or []
        label = "-".join(str(atom[0]) for atom in geom) or name
        out.append(FeffPath(index=int(name[4:8]), file=file, reff_a=reff, degeneracy=degen,
                            nleg=nleg, label=label, amplitude_pct=amp))
    return out


def _log_tail(folder: Path, nlines: int = 15) -> str:
    lines: list[str] = []
    logs = sorted(list(folder.glob("feffrun_*.log")) + list(folder.glob("*.err")),
                  key=lambda f: f.stat().st_mtime)
    for log in logs:
        text = log.read_text(errors="replace").strip()
        if text:
            lines += [f"[{log.name}]"] + text.splitlines()
    return "\n".join(lines[-nlines:]) if lines else "(FEFF wrote no log)"


def _run_feff_in(folder: Path, version: str) -> None:
    """Run FEFF on ``folder/feff.inp``; its printing goes to ``feffrun_*.log`` in the folder."""
    from larch.xafs import feff6l, feff8l
    from larch.xafs.feffrunner import find_exe

    exe = "feff6l" if version == "feff6l" else "feff8l_rdinp"
    if find_exe(exe) is None:
        raise FeffError(f"{exe} is not installed with xraylarch (looked for it in larch's bin folder)")
    runner = feff6l if version == "feff6l" else feff8l
    here = os.getcwd()
    # Larch decodes FEFF's output with sys.stdout.encoding: redirect to a real, encoded file
    with (_FEFF_LOCK, open(folder / "feffrun_python.log", "w", encoding="utf-8") as log,
          contextlib.redirect_stdout(log), contextlib.redirect_stderr(log)):
        try:
            runner(feffinp="feff.inp", folder=str(folder.resolve()), verbose=False)
        finally:
            os.chdir(here)


def run_feff(source: str | os.PathLike, *, absorber: str | None = None,
             cache_dir: str | os.PathLike, rmax_a: float | None = 5.0, edge: str = "K",
             version: str = "feff6l") -> FeffPaths:
    """Compute scattering paths with FEFF for a ``feff.inp`` or a CIF, cached on disk.

    A CIF (``.cif``) is turned into FEFF input by Larch's ``structure2feffinp`` (pymatgen), with
    ``absorber`` (element symbol, required) at its first site, ``edge`` and a cluster of radius
    ``rmax_a + 3`` Å. A ``feff.inp`` is used as written, except that ``rmax_a`` (when not None)
    replaces its path-length limit (``RMAX`` for feff6l, ``RPATH`` for feff8l); its HOLE/EDGE card
    stays as written, and ``absorber``, when given, is checked against potential 0.

    FEFF runs in ``cache_dir/<key>/`` where ``key`` is the first 16 hex digits of the SHA-256 of
    the FEFF input text and ``version``; when that folder already holds the paths FEFF is not
    rerun (``cache_hit=True``). FEFF's printing is kept in ``feffrun_*.log`` in that folder.

    Raises FeffError, naming the input and the tail of FEFF's output, when FEFF fails or writes
    no paths; the failed run is kept in ``cache_dir/<key>-failed/``.
    """
    t0 = time.perf_counter()
    if version not in FEFF_VERSIONS:
        raise ValueError(f"version must be one of {FEFF_VERSIONS}, got {version!r}")
    source = Path(source)
    if not source.is_file():
        raise FeffError(f"{source}: FEFF source file not found")
    text = _feff_input_text(source, absorber, rmax_a, edge, version)
    key = hashlib.sha256((text + "\n" + version).encode()).hexdigest()[:16]
    cache = Path(cache_dir)
    folder = cache / key

    paths = _paths_in(folder) if folder.is_dir() else []
    if paths:
        return FeffPaths(paths, folder, folder / "feff.inp", version, True,
                         time.perf_counter() - t0, str(source))

    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
    try:
        (work / "feff.inp").write_text(text)
        try:
            _run_feff_in(work, version)
        except FeffError:
            raise
        except Exception as exc:
            raise FeffError(f"{source}: {version} could not run ({exc})\n{_log_tail(work)}") from exc
        if not _paths_in(work):
            failed = cache / f"{key}-failed"
            shutil.rmtree(failed, ignore_errors=True)
            work.rename(failed)
            raise FeffError(f"{source}: {version} produced no scattering paths (run kept in "
                            f"{failed}); end of FEFF output:\n{_log_tail(failed)}")
        try:
            work.rename(folder)
        except OSError:  # another process finished the same run first, or a stale folder is there
            if not _paths_in(folder):
                shutil.rmtree(folder, ignore_errors=True)
                work.rename(folder)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return FeffPaths(_paths_in(folder), folder, folder / "feff.inp", version, False,
                     time.perf_counter() - t0, str(source))


def select_paths(feff_paths: FeffPaths | Sequence[FeffPath], *, rmax_a: float | None = None,
                 indices: Sequence[int] | None = None, labels: Sequence[str] | None = None,
                 max_legs: int | None = 2) -> list[FeffPath]:
    """Paths with ``reff_a <= rmax_a``, FEFF index in ``indices``, label in ``labels`` and at most
    ``max_legs`` legs (every criterion given must hold), in FEFF order.

    Raises ValueError when an index asked for is not among the paths.
    """
    paths = list(feff_paths)
    if indices is not None:
        known = {p.index for p in paths}
        missing = sorted(set(indices) - known)
        if missing:
            raise ValueError(f"no FEFF path with index {missing}; there are {sorted(known)}")
    out = []
    for p in paths:
        if rmax_a is not None and p.reff_a > rmax_a:
            continue
        if indices is not None and p.index not in indices:
            continue
        if labels is not None and p.label not in labels:
            continue
        if max_legs is not None and p.nleg > max_legs:
            continue
        out.append(p)
    return out


# --------------------------------------------------------------------------------------------
# chi(k) and chi(R)
# --------------------------------------------------------------------------------------------


@dataclass
class Chi:
    """EXAFS chi(k): ``k`` in 1/Å on a uniform grid, ``chi`` unweighted, ``e0_ev`` the edge
    energy k is counted from, ``edge_step`` the normalisation, and every resolved setting."""

    k: np.ndarray
    chi: np.ndarray
    e0_ev: float
    settings: dict = field(default_factory=dict)
    label: str = ""
    edge_step: float = float("nan")


@dataclass
class Ft:
    """chi(R) from a forward Fourier transform of k^w chi(k): ``r_a`` in Å, magnitude, real and
    imaginary parts (in 1/Å^(w+1)), and the transform settings."""

    r_a: np.ndarray
    chir_mag: np.ndarray
    chir_re: np.ndarray
    chir_im: np.ndarray
    settings: dict = field(default_factory=dict)


def _check_xy(x: np.ndarray, y: np.ndarray, xname: str, yname: str) -> None:
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"{xname} and {yname} must be 1D arrays of one length, got {x.shape} and {y.shape}")
    if x.size < 10:
        raise ValueError(f"{xname} needs at least 10 points, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"{xname} and {yname} must be finite")
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"{xname} must increase strictly")


def find_e0(energy_ev, mu) -> float:
    """Edge energy (eV) as Larch's ``pre_edge`` finds it (largest derivative of mu near the edge)."""
    from larch import Group
    from larch.xafs import pre_edge

    e, m = np.asarray(energy_ev, float), np.asarray(mu, float)
    _check_xy(e, m, "energy_ev", "mu")
    g = Group()
    pre_edge(e, m, group=g)
    return float(g.e0)


def background(energy_ev, mu, *, e0_ev: float | None, rbkg_a: float = 1.0, kweight: int = 2,
               kmin: float = 0.0, kmax: float | None = None, dk: float = 0.1,
               window: str = "hanning", nknots: int | None = None, edge_step: float | None = None,
               nclamp: int = 3, clamp_lo: float = 0.0, clamp_hi: float = 1.0, kstep: float = 0.05,
               nfft: int = 2048, label: str = "") -> Chi:
    """Remove the post-edge background with Larch ``autobk`` and return chi(k).

    ``e0_ev`` is the edge energy (None: Larch's ``pre_edge`` finds it); ``rbkg_a`` the R (Å)
    below which the spline may take up signal; ``kweight``, ``kmin``, ``kmax`` (None: end of data),
    ``dk`` and ``window`` set the transform the spline is optimised on; ``nknots`` (None:
    1 + 2 rbkg (kmax - kmin)/pi), ``edge_step`` (None: from ``pre_edge``), ``nclamp``,
    ``clamp_lo`` and ``clamp_hi`` are passed on. ``settings`` records every value as used.
    """
    from larch import Group
    from larch.xafs import autobk

    e, m = np.asarray(energy_ev, float), np.asarray(mu, float)
    _check_xy(e, m, "energy_ev", "mu")
    if e0_ev is not None and not (e[0] < e0_ev < e[-1]):
        raise ValueError(f"e0_ev={e0_ev} lies outside the energy range {e[0]:.1f}-{e[-1]:.1f} eV")
    g = Group()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        autobk(e, m, group=g, rbkg=rbkg_a, ek0=e0_ev, edge_step=edge_step, kmin=kmin, kmax=kmax,
               kweight=kweight, dk=dk, win=window, nknots=nknots, nclamp=nclamp,
               clamp_lo=clamp_lo, clamp_hi=clamp_hi, kstep=kstep, nfft=nfft)
    if getattr(g, "chi", None) is None:
        raise ValueError(f"autobk did not return chi(k): {out.getvalue().strip() or 'no message'}")
    d = g.autobk_details
    # autobk sets edge_step on the group only when it ran pre_edge itself
    step = float(edge_step) if edge_step is not None else float(g.edge_step)
    settings = {"e0_ev": float(g.ek0), "e0_source": "given" if e0_ev is not None else "pre_edge",
                "edge_step": step, "rbkg_a": float(g.rbkg), "kweight": kweight,
                "kmin": float(kmin), "kmax": float(d.kmax), "dk": dk, "window": window,
                "nknots": int(d.nspl), "nclamp": nclamp, "clamp_lo": clamp_lo,
                "clamp_hi": clamp_hi, "kstep": kstep, "nfft": nfft, "engine": "larch.autobk"}
    return Chi(k=np.asarray(g.k, float), chi=np.asarray(g.chi, float), e0_ev=float(g.ek0),
               settings=settings, label=label, edge_step=step)


def fourier(k, chi, *, kmin: float = 3.0, kmax: float = 12.0, dk: float = 1.0,
            window: str = "hanning", kweight: int = 2, rmax_out: float = 10.0,
            dk2: float | None = None, nfft: int = 2048, kstep: float | None = None) -> Ft:
    """Forward Fourier transform of k^kweight chi(k) over [kmin, kmax] (1/Å) with Larch ``xftf``.

    ``dk`` (and ``dk2``, default ``dk``) is the window taper, ``window`` its shape (Larch names:
    hanning, kaiser, parzen, welch, sine, gaussian), ``rmax_out`` the last R (Å) returned and
    ``kstep`` the k grid step (None: ``k[1] - k[0]``).
    """
    from larch import Group
    from larch.xafs import xftf

    k, chi = np.asarray(k, float), np.asarray(chi, float)
    _check_xy(k, chi, "k", "chi")
    if not kmin < kmax:
        raise ValueError(f"kmin must be below kmax, got {kmin} and {kmax}")
    g = Group()
    xftf(k, chi, group=g, kmin=kmin, kmax=kmax, dk=dk, dk2=dk2, window=window, kweight=kweight,
         rmax_out=rmax_out, nfft=nfft, kstep=kstep)
    settings = {"kmin": kmin, "kmax": kmax, "dk": dk, "dk2": dk if dk2 is None else dk2,
                "window": window, "kweight": kweight, "rmax_out": rmax_out, "nfft": nfft,
                "kstep": float(k[1] - k[0]) if kstep is None else kstep, "engine": "larch.xftf"}
    return Ft(r_a=np.asarray(g.r, float), chir_mag=np.asarray(g.chir_mag, float),
              chir_re=np.asarray(g.chir_re, float), chir_im=np.asarray(g.chir_im, float),
              settings=settings)


# --------------------------------------------------------------------------------------------
# Shell fits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitParameter:
    """One fit parameter: value, standard error (0 when held fixed, nan when the fit gave none),
    whether it was refined, and its starting value."""

    name: str
    value: float
    stderr: float
    vary: bool
    initial: float


@dataclass(frozen=True)
class ShellResult:
    """The fitted path parameters of one path in one spectrum.

    ``r_a = reff_a + dr_a``; ``n`` is the coordination number (path degeneracy unless floated),
    ``sigma2_a2`` the mean-square relative displacement, ``de0_ev`` the edge shift and ``s02``
    the amplitude reduction factor, each with its standard error (0 for a fixed value). ``names``
    maps each quantity to the fit parameter behind it.
    """

    spectrum: int
    spectrum_label: str
    path_index: int
    label: str
    reff_a: float
    r_a: float
    r_err_a: float
    dr_a: float
    dr_err_a: float
    n: float
    n_err: float
    sigma2_a2: float
    sigma2_err_a2: float
    de0_ev: float
    de0_err_ev: float
    s02: float
    s02_err: float
    names: dict = field(default_factory=dict)


@dataclass
class FitCurves:
    """Data and model of one spectrum of a fit, for plots: chi(k) on the fit's k grid (1/Å) and
    |chi(R)| (R in Å) transformed with the fit window and the first k weight of the fit."""

    label: str
    k: np.ndarray
    chi_data: np.ndarray
    chi_model: np.ndarray
    r_a: np.ndarray
    chir_mag_data: np.ndarray
    chir_mag_model: np.ndarray
    kweight: int


@dataclass
class ShellFit:
    """Result of :func:`fit_shells`.

    ``shells`` holds one :class:`ShellResult` per spectrum and path; ``parameters`` every fit
    parameter by name; ``r_factor``, ``chi_square``, ``reduced_chi_square``, ``n_independent`` and
    ``n_variables`` are Larch's fit statistics over all spectra together.
    """

    shells: list[ShellResult]
    parameters: dict[str, FitParameter]
    r_factor: float
    chi_square: float
    reduced_chi_square: float
    n_independent: float
    n_variables: int
    curves: list[FitCurves]
    settings: dict
    success: bool
    errorbars: bool
    message: str = ""

    def shell(self, label: str | int, spectrum: int = 0) -> ShellResult:
        """The result for the first path with this label (or FEFF index) in spectrum ``spectrum``."""
        for s in self.shells:
            if s.spectrum == spectrum and (s.label == label or s.path_index == label):
                return s
        raise KeyError(f"no path {label!r} in spectrum {spectrum}")


def _kind_scopes(shared: Sequence[str], per_spectrum: Sequence[str] | None) -> set[str]:
    """Kinds with one value over the whole series (the rest have one per spectrum)."""
    shared_set, kinds = set(shared), set(PARAMETER_KINDS)
    unknown = shared_set - kinds
    if unknown:
        raise ValueError(f"unknown parameter in shared: {sorted(unknown)}; use {PARAMETER_KINDS}")
    if per_spectrum is not None:
        per = set(per_spectrum)
        if per - kinds:
            raise ValueError(f"unknown parameter in per_spectrum: {sorted(per - kinds)}; use {PARAMETER_KINDS}")
        if per & shared_set:
            raise ValueError(f"parameters both shared and per spectrum: {sorted(per & shared_set)}")
        missing = kinds - {"n"} - per - shared_set
        if missing:
            raise ValueError(f"parameters neither shared nor per spectrum: {sorted(missing)}")
    return shared_set


def _stderr(par) -> float:
    if not par.vary and par.expr is None:
        return 0.0
    err = getattr(par, "stderr", None)
    return float(err) if err is not None and np.isfinite(err) else float("nan")


def fit_shells(spectra: Chi | Sequence[Chi], paths: Sequence[FeffPath], *, kmin: float = 3.0,
               kmax: float = 12.0, dk: float = 1.0, window: str = "hanning",
               kweight: int | Sequence[int] = 2, rmin_a: float = 1.0, rmax_a: float = 3.0,
               shared: Sequence[str] = ("s02",), per_spectrum: Sequence[str] | None = None,
               per_path: Sequence[str] = ("dr", "sigma2"), shells: Sequence[str] | None = None,
               guesses: Mapping[str, float] | None = None,
               bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
               fixed: Mapping[str, float] | None = None,
               degeneracy_fixed: bool = True) -> ShellFit:
    """Fit FEFF paths to one chi(k) or a series of them with Larch ``feffit`` in R space.

    The transform is ``kmin``-``kmax`` (1/Å) with taper ``dk`` and ``window``, k weight(s)
    ``kweight`` (an int or a list fitted together) and fit range ``rmin_a``-``rmax_a`` (Å).

    Parameter kinds: ``s02`` (amplitude reduction), ``de0`` (edge shift, eV), ``dr`` (change of
    half path length, Å; R = reff + dr), ``sigma2`` (Å²) and ``n`` (coordination number).

    * Over the series: kinds in ``shared`` have one value for all spectra, the others
      (``per_spectrum``, default: all kinds not shared) one value per spectrum.
    * Over the paths: kinds in ``per_path`` (from de0, dr, sigma2) have one value per path, or per
      shell when ``shells`` gives a shell name for every path (paths with one name share them);
      the others have one value for all paths. ``s02`` is always common to the paths; ``n`` is
      always per path.
    * ``n`` is held at the FEFF degeneracy when ``degeneracy_fixed``; otherwise it is refined from
      there and ``s02`` must be held fixed (they are fully correlated).
    * ``guesses`` gives starting values by kind (defaults s02 1, de0 0, dr 0, sigma2 0.005),
      ``bounds`` (min, max) by kind, ``fixed`` holds kinds at a value (e.g. ``{"s02": 0.8}``).

    Parameter names are the kind, then ``_<shell>`` when per path (shell ``p<FEFF index>`` by
    default) and ``_s<i>`` when per spectrum, e.g. ``dr_p1_s0``.
    """
    from larch import Group
    from larch.fitting import param, param_group
    from larch.xafs import feffit, feffit_dataset, feffit_transform, feffpath

    chis = [spectra] if isinstance(spectra, Chi) else list(spectra)
    paths = list(paths)
    if not chis:
        raise ValueError("no spectra to fit")
    if not paths:
        raise ValueError("no paths to fit (select_paths returned nothing?)")
    if len({str(p.file) for p in paths}) != len(paths):
        raise ValueError("a path is listed twice")
    shared_set = _kind_scopes(shared, per_spectrum)
    bad = set(per_path) - set(_PER_PATH_ALLOWED)
    if bad:
        raise ValueError(f"per_path may hold {_PER_PATH_ALLOWED}, got {sorted(bad)}")
    fixed = dict(fixed or {})
    if set(fixed) - {"s02", "de0", "dr", "sigma2"}:
        raise ValueError(f"fixed may hold s02, de0, dr, sigma2; got {sorted(fixed)}")
    if not degeneracy_fixed and "s02" not in fixed:
        raise ValueError("with N refined, s02 must be held fixed (they are fully correlated): "
                         "pass fixed={'s02': value}")
    keys = [f"p{p.index}" for p in paths]
    if len(set(keys)) != len(keys):  # paths from several FEFF runs: number them in order
        keys = [f"p{j + 1}" for j in range(len(paths))]
    if shells is None:
        shell_of = list(keys)
    else:
        if len(shells) != len(paths):
            raise ValueError(f"shells names {len(shells)} shells for {len(paths)} paths")
        shell_of = [re.sub(r"\W", "_", str(s)) for s in shells]
    guess = {**_DEFAULT_GUESSES, **(guesses or {})}
    bounds = dict(bounds or {})
    if kmax <= kmin or rmax_a <= rmin_a:
        raise ValueError(f"need kmin < kmax and rmin_a < rmax_a, got k {kmin}-{kmax}, R {rmin_a}-{rmax_a}")

    pars: dict[str, object] = {}
    initial: dict[str, float] = {}

    def name(kind: str, spectrum: int, shell: str | None, degeneracy: float = 1.0) -> str:
        """Create (once) and return the parameter of ``kind`` for this spectrum and shell."""
        nm = kind
        if shell is not None:
            nm += f"_{shell}"
        if kind not in shared_set:
            nm += f"_s{spectrum}"
        if nm not in pars:
            lo, hi = bounds.get(kind, (None, None))
            lims = {"min": -np.inf if lo is None else lo, "max": np.inf if hi is None else hi}
            if kind == "n":
                value = float(degeneracy)
                vary = not degeneracy_fixed
            elif kind in fixed:
                value, vary = float(fixed[kind]), False
            else:
                value, vary = float(guess[kind]), True
            pars[nm] = param(value, vary=vary, **lims)
            initial[nm] = value
        return nm

    names_of: dict[tuple[int, int], dict[str, str]] = {}
    datasets = []
    transform_kws = dict(kmin=kmin, kmax=kmax, dk=dk, window=window, rmin=rmin_a, rmax=rmax_a,
                         kweight=tuple(int(w) for w in kweight) if np.ndim(kweight) else int(kweight),
                         fitspace="r")
    for i, c in enumerate(chis):
        larch_paths = {}
        for j, (path, shell) in enumerate(zip(paths, shell_of)):
            nm = {kind: name(kind, i, shell if kind in per_path else None)
                  for kind in ("s02", "de0", "dr", "sigma2")}
            nm["n"] = name("n", i, keys[j], path.degeneracy)
            names_of[(i, j)] = nm
            larch_paths[f"p{j}"] = feffpath(
                str(path.file), label=f"p{j}", degen=1.0,
                s02=f"{nm['s02']}*{nm['n']}", e0=nm["de0"], deltar=nm["dr"], sigma2=nm["sigma2"])
        data = Group(k=np.asarray(c.k, float), chi=np.asarray(c.chi, float),
                     filename=c.label or f"spectrum {i}", groupname=f"s{i}")
        datasets.append(feffit_dataset(data=data, paths=larch_paths,
                                       transform=feffit_transform(**transform_kws)))

    stray = io.StringIO()
    with contextlib.redirect_stdout(stray), warnings.catch_warnings():
        # Larch propagates errors through the fixed parameters too (zero spread): harmless
        warnings.filterwarnings("ignore", message="Using UFloat objects with std_dev==0")
        out = feffit(param_group(**pars), datasets)
    if out is None:
        raise RuntimeError(f"feffit did not run: {stray.getvalue().strip()}")

    params = out.params
    parameters = {nm: FitParameter(nm, float(params[nm].value), _stderr(params[nm]),
                                   bool(params[nm].vary), initial[nm]) for nm in pars}

    def val(nm: str) -> tuple[float, float]:
        p = parameters[nm]
        return p.value, p.stderr

    results = []
    for (i, j), nm in names_of.items():
        p = paths[j]
        dr, dr_err = val(nm["dr"])
        n, n_err = val(nm["n"])
        s2, s2_err = val(nm["sigma2"])
        e0, e0_err = val(nm["de0"])
        s02, s02_err = val(nm["s02"])
        results.append(ShellResult(
            spectrum=i, spectrum_label=chis[i].label, path_index=p.index, label=p.label,
            reff_a=p.reff_a, r_a=p.reff_a + dr, r_err_a=dr_err, dr_a=dr, dr_err_a=dr_err,
            n=n, n_err=n_err, sigma2_a2=s2, sigma2_err_a2=s2_err, de0_ev=e0, de0_err_ev=e0_err,
            s02=s02, s02_err=s02_err, names=dict(nm)))

    kw0 = transform_kws["kweight"]
    kw0 = int(kw0[0]) if isinstance(kw0, tuple) else int(kw0)
    curves = []
    for i, ds in enumerate(out.datasets):
        mk = np.asarray(ds.model.k, float)
        curves.append(FitCurves(
            label=chis[i].label, k=mk, chi_data=np.interp(mk, ds.data.k, ds.data.chi),
            chi_model=np.asarray(ds.model.chi, float), r_a=np.asarray(ds.model.r, float),
            chir_mag_data=np.asarray(ds.data.chir_mag, float),
            chir_mag_model=np.asarray(ds.model.chir_mag, float), kweight=kw0))

    settings = {**transform_kws, "rmin_a": rmin_a, "rmax_a": rmax_a, "shared": sorted(shared_set),
                "per_path": list(per_path), "shells": list(shell_of), "fixed": fixed,
                "guesses": guess, "bounds": bounds, "degeneracy_fixed": degeneracy_fixed,
                "n_spectra": len(chis), "paths": [(p.index, p.label, p.reff_a) for p in paths],
                "engine": "larch.feffit"}
    settings.pop("rmin")
    settings.pop("rmax")
    errorbars = bool(out.errorbars) and all(
        math.isfinite(p.stderr) and p.stderr > 0 for p in parameters.values() if p.vary)
    return ShellFit(shells=results, parameters=parameters, r_factor=float(out.rfactor),
                    chi_square=float(out.chi_square), reduced_chi_square=float(out.chi2_reduced),
                    n_independent=float(out.n_independent), n_variables=int(out.nvarys),
                    curves=curves, settings=settings, success=bool(out.success),
                    errorbars=errorbars, message=str(out.message or ""))
