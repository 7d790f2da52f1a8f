"""Safe YAML loading that remembers where every key came from.

Recipes are loaded with PyYAML's ``SafeLoader`` (never executed). Mappings come back as
:class:`LineDict`, which records the line of each key, so that validation errors can point at
``recipe.yaml:12``. Duplicate keys, which plain YAML silently resolves to the last one, are an error.
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


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
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


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


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
        With the line of the problem, for invalid YAML or duplicate keys.

    Examples
    --------
    >>> data = load_yaml("name: demo\nrun:\n  workers: 4\n")
    >>> data["run"]["workers"], data.key_lines["run"]
    (4, 2)
    >>> load_yaml("") is None
    True
    """
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader derives SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise YamlSyntaxError(problem, line) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc), None) from None
