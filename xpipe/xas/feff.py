"""FEFF scattering paths for EXAFS fits: run FEFF on a ``feff.inp`` or a CIF, cached on disk.

FEFF (feff6l / feff8l, shipped with xraylarch) runs through Larch. :func:`run_feff` caches its
paths by the hash of the FEFF input text and FEFF version, so a repeated call does not rerun
FEFF; :func:`select_paths` picks paths by half path length, FEFF index or label.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FEFF_VERSIONS = ("feff6l", "feff8l")

# FeffRunner changes the working directory of the process while FEFF runs: one run at a time.
_FEFF_LOCK = threading.Lock()


class FeffError(RuntimeError):
    """FEFF could not be run on an input, or ran and produced no scattering paths.

    Parameters
    ----------
    message : str
        Names the FEFF input and, when FEFF ran, ends with the tail of its output.

    Examples
    --------
    >>> try:
    ...     run_feff("missing_feff.inp", cache_dir="unused")
    ... except FeffError as exc:
    ...     print(exc)
    missing_feff.inp: FEFF source file not found
    """


@dataclass(frozen=True)
class FeffPath:
    """One scattering path computed by FEFF.

    Parameters
    ----------
    index : int
        FEFF's path number (``feffNNNN.dat``).
    file : Path
        The ``feffNNNN.dat`` file.
    reff_a : float
        Half path length (Angstrom).
    degeneracy : float
        Number of equivalent paths.
    nleg : int
        Number of legs.
    label : str
        The atoms visited starting at the absorber: ``"Fe-O"`` for a single-scattering path,
        ``"Fe-O-O"`` for a three-leg path.
    amplitude_pct : float
        FEFF's amplitude relative to the strongest path (%).

    Examples
    --------
    >>> from pathlib import Path
    >>> p = FeffPath(1, Path("feff0001.dat"), reff_a=2.155, degeneracy=6.0, nleg=2, label="Fe-O")
    >>> p.label, p.reff_a, p.nleg
    ('Fe-O', 2.155, 2)
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
    """The paths of one FEFF run and where it lives; iterates and indexes like its paths.

    Parameters
    ----------
    paths : list of FeffPath
        The paths, in FEFF order.
    folder : Path
        The cache folder holding ``feff.inp``, the ``feffNNNN.dat`` files and FEFF's log.
    feff_inp : Path
        The FEFF input that ran.
    version : str
        'feff6l' or 'feff8l'.
    cache_hit : bool
        Whether the paths were found in the cache instead of computed now.
    elapsed_s : float
        Wall time of the call (s).
    source : str
        The ``feff.inp`` or CIF given.

    Examples
    --------
    >>> from pathlib import Path
    >>> first = FeffPath(1, Path("run/feff0001.dat"), 2.155, 6.0, 2, "Fe-O")
    >>> run = FeffPaths([first], Path("run"), Path("run/feff.inp"), "feff6l", True, 0.001)
    >>> len(run), run[0].label, [p.index for p in run]
    (1, 'Fe-O', [1])
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
    import pyFAI  # only to put its setting back (see above)

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
            raise FeffError(f"{source}: the CIF could not be turned into FEFF input "
                            f"({exc})") from exc
        if not inp or inp.lstrip().startswith("# could not read"):
            raise FeffError(f"{source}: the CIF could not be read as a crystal structure")
        return _set_card(inp, card, f"{rpath:.4f}")
    if absorber is not None:
        from xraydb import atomic_number  # slow to import (its database): only to check Z

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
    from larch.xafs.feffdat import FeffDatFile  # larch takes seconds to import

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
    # larch takes seconds to import: only when FEFF runs
    from larch.xafs import feff6l, feff8l
    from larch.xafs.feffrunner import find_exe

    exe = "feff6l" if version == "feff6l" else "feff8l_rdinp"
    if find_exe(exe) is None:
        raise FeffError(f"{exe} is not installed with xraylarch (looked for it in larch's bin "
                        "folder)")
    runner = feff6l if version == "feff6l" else feff8l
    here = os.getcwd()
    # Larch decodes FEFF's output with sys.stdout.encoding: redirect to a real, encoded file
    with (_FEFF_LOCK, open(folder / "feffrun_python.log", "w", encoding="utf-8") as log,
          contextlib.redirect_stdout(log), contextlib.redirect_stderr(log)):
        try:
            runner(feffinp="feff.inp", folder=str(folder.resolve()), verbose=False)
        finally:
            os.chdir(here)


def _compute_paths(source: Path, text: str, version: str, cache: Path, key: str) -> None:
    """Run FEFF in a fresh folder under ``cache`` and move it to ``cache/key`` when it worked.

    A run without paths is kept in ``cache/<key>-failed/`` and raises FeffError.
    """
    folder = cache / key
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
    try:
        (work / "feff.inp").write_text(text)
        try:
            _run_feff_in(work, version)
        except FeffError:
            raise
        except Exception as exc:
            raise FeffError(f"{source}: {version} could not run "
                            f"({exc})\n{_log_tail(work)}") from exc
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


def run_feff(source: str | os.PathLike, *, absorber: str | None = None,
             cache_dir: str | os.PathLike, rmax_a: float | None = 5.0, edge: str = "K",
             version: str = "feff6l") -> FeffPaths:
    """Compute scattering paths with FEFF for a ``feff.inp`` or a CIF, cached on disk.

    A CIF (``.cif``) is turned into FEFF input by Larch's ``structure2feffinp`` (pymatgen), with
    ``absorber`` at its first site, ``edge`` and a cluster of radius ``rmax_a + 3`` Å. A
    ``feff.inp`` is used as written, except that ``rmax_a`` (when not None) replaces its
    path-length limit (``RMAX`` for feff6l, ``RPATH`` for feff8l); its HOLE/EDGE card stays as
    written, and ``absorber``, when given, is checked against potential 0.

    FEFF runs in ``cache_dir/<key>/`` where ``key`` is the first 16 hex digits of the SHA-256 of
    the FEFF input text and ``version``; when that folder already holds the paths FEFF is not
    rerun (``cache_hit=True``). FEFF's printing is kept in ``feffrun_*.log`` in that folder.

    Parameters
    ----------
    source : str or Path
        A ``feff.inp`` or a CIF.
    absorber : str, optional
        Element symbol of the absorber; required for a CIF.
    cache_dir : str or Path
        Folder of the path cache.
    rmax_a : float or None
        Longest half path length (Angstrom); None keeps the feff.inp's own limit.
    edge : str
        Edge for a CIF ('K', 'L3', ...).
    version : {'feff6l', 'feff8l'}
        The FEFF program.

    Returns
    -------
    FeffPaths
        The paths, in FEFF order, with the cache folder and the wall time (s).

    Raises FeffError, naming the input and the tail of FEFF's output, when FEFF fails or writes
    no paths; the failed run is kept in ``cache_dir/<key>-failed/``.

    Examples
    --------
    The first shell of FeO (Fe with six O at 2.155 Å):

    >>> import tempfile
    >>> from pathlib import Path
    >>> work = Path(tempfile.mkdtemp())
    >>> atoms = [(0, 0, 0, 0), (2.155, 0, 0, 1), (-2.155, 0, 0, 1), (0, 2.155, 0, 1),
    ...          (0, -2.155, 0, 1), (0, 0, 2.155, 1), (0, 0, -2.155, 1)]
    >>> _ = (work / "feff.inp").write_text(
    ...     "HOLE 1 1.0\\nPOTENTIALS\\n 0 26 Fe\\n 1 8 O\\nATOMS\\n"
    ...     + "".join(f" {x} {y} {z} {ipot}\\n" for x, y, z, ipot in atoms) + "END\\n")
    >>> paths = run_feff(work / "feff.inp", absorber="Fe", cache_dir=work / "cache", rmax_a=2.5)
    >>> [(p.label, p.reff_a, p.degeneracy) for p in paths], paths.cache_hit
    ([('Fe-O', 2.155, 6.0)], False)
    >>> run_feff(work / "feff.inp", cache_dir=work / "cache", rmax_a=2.5).cache_hit
    True
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
    _compute_paths(source, text, version, cache, key)
    return FeffPaths(_paths_in(folder), folder, folder / "feff.inp", version, False,
                     time.perf_counter() - t0, str(source))


