"""Safe YAML loading that remembers where every key came from.

Recipes are loaded with PyYAML's ``SafeLoader`` (never executed). Mappings come back as
:class:`LineDict`, which records the line of each key, so that validation errors can point at
``recipe.yaml:12``. Duplicate keys, which plain YAML silently resolves to the last one, are an error.

A recipe is small, so the loader refuses what no recipe needs and what would exhaust the reader:
collections nested more than :data:`MAX_DEPTH` deep, and documents of more than
:data:`MAX_NODES` values once every alias is expanded ("billion laughs"), both found while the
document is composed, before anything is built from it. An integer literal too long for Python
to read becomes a :class:`HugeInteger`, which validation reports at its key.
"""

from __future__ import annotations

from typing import Any

import yaml


class LineDict(dict):
    r"""A dict that knows the 1-based line of the mapping and of each of its keys.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`dict`. ``line`` (the mapping's line) starts as None and ``key_lines``
        (line of each key) empty; :func:`load_yaml` fills both.

    Examples
    --------
    >>> d = load_yaml("name: demo\nxrd:\n  npt: 500\n")
    >>> type(d).__name__, d.key_lines, d["xrd"].key_lines
    ('LineDict', {'name': 1, 'xrd': 2}, {'npt': 3})
    """

    line: int | None = None
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class LineList(list):
    r"""A list that knows the 1-based line of itself and of each item.

    Parameters
    ----------
    *args
        As for :class:`list`. ``line`` starts as None and ``item_lines`` empty;
        :func:`load_yaml` fills both.

    Examples
    --------
    >>> items = load_yaml("windows:\n  - [10, 20]\n  - [30, 40]\n")["windows"]
    >>> type(items).__name__, items.line, items.item_lines
    ('LineList', 2, [2, 3])
    """

    line: int | None = None
    item_lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []


class YamlSyntaxError(ValueError):
    r"""The text is not valid YAML; carries the line (1-based) when known.

    Parameters
    ----------
    message : str
        What is wrong, as the parser puts it.
    line : int or None
        1-based line of the problem, None when the parser gives none.

    Examples
    --------
    >>> try:
    ...     load_yaml("npt: 500\nnpt: 1000\n")
    ... except YamlSyntaxError as exc:
    ...     print(exc.line, exc)
    2 duplicate key 'npt' (first given on line 1)
    """

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class YamlTooLarge(YamlSyntaxError):
    r"""The YAML is nested too deep or expands to too many values to be read as a recipe.

    A :class:`YamlSyntaxError`, so whoever reports invalid YAML reports this too.

    Parameters
    ----------
    message : str
        Which limit the document passes.
    line : int or None
        1-based line of the collection that passes it.

    Examples
    --------
    >>> try:
    ...     load_yaml("a: " + "[" * 60 + "]" * 60 + "\n")
    ... except YamlTooLarge as exc:
    ...     print(exc.line, exc)
    1 nested more than 50 levels deep
    """


#: Deepest nesting of collections (mappings and lists) a document may have, aliases expanded.
MAX_DEPTH = 50
#: Most values (scalars and collections) a document may hold once every alias is expanded.
MAX_NODES = 100_000


class HugeInteger:
    r"""An integer literal with more digits than Python reads (``sys.get_int_max_str_digits``).

    :func:`load_yaml` gives one in place of the number, so that validation can report it at its
    key instead of failing while the file is read.

    Parameters
    ----------
    digits : int
        How many digits the literal has.
    negative : bool
        Whether it has a minus sign.

    Examples
    --------
    >>> value = load_yaml("npt: " + "9" * 5000 + "\n")["npt"]
    >>> value
    <5000-digit integer>
    >>> value.digits, value.negative
    (5000, False)
    """

    def __init__(self, digits: int, negative: bool = False) -> None:
        self.digits = digits
        self.negative = negative

    def __repr__(self) -> str:
        return f"<{self.digits}-digit {'negative ' if self.negative else ''}integer>"

    __str__ = __repr__


