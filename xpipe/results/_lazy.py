"""pandas for the results API, imported when a table is first asked for.

Importing pandas takes about half a second, and a run only opens its results to write the
frames table and the quick-look files, which need no table. The results modules therefore
name pandas through :data:`pd`, which imports it on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """A module imported on the first attribute looked up on it.

    Parameters
    ----------
    name : str
        The module's import name.

    Examples
    --------
    >>> json_ = LazyModule("json")
    >>> json_.dumps([1, 2])
    '[1, 2]'
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported on first use>"


#: pandas, imported on first use
pd = LazyModule("pandas")
