"""Content-hashed stage cache: a stage reruns only when its inputs or settings changed.

A stage's hash covers its settings (the recipe sections it reads, figure settings excluded),
the sha256 of every input file, the hashes of the stages it depends on, and the xpipe version.
File hashes are remembered by (size, mtime) so unchanged files are not read again.

Checkpointed stages keep their checkpoints when the hash matches. Whole-stack stages (which do
their work while the results are assembled) store what they wrote into the results, and their
in-memory state for figures and tables, and replay both on a match.

The cache holds data only (pickle is not used): the copied HDF5 objects in ``cache.h5``, the
state, summary and changed attributes as plain data (:mod:`xpipe.codec`) in
``cache_state.npz``, and ``cache.json``, written last, with the stage's hash, the xpipe version
and the sha256 of both. A cache that is unreadable, changed since it was written or from
another version is ignored with a warning naming the file, and the stage runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import codec
from .nexus import LAYOUT_VERSION
from .recipe.schema import InputFile
from .store import atomic_path, atomic_write_bytes, safe_target, versions

log = logging.getLogger("xpipe")


class FileHasher:
    """sha256 of files, remembered by path, size and modification time in a JSON file.

    Parameters
    ----------
    memo : Path
        The JSON file of remembered digests (read if present; written by :meth:`save`).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> frame = str(folder / "f_0001.cbf")
    >>> _ = Path(frame).write_bytes(b"abc")
    >>> hasher = FileHasher(folder / "hashes.json")
    >>> hasher.sha256(frame)[:16], hasher.sha256(str(folder / "gone.cbf"))
    ('ba7816bf8f01cfea', 'missing')
    >>> hasher.save()
    >>> FileHasher(folder / "hashes.json").memo[frame][0]  # its size in bytes, remembered
    3
    """

    def __init__(self, memo: Path) -> None:
        self.memo_path = memo
        self.memo: dict[str, list] = {}
        try:
            data = memo.read_bytes()
        except OSError:
            return
        try:
            self.memo = dict(codec.unseal(data)["memo"])
        except (codec.CodecError, KeyError, TypeError, ValueError) as exc:
            log.warning("%s: %s; ignored, input files are hashed again", memo, exc)

    def sha256(self, path: str) -> str:
        try:
            st = os.stat(path)
        except OSError:
            return "missing"
        key = os.path.abspath(path)
        hit = self.memo.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        self.remember(path, st, digest)
        return digest

    def sha256_all(self, paths: list[str]) -> dict[str, str]:
        """:meth:`sha256` of every path; the files not remembered are hashed in threads (file
        reads and hashlib release the GIL), one per CPU up to four.

        Parameters
        ----------
        paths : list of str
            The files.

        Returns
        -------
        dict of str to str
            Digest by path as given (``"missing"`` for a file that is not there).
        """
        unique = list(dict.fromkeys(paths))
        if len(unique) < 8:
            return {p: self.sha256(p) for p in unique}
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            return dict(zip(unique, pool.map(self.sha256, unique)))

    def remember(self, path: str, st: os.stat_result, digest: str) -> None:
        """Record ``digest`` as the sha256 of ``path`` while its size and mtime are those of
        ``st`` (a digest computed elsewhere, e.g. by a worker that read the file)."""
        self.memo[os.path.abspath(path)] = [st.st_size, st.st_mtime_ns, digest]

    def save(self) -> None:
        self.memo_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.memo_path, codec.seal({"memo": self.memo}))


def _plain(obj: Any, files: list[str]) -> Any:
    """Settings as JSON-able data; every input-file path met on the way is collected."""
    if isinstance(obj, InputFile):
        files.append(str(obj))
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name), files) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, files) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _plain(v, files) for k, v in obj.items()}
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def stage_hash(stage: Any, upstream: list[str], hasher: FileHasher) -> str | None:
    """The stage's content hash, or None for a stage that does not take part in caching.

    Parameters
    ----------
    stage : Stage
        The stage: its ``name``, and ``fingerprint()`` giving ``(settings, extra input
        paths)`` or None; input files met in the settings (``InputFile``) count too.
    upstream : list of str
        Hashes of the stages it depends on.
    hasher : FileHasher
        Gives the sha256 of each input file.

    Returns
    -------
    str or None
        Hex sha256 of the settings, input-file digests, upstream hashes and xpipe version.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> frame = str(folder / "f_0001.cbf")
    >>> _ = Path(frame).write_bytes(b"abc")
    >>> hasher = FileHasher(folder / "hashes.json")
    >>> class Stage:  # what the cache asks of a stage: a name and a fingerprint
    ...     name = "integrate"
    ...     def __init__(self, npt):
    ...         self.npt = npt
    ...     def fingerprint(self):
    ...         return {"npt": self.npt}, [frame]
    >>> digest = stage_hash(Stage(2000), [], hasher)
    >>> len(digest), digest == stage_hash(Stage(2000), [], hasher)
    (64, True)
    >>> digest == stage_hash(Stage(1000), [], hasher)  # a setting changed
    False
    >>> _ = Path(frame).write_bytes(b"abcd")
    >>> digest == stage_hash(Stage(2000), [], hasher)  # an input file changed
    False
    """
    fp = stage.fingerprint()
    if fp is None:
        return None
    settings, paths = fp
    files: list[str] = list(paths)
    plain = _plain(settings, files)
    record = {
        "stage": stage.name,
        "xpipe": versions()["xpipe"],
        "layout": LAYOUT_VERSION,  # a results layout change writes the stage afresh
        "settings": plain,
        "inputs": sorted({(os.path.abspath(p), d) for p, d in hasher.sha256_all(files).items()}),
        "upstream": upstream,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


# ------------------------------------------------------------------ whole-stack stages


def _names(group) -> set[str]:
    names: set[str] = set()
    group.visit(names.add)
    return names


def _group_attrs(group) -> dict[str, dict]:
    import h5py

    out = {"": dict(group.attrs)}

    def visit(name, obj):
        if isinstance(obj, h5py.Group):
            out[name] = dict(obj.attrs)

    group.visititems(visit)
    return out


class Snapshot:
    """What the results entry holds before a stage writes into it.

    Parameters
    ----------
    entry : h5py.Group
        The results' ``/entry``; ``names`` are the paths of every object under it, ``attrs``
        the attributes of every group (``""``: the entry itself).

    Examples
    --------
    >>> import h5py
    >>> h5 = h5py.File("snap.h5", "w", driver="core", backing_store=False)  # in memory
    >>> entry = h5.require_group("entry")
    >>> _ = entry.create_dataset("xrd/integrated/intensity", data=[[1.0, 2.0]])
    >>> entry.attrs["default"] = "xrd"
    >>> snap = Snapshot(entry)
    >>> sorted(snap.names), snap.attrs[""]
    (['xrd', 'xrd/integrated', 'xrd/integrated/intensity'], {'default': 'xrd'})
    """

    def __init__(self, entry) -> None:
        self.names = _names(entry)
        self.attrs = _group_attrs(entry)


CACHE_H5, CACHE_STATE, CACHE_JSON = "cache.h5", "cache_state.npz", "cache.json"
#: where older versions kept the state: never read, removed when met
LEGACY_STATE = "cache.pkl"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _changed_attrs(entry, before: Snapshot) -> dict[str, dict]:
    """The group attributes that differ from (or are missing in) ``before``."""
    import numpy as np

    changed = {}
    for name, attrs in before.attrs.items():
        grp = entry[name] if name else entry
        now = dict(grp.attrs)
        diff = {k: v for k, v in now.items() if k not in attrs or not np.array_equal(np.asarray(attrs[k]), np.asarray(v))}
        if diff:
            changed[name] = diff
    return changed


def _folder(work: Path, stage_name: str) -> Path:
    """The stage's cache folder, once checked to stay inside the output folder."""
    folder = Path(work) / stage_name
    safe_target(Path(work).parent, folder / CACHE_JSON)
    legacy = folder / LEGACY_STATE
    if legacy.exists() or legacy.is_symlink():
        log.warning("%s: a stage cache of an older version (executable content); never read, removed",
                    legacy)
        legacy.unlink()
    return folder


def store(work: Path, stage: Any, entry, before: Snapshot, digest: str, summary: Any) -> None:
    """Keep what ``stage`` added to ``entry`` (new objects, changed group attributes) and its state.

    Parameters
    ----------
    work : Path
        The output folder's ``.xpipe`` folder; the cache goes to ``<stage name>/`` there:
        ``cache.h5``, ``cache_state.npz`` and ``cache.json``.
    stage : Stage
        The stage: its ``name`` and ``cache_state()`` (plain data, see :mod:`xpipe.codec`;
        otherwise nothing is kept, and the stage runs next time).
    entry : h5py.Group
        The results' ``/entry``, after the stage wrote into it.
    before : Snapshot
        The entry as it was before.
    digest : str
        The stage's hash (:func:`stage_hash`); a replay needs the same one.
    summary : Any
        The stage's summary, given back by :func:`replay`.

    Returns
    -------
    None

    Examples
    --------
    >>> import tempfile, h5py
    >>> work = Path(tempfile.mkdtemp()) / ".xpipe"
    >>> class Stage:  # a whole-stack stage: its name, and the state its figures need
    ...     name = "xps"
    ...     state = None
    ...     def cache_state(self):
    ...         return {"fitted": 2}
    ...     def restore_state(self, state):
    ...         self.state = state
    >>> h5 = h5py.File("run1.h5", "w", driver="core", backing_store=False)  # in memory
    >>> entry = h5.require_group("entry")
    >>> before = Snapshot(entry)
    >>> _ = entry.create_dataset("xps/V 2p/mean_valence", data=[4.6, 4.2])  # the stage's work
    >>> entry.attrs["default"] = "xps"
    >>> store(work, Stage(), entry, before, "hash-1", summary={"spectra": 2})
    >>> sorted(p.name for p in (work / "xps").iterdir())
    ['cache.h5', 'cache.json', 'cache_state.npz']
    """
    import h5py

    folder = _folder(work, stage.name)
    new = sorted(_names(entry) - before.names)
    tops = [n for n in new if n.rpartition("/")[0] not in new]
    try:
        state = codec.dumps({"state": stage.cache_state(), "summary": summary,
                             "changed_attrs": _changed_attrs(entry, before), "objects": tops})
    except (codec.CodecError, RecursionError) as exc:  # not plain data: the stage reruns next time
        log.debug("%s: not cached (%s)", stage.name, exc)
        (folder / CACHE_JSON).unlink(missing_ok=True)
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CACHE_JSON).unlink(missing_ok=True)  # written last: the cache counts once it is there
    with atomic_path(folder / CACHE_H5) as tmp, h5py.File(tmp, "w") as out:
        for i, name in enumerate(tops):
            entry.file.copy(entry[name], out, name=f"o{i}")
    atomic_write_bytes(folder / CACHE_STATE, state)
    record = {"stage": stage.name, "stage_hash": digest,
              "sha256": {CACHE_H5: _file_sha256(folder / CACHE_H5), CACHE_STATE: codec.sha256(state)}}
    atomic_write_bytes(folder / CACHE_JSON, codec.seal(record))


def _load(folder: Path, stage_name: str, digest: str) -> dict | None:
    """The checked, decoded state of the cache in ``folder`` (None: none for this hash, or not
    usable; the reason is warned with the file)."""
    path = folder / CACHE_JSON
    try:
        record = codec.unseal(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, codec.CodecError) as exc:
        log.warning("%s: %s; ignored, running the stage", path, exc)
        return None
    if record.get("stage") != stage_name or record.get("stage_hash") != digest:
        return None  # inputs or settings changed
    try:
        path = folder / CACHE_STATE
        data = path.read_bytes()
        if codec.sha256(data) != record["sha256"][CACHE_STATE]:
            raise codec.CodecError("its checksum does not match its content (changed or cut since it was written)")
        saved = codec.loads(data)
        if not (isinstance(saved, dict) and isinstance(saved.get("objects"), list)
                and isinstance(saved.get("changed_attrs"), dict)
                and dataclasses.is_dataclass(saved.get("summary"))):
            raise codec.CodecError("not the state of a stage")
        path = folder / CACHE_H5
        if _file_sha256(path) != record["sha256"][CACHE_H5]:
            raise codec.CodecError("its checksum does not match its content (changed or cut since it was written)")
    except (OSError, KeyError, TypeError, codec.CodecError) as exc:
        log.warning("%s: %s; ignored, running the stage", path, exc)
        return None
    return saved


