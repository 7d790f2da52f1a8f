"""HDF5/NeXus frame stacks: a dataset of shape (N, rows, columns), or an Eiger master.

An Eiger master's ``/entry/data`` group links to ``data_000001``... datasets in other files;
hdf5plugin decodes their bitshuffle/LZ4 compression. An entry ``file.h5::/entry/data/data``
names the dataset; without one, the frames are found as NeXus readers find them
(:mod:`xpipe.io.frames.nexus`: the ``@default`` plot and its ``@signal``, NXdata groups,
``NXinstrument/NXdetector/data``, then ``/entry/data/data`` and Eiger parts). A file or dataset
that holds 1D data (integrated patterns) is refused as frames with that reason. HDF5 files that
a writer holds open in SWMR mode are read as an SWMR reader (:func:`open_hdf5`). Claimed by the
HDF5 signature, else by suffix.

Lambda detectors (X-Spectrum) write one NeXus file per module and part,
``<scan>_m<module>_part<NNNNN>.nxs``, frames at ``/entry/instrument/detector/data``. Each file is
a frame stack of its own: a part read alone gives its own frames, and the parts of one module
(``scan_m1_part*.nxs``, sorted naturally) are that module's consecutive frames. The modules of
one scan are separate stacks of the same frames, each module seeing its own part of the
detector plane (its offset in pixels is ``detector/translation/distance``); they are not
stitched here: list one module's files per recipe, with a geometry for that module, or see
:mod:`xpipe.io.frames.lambda_modules` for how the modules sit in the stitched image that
Dioptas shows and its ``.mask`` files are drawn on.

Examples
--------
>>> import os, tempfile, h5py, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "scan.h5")
>>> with h5py.File(path, "w") as h5:
...     h5["entry/data/data"] = np.arange(24).reshape(2, 3, 4)
>>> from xpipe.io.frames import REGISTRY
>>> REGISTRY.detect(path).name
'hdf5'
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from .base import REGISTRY, FrameReadError, FrameRef, FrameSource, FrameTime, _NotYet, _Unlisted
from .base import natural_key as _natural_key
from .nexus import _is_eiger_part, curves_message, curves_reason, find_frames

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".nexus")
_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _sniff(head: bytes) -> bool:
    """The HDF5 signature, at the file start or after a user block (512, 1024, 2048... bytes)."""
    return any(head[k:k + 8] == _SIGNATURE for k in (0, 512, 1024, 2048, 4096))


def is_hdf5(path: str) -> bool:
    """Whether ``path`` has an HDF5/NeXus suffix (the file itself is not opened).

    Parameters
    ----------
    path : str or Path
        A file name.

    Returns
    -------
    bool
        True for ``.h5``, ``.hdf5``, ``.hdf``, ``.nxs``, ``.nx5`` and ``.nexus`` (any case).

    Examples
    --------
    >>> is_hdf5("scan_0001.NXS"), is_hdf5("frame_0001.cbf")
    (True, False)
    """
    return str(path).lower().endswith(HDF5_SUFFIXES)


def open_hdf5(path: str):
    """Open an HDF5 file read-only; one a writer holds open in SWMR mode as an SWMR reader.

    Parameters
    ----------
    path : str
        The HDF5 file.

    Returns
    -------
    h5py.File
        The open file (the caller closes it).

    Raises
    ------
    OSError
        The plain open's error when neither works, e.g. while a writer that does not use SWMR
        has the file locked.

    Examples
    --------
    >>> import os, tempfile, h5py
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["x"] = [1, 2, 3]
    >>> with open_hdf5(path) as h5:
    ...     print(h5["x"].shape, h5.mode)
    (3,) r
    """
    import hdf5plugin  # noqa: F401  (registers bitshuffle/LZ4/Blosc filters; heavy: on first use)

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        first = exc
    try:
        return h5py.File(path, "r", swmr=True)
    except OSError:
        raise first from None


def hdf5_closed(path: str) -> bool:
    """Whether no writer holds ``path`` open: a plain read-only open succeeds.

    An SWMR writer marks the file open for writing, another writer locks it.

    Parameters
    ----------
    path : str
        The HDF5 file.

    Returns
    -------
    bool
        True when the file can be opened read-only now.

    Examples
    --------
    >>> import os, tempfile, h5py
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> h5py.File(path, "w").close()
    >>> hdf5_closed(path), hdf5_closed(path + ".missing")
    (True, False)
    """
    try:
        with h5py.File(path, "r"):
            return True
    except (OSError, RuntimeError):
        return False


def hdf5_length(path: str, dataset: str) -> int | None:
    """Current length along axis 0 of ``path::dataset``.

    Parameters
    ----------
    path : str
        The HDF5 file.
    dataset : str
        The dataset.

    Returns
    -------
    int or None
        Its length, None when it cannot be read now (no file, no dataset, a scalar).

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["entry/data/data"] = np.zeros((5, 2, 2))
    >>> hdf5_length(path, "/entry/data/data"), hdf5_length(path, "/nope")
    (5, None)
    """
    try:
        with open_hdf5(path) as h5:
            return int(h5[dataset].shape[0]) if dataset in h5 and h5[dataset].shape else None
    except (OSError, RuntimeError, KeyError, ValueError):
        return None


# ---------------------------------------------------------------------------- listing


def _list_frames(path: str, dataset: str | None, missing_ok: bool = False) -> list[FrameRef]:
    """One reference per frame of ``dataset`` (default: :func:`_default_dataset`).

    A file that cannot be opened or whose metadata cannot be read (h5py's OSError, RuntimeError,
    KeyError or ValueError) is "not yet": a writer may still hold or be writing it."""
    try:
        with open_hdf5(path) as h5:
            name = dataset or find_frames(h5, path).name
            if name not in h5:
                missing = _missing_link_target(h5, name, path)
                raise _NotYet(f"'{path}': {missing}" if missing else f"'{path}' has no dataset '{name}'")
            obj = _follow(h5, name, path)
            if isinstance(obj, h5py.Group):
                return _eiger_refs(path, name, obj, missing_ok)
            return _dataset_refs(path, name, obj)
    except _Unlisted:
        raise
    except OSError as exc:
        raise _NotYet(f"cannot open HDF5 file '{path}': {exc}") from None
    except (RuntimeError, KeyError, ValueError) as exc:
        raise _NotYet(f"cannot read the HDF5 file '{path}': {exc}") from None


def _eiger_refs(path: str, name: str, group, missing_ok: bool) -> list[FrameRef]:
    """The frames of an Eiger master's ``data_NNNNNN`` parts, in order."""
    refs: list[FrameRef] = []
    for sub in _eiger_parts(group, path):
        try:
            part = _open_part(group, sub, path)
        except _NotYet:
            if not missing_ok:
                raise
            break  # a data file not written yet: the parts before it only
        refs.extend(_dataset_refs(path, f"{name}/{sub}", part))
    return refs


def _dataset_refs(path: str, name: str, ds) -> list[FrameRef]:
    missing = _missing_virtual_sources(ds, path)
    if missing is not None:
        raise _NotYet(f"'{path}': {missing}")
    reason = curves_reason(ds)
    if reason is not None:
        raise _Unlisted(curves_message(path, name, ds, reason))
    if ds.ndim == 2:
        return [FrameRef(path, name, 0)]
    if ds.ndim != 3:
        raise _Unlisted(
            f"dataset '{path}::{name}' has shape {ds.shape}; expected (frames, rows, columns)"
        )
    return [FrameRef(path, name, i) for i in range(ds.shape[0])]


def _eiger_parts(group, path: str) -> list[str]:
    parts = sorted((k for k in group if _is_eiger_part(k)), key=_natural_key)
    if not parts:
        raise _NotYet(f"'{path}': group '{group.name}' holds no data_NNNNNN datasets")
    return parts


def _open_part(group, sub: str, path: str):
    """One ``data_NNNNNN`` part; a dangling external link becomes a ValueError naming its target."""
    try:
        return group[sub]
    except (KeyError, OSError) as exc:
        link = group.get(sub, getlink=True)
        target = (
            f" (external link to '{link.filename}::{link.path}')"
            if isinstance(link, h5py.ExternalLink)
            else ""
        )
        raise _NotYet(f"'{path}': cannot open '{group.name}/{sub}'{target}: {exc}") from None


def _follow(group, name: str, path: str):
    """``group[name]``; a link that cannot be followed is a "not yet" error naming the file it
    points to when that file is missing (h5py raises KeyError)."""
    try:
        return group[name]
    except KeyError as exc:
        missing = _missing_link_target(group, name, path)
        raise _NotYet(f"'{path}': {missing or f'cannot open {name!r}: {exc}'}") from None


def _target_exists(name: str, holder: str, env: str) -> bool:
    """Whether the file an external link or a virtual dataset names can be found, where HDF5
    looks for it: the prefix in ``env``, the name as written, beside the file that holds it."""
    if os.path.isabs(name):
        return os.path.isfile(name)
    prefixes = [p for p in os.environ.get(env, "").split(os.pathsep) if p]
    candidates = [os.path.join(p, name) for p in prefixes]
    candidates += [name, os.path.join(os.path.dirname(os.path.abspath(holder)), name)]
    return any(os.path.isfile(c) for c in candidates)


