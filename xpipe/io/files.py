"""Provenance of input files: checksums and paths relative to the recipe."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_file(path: str, block: int = 1 << 20) -> str:
    """The SHA-256 checksum of a file, read in blocks.

    Parameters
    ----------
    path : str or Path
        The file.
    block : int
        Bytes read at a time (1 MiB by default), so a large file is never held whole.

    Returns
    -------
    str
        The hexadecimal digest (64 characters).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "frame.txt"
    >>> _ = f.write_bytes(b"abc")
    >>> sha256_file(f)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def relative_path(path: str, base: Path) -> str:
    """``path`` relative to ``base`` when it lies inside it, else unchanged.

    Parameters
    ----------
    path : str or Path
        The file, as the recipe resolved it.
    base : Path
        The folder paths are stated relative to (the recipe's folder).

    Returns
    -------
    str
        The relative path, or ``path`` as given when it lies outside ``base`` (or on another
        drive).

    Examples
    --------
    >>> from pathlib import Path
    >>> relative_path("/data/beamtime/frames/f_0001.cbf", Path("/data/beamtime"))
    'frames/f_0001.cbf'
    >>> relative_path("/scratch/f_0001.cbf", Path("/data/beamtime"))
    '/scratch/f_0001.cbf'
    """
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel
