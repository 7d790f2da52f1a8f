"""Where a NeXus/HDF5 file keeps its detector frames, found the way NeXus readers find them.

The places looked at, in order (the first one that holds frames is taken):

1. the NeXus default plot: the root's ``@default`` entry (else every ``NXentry``, in natural
   order, then a group named ``entry``), its ``@default`` ``NXdata`` group, and that group's
   ``@signal`` dataset (or, in files written before ``@signal`` existed, the dataset whose own
   ``signal`` attribute is 1);
2. the entry's other ``NXdata`` groups (the one named ``data`` first), the same way;
3. ``NXinstrument/NXdetector/data``: where Lambda, Eiger (NXmx) and BLISS-like control systems
   write the detector's images;
4. the known fallbacks: ``<entry>/data/data``, and an Eiger master's ``<entry>/data`` group of
   ``data_NNNNNN`` links.

The entries are looked through in that order, so a file of several scans without a root
``@default`` gives the frames of the first scan that has any; name another scan's dataset as
``file.h5::/2.1/instrument/detector/data``.

A place holds frames when it is a 3D dataset (frames, rows, columns), a 2D dataset that is one
image, or an Eiger group. A signal that is 1D data (one curve, or a stack of curves: a 2D signal
whose NXdata ``@axes`` give the last dimension an axis and the first none, whose last axis is a
radial one such as 2theta or Q, or whose ``@interpretation`` is ``spectrum``) is not frames: a
file that holds only such data is refused as frames with that reason, and its 1D diffraction
patterns are read by :func:`xpipe.io.patterns.read_nexus_patterns`.

Examples
--------
>>> import os, tempfile, h5py, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "scan.nxs")
>>> with h5py.File(path, "w") as h5:
...     det = h5.create_group("entry/instrument/detector")
...     det.attrs["NX_class"] = "NXdetector"
...     det["data"] = np.zeros((4, 3, 5), dtype=np.uint16)
...     h5["entry"].attrs["NX_class"] = "NXentry"
...     h5["entry/instrument"].attrs["NX_class"] = "NXinstrument"
>>> with h5py.File(path, "r") as h5:
...     find_frames(h5, path).name
'/entry/instrument/detector/data'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import h5py
import numpy as np

from .base import _NotYet, _Unlisted
from .base import natural_key as _natural_key

#: Words in an axis name or ``long_name`` that make it a radial (diffraction) axis.
RADIAL_WORDS = ("two_theta", "2theta", "2th", "2th_deg", "tth", "q", "q_nm^-1", "q_a^-1", "d_spacing",
                "d-spacing")


def attr_text(obj, name: str, default: str | None = None) -> str | None:
    """An attribute as text: bytes decoded, a one-element array unwrapped; else ``default``.

    Parameters
    ----------
    obj : h5py.Group or h5py.Dataset
        Holder of the attribute.
    name : str
        The attribute.
    default : str or None
        Returned when the attribute is absent or not text.

    Returns
    -------
    str or None

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5.attrs.create("default", np.bytes_("entry"))
    ...     print(attr_text(h5, "default"), attr_text(h5, "missing", "x"))
    entry x
    """
    try:
        value = obj.attrs.get(name, None)
    except (OSError, RuntimeError, TypeError, ValueError):
        return default
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.ravel()[0]
    if isinstance(value, np.bytes_ | bytes):
        value = value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else default


def _nx_class(obj) -> str | None:
    return attr_text(obj, "NX_class")


def _child(group, name: str):
    """``group[name]``, or None when it is absent or cannot be opened."""
    try:
        return group[name] if name in group else None
    except (KeyError, OSError, RuntimeError, ValueError):
        return None


def _children_of_class(group, nx_class: str) -> list[str]:
    """Names of the subgroups of ``group`` tagged ``nx_class``, in natural order."""
    out = []
    for key in sorted(group, key=_natural_key):
        obj = _child(group, key)
        if isinstance(obj, h5py.Group) and _nx_class(obj) == nx_class:
            out.append(key)
    return out


def signal_name(nxdata) -> str | None:
    """The signal of an NXdata group: its ``@signal``, else the child whose ``signal`` is 1.

    Parameters
    ----------
    nxdata : h5py.Group
        An NXdata group.

    Returns
    -------
    str or None
        The signal dataset's name in the group, None when neither way names one.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["d/counts"] = np.zeros(3)
    ...     h5["d/counts"].attrs["signal"] = 1  # NeXus before 2012
    ...     print(signal_name(h5["d"]))
    counts
    """
    named = attr_text(nxdata, "signal")
    if named and named in nxdata:
        return named
    for key in sorted(nxdata, key=_natural_key):
        obj = _child(nxdata, key)
        if isinstance(obj, h5py.Dataset):
            flag = obj.attrs.get("signal")
            try:
                if flag is not None and int(np.asarray(flag).ravel()[0]) == 1:
                    return key
            except (TypeError, ValueError):
                continue
    return None


def _entries(h5) -> list[str]:
    """The entries to look in: the root's ``@default``, else every NXentry, then ``entry``."""
    default = attr_text(h5, "default")
    if default and isinstance(_child(h5, default), h5py.Group):
        return [default]
    names = _children_of_class(h5, "NXentry")
    if "entry" in h5 and "entry" not in names:
        names.append("entry")
    return names


