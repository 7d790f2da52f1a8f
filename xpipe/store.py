"""Results store: crash-safe checkpoints during a run, and the NeXus/HDF5 results file.

While a run goes on, each finished chunk is written to ``OUTDIR/.xpipe/<stage>/chunk_NNNNNN.npz``
by write-to-temporary, fsync, rename: a chunk file either exists whole or not at all, so a run
killed at any instant (even ``kill -9``) loses at most the chunks in flight. Items are tracked by
their key (the frame's file and index), so ``--resume`` skips exactly the items already done.
Each chunk has its checksum and the xpipe version beside it (``chunk_NNNNNN.npz.sha256``): a chunk
that was changed, cut or written by another version is ignored with a warning, and its items are
done again. ``results.h5`` is assembled from the checkpoints at the end, again into a temporary
file renamed into place, so a reader never sees a half-written results file.

Every file is written beside its target and renamed over it, never through a link, and never
through a folder that leads out of the output folder (:mod:`xpipe.outfiles`, re-exported here:
:func:`safe_target`, :func:`atomic_write_bytes`, :func:`atomic_write_text`, :func:`atomic_path`).
Nothing read back is unpickled.
"""

from __future__ import annotations

import functools
import getpass
import io
import json
import logging
import platform
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__
from .codec import CodecError, seal, sha256, unseal
from .nexus import nx_name
from .outfiles import (  # noqa: F401 - the store's writers, used from here by the stages
    FolderBusy,
    UnsafeOutputPath,
    WriterLock,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    output_root,
    remove_temporaries,
    safe_target,
)

log = logging.getLogger("xpipe")

#: chunks already checked in this process: path -> ((size, mtime, checksum file), verdict)
_CHECKED: dict[str, tuple[tuple, str | None]] = {}


def _chunk_problem(path: Path) -> str | None:
    """Why the chunk at ``path`` is not to be used (None: whole, and of this xpipe version)."""
    side = path.with_name(path.name + ".sha256")
    try:
        st = path.stat()
        sealed = side.read_bytes()
    except OSError:
        return "it has no checksum beside it"
    key = (st.st_size, st.st_mtime_ns, sealed)
    hit = _CHECKED.get(str(path))
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        record = unseal(sealed)
        problem = None if record.get("sha256") == sha256(path.read_bytes()) else \
            "its checksum does not match its content (changed or cut since it was written)"
    except CodecError as exc:
        problem = str(exc)
    except OSError as exc:
        problem = f"unreadable ({exc})"
    _CHECKED[str(path)] = (key, problem)
    if problem is not None:
        log.warning("%s: %s; ignored, its items are done again", path, problem)
    return problem


