"""Typed recipe sections and their validation.

Every recipe section is a dataclass whose fields are declared with :func:`setting`, carrying the
documentation, unit and allowed range of the key. :func:`build` turns a parsed YAML mapping into
that dataclass, collecting *all* problems (key path, line, what was expected, what was found)
instead of stopping at the first one. The recipe reference in ``docs/recipes.md`` is generated
from the same declarations (:mod:`xpipe.recipe.reference`), so the two cannot drift apart.

A section may define ``check(self, ctx)`` yielding ``(key, message)`` pairs for rules that involve
several keys or the file system; it runs only when the section itself parsed cleanly.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import math
import os
import sys
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from .shown import brief, found
from .yamlio import LineDict, LineList, YamlSyntaxError, YamlTooLarge, load_yaml


class InputFile(str):
    """Marker type: a path to an existing file, relative to the recipe's folder.

    A key typed ``InputFile`` must name an existing file; validation stores it as an absolute
    ``InputFile`` (still a ``str``), and the stage cache hashes the file's content.

    Parameters
    ----------
    value : str
        The path.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from xpipe.recipe.sections.echem import VoltageLogConfig
    >>> folder = tempfile.mkdtemp()
    >>> _ = Path(folder, "log.csv").write_text("time,voltage_v\\n")
    >>> cfg = build(VoltageLogConfig, {"file": "log.csv"}, "echem.voltage_log", 1,
    ...             Context(base_dir=Path(folder)))
    >>> isinstance(cfg.file, InputFile), cfg.file == os.path.join(folder, "log.csv")
    (True, True)
    """


@dataclass
class Problem:
    """One thing wrong with a recipe.

    Parameters
    ----------
    key : str
        Key path of the value at fault (``xrd.integrate.npt``); empty for the file as a whole.
    line : int or None
        1-based line of the key in the file, when known.
    message : str
        What was expected and what was found.

    Examples
    --------
    >>> Problem("run.workers", 3, "expected an integer").format("recipe.yaml")
    'recipe.yaml:3: run.workers: expected an integer'
    >>> Problem("", None, "recipe file does not exist").format("recipe.yaml")
    'recipe.yaml: recipe file does not exist'
    """

    key: str
    line: int | None
    message: str

    def format(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class RecipeInvalid(Exception):
    """The recipe cannot be run; ``problems`` lists every reason found.

    Parameters
    ----------
    source : str
        The file, as named in the messages.
    problems : list of Problem
        Everything wrong with it; kept sorted by line.

    Examples
    --------
    >>> exc = RecipeInvalid("recipe.yaml", [Problem("run.workers", 3, "expected an integer"),
    ...                                     Problem("name", 1, "missing required key")])
    >>> print(exc)
    recipe.yaml: 2 problems found
      recipe.yaml:1: name: missing required key
      recipe.yaml:3: run.workers: expected an integer
    """

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: p.line or 0)
        super().__init__(self.report())

    def report(self) -> str:
        n = len(self.problems)
        head = f"{self.source}: {n} problem{'s' if n != 1 else ''} found"
        return "\n".join([head] + ["  " + p.format(self.source) for p in self.problems])


@dataclass
class Context:
    """What validation needs besides the data: the recipe folder and the problem list.

    Parameters
    ----------
    base_dir : Path
        Folder of the recipe file; relative paths in the recipe are taken from here.
    problems : list of Problem, optional
        Problems found so far; :func:`build` appends to it.

    Examples
    --------
    >>> from pathlib import Path
    >>> ctx = Context(base_dir=Path("/data/nvp"))
    >>> ctx.resolve("frames/f_0001.cbf").as_posix(), ctx.resolve("../cal.poni").as_posix()
    ('/data/nvp/frames/f_0001.cbf', '/data/cal.poni')
    >>> ctx.add("run.workers", 3, "expected an integer")
    >>> ctx.problems[0].key
    'run.workers'
    """

    base_dir: Path
    problems: list[Problem] = field(default_factory=list)

    def add(self, key: str, line: int | None, message: str) -> None:
        self.problems.append(Problem(key, line, message))

    def resolve(self, path: str | Path) -> Path:
        """A recipe path made absolute against the recipe's folder (``~`` expanded)."""
        p = Path(path).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else self.base_dir / p))


_MISSING = dataclasses.MISSING
_FLOAT_MAX = sys.float_info.max