def select_paths(feff_paths: FeffPaths | Sequence[FeffPath], *, rmax_a: float | None = None,
                 indices: Sequence[int] | None = None, labels: Sequence[str] | None = None,
                 max_legs: int | None = 2) -> list[FeffPath]:
    """Paths with ``reff_a <= rmax_a``, FEFF index in ``indices``, label in ``labels`` and at most
    ``max_legs`` legs (every criterion given must hold), in FEFF order.

    Parameters
    ----------
    feff_paths : FeffPaths or sequence of FeffPath
        The paths to choose from.
    rmax_a : float, optional
        Longest half path length (Angstrom).
    indices : sequence of int, optional
        FEFF path numbers; raises ValueError when one is not among the paths.
    labels : sequence of str, optional
        Path labels such as ``"Fe-O"``.
    max_legs : int or None
        Most legs a path may have (2: single scattering only); None for any.

    Returns
    -------
    list of FeffPath

    Examples
    --------
    >>> from pathlib import Path
    >>> paths = [FeffPath(1, Path("feff0001.dat"), 2.155, 6.0, 2, "Fe-O"),
    ...          FeffPath(2, Path("feff0002.dat"), 3.048, 12.0, 2, "Fe-Fe"),
    ...          FeffPath(3, Path("feff0003.dat"), 3.680, 24.0, 3, "Fe-O-O")]
    >>> [p.label for p in select_paths(paths, rmax_a=3.5)]
    ['Fe-O', 'Fe-Fe']
    >>> [p.index for p in select_paths(paths, labels=["Fe-O-O", "Fe-O"], max_legs=None)]
    [1, 3]
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

