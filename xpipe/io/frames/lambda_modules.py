"""Lambda detector files: which module and part a file is, and where each module sits.

A Lambda detector (X-Spectrum) writes one NeXus file per module and part:
``<scan>_m<module>_part<NNNNN>.nxs`` (or ``<scan>_m<module>.nxs`` for a scan in one part), with
the module's frames at ``/entry/instrument/detector/data`` (frames, rows, columns) and its
position in the detector plane, in pixels, at ``/entry/instrument/detector/translation/distance``
(x, y, z). xpipe reads each file as a frame stack of its own (:mod:`xpipe.io.frames.hdf5`):

- the parts of one module (``scan_m1_part00000.nxs``, ``scan_m1_part00001.nxs``...) are that
  module's consecutive frames (their ``sequence_number`` runs on); a glob sorted naturally lists
  them in order, and a part read alone gives its own frames;
- the modules of one scan (``_m1``, ``_m2``, ``_m3``) are the same frames seen by different
  parts of the detector. They are not stitched: each module is its own stack, integrated with
  a geometry for that module.

Dioptas shows a scan as one stitched image: each module placed at its translation (x shifted so
the leftmost module starts at column 0, y relative to the first module), the whole flipped
upside down. Its ``.mask`` files (TIFF, read by :func:`xpipe.io.geometry.load_image`) and
calibrations are drawn on that stitched image; :func:`lambda_layout` gives each module's place
in it, and :func:`module_region` cuts a module's part out of a stitched mask in the module's own
orientation.

Examples
--------
>>> lambda_file("/data/testasapo1_1009_00002_m2_part00003.nxs")
LambdaFile(scan='testasapo1_1009_00002', module=2, part=3)
>>> lambda_file("/data/scan_0001.h5") is None
True
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from .base import FrameReadError
from .hdf5 import open_hdf5

_NAME = re.compile(r"(?P<scan>.+)_m(?P<module>\d+)(?:_part(?P<part>\d+))?\.nxs", re.IGNORECASE)
_DATA = "/entry/instrument/detector/data"
_TRANSLATION = "/entry/instrument/detector/translation/distance"


@dataclass(frozen=True)
class LambdaFile:
    """What a Lambda file's name says.

    Parameters
    ----------
    scan : str
        The scan's name, shared by its modules and parts.
    module : int
        The module number (1, 2, 3...).
    part : int or None
        The part number (0, 1...), None for a file without ``_partNNNNN``.

    Examples
    --------
    >>> LambdaFile("scan", 1, 0).module
    1
    """

    scan: str
    module: int
    part: int | None


def lambda_file(path: str) -> LambdaFile | None:
    """The scan, module and part a Lambda file name states; None for another name.

    Parameters
    ----------
    path : str
        A file path.

    Returns
    -------
    LambdaFile or None

    Examples
    --------
    >>> lambda_file("scan_m1.nxs")
    LambdaFile(scan='scan', module=1, part=None)
    """
    match = _NAME.fullmatch(os.path.basename(str(path)))
    if match is None:
        return None
    part = match.group("part")
    return LambdaFile(match.group("scan"), int(match.group("module")), None if part is None else int(part))


@dataclass(frozen=True)
class LambdaLayout:
    """Where each module of a scan sits in the stitched image Dioptas shows.

    Parameters
    ----------
    origins : dict of int to (int, int)
        Per module number, the (row, column) of its first pixel in the stitched image before
        Dioptas flips it upside down.
    module_shape : dict of int to (int, int)
        Per module, its frame shape (rows, columns).
    shape : (int, int)
        The stitched image's shape (rows, columns).

    Examples
    --------
    >>> layout = LambdaLayout({1: (0, 0), 2: (6, 0)}, {1: (4, 5), 2: (4, 5)}, (10, 5))
    >>> layout.shape
    (10, 5)
    """

    origins: dict[int, tuple[int, int]]
    module_shape: dict[int, tuple[int, int]]
    shape: tuple[int, int]


def lambda_layout(paths: list[str]) -> LambdaLayout:
    """The stitched layout of a scan's modules, from one file (any part) of each module.

    Parameters
    ----------
    paths : list of str
        Lambda files of one scan; several parts of a module are allowed (the first is read).

    Returns
    -------
    LambdaLayout

    Raises
    ------
    FrameReadError
        A name that is not a Lambda file's, files of different scans, or a file without the
        detector's data or translation, naming the file.

    Examples
    --------
    >>> import os, tempfile, h5py, numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> for m, (x, y) in {1: (0, 0), 2: (-2, 6)}.items():
    ...     with h5py.File(os.path.join(folder, f"s_m{m}_part00000.nxs"), "w") as h5:
    ...         h5["entry/instrument/detector/data"] = np.zeros((1, 4, 5))
    ...         h5["entry/instrument/detector/translation/distance"] = [x, y, 0.0]
    >>> lambda_layout([os.path.join(folder, f"s_m{m}_part00000.nxs") for m in (1, 2)])
    LambdaLayout(origins={1: (0, 2), 2: (6, 0)}, module_shape={1: (4, 5), 2: (4, 5)}, shape=(10, 7))
    """
    firsts: dict[int, str] = {}
    scans = set()
    for path in sorted(map(str, paths)):
        info = lambda_file(path)
        if info is None:
            raise FrameReadError(f"'{path}' is not named as a Lambda file (<scan>_m<N>_part<NNNNN>.nxs)")
        scans.add(info.scan)
        firsts.setdefault(info.module, path)
    if len(scans) > 1:
        raise FrameReadError(f"Lambda files of {len(scans)} scans given ({', '.join(sorted(scans))}); expected one")
    positions, shapes = {}, {}
    for module, path in sorted(firsts.items()):
        positions[module], shapes[module] = _module_position(path)
    if not positions:
        raise FrameReadError("no Lambda file given")
    min_x = min(x for x, _ in positions.values())
    first_y = positions[min(positions)][1]
    origins = {m: (y - first_y, x - min_x) for m, (x, y) in positions.items()}
    rows = max(origins[m][0] + shapes[m][0] for m in origins)
    cols = max(origins[m][1] + shapes[m][1] for m in origins)
    return LambdaLayout(origins, shapes, (rows, cols))


def _module_position(path: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """A module file's (x, y) translation in pixels and its frame shape."""
    try:
        with open_hdf5(path) as h5:
            distance = np.asarray(h5[_TRANSLATION][()], dtype=float).ravel()
            shape = h5[_DATA].shape
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        raise FrameReadError(f"cannot read the Lambda module position of '{path}': {exc}") from None
    if distance.size < 2 or len(shape) != 3 or not np.all(np.isfinite(distance[:2])):
        raise FrameReadError(
            f"'{path}': expected a translation (x, y[, z]) and frames (frames, rows, columns); "
            f"found {distance.tolist()} and {shape}")
    return (int(distance[0]), int(distance[1])), (int(shape[1]), int(shape[2]))