def _nxdata_places(entry, base: str) -> Iterator[tuple[str, str]]:
    """The entry's default NXdata, then its other NXdata groups (``data`` first)."""
    groups = []
    default = attr_text(entry, "default")
    if default:
        groups.append((default, "the NeXus default plot"))
    others = _children_of_class(entry, "NXdata")
    if "data" not in others and isinstance(_child(entry, "data"), h5py.Group):
        others.append("data")  # an untagged group named as NXdata usually is
    others.sort(key=lambda k: k != "data")
    groups += [(k, "an NXdata group") for k in others]
    for key, how in groups:
        nxdata = _child(entry, key)
        if not isinstance(nxdata, h5py.Group):
            continue
        signal = signal_name(nxdata)
        if signal is not None:
            yield f"{base}/{key}/{signal}", f"{how}'s signal"
        elif any(_is_eiger_part(k) for k in nxdata):
            yield f"{base}/{key}", "an Eiger master's data group"


def _detector_places(entry, base: str) -> Iterator[tuple[str, str]]:
    """``NXinstrument/NXdetector/data`` of the entry."""
    for inst in _children_of_class(entry, "NXinstrument"):
        for det in _children_of_class(entry[inst], "NXdetector"):
            if "data" in entry[inst][det]:
                yield f"{base}/{inst}/{det}/data", "the NXdetector's data"


def frame_places(h5) -> Iterator[tuple[str, str]]:
    """Every place a NeXus reader would look for the frames, in order, with how it was found.

    Parameters
    ----------
    h5 : h5py.File
        The open file.

    Yields
    ------
    (str, str)
        The absolute HDF5 path, and how it was found (for messages). A path may be a dangling
        link; each path is given once.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["entry/data/data"] = np.zeros((2, 3, 4))
    ...     print([p for p, _ in frame_places(h5)])
    ['/entry/data/data']
    """
    seen: set[str] = set()
    for name in _entries(h5):
        entry = _child(h5, name)
        if not isinstance(entry, h5py.Group):
            continue
        base = "/" + name.strip("/")
        places = list(_nxdata_places(entry, base)) + list(_detector_places(entry, base))
        places += [(f"{base}/data/data", "the usual /entry/data/data")]
        data = _child(entry, "data")
        if isinstance(data, h5py.Group) and any(_is_eiger_part(k) for k in data):
            places.append((f"{base}/data", "an Eiger master's data group"))
        for place, how in places:
            if place not in seen and _link_exists(h5, place):
                seen.add(place)
                yield place, how


def _link_exists(h5, name: str) -> bool:
    """Whether every link on the way to ``name`` exists (its target may still be missing)."""
    group = h5
    parts = [p for p in name.split("/") if p]
    for i, part in enumerate(parts):
        try:
            if group.get(part, getlink=True) is None:
                return False
            if i == len(parts) - 1:
                return True
            group = group[part]
        except (KeyError, OSError, RuntimeError, ValueError):
            return i == len(parts) - 1
        if not isinstance(group, h5py.Group):
            return False
    return False


def _is_eiger_part(name: str) -> bool:
    """An Eiger master's ``data_NNNNNN`` link to one of its data files (the last path part)."""
    return re.fullmatch(r"data_\d+", name.rsplit("/", 1)[-1]) is not None


def _axes(nxdata, ds) -> list[str]:
    """The NXdata ``@axes`` (one name or ``.`` per dimension), or a legacy ``a:b`` string on
    the signal itself; empty when neither is there."""
    axes = nxdata.attrs.get("axes") if nxdata is not None else None
    if axes is None:
        axes = ds.attrs.get("axes")
    if axes is None:
        return []
    if isinstance(axes, bytes | np.bytes_):
        axes = axes.decode("utf-8", errors="replace")
    if isinstance(axes, str):
        return [a.strip() for a in re.split(r"[:,\s]+", axes) if a.strip()]
    return [a.decode("utf-8", errors="replace") if isinstance(a, bytes | np.bytes_) else str(a)
            for a in np.asarray(axes).ravel()]