def setting(
    default: Any = _MISSING,
    *,
    doc: str,
    unit: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    length: int | None = None,
    increasing: bool = False,
    default_factory: Any = _MISSING,
) -> Any:
    """Declare one recipe key: its default, documentation, unit and allowed range.

    Parameters
    ----------
    default : Any, optional
        Value when the key is left out; without it (and without ``default_factory``) the key
        is required.
    doc : str
        What the key means; becomes its row of ``docs/recipes.md``.
    unit : str, optional
        Physical unit of the value, shown in the reference.
    minimum, maximum : float, optional
        Allowed range of a number (of each item, for a list).
    exclusive_minimum : bool
        The value must be strictly above ``minimum``.
    length : int, optional
        Exact number of items of a list.
    increasing : bool
        The items of a list must increase (a ``[low, high]`` range).
    default_factory : callable, optional
        Makes the default (a list or a sub-section), as for :func:`dataclasses.field`.

    Returns
    -------
    dataclasses.Field
        The field, carrying the rest in its ``metadata``.

    Examples
    --------
    >>> from dataclasses import dataclass, fields
    >>> from pathlib import Path
    >>> @dataclass
    ... class Bins:
    ...     npt: int = setting(2000, doc="Number of radial bins.", minimum=16)
    >>> fields(Bins)[0].default, fields(Bins)[0].metadata["minimum"]
    (2000, 16)
    >>> ctx = Context(base_dir=Path("."))
    >>> build(Bins, {"npt": 8}, "integrate", 5, ctx) is None, ctx.problems[0].message
    (True, 'expected an integer >= 16, found 8')
    """
    meta = {
        "doc": doc,
        "unit": unit,
        "minimum": minimum,
        "maximum": maximum,
        "exclusive_minimum": exclusive_minimum,
        "length": length,
        "increasing": increasing,
    }
    if default_factory is not _MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------- type helpers


def _origin(tp: Any) -> Any:
    return typing.get_origin(tp)


def _is_union(tp: Any) -> bool:
    return _origin(tp) in (Union, types.UnionType)


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def describe(tp: Any) -> str:
    """A short human description of a type, used in messages and the reference.

    Parameters
    ----------
    tp : type
        A type annotation of a recipe key (after ``typing.get_type_hints``).

    Returns
    -------
    str
        E.g. ``integer``, ``list of number``, ``one of 'sqrt', 'log'``, ``text or null``.

    Examples
    --------
    >>> from typing import Literal
    >>> describe(int | None), describe(list[float]), describe(Literal["sqrt", "log"])
    ('integer or null', 'list of number', "one of 'sqrt', 'log'")
    """
    if tp is type(None):
        return "null"
    if _is_union(tp):
        return " or ".join(describe(a) for a in typing.get_args(tp))
    if _origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if _origin(tp) in (list, tuple):
        args = typing.get_args(tp)
        inner = describe(args[0]) if args else "value"
        return f"list of {inner}"
    if _is_section(tp):
        return "mapping"
    return {
        bool: "true/false",
        int: "integer",
        float: "number",
        str: "text",
        InputFile: "path to an existing file",
    }.get(tp, getattr(tp, "__name__", str(tp)))