class CheckpointStore:
    """Chunk results of one stage, on disk, in the order they were finished.

    Parameters
    ----------
    folder : Path
        The stage's checkpoint folder, ``OUTDIR/.xpipe/<stage>``.

    Examples
    --------
    >>> import tempfile
    >>> store = CheckpointStore(Path(tempfile.mkdtemp()) / "integrate")
    >>> store.reset({"stage": "integrate", "items": 3})
    >>> keys = ["f_0.cbf", "f_1.cbf", "f_2.cbf"]
    >>> store.save(store.next_sequence(), keys, {
    ...     "arrays": {"intensity": np.ones((2, 4))},
    ...     "meta": [{"index": 0}, {"index": 2}], "failures": [(1, "truncated file")]})
    >>> sorted(store.done_keys()), store.next_sequence(), store.manifest()["items"]
    (['f_0.cbf', 'f_2.cbf'], 1, 3)
    >>> [(info["failures"], arrays["intensity"].shape) for info, arrays in store.iter_chunks()]
    [([['f_1.cbf', 'truncated file']], (2, 4))]
    >>> _ = (store.folder / "chunk_000000.npz").write_bytes(b"PK changed")  # not what was saved
    >>> store.done_keys()  # the chunk is ignored (with a warning): its items are done again
    set()
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def reset(self, manifest: dict) -> None:
        """Start afresh: remove old chunks and write the manifest of this run."""
        safe_target(output_root(self.manifest_path), self.manifest_path)
        self.folder.mkdir(parents=True, exist_ok=True)
        for p in self.folder.iterdir():
            if p.name.startswith("chunk_") or p.name.startswith("."):
                p.unlink()
        self.write_manifest(manifest)

    def write_manifest(self, manifest: dict) -> None:
        """Write the manifest (JSON) with its checksum, which :meth:`manifest` checks."""
        body = {k: v for k, v in manifest.items() if k != "checksum"}
        body["checksum"] = sha256(json.dumps(body, sort_keys=True).encode())
        atomic_write_bytes(self.manifest_path, json.dumps(body, indent=1).encode())

    def manifest(self) -> dict | None:
        """The manifest; None when missing, unreadable or changed since it was written (warned)."""
        try:
            body = json.loads(self.manifest_path.read_text())
        except OSError:
            return None
        except ValueError:
            log.warning("%s: unreadable; ignored", self.manifest_path)
            return None
        if not isinstance(body, dict):
            log.warning("%s: not a manifest; ignored", self.manifest_path)
            return None
        digest = body.pop("checksum", None)
        if digest is not None and digest != sha256(json.dumps(body, sort_keys=True).encode()):
            log.warning("%s: its checksum does not match its content; ignored", self.manifest_path)
            return None
        return body

    def chunk_files(self) -> list[Path]:
        """Every chunk file, whether usable or not, in finishing order."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("chunk_*.npz"))

    def next_sequence(self) -> int:
        files = self.chunk_files()
        return int(files[-1].stem.split("_")[1]) + 1 if files else 0

    def save(self, seq: int, keys: list[str], result: dict) -> None:
        """Store one chunk: its arrays, per-item metadata and failures (keys, not indices)."""
        arrays = dict(result.get("arrays", {}))
        info = {
            "ok_keys": [keys[m["index"]] for m in result.get("meta", [])],
            "meta": result.get("meta", []),
            "failures": [[keys[i], reason] for i, reason in result.get("failures", [])],
            "extra": {k: v for k, v in result.items() if k not in ("arrays", "meta", "failures")},
        }
        arrays["info_json"] = np.frombuffer(json.dumps(info).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        path = self.folder / f"chunk_{seq:06d}.npz"
        # the checksum first: a chunk is never on disk without it, even after kill -9
        atomic_write_bytes(path.with_name(path.name + ".sha256"), seal({"sha256": sha256(data)}))
        atomic_write_bytes(path, data)

    def iter_chunks(self) -> Iterator[tuple[dict, dict]]:
        """Yield ``(info, arrays)`` per usable chunk in finishing order; arrays load lazily.

        A chunk whose checksum does not match, or that another xpipe version wrote, is left
        out with a warning naming it; its items count as not done."""
        for path in self.chunk_files():
            if _chunk_problem(path) is not None:
                continue
            with np.load(path, allow_pickle=False) as npz:
                info = json.loads(npz["info_json"].tobytes().decode())
                yield info, npz

    def done_keys(self) -> set[str]:
        """Keys of items finished successfully (failed items are retried on resume)."""
        done: set[str] = set()
        for info, _ in self.iter_chunks():
            done.update(info["ok_keys"])
        return done


# ----------------------------------------------------------------------------- HDF5 helpers


def set_attrs(obj, **attrs) -> None:
    """Set HDF5 attributes on ``obj``, leaving out those whose value is None.

    Parameters
    ----------
    obj : h5py.Group or h5py.Dataset
        Where the attributes go.
    **attrs
        Name and value of each attribute (None: not written).

    Returns
    -------
    None

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("attrs.h5", "w", driver="core", backing_store=False)  # in memory
    >>> ds = h5.create_dataset("radial", data=[10.0, 10.5])
    >>> set_attrs(ds, units="deg", long_name="two_theta_deg", pyfai_unit=None)
    >>> sorted(ds.attrs)
    ['long_name', 'units']
    """
    for k, v in attrs.items():
        if v is None:
            continue
        obj.attrs[k] = v


def nx_group(parent, name: str, nx_class: str, **attrs):
    """A NeXus group: created when missing, tagged with its ``NX_class`` and attributes.

    Parameters
    ----------
    parent : h5py.Group
        Where the group lives.
    name : str
        Its name.
    nx_class : str
        NeXus base class (``NXentry``, ``NXdata``, ``NXcollection``, ...).
    **attrs
        More attributes (None values left out), e.g. ``signal`` or ``default``.

    Returns
    -------
    h5py.Group
        The group.

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("nx.h5", "w", driver="core", backing_store=False)  # in memory
    >>> data = nx_group(h5, "integrated", "NXdata", signal="intensity")
    >>> dict(data.attrs)
    {'NX_class': 'NXdata', 'signal': 'intensity'}
    """
    grp = parent.require_group(name)
    grp.attrs["NX_class"] = nx_class
    set_attrs(grp, **attrs)
    return grp


def write_strings(group, name: str, values: list[str], **attrs):
    """A dataset of variable-length UTF-8 strings.

    Parameters
    ----------
    group : h5py.Group
        Where the dataset goes.
    name : str
        Its name.
    values : list of str
        The strings.
    **attrs
        Attributes of the dataset (None values left out).

    Returns
    -------
    h5py.Dataset
        The dataset (h5py reads its items back as bytes).

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("s.h5", "w", driver="core", backing_store=False)  # in memory
    >>> ds = write_strings(h5, "source_file", ["f_0001.cbf", "f_0002.cbf"], long_name="frame")
    >>> ds[()].tolist(), ds.attrs["long_name"]
    ([b'f_0001.cbf', b'f_0002.cbf'], 'frame')
    """
    import h5py

    ds = group.create_dataset(name, data=np.array(values, dtype=object), dtype=h5py.string_dtype())
    set_attrs(ds, **attrs)
    return ds


def write_record(group, record: dict, nx_class: str = "NXparameters") -> None:
    """Store a flat or nested dict: scalars and strings as datasets, dicts as sub-groups.

    None is stored as the string ``"null"``, a list of strings as a string dataset, any other
    list as an array; :func:`read_record` reads it back. Sub-groups are tagged ``nx_class``.

    Parameters
    ----------
    group : h5py.Group
        Where the record goes.
    record : dict
        Keys become dataset (or sub-group) names.
    nx_class : str
        NeXus class of the sub-groups (``NXparameters`` for settings, ``NXcollection``).

    Returns
    -------
    None

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("rec.h5", "w", driver="core", backing_store=False)  # in memory
    >>> write_record(h5.require_group("integration"),
    ...              {"npt": 2000, "mask": None, "geometry": {"wavelength_a": 0.8}})
    >>> sorted(h5["integration"]), float(h5["integration/geometry/wavelength_a"][()])
    (['geometry', 'mask', 'npt'], 0.8)
    >>> h5["integration/geometry"].attrs["NX_class"]
    'NXparameters'
    """
    for key, value in record.items():
        if isinstance(value, dict):
            sub = group.require_group(key)
            sub.attrs["NX_class"] = nx_class
            write_record(sub, value, nx_class)
        elif value is None:
            group.create_dataset(key, data="null")
        elif isinstance(value, (list, tuple)):
            if value and all(isinstance(v, str) for v in value):
                write_strings(group, key, list(value))
            else:
                group.create_dataset(key, data=np.asarray(value))
        elif isinstance(value, str):
            group.create_dataset(key, data=str(value))
        else:
            group.create_dataset(key, data=value)


def read_record(group) -> dict:
    """Inverse of :func:`write_record` (strings decoded, ``"null"`` back to None).

    Parameters
    ----------
    group : h5py.Group
        A group written by :func:`write_record` (or any group of small datasets).

    Returns
    -------
    dict
        Scalars as Python numbers and strings, string datasets as lists of str, other
        arrays as numpy arrays, sub-groups as dicts.

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("rec.h5", "w", driver="core", backing_store=False)  # in memory
    >>> write_record(h5.require_group("settings"),
    ...              {"unit": "2th_deg", "mask": None, "method": ["bbox", "csr", "cython"]})
    >>> read_record(h5["settings"])
    {'mask': None, 'method': ['bbox', 'csr', 'cython'], 'unit': '2th_deg'}
    """
    import h5py

    out: dict = {}
    for key, obj in group.items():
        if isinstance(obj, h5py.Group):
            out[key] = read_record(obj)
            continue
        value = obj[()]
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.ndarray) and value.dtype == object:
            value = [v.decode() if isinstance(v, bytes) else v for v in value.tolist()]
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = None if isinstance(value, str) and value == "null" else value
    return out