def _missing_link_target(h5, name: str, path: str) -> str | None:
    """What is wrong when an external link on the way to ``name`` points to a missing file;
    None when every link there resolves (or the name does not exist, which callers report)."""
    group = h5
    walked = ""
    for part in [p for p in name.split("/") if p]:
        walked += "/" + part
        try:
            link = group.get(part, getlink=True)
        except (KeyError, OSError, ValueError):
            return None
        if link is None:
            return None
        if isinstance(link, h5py.ExternalLink) and not _target_exists(
                link.filename, _link_holder(group, path), "HDF5_EXT_PREFIX"):
            holder = os.path.basename(_link_holder(group, path))
            return (f"'{walked}' is an external link to '{link.filename}::{link.path}', "
                    f"and the file '{link.filename}' does not exist; expected it beside '{holder}'")
        try:
            group = group[part]
        except (KeyError, OSError, ValueError):
            return None
        if not isinstance(group, h5py.Group):
            return None
    return None


def _link_holder(group, path: str) -> str:
    """The file that holds ``group`` (an external link is resolved beside it)."""
    try:
        return group.file.filename
    except (AttributeError, ValueError):
        return path


def _missing_virtual_sources(ds, path: str) -> str | None:
    """What is wrong when ``ds`` is a virtual dataset whose source files are missing (HDF5
    would read their frames as fill values, zeros); None for any other dataset."""
    try:
        if not ds.is_virtual:
            return None
        sources = ds.virtual_sources()
    except (AttributeError, OSError, ValueError, RuntimeError):
        return None
    holder = _link_holder(ds, path)
    missing = sorted({s.file_name for s in sources
                      if s.file_name != "." and "%" not in s.file_name
                      and not _target_exists(s.file_name, holder, "HDF5_VDS_PREFIX")})
    if not missing:
        return None
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    return (f"'{ds.name}' is a virtual dataset whose source file '{missing[0]}'{more} "
            f"does not exist, so its frames would read as fill values; expected "
            f"{'them' if len(missing) > 1 else 'it'} beside '{os.path.basename(holder)}'")


# ---------------------------------------------------------------------------- reading


def _read_frame(path: str, dataset: str | None, index: int | None,
                handles: dict | None) -> tuple[np.ndarray, FrameTime]:
    """Frame ``index`` of ``path::dataset``, keeping the file open in ``handles`` (or, without
    ``handles``, closing it again). A reference to the whole file, which no listing gives, is
    read as fabio reads it (the family's fallback format)."""
    if dataset is None:
        return REGISTRY[REGISTRY.fallback].read(path)
    own = handles is None
    handles = {} if own else handles
    try:
        return _stack_frame(FrameRef(path, dataset, index), handles), FrameTime(None, None, "hdf5")
    finally:
        if own:
            for h5 in handles.values():
                h5.close()


def _stack_frame(ref: FrameRef, handles: dict) -> np.ndarray:
    try:
        h5 = handles.get(ref.path)
        if h5 is None:
            h5 = handles[ref.path] = open_hdf5(ref.path)
        try:
            ds = _follow(h5, ref.dataset, ref.path)
        except _NotYet as exc:
            raise FrameReadError(f"cannot read {ref.key}: {str(exc).split(': ', 1)[-1]}") from None
        missing = _missing_virtual_sources(ds, ref.path)
        if missing is not None:
            raise FrameReadError(f"cannot read {ref.key}: {missing}")
        if ds.ndim == 3 and ref.index >= ds.shape[0]:  # the dataset grew since it was opened
            if h5.swmr_mode:
                ds.refresh()
            if ref.index >= ds.shape[0]:
                h5.close()
                h5 = handles[ref.path] = open_hdf5(ref.path)
                ds = h5[ref.dataset]
        return np.asarray(ds[()] if ds.ndim == 2 else ds[ref.index])
    except FrameReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError/KeyError/ValueError on damage
        raise FrameReadError(f"cannot read {ref.key}: {exc}") from None


REGISTRY.register(
    "hdf5", read=FrameSource(_list_frames, _read_frame, holds_datasets=True),
    suffixes=HDF5_SUFFIXES, sniff=_sniff,
    description="HDF5/NeXus frame stacks and Eiger masters ('file.h5::/entry/data/data')")
