"""One registry per family of input files: each format registers (name, suffixes, sniff, read).

The dispatcher of a family (frames, 1D patterns, XAS, XPS, cycler records) knows no format: it
asks its registry which registered format claims a file and calls that format's reader. A format
is claimed by content first (its ``sniff`` looks at the first bytes of the file), then by suffix,
then by the family's fallback format if it has one. Adding a format is adding one small module
that calls :meth:`Registry.register`; nothing else changes.

Examples
--------
>>> from xpipe.io.registry import Registry
>>> demo = Registry("demo")
>>> demo.register("greeting", suffixes=(".hi",), read=lambda path: "hello",
...               sniff=lambda head: head.startswith(b"HI"))
>>> demo.names()
['greeting']
>>> demo["hi"].name  # a suffix without its dot is an alias of the format
'greeting'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

#: Bytes read from the start of a file for content sniffing.
HEAD_BYTES = 8192


@dataclass(frozen=True)
class FileFormat:
    """A registered file format.

    Attributes
    ----------
    name : str
        The format's name, as a recipe or ``format=`` names it (e.g. ``"biologic-mpr"``).
    read : callable
        ``read(path, **kw)``: the reader.
    suffixes : tuple of str
        Lower-case file suffixes with their dot (``(".mpr",)``) that select this format when no
        format claims the file by content.
    sniff : callable or None
        ``sniff(head) -> bool`` on the first :data:`HEAD_BYTES` bytes of the file: True when the
        content is certainly this format (a magic number or a fixed first line).
    description : str
        One line for listings (``xpipe inspect``, error messages).

    Examples
    --------
    >>> fmt = FileFormat("greeting", read=lambda path: "hello", suffixes=(".hi",),
    ...                  sniff=lambda head: head.startswith(b"HI"))
    >>> fmt.sniff(b"HI there"), fmt.read("a.hi"), fmt.suffixes
    (True, 'hello', ('.hi',))
    """

    name: str
    read: Callable[..., Any]
    suffixes: tuple[str, ...] = ()
    sniff: Callable[[bytes], bool] | None = None
    description: str = ""


class Registry:
    """The formats of one family of input files, in the order they were registered.

    Parameters
    ----------
    family : str
        What the files hold, for messages (``"XPS"``, ``"cycler"``).
    error : type of Exception
        Raised (with the file named) when no format claims a file or a format name is unknown.
    fallback : str or None
        The format that takes a file no other format claims (plain text columns, say); None
        makes such a file an error.
    content_first : bool
        True: every format's sniff is asked before any suffix decides. False: the formats are
        asked one by one in registration order, each by its content or its suffix, so an earlier
        format keeps its suffix even when a later one's sniff would match the content.

    Examples
    --------
    >>> reg = Registry("demo", fallback="text")
    >>> reg.register("text", read=str)
    >>> reg.register("binary", suffixes=(".bin",), read=bytes, sniff=lambda h: h[:2] == b"BN")
    >>> [f.name for f in reg]
    ['text', 'binary']
    >>> reg.by_suffix(".BIN").name
    'binary'
    """

    def __init__(self, family: str, *, error: type[Exception] = ValueError,
                 fallback: str | None = None, content_first: bool = True) -> None:
        self.family = family
        self.error = error
        self.fallback = fallback
        self.content_first = content_first
        self._formats: dict[str, FileFormat] = {}

    def register(self, name: str, *, read: Callable[..., Any], suffixes: tuple[str, ...] = (),
                 sniff: Callable[[bytes], bool] | None = None, description: str = "") -> None:
        """Add a format; a second registration under the same name replaces the first."""
        suffixes = tuple(s.lower() if s.startswith(".") else "." + s.lower() for s in suffixes)
        self._formats[name] = FileFormat(name, read, suffixes, sniff, description)

    def __iter__(self) -> Iterator[FileFormat]:
        return iter(self._formats.values())

    def names(self) -> list[str]:
        """The registered format names, in registration order."""
        return list(self._formats)

    def suffixes(self) -> list[str]:
        """Every suffix some format claims."""
        return [s for f in self for s in f.suffixes]

    def __getitem__(self, name: str) -> FileFormat:
        """The format called ``name``, or the one whose suffix ``name`` is (``"mpr"``)."""
        key = name.lower()
        if key in self._formats:
            return self._formats[key]
        found = self.by_suffix("." + key.lstrip("."))
        if found is None:
            raise self.error(f"unknown {self.family} format {name!r}; expected one of "
                             f"{', '.join(self.names())}")
        return found

    def by_suffix(self, suffix: str) -> FileFormat | None:
        """The first format that claims ``suffix`` (case-insensitive), or None."""
        suffix = suffix.lower()
        return next((f for f in self if suffix in f.suffixes), None)

    def by_content(self, head: bytes) -> FileFormat | None:
        """The first format whose sniff recognises ``head`` (a file's first bytes), or None."""
        for f in self:
            if f.sniff is not None and f.sniff(head):
                return f
        return None

    def detect(self, path: str | PathLike[str]) -> FileFormat:
        """The format of the file at ``path``: by content, then by suffix (or format by format,
        see ``content_first``), then the fallback.

        Raises the registry's error, naming the file and the suffixes it knows, when nothing
        claims it.
        """
        p = Path(path)
        with p.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
        if self.content_first:
            found = self.by_content(head) or self.by_suffix(p.suffix)
        else:
            suffix = p.suffix.lower()
            found = next((f for f in self if (f.sniff is not None and f.sniff(head))
                          or suffix in f.suffixes), None)
        if found is None and self.fallback is not None:
            found = self._formats[self.fallback]
        if found is None:
            raise self.error(
                f"{p}: not a {self.family} file xpipe can read (suffix {p.suffix!r}); expected one "
                f"of {', '.join(self.suffixes())} or a format named in format= "
                f"({', '.join(self.names())})")
        return found

    def read(self, path: str | PathLike[str], format: str = "auto", **kw: Any) -> Any:
        """Read ``path`` with the format named, or the one :meth:`detect` finds for ``auto``."""
        fmt = self.detect(path) if (format or "auto").lower() == "auto" else self[format]
        return fmt.read(path, **kw)