def replay(work: Path, stage: Any, entry, digest: str) -> Any | None:
    """Copy the cached objects into ``entry`` and restore the stage; the cached summary, or None.

    Parameters
    ----------
    work : Path
        The output folder's ``.xpipe`` folder, as given to :func:`store`.
    stage : Stage
        The stage: its ``name`` and ``restore_state(state)``.
    entry : h5py.Group
        The new results' ``/entry`` to copy the cached objects into.
    digest : str
        The stage's hash now; a cache stored under another hash is not used.

    Returns
    -------
    Any or None
        The summary stored with the cache, or None when the stage must run (no cache, another
        hash, or a cache that is unreadable, changed since it was written or from another
        xpipe version: these are warned, naming the file).

    Examples
    --------
    >>> import tempfile, h5py
    >>> from xpipe.stages.base import StageSummary
    >>> work = Path(tempfile.mkdtemp()) / ".xpipe"
    >>> class Stage:  # a whole-stack stage: its name, and the state its figures need
    ...     name = "xps"
    ...     state = None
    ...     def cache_state(self):
    ...         return {"fitted": 2}
    ...     def restore_state(self, state):
    ...         self.state = state
    >>> h5 = h5py.File("run1.h5", "w", driver="core", backing_store=False)  # in memory
    >>> entry = h5.require_group("entry")
    >>> before = Snapshot(entry)
    >>> _ = entry.create_dataset("xps/V 2p/mean_valence", data=[4.6, 4.2])  # the stage's work
    >>> entry.attrs["default"] = "xps"
    >>> summary = StageSummary(done=2, failed=[], inputs=[])
    >>> store(work, Stage(), entry, before, "hash-1", summary)
    >>> fresh = h5py.File("run2.h5", "w", driver="core", backing_store=False).require_group("e")
    >>> stage = Stage()
    >>> replay(work, stage, fresh, "hash-1").done, stage.state, fresh["xps/V 2p/mean_valence"][()]
    (2, {'fitted': 2}, array([4.6, 4.2]))
    >>> fresh.attrs["default"]
    'xps'
    >>> replay(work, Stage(), fresh, "hash-2") is None  # settings changed: the stage runs
    True
    """
    import h5py

    folder = _folder(work, stage.name)
    saved = _load(folder, stage.name, digest)
    if saved is None:
        return None
    path = folder / CACHE_H5
    try:
        with h5py.File(path, "r") as src:
            sources = [src[f"o{i}"] for i in range(len(saved["objects"]))]
            if any(str(name) in entry for name in saved["objects"]):
                raise ValueError("its objects are in the results already")
            stage.restore_state(saved["state"])
            for name, obj in zip(saved["objects"], sources):
                parent, _, leaf = str(name).rpartition("/")
                src.copy(obj, entry.require_group(parent) if parent else entry, name=leaf)
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("%s: %s; ignored, running the stage", path, exc)
        return None
    for name, attrs in saved["changed_attrs"].items():
        grp = entry.require_group(name) if name else entry
        for k, v in attrs.items():
            grp.attrs[k] = v
    return saved["summary"]
