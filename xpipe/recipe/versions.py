"""Recipe format versions and the migrations that bring an older recipe to the current one.

A recipe states the format it was written for (``version: 1``); a recipe without the key is
taken as version 1, the format before the key existed being the same. When a later format
renames or restructures keys, it gets a migration here: a function from the parsed mapping of
version ``n`` to that of ``n + 1``, applied in turn before the recipe is validated, so old
recipes keep working and ``xpipe validate --effective`` shows them in the current format.

Examples
--------
>>> from xpipe.recipe.versions import CURRENT_VERSION, migrate
>>> data, found = migrate({"name": "demo"})
>>> found, data["version"] == CURRENT_VERSION
(1, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .shown import brief

#: The recipe format this version of xpipe writes and reads natively.
CURRENT_VERSION = 1

#: ``MIGRATIONS[n]`` turns the parsed mapping of a version-``n`` recipe into version ``n + 1``.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class VersionError(ValueError):
    """The recipe's ``version`` is not one this xpipe can read.

    Parameters
    ----------
    message : str
        What was found and what is expected (a :class:`ValueError`, so callers that catch
        those catch it too).

    Examples
    --------
    >>> try:
    ...     migrate({"name": "x", "version": 0})
    ... except ValueError as exc:
    ...     print(f"{type(exc).__name__}: ...{str(exc).split(':')[-1]}")
    VersionError: ... versions start at 1
    """


def migrate(data: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Bring a parsed recipe mapping to :data:`CURRENT_VERSION`.

    Parameters
    ----------
    data : dict
        The recipe as parsed from YAML (top-level mapping). Not modified.

    Returns
    -------
    (dict, int)
        The mapping in the current format (with ``version`` set), and the version it was
        written for.

    Raises
    ------
    VersionError
        For a version that is not a whole number, below 1, or newer than this xpipe reads.

    Examples
    --------
    >>> migrate({"name": "x", "version": 1})[1]
    1
    >>> migrate({"name": "x", "version": 99})
    Traceback (most recent call last):
    ...
    xpipe.recipe.versions.VersionError: the recipe is written for format version 99, but this xpipe reads versions 1 to 1: update xpipe
    """
    found = data.get("version", 1)
    if isinstance(found, bool) or not isinstance(found, int):
        raise VersionError(f"expected a whole number (the current format is {CURRENT_VERSION}), "
                           f"found {brief(found)}")
    if found < 1 or found > CURRENT_VERSION:
        hint = "update xpipe" if found > CURRENT_VERSION else "versions start at 1"
        raise VersionError(f"the recipe is written for format version {brief(found)}, but this xpipe "
                           f"reads versions 1 to {CURRENT_VERSION}: {hint}")
    out = data
    for v in range(found, CURRENT_VERSION):
        out = MIGRATIONS[v](out)
    if out.get("version") != CURRENT_VERSION:
        copy = type(out)(out)
        for attr in ("line", "key_lines"):  # where each key was, for messages (LineDict)
            if hasattr(out, attr):
                setattr(copy, attr, getattr(out, attr))
        copy["version"] = CURRENT_VERSION
        out = copy
    return out, found
