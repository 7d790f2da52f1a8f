"""Provenance of input files: checksums and paths relative to the recipe."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_file(path: str, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def relative_path(path: str, base: Path) -> str:
    """``path`` relative to ``base`` when it lies inside it, else unchanged."""
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel
