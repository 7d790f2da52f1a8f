"""Folded integration engines kept on disk between runs of the same geometry.

Before the first frame of a Pilatus 1M series, a run imports pyFAI (about 1 s), has it build its
CSR matrix on a blank frame (0.5 to 0.8 s), and folds the per-pixel corrections into that matrix
(:mod:`xpipe.xrd.blockcsr`, 0.4 to 0.7 s). None of that depends on the frames: the folded matrix,
the radial axis and the resolved geometry follow from the integration settings, the contents of
the geometry, mask, dark and flat files, and the versions of pyFAI and numpy. This module keeps
them in a folder, one pair of files per key:

- ``<key>.bin``: the arrays of :meth:`BlockIntegrator.state` and the radial axis, raw, one
  after the other (read back as views of one buffer: no copy, no unpickling);
- ``<key>.json``, written last: the engine's settings, the method pyFAI used, the geometry
  record, the versions, the size and sha256 of the ``.bin``, and each array's name, dtype
  (numeric and boolean dtypes only), shape and offset in it.

A file that is unreadable, changed since it was written, or from another format is ignored with
a warning naming it, and the engine is built again; the arrays are checked as untrusted input
(:meth:`BlockIntegrator.from_state`) before use. The newest :data:`MAX_ENGINES` engines are kept
(a hit counts as use). A run that reads an engine from here gives the same numbers, bit for bit,
as one that builds it.

The folder is ``$XPIPE_ENGINE_CACHE`` when set (``off`` turns the cache off), else
``$XDG_CACHE_HOME/xpipe/engines`` (``~/.cache/xpipe/engines``).

Examples
--------
>>> import tempfile
>>> lut = (np.array([1.0, 0.5, 0.5], np.float32), np.array([0, 1, 2]), np.array([0, 1, 3]))
>>> block = BlockIntegrator(lut, (1, 3), omega=np.ones(3, np.float32))
>>> folder = Path(tempfile.mkdtemp())
>>> key = engine_key("settings and file digests")
>>> _ = save_engine(folder, key, block, np.array([1.0, 2.0]), "bbox/csr/cython", {"distance_m": 0.2})
>>> found = load_engine(folder, key)
>>> found.method_used, found.geometry, found.block.integrate([np.array([[2, 4, 9]])]).intensity.tolist()
('bbox/csr/cython', {'distance_m': 0.2}, [[2.0, 6.5]])
>>> load_engine(folder, engine_key("another geometry")) is None
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from .. import __version__
from ..outfiles import UnsafeOutputPath, atomic_write_bytes
from .blockcsr import BlockIntegrator

log = logging.getLogger("xpipe")

#: Layout of the cached files; a change makes every older engine a miss.
ENGINE_FORMAT = 3
#: Engines kept in the folder (about 45 MB each for a Pilatus 1M at 2000 bins).
MAX_ENGINES = 8
#: The environment variable naming the folder (``off``: no cache).
ENV = "XPIPE_ENGINE_CACHE"
#: Byte alignment of each array in the ``.bin`` file.
_ALIGN = 64

__all__ = ["CachedEngine", "ENGINE_FORMAT", "MAX_ENGINES", "cache_dir", "engine_key", "load_engine",
           "load_record", "save_engine"]


@dataclass
class CachedEngine:
    """An engine read back from the cache.

    Parameters
    ----------
    block : BlockIntegrator
        The folded engine.
    radial : numpy.ndarray
        Bin centres pyFAI gave for it (float64).
    method_used : str
        The method pyFAI built it with.
    geometry : dict
        :func:`xpipe.io.geometry.geometry_record` of the integrator it was built from.
    path : Path
        Its ``.bin`` file.

    Examples
    --------
    >>> CachedEngine(None, np.zeros(2), "bbox/csr/cython", {}, Path("k.bin")).path.name
    'k.bin'
    """

    block: BlockIntegrator
    radial: np.ndarray
    method_used: str
    geometry: dict
    path: Path


def cache_dir(environ=None) -> Path | None:
    """The engine cache folder, or None when the cache is off.

    Parameters
    ----------
    environ : mapping, optional
        The environment (default ``os.environ``): ``XPIPE_ENGINE_CACHE`` (a folder, or ``off``,
        ``0``, ``false``, ``no``), else ``XDG_CACHE_HOME``, else the home folder's ``.cache``.

    Returns
    -------
    Path or None

    Examples
    --------
    >>> cache_dir({"XPIPE_ENGINE_CACHE": "off"}) is None
    True
    >>> str(cache_dir({"XDG_CACHE_HOME": "/scratch/c"}))
    '/scratch/c/xpipe/engines'
    """
    env = os.environ if environ is None else environ
    chosen = env.get(ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "false", "no") else Path(chosen).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xpipe" / "engines"


def engine_key(settings_key: str) -> str:
    """The cache key: ``settings_key`` (settings and input file digests) with the versions that
    decide the engine's numbers.

    Parameters
    ----------
    settings_key : str
        What the engine depends on besides the software (e.g.
        :func:`xpipe.stages.xrd_integrate.integrator_key`).

    Returns
    -------
    str
        A hex sha256.

    Examples
    --------
    >>> len(engine_key("a")), engine_key("a") == engine_key("b")
    (64, False)
    """
    parts = [settings_key, f"format {ENGINE_FORMAT}", f"xpipe {__version__}"]
    for dist in ("pyFAI", "numpy", "scipy"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} none")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def save_engine(folder: Path | None, key: str, block: BlockIntegrator, radial: np.ndarray,
                method_used: str, geometry: dict) -> Path | None:
    """Keep an engine under ``key``; a folder that cannot be written is warned about, not fatal.

    Parameters
    ----------
    folder : Path or None
        The cache folder (created if needed); None does nothing.
    key : str
        :func:`engine_key` of what the engine depends on.
    block : BlockIntegrator
        The folded engine.
    radial : numpy.ndarray
        Its bin centres.
    method_used : str
        The method pyFAI built it with.
    geometry : dict
        The geometry record (JSON types).

    Returns
    -------
    Path or None
        The ``.bin`` written, or None.
    """
    if folder is None:
        return None
    settings, arrays = block.state()
    arrays = {"radial": np.asarray(radial, np.float64), **arrays}
    layout, offset = [], 0
    for name, a in arrays.items():
        offset = -(-offset // _ALIGN) * _ALIGN
        layout.append({"name": name, "dtype": a.dtype.str, "size": int(a.size), "offset": offset})
        offset += a.nbytes
    data = np.zeros(offset, np.uint8)
    for entry, a in zip(layout, arrays.values()):
        data[entry["offset"]:entry["offset"] + a.nbytes] = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    record = {"format": ENGINE_FORMAT, "key": key, "xpipe": __version__, "settings": settings,
              "method_used": str(method_used), "geometry": geometry, "arrays": layout,
              "bin_bytes": int(data.size), "bin_sha256": hashlib.sha256(data).hexdigest()}
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / f"{key}.bin", data, outdir=folder)
        atomic_write_bytes(folder / f"{key}.json", json.dumps(record, indent=1, default=_plain).encode(),
                           outdir=folder)
        _evict(folder)
    except (OSError, UnsafeOutputPath) as exc:
        log.warning("cannot keep the integration engine in %s (%s); the next run builds it again",
                    folder, exc)
        return None
    log.debug("kept the integration engine in %s", folder / f"{key}.bin")
    return folder / f"{key}.bin"


def load_record(folder: Path | None, key: str) -> dict | None:
    """The ``.json`` record of the engine kept under ``key`` (geometry, method, settings), or
    None when there is none or it is not one of this format.

    Parameters
    ----------
    folder : Path or None
        The cache folder.
    key : str
        :func:`engine_key`.

    Returns
    -------
    dict or None
    """
    if folder is None:
        return None
    path = Path(folder) / f"{key}.json"
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring the cached integration engine record %s: %s", path, exc)
        return None
    if not isinstance(record, dict) or record.get("format") != ENGINE_FORMAT or record.get("key") != key:
        log.warning("ignoring the cached integration engine record %s: another format or key", path)
        return None
    return record


def load_engine(folder: Path | None, key: str) -> CachedEngine | None:
    """The engine kept under ``key`` in ``folder`` (as for :func:`load_record`), checked as
    untrusted input; None otherwise, with a warning naming the file when it is bad.

    Returns
    -------
    CachedEngine or None
    """
    record = load_record(folder, key)
    if record is None:
        return None
    path = Path(folder) / f"{key}.bin"
    try:
        arrays = _read_arrays(path, record)
        block = BlockIntegrator.from_state(record["settings"], arrays)
        radial = arrays["radial"]
        if radial.dtype != np.float64 or radial.shape != (block.bins,):
            raise ValueError(f"its radial axis is {radial.dtype} {radial.shape}, expected float64 ({block.bins},)")
        method_used, geometry = record["method_used"], record["geometry"]
        if not isinstance(method_used, str) or not isinstance(geometry, dict):
            raise ValueError("its method or geometry record is not valid")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the cached integration engine %s (%s); building it again", path, exc)
        return None
    try:
        os.utime(Path(folder) / f"{key}.json")  # recently used: kept longest
    except OSError:
        pass
    return CachedEngine(block, radial, method_used, geometry, path)


def _read_arrays(path: Path, record: dict) -> dict[str, np.ndarray]:
    """The arrays of a ``.bin`` file as its record lays them out, each read into its own
    buffer, the file's size and sha256 checked; only numeric and boolean dtypes are accepted."""
    size = int(record["bin_bytes"])
    digest = hashlib.sha256()
    arrays: dict[str, np.ndarray] = {}
    at = 0
    with open(path, "rb") as fh:
        for entry in sorted(record["arrays"], key=lambda e: int(e["offset"])):
            dtype = np.dtype(str(entry["dtype"]))
            if dtype.kind not in "biuf":
                raise ValueError(f"array '{entry['name']}' has dtype {dtype}, not a numeric one")
            count, offset = int(entry["size"]), int(entry["offset"])
            if count < 0 or offset < at or offset + count * dtype.itemsize > size:
                raise ValueError(f"array '{entry['name']}' lies outside the file or over another")
            gap = fh.read(offset - at)
            digest.update(gap)
            a = np.empty(count, dtype)
            got = fh.readinto(a.view(np.uint8))
            if len(gap) != offset - at or got != a.nbytes:
                raise ValueError("the file is shorter than recorded")
            digest.update(a.view(np.uint8))
            arrays[str(entry["name"])] = a
            at = offset + a.nbytes
        rest = fh.read()
    digest.update(rest)
    if at + len(rest) != size or digest.hexdigest() != record["bin_sha256"]:
        raise ValueError("its size or sha256 is not the one recorded when it was written")
    return arrays


def _evict(folder: Path) -> None:
    """Remove all but the :data:`MAX_ENGINES` most recently used engines."""
    records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in records[MAX_ENGINES:]:
        old.unlink(missing_ok=True)
        old.with_suffix(".bin").unlink(missing_ok=True)


def _plain(value):
    """JSON for numpy scalars in a geometry record."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
