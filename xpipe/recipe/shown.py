"""How a recipe's values are quoted in messages: briefly, whatever their size.

A message about a wrong value quotes it (``found [1, 2] (list)``). The value may be anything the
YAML holds: a list of thousands of items, a mapping that aliases repeat many times over, an
integer of thousands of digits (which Python will not even turn into text). :func:`brief` walks
only as much of the value as the quote shows, so quoting costs the same for any value.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from .yamlio import HugeInteger

#: How many characters of a value a message quotes.
WIDTH = 60
#: Integers with more digits than this are quoted by their number of digits.
_MAX_DIGITS = 50
_HUGE = 10 ** _MAX_DIGITS


def brief(value: Any, width: int = WIDTH) -> str:
    """The ``repr`` of a value, cut to ``width`` characters, built from as little of it as that needs.

    Parameters
    ----------
    value : Any
        A value as the YAML loader gives it (mappings, lists, text, numbers, dates, null) or
        any other object.
    width : int
        Most characters to return; a longer ``repr`` is cut and ends with ``...``.

    Returns
    -------
    str
        The same text as ``repr(value)`` when that fits, else its beginning; an integer of more
        than 50 digits is shown by its size (``a 5000-digit integer``, ``<5000-digit integer>``
        inside a list).

    Examples
    --------
    >>> brief([20, 5]), brief({"a": "b"}), brief(1.5)
    ('[20, 5]', "{'a': 'b'}", '1.5')
    >>> brief(list(range(10 ** 6)))
    '[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16...'
    >>> brief(10 ** 5000), brief([-10 ** 5000])
    ('a 5001-digit integer', '[<5001-digit negative integer>]')
    >>> deep = []
    >>> deep.append(deep)  # a list inside itself: cut like any other
    >>> brief(deep, width=10)
    '[[[[[[[...'
    """
    if _is_huge(value):
        return "a " + repr(_atom(value))[1:-1]
    out: list[str] = []
    _emit(value, out, [width + 1])
    text = "".join(out)
    return text if len(text) <= width else text[:width - 3] + "..."


def found(value: Any) -> str:
    """How a message names the value it found: brief text and kind, ``null``, or an integer's size.

    Parameters
    ----------
    value : Any
        The value at fault, as loaded from the recipe.

    Returns
    -------
    str
        ``'many' (str)``, ``[1, 2] (list)``, ``{'a': 1} (mapping)``, ``null``, or
        ``a 5000-digit integer``.

    Examples
    --------
    >>> from xpipe.recipe.yamlio import load_yaml
    >>> found("many"), found(load_yaml("- 1\\n- 2\\n")), found(None)
    ("'many' (str)", '[1, 2] (list)', 'null')
    >>> found(load_yaml("n: " + "9" * 5000)["n"])
    'a 5000-digit integer'
    """
    if value is None:
        return "null"
    if _is_huge(value):
        return brief(value)
    kind = type(value).__name__
    kind = {"LineDict": "mapping", "LineList": "list", "dict": "mapping"}.get(kind, kind)
    return f"{brief(value)} ({kind})"


def _is_huge(value: Any) -> bool:
    return isinstance(value, HugeInteger) or (
        isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _HUGE)


def _digits(value: int) -> int:
    """Decimal digits of ``abs(value)``, without ``str`` (which refuses past 4300 of them)."""
    value = abs(value)
    n = max(1, int(value.bit_length() * math.log10(2)) + 1)
    while n > 1 and 10 ** (n - 1) > value:
        n -= 1
    return n


def _atom(value: Any) -> Any:
    """What stands for a huge integer in the text (its size); other values as they are."""
    if _is_huge(value) and not isinstance(value, HugeInteger):
        return HugeInteger(_digits(value), value < 0)
    return value


def _emit(value: Any, out: list[str], budget: list[int]) -> None:
    """Append ``repr(value)`` to ``out`` piece by piece until ``budget[0]`` characters are spent."""
    if budget[0] <= 0:
        return
    if isinstance(value, dict):
        _emit_items(value.items(), "{", "}", out, budget, pairs=True)
    elif isinstance(value, list):
        _emit_items(value, "[", "]", out, budget)
    elif isinstance(value, tuple):
        _emit_items(value, "(", ",)" if len(value) == 1 else ")", out, budget)
    elif isinstance(value, set) and value:
        _emit_items(value, "{", "}", out, budget)
    elif isinstance(value, str | bytes):
        _put(repr(value[:budget[0]]), out, budget)
    elif isinstance(value, bool | float | datetime.date | type(None) | HugeInteger):
        _put(repr(value), out, budget)
    elif isinstance(value, int):
        _put(repr(_atom(value)), out, budget)
    else:  # anything else: its own repr, cut (not a loader's value)
        _put(repr(value)[:budget[0]], out, budget)


def _emit_items(items: Any, open_: str, close: str, out: list[str], budget: list[int],
                pairs: bool = False) -> None:
    _put(open_, out, budget)
    for i, item in enumerate(items):
        if budget[0] <= 0:
            return
        if i:
            _put(", ", out, budget)
        if pairs:
            _emit(item[0], out, budget)
            _put(": ", out, budget)
            _emit(item[1], out, budget)
        else:
            _emit(item, out, budget)
    _put(close, out, budget)


def _put(text: str, out: list[str], budget: list[int]) -> None:
    out.append(text)
    budget[0] -= len(text)
