"""NeXus naming and field helpers shared by every writer of ``results.h5``.

A NeXus name is ``[a-zA-Z0-9_]`` with inner dots allowed (the pattern of the NeXus standard's
``validItemName``). Labels such as a phase ``Na3V2(PO4)3`` or an XPS component ``V3+ 2p1_2`` are
written under :func:`nx_name` of the label, with the label itself in the ``@long_name`` attribute,
so a reader that wants the label reads ``@long_name`` and never parses the name back.
"""

from __future__ import annotations

import re

#: the NeXus standard's valid item name (NXDL ``validItemName``)
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_]([a-zA-Z0-9_.]*[a-zA-Z0-9_])?$")

_SIGNS = {"+": "plus"}


def nx_name(label: str) -> str:
    """The valid NeXus name for ``label``: signs spelled out, other characters as ``_``.

    Parameters
    ----------
    label : str
        Any text: a phase, a component, a series label.

    Returns
    -------
    str
        A name that matches :data:`NAME_PATTERN`; ``label`` itself when it already does.

    Examples
    --------
    >>> nx_name("Na3V2(PO4)3")
    'Na3V2_PO4_3'
    >>> nx_name("V3+ 2p1_2")
    'V3plus_2p1_2'
    >>> nx_name("spectrum_0")
    'spectrum_0'
    """
    text = str(label)
    if NAME_PATTERN.match(text):
        return text
    for sign, word in _SIGNS.items():
        text = text.replace(sign, word)
    text = re.sub(r"[^a-zA-Z0-9_.]+", "_", text)
    text = re.sub(r"_{2,}", "_", text).strip("_.") or "unnamed"
    text = re.sub(r"\.{2,}", ".", text)
    return text if NAME_PATTERN.match(text) else re.sub(r"[^a-zA-Z0-9_]", "_", text)


def nx_names(labels) -> dict[str, str]:
    """Distinct NeXus names for distinct labels, in order: a clash gets ``_2``, ``_3``...

    Parameters
    ----------
    labels : iterable of str
        The labels to name (duplicates map to the same name).

    Returns
    -------
    dict
        ``label -> name``.

    Examples
    --------
    >>> nx_names(["V3+", "V3 ", "O 1s"])
    {'V3+': 'V3plus', 'V3 ': 'V3', 'O 1s': 'O_1s'}
    >>> nx_names(["a b", "a_b"])
    {'a b': 'a_b', 'a_b': 'a_b_2'}
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for label in labels:
        if label in out:
            continue
        base = nx_name(label)
        name, k = base, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        out[label] = name
        used.add(name)
    return out