def module_region(stitched: np.ndarray, layout: LambdaLayout, module: int) -> np.ndarray:
    """The part of a stitched image (as Dioptas shows it: flipped upside down) that one module
    sees, in the orientation of that module's own frames.

    Parameters
    ----------
    stitched : numpy.ndarray
        An image of the whole detector, e.g. a Dioptas ``.mask`` read with
        :func:`xpipe.io.geometry.load_image`.
    layout : LambdaLayout
        The scan's layout (:func:`lambda_layout`).
    module : int
        The module number.

    Returns
    -------
    numpy.ndarray
        Of the module's frame shape.

    Raises
    ------
    FrameReadError
        An image of another shape than the stitched layout, or a module not in it.

    Examples
    --------
    >>> layout = LambdaLayout({1: (0, 0), 2: (6, 0)}, {1: (4, 5), 2: (4, 5)}, (10, 5))
    >>> image = np.zeros((6 + 4, 5)); image[:4] = 1  # the top of the flipped image is module 2
    >>> float(module_region(image, layout, 2).min()), float(module_region(image, layout, 1).max())
    (1.0, 0.0)
    """
    if tuple(stitched.shape) != tuple(layout.shape):
        raise FrameReadError(
            f"the stitched image has shape {tuple(stitched.shape)}; the modules' layout is {layout.shape}")
    if module not in layout.origins:
        raise FrameReadError(f"module {module} is not in the layout (modules {sorted(layout.origins)})")
    (row, col), (rows, cols) = layout.origins[module], layout.module_shape[module]
    return stitched[::-1][row:row + rows, col:col + cols]