class _Bad(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- conversion


def _convert(tp: Any, value: Any, key: str, line: int | None, meta: dict, ctx: Context) -> Any:
    """Convert one value to ``tp``; raise :class:`_Bad` with "expected ..., found ..."."""
    if _is_union(tp):
        return _convert_union(tp, value, key, line, meta, ctx)
    if _is_section(tp):
        return build(tp, LineDict() if value is None else value, key, line, ctx)
    if _origin(tp) is Literal:
        return _convert_literal(tp, value)
    if _origin(tp) in (list, tuple):
        return _convert_list(tp, value, key, line, meta, ctx)
    return _convert_scalar(tp, value, key, meta, ctx)


def _convert_union(tp: Any, value: Any, key: str, line: int | None, meta: dict, ctx: Context) -> Any:
    args = typing.get_args(tp)
    if value is None and type(None) in args:
        # a key written with nothing under it ("peaks:") means the section with its
        # defaults, where every key of the section has one; otherwise it is left out
        sections = [a for a in args if _is_section(a)]
        if len(sections) == 1 and all(
                f.default is not _MISSING or f.default_factory is not _MISSING
                for f in dataclasses.fields(sections[0])):
            return build(sections[0], LineDict(), key, line, ctx)
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _convert(arg, value, key, line, meta, ctx)
        except _Bad as exc:
            errors.append(exc.message)
    if len(errors) == 1:
        raise _Bad(errors[0])
    raise _Bad(f"expected {describe(tp)}, found {found(value)}")


def _convert_literal(tp: Any, value: Any) -> Any:
    choices = typing.get_args(tp)
    if value in choices and type(value) is type(choices[0]):
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [str(c) for c in choices], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise _Bad(f"expected {describe(tp)}, found {found(value)}{hint}")


def _convert_list(tp: Any, value: Any, key: str, line: int | None, meta: dict, ctx: Context) -> Any:
    if not isinstance(value, list):
        raise _Bad(f"expected {describe(tp)}, found {found(value)}")
    (inner,) = set(typing.get_args(tp)) - {Ellipsis} or {Any}
    n = meta.get("length")
    if n is not None and len(value) != n:
        raise _Bad(f"expected a list of exactly {n} {describe(inner)} values, found {len(value)}")
    item_meta = {k: v for k, v in meta.items() if k not in ("length", "increasing")}
    out = []
    for i, item in enumerate(value):
        item_line = value.item_lines[i] if isinstance(value, LineList) else line
        out.append(_convert(inner, item, f"{key}[{i}]", item_line, item_meta, ctx))
    if meta.get("increasing") and any(b <= a for a, b in zip(out, out[1:])):
        raise _Bad(f"expected increasing values (low, high), found {brief(value)}")
    return tuple(out) if _origin(tp) is tuple else out


def _convert_scalar(tp: Any, value: Any, key: str, meta: dict, ctx: Context) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Bad(f"expected true or false, found {found(value)}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"expected an integer{_range_text(meta)}, found {found(value)}")
        _check_range(value, meta, "an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Bad(f"expected a number{_range_text(meta)}, found {found(value)}")
        if abs(value) > _FLOAT_MAX or not math.isfinite(value):  # an int past any float too
            raise _Bad(f"expected a finite number{_range_text(meta)}, found {brief(value)}")
        _check_range(float(value), meta, "a number")
        return float(value)
    if tp is str:
        if isinstance(value, (datetime.date, datetime.datetime)):  # YAML reads unquoted dates as dates
            return value.isoformat()
        if not isinstance(value, str) or not value.strip():
            raise _Bad(f"expected non-empty text, found {found(value)}")
        return value
    if tp is InputFile:
        if not isinstance(value, str) or not value.strip():
            raise _Bad(f"expected a file path, found {found(value)}")
        path = ctx.resolve(value)
        if not path.is_file():
            why = "is a folder" if path.is_dir() else "does not exist"
            raise _Bad(f"file '{value}' {why} (looked for {path})")
        return InputFile(str(path))
    raise TypeError(f"unsupported recipe type {tp!r} for {key}")  # a bug in a section


def _range_text(meta: dict) -> str:
    lo, hi = meta.get("minimum"), meta.get("maximum")
    op = ">" if meta.get("exclusive_minimum") else ">="
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]" if op == ">=" else f" {op} {lo} and <= {hi}"
    if lo is not None:
        return f" {op} {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _check_range(value: float, meta: dict, kind: str) -> None:
    lo, hi = meta.get("minimum"), meta.get("maximum")
    too_low = lo is not None and (value <= lo if meta.get("exclusive_minimum") else value < lo)
    if too_low or (hi is not None and value > hi):
        raise _Bad(f"expected {kind}{_range_text(meta)}, found {brief(value)}")


# --------------------------------------------------------------------------- sections


def build(cls: type, data: Any, prefix: str, line: int | None, ctx: Context) -> Any:
    """Build section ``cls`` from a parsed mapping, recording problems in ``ctx``.

    Every key is converted and range-checked, unknown keys are reported (with the closest
    known one), and the section's own ``check(ctx)`` runs once its keys are all valid.

    Parameters
    ----------
    cls : type
        The section dataclass (fields declared with :func:`setting`).
    data : dict
        The parsed mapping (a :class:`~xpipe.recipe.yamlio.LineDict` gives each key its line).
    prefix : str
        Key path of the section, prefixed to the keys in messages (``""`` at the top).
    line : int or None
        Line of the section, for problems without a line of their own.
    ctx : Context
        Recipe folder and the problem list, appended to.

    Returns
    -------
    object or None
        The section instance, or ``None`` when this section had problems.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.recipe.sections.run import RunConfig
    >>> ctx = Context(base_dir=Path("."))
    >>> build(RunConfig, {"workers": 4}, "run", 7, ctx).workers
    4
    >>> build(RunConfig, {"chunk_frame": 8}, "run", 7, ctx) is None
    True
    >>> print(ctx.problems[0].format("recipe.yaml"))  # doctest: +NORMALIZE_WHITESPACE
    recipe.yaml:7: run.chunk_frame: unknown key (did you mean 'chunk_frames'?); allowed here:
    executor, workers, scheduler, chunk_frames
    """
    if not isinstance(data, dict):
        raise _Bad(f"expected a mapping of keys ({', '.join(_keys(cls))}), found {found(data)}")
    key_lines = data.key_lines if isinstance(data, LineDict) else {}
    names = _keys(cls)
    n_before = len(ctx.problems)
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            ctx.add(
                _join(prefix, key),
                key_lines.get(key, line),
                f"unknown key{hint}; allowed here: {', '.join(names)}",
            )
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        key = _join(prefix, f.name)
        if f.name not in data:
            if f.default is _MISSING and f.default_factory is _MISSING:
                ctx.add(key, line, f"missing required key ({f.metadata.get('doc', '')})")
            continue
        key_line = key_lines.get(f.name, line)
        try:
            values[f.name] = _convert(hints[f.name], data[f.name], key, key_line, f.metadata, ctx)
        except _Bad as exc:
            ctx.add(key, key_line, exc.message)
    if len(ctx.problems) > n_before:
        return None
    section = cls(**values)
    check = getattr(section, "check", None)
    if check is not None:
        for sub_key, message in check(ctx):
            sub_line = key_lines.get(sub_key.split(".")[0].split("[")[0], line)
            ctx.add(_join(prefix, sub_key), sub_line, message)
    return section if len(ctx.problems) == n_before else None


def _keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def iter_settings(cls: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """Walk a section tree: (key path, field, resolved type) for every key, depth first.

    Parameters
    ----------
    cls : type
        The section dataclass to walk.
    prefix : str
        Key path of ``cls`` itself (``""`` at the top).

    Returns
    -------
    Iterator of (str, dataclasses.Field, type)
        Key path (items of a list of sections as ``key[].item_key``), its field, its type.

    Examples
    --------
    >>> from xpipe.recipe.sections.timeline import TimelineConfig
    >>> [path for path, _, _ in iter_settings(TimelineConfig, "timeline")][3:5]
    ['timeline.ex_situ', 'timeline.ex_situ[].series']
    """
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        yield _join(prefix, f.name), f, tp
        inner = [a for a in typing.get_args(tp) if _is_section(a) or _origin(a) is list] if _is_union(tp) else [tp]
        for sub in inner:
            if _is_section(sub):
                yield from iter_settings(sub, _join(prefix, f.name))
            elif _origin(sub) is list and typing.get_args(sub) and _is_section(typing.get_args(sub)[0]):
                # the keys of each item of a list of sections, as 'key[].item_key'
                yield from iter_settings(typing.get_args(sub)[0], _join(prefix, f.name) + "[]")


def load_document(cls: type, path: str | Path, what: str,
                  prepare: Callable[[Any], Any] | None = None) -> tuple[Any, bytes, str]:
    """Read a YAML file and build section ``cls`` from it (``what`` names it in messages: 'recipe
    file', 'component library'); returns ``(section, raw bytes, text)``.

    Raises :class:`RecipeInvalid` listing every problem, with key paths and lines; paths inside
    the file are relative to its folder. ``prepare`` (the recipe's version migration) takes the
    parsed mapping before it is validated and may raise ValueError, reported at key
    ``version``.

    Parameters
    ----------
    cls : type
        The section dataclass the whole file describes.
    path : str or Path
        The YAML file.
    what : str
        What the file is, for messages about the file as a whole.
    prepare : callable, optional
        Turns the parsed mapping into the one validated.

    Returns
    -------
    tuple of (object, bytes, str)
        The section, the file's bytes (for its hash) and its text.

    Raises
    ------
    RecipeInvalid
        Every problem found: missing file, not UTF-8, invalid YAML, or invalid keys.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from xpipe.recipe.sections.run import RunConfig
    >>> path = Path(tempfile.mkdtemp(), "run.yaml")
    >>> _ = path.write_text("executor: serial\\nchunk_frames: 0\\n")
    >>> try:
    ...     load_document(RunConfig, path, "run file")
    ... except RecipeInvalid as exc:
    ...     print(exc.problems[0].line, exc.problems[0].message)
    2 expected an integer in [1, 100000], found 0
    >>> _ = path.write_text("executor: serial\\n")
    >>> section, raw, text = load_document(RunConfig, path, "run file")
    >>> section.executor, section.chunk_frames, raw
    ('serial', 16, b'executor: serial\\n')
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        why = "is a folder" if path.is_dir() else "does not exist"
        raise RecipeInvalid(source, [Problem("", None, f"{what} {why}")])
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeInvalid(source, [Problem("", None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    try:
        data = load_yaml(text)
    except YamlSyntaxError as exc:
        what_is_wrong = "too large to read" if isinstance(exc, YamlTooLarge) else "invalid YAML"
        raise RecipeInvalid(source, [Problem("", exc.line, f"{what_is_wrong}: {exc}")]) from None
    ctx = Context(base_dir=path.resolve().parent)
    if data is None:
        data = LineDict()
    if prepare is not None and isinstance(data, dict):
        try:
            data = prepare(data)
        except ValueError as exc:
            line = data.key_lines.get("version", 1) if isinstance(data, LineDict) else 1
            raise RecipeInvalid(source, [Problem("version", line, str(exc))]) from None
    try:
        section = build(cls, data, "", 1, ctx)
    except _Bad as exc:
        ctx.add("", 1, exc.message)
        section = None
    if ctx.problems or section is None:
        raise RecipeInvalid(source, ctx.problems)
    return section, raw, text
