"""Checks on the text of a table that every text reader shares: pure functions on strings.

A reader splits its own lines into fields (its separators, its comment marks) and asks
:func:`cut_last_row` whether a file that ends without a line end was cut off in its last row;
the error it then raises, and its wording, stay the reader's. :data:`ABSURD_VALUE` is the
magnitude beyond which a value is a damaged row, not a measurement.

Examples
--------
>>> before = [["10.00", "1.250"], ["10.01", "1.375"], ["10.02", "1.500"]]
>>> cut_last_row(["10.03", "1.6"], before)
"its last field '1.6' is written shorter than the rows before write it ('1.500')"
>>> cut_last_row(["10.03", "1.625"], before) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Largest magnitude a value read from a file may have; beyond it a row is damaged, not
#: measured. No measured intensity, energy, angle, current or voltage comes near it.
ABSURD_VALUE = 1e30

#: How many complete rows before the last one :func:`cut_last_row` compares it with.
ROWS_BEFORE = 3


def number_shape(field: str) -> str:
    """How a number is written, without its digits and signs.

    Parameters
    ----------
    field : str
        One field of a row (blanks around it are ignored).

    Returns
    -------
    str
        ``field`` with each digit written ``9``, each sign after the first character ``±``
        and a leading sign dropped.

    Examples
    --------
    >>> number_shape("-1.25E+03"), number_shape(" 3,5 "), number_shape("42")
    ('9.99E±99', '9,9', '99')
    """
    return re.sub(r"[+-]", "±", re.sub(r"\d", "9", field.strip().lstrip("+-")))


def written_shorter(field: str, before: Sequence[str]) -> bool:
    """Whether ``field`` looks like the start of a number the rows ``before`` write alike.

    It does when its digits and signs are a proper beginning of theirs with a decimal mark
    (point or comma) or an exponent lost, or, written as a whole number like them, when it is
    under a fifth of the smallest of them.

    Parameters
    ----------
    field : str
        The last field of a row that may be cut off.
    before : sequence of str
        The same field in the rows before it.

    Returns
    -------
    bool
        True when ``field`` reads as the cut-off start of such a number; False when the rows
        before write the field in different ways, or ``field`` is written like them.

    Examples
    --------
    >>> written_shorter("1.2", ["1.375", "1.500"]), written_shorter("1.625", ["1.375", "1.500"])
    (True, False)
    >>> written_shorter("12", ["1250", "1375"]), written_shorter("900", ["1250", "1375"])
    (True, False)
    """
    shapes = {number_shape(f) for f in before}
    if len(shapes) != 1:
        return False
    shape, mine = shapes.pop(), number_shape(field)
    if mine == shape or not shape.startswith(mine) or not mine.strip("±"):
        return False
    if any(c in shape for c in ".,eE"):
        return True
    try:
        return abs(float(field)) < 0.2 * min(abs(float(f)) for f in before)
    except ValueError:
        return False


def cut_last_row(last_fields: Sequence[str], before_fields: Sequence[Sequence[str]], *,
                 numbers: bool = True) -> str | None:
    """Why the last row of a table, written without a line end, is cut off; None if it is not.

    The row is compared with the :data:`ROWS_BEFORE` rows before it: it is cut off when it
    holds fewer fields than they do (all alike), when one of its fields is a broken number,
    or when its last field is written shorter than they write it (see
    :func:`written_shorter`). Blank fields are ignored. The caller asks only when the text
    ends without a line end, and raises its own error.

    Parameters
    ----------
    last_fields : sequence of str
        The fields of the last row.
    before_fields : sequence of sequence of str
        The fields of the rows before it, in file order (only the last :data:`ROWS_BEFORE`
        count; with fewer, nothing is said).
    numbers : bool
        The table holds numbers only: a last row whose first field is not a number is no data
        row (None), and a field that is not a number is a broken one. False for a table with
        text columns, whose fields are not checked as numbers.

    Returns
    -------
    str or None
        What shows the row is cut off, or None.

    Examples
    --------
    >>> before = [["1", "0.5", "7.25"], ["2", "0.6", "7.50"], ["3", "0.7", "7.75"]]
    >>> cut_last_row(["4", "0.8"], before)
    '2 fields, where the rows before hold 3'
    >>> cut_last_row(["4", "0.8", "8."], before)
    "its last field '8.' is written shorter than the rows before write it ('7.75')"
    >>> cut_last_row(["4", "0.8", "8e"], before)
    "'8e' is not a number"
    >>> cut_last_row(["# end"], before) is None, cut_last_row(["4", "0.8"], before[1:]) is None
    (True, True)
    >>> cut_last_row(["4", "run"], [["1", "rest"], ["2", "charge"], ["3", "charge"]],
    ...              numbers=False) is None
    True
    """
    last = [f.strip() for f in last_fields if f.strip()]
    before = [[f.strip() for f in row if f.strip()] for row in before_fields[-ROWS_BEFORE:]]
    if not last or len(before) < ROWS_BEFORE or (numbers and not _is_number(last[0])):
        return None
    ncol = {len(row) for row in before}
    if len(ncol) != 1:
        return None
    broken = [f for f in last if not _is_number(f)] if numbers else []
    if broken:
        return f"{broken[0]!r} is not a number"
    if len(last) < (n := ncol.pop()):
        return f"{len(last)} field{'s' if len(last) != 1 else ''}, where the rows before hold {n}"
    if written_shorter(last[-1], [row[-1] for row in before]):
        return (f"its last field {last[-1]!r} is written shorter than the rows before write "
                f"it ({before[-1][-1]!r})")
    return None


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True