def last_axis(ds) -> str | None:
    """The name, in the signal's NXdata group, of the 1D axis along the signal's last dimension.

    Parameters
    ----------
    ds : h5py.Dataset
        A signal dataset.

    Returns
    -------
    str or None
        The axis dataset's name beside ``ds``, None when the NXdata names none or it is not a 1D
        dataset as long as the last dimension.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["r/data"] = np.zeros((3, 5))
    ...     h5["r/tth"] = np.linspace(1, 5, 5)
    ...     h5["r"].attrs["axes"] = [".", "tth"]
    ...     print(last_axis(h5["r/data"]))
    tth
    """
    if ds.ndim < 1:
        return None
    parent = ds.parent
    axes = _axes(parent, ds)
    names = [axes[-1]] if len(axes) == ds.ndim and axes[-1] != "." else []
    names += [k[:-len("_indices")] for k in parent.attrs if k.endswith("_indices")
              and _index_is(parent.attrs[k], ds.ndim - 1)]
    for name in names:
        axis = _child(parent, name)
        if isinstance(axis, h5py.Dataset) and axis.ndim == 1 and axis.shape[0] == ds.shape[-1]:
            return name
    return None


def _index_is(value, index: int) -> bool:
    try:
        return [int(v) for v in np.asarray(value).ravel()] == [index]
    except (TypeError, ValueError):
        return False


def is_radial(axis) -> bool:
    """Whether a 1D axis dataset is a diffraction (radial) axis: 2theta, Q or d by its name or
    ``long_name``.

    Parameters
    ----------
    axis : h5py.Dataset
        The axis.

    Returns
    -------
    bool

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["binning"] = np.arange(3.0)
    ...     h5["binning"].attrs["long_name"] = "two_theta (degrees)"
    ...     h5["x_pixel"] = np.arange(3.0)
    ...     print(is_radial(h5["binning"]), is_radial(h5["x_pixel"]))
    True False
    """
    words = " ".join([axis.name.rsplit("/", 1)[-1], attr_text(axis, "long_name", "") or ""]).lower()
    tokens = set(re.split(r"[^a-z0-9_\-^]+", words)) | set(re.split(r"[^a-z0-9]+", words))
    return any(w in tokens for w in RADIAL_WORDS)


def curves_reason(ds) -> str | None:
    """Why ``ds`` is 1D data (a curve or a stack of curves) rather than images; None when it
    may be frames.

    Parameters
    ----------
    ds : h5py.Dataset
        A signal or named dataset.

    Returns
    -------
    str or None
        A short reason, e.g. ``"a stack of 20 curves, shape (20, 50), on the axis 'binning'"``.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["r/data"] = np.zeros((20, 50))
    ...     h5["r/binning"] = np.linspace(1, 30, 50)
    ...     h5["r"].attrs["axes"] = [".", "binning"]
    ...     h5["img"] = np.zeros((20, 50))
    ...     print(curves_reason(h5["r/data"]), curves_reason(h5["img"]))
    a stack of 20 curves, shape (20, 50), on the axis 'binning' None
    """
    if ds.ndim == 1:
        return f"one curve of {ds.shape[0]} points, shape {ds.shape}"
    if ds.ndim not in (2, 3):
        return None
    interpretation = (attr_text(ds, "interpretation") or attr_text(ds.parent, "interpretation") or "").lower()
    if interpretation == "image":
        return None
    count = int(np.prod(ds.shape[:-1]))
    if interpretation == "spectrum":
        return f"a stack of {count} curves, shape {ds.shape} (interpretation 'spectrum')"
    if ds.ndim == 3:
        return None
    axis = last_axis(ds)
    if axis is None:
        return None
    axes = _axes(ds.parent, ds)
    first_unnamed = len(axes) == 2 and axes[0] == "."
    if first_unnamed or is_radial(ds.parent[axis]):
        return f"a stack of {count} curves, shape {ds.shape}, on the axis '{axis}'"
    return None


@dataclass
class FrameSearch:
    """What :func:`find_frames` found: the frames' place, and what else it met on the way.

    Parameters
    ----------
    name : str or None
        The dataset (or Eiger group) holding the frames; None when no place holds frames.
    how : str
        How it was found.
    curves : list of (str, str)
        Places holding 1D data instead, with the reason.
    odd : list of (str, tuple)
        Places holding datasets of other shapes, with the shape.

    Examples
    --------
    >>> FrameSearch("/entry/data/data", "the usual /entry/data/data").name
    '/entry/data/data'
    """

    name: str | None
    how: str = ""
    curves: list[tuple[str, str]] = field(default_factory=list)
    odd: list[tuple[str, tuple]] = field(default_factory=list)