@contextmanager
def atomic_h5(path: Path):
    """Open a new HDF5 file that appears at ``path`` only once closed without error.

    Parameters
    ----------
    path : Path
        Where the finished file goes (replacing any file there; a link there is replaced, never
        written through).

    Returns
    -------
    contextmanager of h5py.File
        The file, open for writing under a temporary name; on an error it is deleted and
        ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "results.h5"
    >>> with atomic_h5(path) as h5:
    ...     _ = h5.create_dataset("answer", data=42)
    ...     print(path.exists())
    False
    >>> try:
    ...     with atomic_h5(path.with_name("failed.h5")) as h5:
    ...         raise RuntimeError("stage failed")
    ... except RuntimeError:
    ...     pass
    >>> [p.name for p in path.parent.iterdir()]
    ['results.h5']
    """
    import h5py

    path = safe_target(output_root(path), path)
    remove_temporaries(path)  # what a killed run left
    with atomic_path(path) as tmp:
        h5 = h5py.File(tmp, "w", libver="latest")
        try:
            yield h5
        finally:
            h5.close()


# ----------------------------------------------------------------------------- provenance


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Versions of xpipe and the libraries that decide its numbers.

    Returns
    -------
    dict of str to str
        ``xpipe``, ``python`` and every installed library of the list (pyFAI, numpy, ...).

    Examples
    --------
    >>> from xpipe import __version__
    >>> v = versions()
    >>> v["xpipe"] == __version__, "numpy" in v
    (True, True)
    """
    from importlib import metadata

    out = {"xpipe": __version__, "python": platform.python_version()}
    for dist in ("pyFAI", "fabio", "numpy", "scipy", "h5py", "hdf5plugin", "matplotlib", "PyYAML", "gemmi", "pybaselines", "xraylarch", "xraydb", "lmfit",
                 "galvani", "NewareNDA", "access-parser", "dask", "distributed"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def now_iso() -> str:
    """The current local time in ISO 8601, to the second, with its UTC offset.

    Returns
    -------
    str
        E.g. ``2025-03-14T09:00:00+01:00``.

    Examples
    --------
    >>> from datetime import datetime
    >>> datetime.fromisoformat(now_iso()).utcoffset() is not None
    True
    """
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def write_provenance(entry, *, recipe_text: str, recipe_sha256: str, recipe_path: str,
                     inputs: list[tuple[str, str | None]], started: str, runs: list[dict],
                     effective_settings: dict | None = None, recipe_version: int | None = None) -> None:
    """``/entry/provenance``: recipe (as written and with every effective setting), input
    checksums, versions, times, host, command line.

    Parameters
    ----------
    entry : h5py.Group
        The results' ``/entry``.
    recipe_text, recipe_sha256, recipe_path : str
        The recipe as written, the hex sha256 of its bytes, and its path.
    inputs : list of (str, str or None)
        Every input file and its sha256 (None: not hashed, stored as ``""``).
    started : str
        Start time of the run (ISO 8601); the end time is taken now.
    runs : list of dict
        One record per run or resume that wrote these results.
    effective_settings : dict, optional
        Every setting with the value in force, stored as JSON.
    recipe_version : int, optional
        The format version the recipe was written for.

    Returns
    -------
    None

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("prov.h5", "w", driver="core", backing_store=False)  # in memory
    >>> write_provenance(h5.require_group("entry"), recipe_text="name: demo\\n",
    ...                  recipe_sha256="ab12", recipe_path="/data/demo.yaml",
    ...                  inputs=[("/data/f_0001.cbf", "cd34")], started=now_iso(), runs=[])
    >>> prov = read_record(h5["entry/provenance"])
    >>> prov["recipe"], prov["input_files"]["path"], prov["versions"]["xpipe"] == __version__
    ('name: demo\\n', ['/data/f_0001.cbf'], True)
    """
    prov = nx_group(entry, "provenance", "NXcollection")
    prov.create_dataset("recipe", data=recipe_text)
    if recipe_version is not None:
        prov["recipe"].attrs["format_version"] = recipe_version
    if effective_settings is not None:
        prov.create_dataset("effective_settings", data=json.dumps(effective_settings, default=str))
    prov.create_dataset("recipe_sha256", data=recipe_sha256)
    prov.create_dataset("recipe_path", data=recipe_path)
    write_record(nx_group(prov, "versions", "NXcollection"), {nx_name(k): v for k, v in versions().items()})
    files = prov.require_group("input_files")
    files.attrs["NX_class"] = "NXcollection"
    write_strings(files, "path", [p for p, _ in inputs])
    write_strings(files, "sha256", [s or "" for _, s in inputs])
    prov.create_dataset("start_time", data=started)
    prov.create_dataset("end_time", data=now_iso())
    prov.create_dataset("host", data=socket.gethostname())
    prov.create_dataset("user", data=_user())
    prov.create_dataset("platform", data=platform.platform())
    prov.create_dataset("command", data=" ".join(sys.argv))
    prov.create_dataset("runs", data=json.dumps(runs))


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