class _Limit(yaml.composer.ComposerError):
    """A document past :data:`MAX_DEPTH` or :data:`MAX_NODES`; :func:`load_yaml` raises it as
    :class:`YamlTooLarge`."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(None, None, problem, mark)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that counts the nesting while composing and sizes the composed document."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Limit(f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)

    def compose_sequence_node(self, anchor: str | None) -> yaml.SequenceNode:
        self._enter()
        try:
            return super().compose_sequence_node(anchor)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        self._enter()
        try:
            return super().compose_mapping_node(anchor)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        _expanded(node, 0, {}, set())
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded(node: yaml.Node, depth: int, memo: dict[int, tuple[int, int]], open_: set[int]) -> tuple[int, int]:
    """(values, collection levels) of ``node`` with its aliases expanded; raises :class:`_Limit`
    past :data:`MAX_NODES` or :data:`MAX_DEPTH` (``depth``: the levels above it). Each node is
    walked once (``memo``); a node met again inside itself (a recursive alias, which the
    constructor refuses) counts as nothing here."""
    key = id(node)
    if key in open_:
        return 0, 0
    if key not in memo:
        is_collection = not isinstance(node, yaml.ScalarNode)
        if depth + is_collection > MAX_DEPTH:
            raise _Limit(f"nested more than {MAX_DEPTH} levels deep (aliases expanded)", node.start_mark)
        open_.add(key)
        size, height = 1, 0
        for child in _children(node):
            n, h = _expanded(child, depth + is_collection, memo, open_)
            size, height = size + n, max(height, h)
            if size > MAX_NODES:
                raise _Limit(f"the document expands to more than {MAX_NODES} values (aliases "
                             "expanded); no recipe needs that many", node.start_mark)
        open_.discard(key)
        memo[key] = (size, height + is_collection)
    size, height = memo[key]
    if depth + height > MAX_DEPTH:
        raise _Limit(f"nested more than {MAX_DEPTH} levels deep (aliases expanded)", node.start_mark)
    return size, height


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            try:
                key = str(key)
            except ValueError:  # an integer past Python's limit on the digits of str(int)
                key = str(key_node.value)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key '{key}' (first given on line {out.key_lines[key]})",
                key_node.start_mark,
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


def _construct_int(loader: _LineLoader, node: yaml.ScalarNode) -> int | HugeInteger:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    except ValueError:  # more digits than Python's int(str) reads
        text = str(node.value)
        return HugeInteger(sum(c.isdigit() for c in text), text.lstrip().startswith("-"))


def _construct_timestamp(loader: _LineLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError) as exc:  # 2024-13-45: the shape of a date, not a date
        raise yaml.constructor.ConstructorError(
            None, None, f"invalid date {node.value!r} ({exc})", node.start_mark) from None


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_LineLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def load_yaml(text: str) -> Any:
    r"""Parse YAML text safely, returning :class:`LineDict`/:class:`LineList` containers.

    Parameters
    ----------
    text : str
        YAML document (a recipe or a component library).

    Returns
    -------
    Any
        The parsed document: mappings as :class:`LineDict`, sequences as :class:`LineList`,
        scalars as PyYAML's safe loader makes them; None for an empty document.

    Raises
    ------
    YamlSyntaxError
        With the line of the problem, for invalid YAML or duplicate keys; as
        :class:`YamlTooLarge` for nesting deeper than :data:`MAX_DEPTH` or more than
        :data:`MAX_NODES` values with the aliases expanded.

    Examples
    --------
    >>> data = load_yaml("name: demo\nrun:\n  workers: 4\n")
    >>> data["run"]["workers"], data.key_lines["run"]
    (4, 2)
    >>> load_yaml("") is None
    True
    >>> bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    ...     f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    ...     for p, c in zip("abcd", "bcde"))
    >>> try:
    ...     load_yaml(bomb)
    ... except YamlTooLarge as exc:
    ...     print(exc.line, exc)
    5 the document expands to more than 100000 values (aliases expanded); no recipe needs that many
    """
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader derives SafeLoader
    except _Limit as exc:
        raise YamlTooLarge(str(exc.problem), exc.problem_mark.line + 1) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise YamlSyntaxError(problem, line) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc), None) from None
