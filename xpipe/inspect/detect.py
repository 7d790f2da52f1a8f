"""Which reader families claim a file, with the format each family's registry chooses and why.

Every family of input files keeps a :class:`~xpipe.io.registry.Registry`; a family claims a
file when its registry's ``detect`` finds a format for it. How the format was found is told
from the format's public attributes: its ``sniff`` recognises the first bytes (``content``),
its ``suffixes`` hold the file's suffix (``suffix``), or it is the registry's ``fallback``.
PONI geometry files, recipes and CIF structures have no registry; they are claimed here by
their suffix or, for PONI, by the ``Distance``/``Poni1``/``Poni2`` lines.

The candidates are ordered content first, then suffix, then fallback; among equals, by
:data:`FAMILIES` (frames before XAS for an HDF5 file; a cycler table before a 1D pattern or an
XPS spectrum for a ``.csv``). A family's fallback is offered only for a file of the kind it
reads (fabio images for binary files, text columns for text).

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "cell.csv"
>>> _ = path.write_text("time/s,Ewe/V,I/mA\\n0,3.2,2\\n900,3.3,2\\n")
>>> [(c.family, c.format, c.detected_by) for c in candidates(path)]
[('cycler', 'csv', 'suffix'), ('pattern', 'columns', 'suffix'), ('xps', 'text', 'suffix'), ('xas', 'columns', 'fallback')]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..echem.readers import REGISTRY as CYCLER_REGISTRY
from ..io.frames import REGISTRY as FRAME_REGISTRY
from ..io.patterns import REGISTRY as PATTERN_REGISTRY
from ..io.registry import HEAD_BYTES, FileFormat, Registry
from ..xas.readers import REGISTRY as XAS_REGISTRY
from ..xps.readers import REGISTRY as XPS_REGISTRY

#: The families, in the order that breaks ties between equal claims, with what they hold.
FAMILIES: dict[str, str] = {
    "frames": "2D detector frames",
    "poni": "PONI detector geometry (pyFAI)",
    "recipe": "xpipe recipe (YAML)",
    "structure": "crystal structure (CIF)",
    "cycler": "battery-cycler record",
    "xas": "XAS scans",
    "pattern": "1D diffraction pattern",
    "xps": "XPS spectra",
}

#: The registry of each family that has one.
REGISTRIES: dict[str, Registry] = {
    "frames": FRAME_REGISTRY,
    "cycler": CYCLER_REGISTRY,
    "xas": XAS_REGISTRY,
    "pattern": PATTERN_REGISTRY,
    "xps": XPS_REGISTRY,
}

#: How a format was chosen, strongest first.
DETECTED_BY = ("content", "suffix", "fallback")
#: Why, in words, for the text report.
WHY = {
    "content": "its content (the format's signature or header)",
    "suffix": "its suffix",
    "fallback": "no format recognises it; the family's catch-all format",
    "family": "--family",
}

_PONI_KEYS = (b"distance:", b"poni1:", b"poni2:")


@dataclass(frozen=True)
class Candidate:
    """A family that claims a file: the format its registry chose, and how.

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`.
    format : str
        The format's name in the family's registry (``"cbf"``, ``"xdi"``...), or ``"poni"``,
        ``"yaml"`` for the families without a registry.
    detected_by : str
        ``"content"``, ``"suffix"`` or ``"fallback"`` (see :data:`DETECTED_BY`).
    description : str
        The format's one-line description.

    Examples
    --------
    >>> Candidate("xas", "xdi", "content", "XAS Data Interchange").detected_by
    'content'
    """

    family: str
    format: str
    detected_by: str
    description: str = ""


def read_head(path: str | Path) -> bytes:
    """The first :data:`~xpipe.io.registry.HEAD_BYTES` bytes of a file, as registries sniff them.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    bytes

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_bytes(b"abc")
    >>> read_head(path)
    b'abc'
    """
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


def is_binary(head: bytes) -> bool:
    """Whether a file's first bytes are binary: a NUL byte, or not text in UTF-8 or Latin-1
    with few control characters.

    Parameters
    ----------
    head : bytes
        The first bytes of the file.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_binary(b"# XDI/1.0\\n"), is_binary(b"\\x89HDF\\r\\n\\x1a\\n\\x00")
    (False, True)
    """
    if b"\x00" in head:
        return True
    controls = sum(b < 32 and b not in (9, 10, 12, 13) for b in head)
    return controls > 0.05 * max(len(head), 1)


def _why(fmt: FileFormat, registry: Registry, head: bytes, suffix: str) -> str:
    try:
        if fmt.sniff is not None and fmt.sniff(head):
            return "content"
    except Exception:  # noqa: BLE001, S110 - a sniff that fails on odd bytes claims nothing
        pass
    if suffix in fmt.suffixes:
        return "suffix"
    return "fallback" if fmt.name == getattr(registry, "fallback", None) else "content"


def _registry_candidate(family: str, registry: Registry, path: Path, head: bytes,
                        binary: bool, strict: bool) -> Candidate | None:
    try:
        fmt = registry.detect(path)
    except Exception:  # noqa: BLE001 - the family does not claim the file, whatever it raises
        return None
    how = _why(fmt, registry, head, path.suffix.lower())
    if strict and how == "fallback" and binary != (family == "frames"):
        return None  # fabio's catch-all is for binary files, the text catch-alls for text
    return Candidate(family, fmt.name, how, getattr(fmt, "description", "") or "")


def _poni_candidate(path: Path, head: bytes) -> Candidate | None:
    if path.suffix.lower() == ".poni":
        return Candidate("poni", "poni", "suffix", "pyFAI geometry file")
    lines = {line.strip().lower().split(b" ")[0] for line in head.splitlines()}
    if all(key in lines for key in _PONI_KEYS):
        return Candidate("poni", "poni", "content", "pyFAI geometry file")
    return None


def candidates(path: str | Path, family: str | None = None) -> list[Candidate]:
    """The families that claim ``path``, strongest claim first.

    Parameters
    ----------
    path : str or Path
        An existing file.
    family : str or None
        Only this family (a key of :data:`FAMILIES`); its format is then chosen by its
        registry even when the claim is only its fallback.

    Returns
    -------
    list of Candidate
        Content claims, then suffix claims, then fallbacks; ties in :data:`FAMILIES` order.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "scan.dat"
    >>> _ = path.write_text("# XDI/1.0\\n# Column.1: energy eV\\n")
    >>> [(c.family, c.format, c.detected_by) for c in candidates(path)][:2]
    [('xas', 'xdi', 'content'), ('pattern', 'columns', 'suffix')]
    """
    p = Path(path)
    head = read_head(p)
    binary = is_binary(head)
    found: list[Candidate] = []
    poni = _poni_candidate(p, head)
    if poni is not None:
        found.append(poni)
    if p.suffix.lower() in (".yaml", ".yml"):
        found.append(Candidate("recipe", "yaml", "suffix", "xpipe recipe"))
    if p.suffix.lower() == ".cif":
        found.append(Candidate("structure", "cif", "suffix", "crystallographic information file"))
    for name, registry in REGISTRIES.items():
        if family is not None and name != family:
            continue
        cand = _registry_candidate(name, registry, p, head, binary, strict=family is None)
        if cand is not None:
            found.append(cand)
    if family is not None:
        found = [c for c in found if c.family == family]
    order = list(FAMILIES)
    return sorted(found, key=lambda c: (DETECTED_BY.index(c.detected_by), order.index(c.family)))