def search_frames(h5) -> FrameSearch:
    """Look at every place of :func:`frame_places` and take the first that holds frames.

    A dangling link or a virtual dataset is taken as it is (the caller reports what is missing).

    Parameters
    ----------
    h5 : h5py.File
        The open file.

    Returns
    -------
    FrameSearch

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["entry/data/data"] = np.zeros(7)
    ...     print(search_frames(h5).curves)
    [('/entry/data/data', 'one curve of 7 points, shape (7,)')]
    """
    found = FrameSearch(None)
    for place, how in frame_places(h5):
        try:
            obj = h5[place]
        except (KeyError, OSError, RuntimeError, ValueError):
            return FrameSearch(place, how, found.curves, found.odd)  # a dangling link: say so
        if isinstance(obj, h5py.Group):
            return FrameSearch(place, how, found.curves, found.odd)
        if not isinstance(obj, h5py.Dataset):
            continue
        reason = curves_reason(obj)
        if reason is not None:
            found.curves.append((place, reason))
        elif obj.ndim in (2, 3):
            return FrameSearch(place, how, found.curves, found.odd)
        else:
            found.odd.append((place, tuple(obj.shape)))
    return found


def find_frames(h5, path: str) -> FrameSearch:
    """The dataset of an HDF5/NeXus file that holds its frames, or the reason there is none.

    Parameters
    ----------
    h5 : h5py.File
        The open file.
    path : str
        Its path, for messages.

    Returns
    -------
    FrameSearch
        With ``name`` set.

    Raises
    ------
    FrameReadError
        The file holds 1D data only (curves, e.g. integrated patterns) or datasets of no frame
        shape: refused as frames, with the reason. A file with no candidate at all is a "not
        yet" error (a writer may not have made its dataset yet) that names where it looked.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "proc.nxs")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["entry/result/data"] = np.zeros((20, 50))
    ...     h5["entry/result/binning"] = np.linspace(1, 30, 50)
    ...     h5["entry/result"].attrs.update({"signal": "data", "axes": [".", "binning"]})
    ...     h5["entry"].attrs["default"] = "result"
    >>> with h5py.File(path, "r") as h5:
    ...     try:
    ...         find_frames(h5, "proc.nxs")
    ...     except ValueError as exc:
    ...         print(str(exc).split(' is ')[0])
    'proc.nxs' holds 1D data, not 2D frames: '/entry/result/data'
    """
    found = search_frames(h5)
    if found.name is not None:
        return found
    if found.curves:
        place, reason = found.curves[0]
        raise _Unlisted(curves_message(path, place, h5[place], reason))
    if found.odd:
        place, shape = found.odd[0]
        raise _Unlisted(f"dataset '{path}::{place}' has shape {shape}; expected "
                        "(frames, rows, columns) or one (rows, columns) image")
    raise _NotYet(
        f"cannot tell which dataset of '{path}' holds the frames (no NeXus default plot, "
        "NXdata signal, NXdetector data or /entry/data/data); name it as "
        "'file.h5::/entry/data/data'")


def curves_message(path: str, place: str, ds, reason: str) -> str:
    """The refusal of a file (or dataset) holding 1D data as frames; for diffraction patterns
    (a radial last axis) it says where they are read instead.

    Parameters
    ----------
    path : str
        The file, for the message.
    place : str
        The 1D dataset's name, for the message.
    ds : h5py.Dataset
        The 1D dataset.
    reason : str
        What :func:`curves_reason` said of it.

    Returns
    -------
    str

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(path, "w") as h5:
    ...     h5["y"] = np.zeros(5)
    ...     print(curves_message("a.h5", "/y", h5["y"], curves_reason(h5["y"])))
    'a.h5' holds 1D data, not 2D frames: '/y' is one curve of 5 points, shape (5,)
    """
    text = f"'{path}' holds 1D data, not 2D frames: '{place}' is {reason}"
    try:
        axis = last_axis(ds)
        radial = axis is not None and is_radial(ds.parent[axis])
    except (KeyError, OSError, RuntimeError, ValueError):
        radial = False
    if radial:
        text += ("; these are 1D diffraction patterns: read them with "
                 "xpipe.io.patterns.read_nexus_patterns")
    return text
