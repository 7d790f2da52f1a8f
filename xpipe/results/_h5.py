"""Reading helpers shared by the technique readers of a results file.

Everything here reads an already open ``h5py`` object in read-only mode and returns plain
numpy, pandas or xarray objects held in memory, so what a reader returns outlives the file.
Nothing read is ever executed: strings stay strings, JSON is parsed with :func:`json.loads`.

Names and labels: the writer stores a label (a phase ``Na3V2(PO4)3``, a component ``V3+ 2p1_2``)
under a valid NeXus name with the label in ``@long_name``; :func:`label` gives the label back,
falling back to the name for files written before labels had their own attribute.
"""

from __future__ import annotations

import json

import numpy as np

from ._lazy import pd


class TechniqueNotRun(LookupError):
    """A results file holds no results of the technique (or part of one) that was asked for.

    The message names the file, what is missing and which recipe section would produce it,
    and lists what the file does hold.

    Examples
    --------
    >>> exc = TechniqueNotRun("r.h5 holds no XAS results (recipe section 'xas'); it holds: xrd")
    >>> isinstance(exc, LookupError), str(exc).startswith("r.h5 holds no XAS")
    (True, True)
    """


def text(value) -> str:
    """A string attribute or dataset value as ``str`` (bytes decoded as UTF-8).

    Examples
    --------
    >>> text(b"V2p_O1s"), text("a"), text(3)
    ('V2p_O1s', 'a', '3')
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return text(value[()])
    return str(value)


def basename(obj) -> str:
    """The last part of an h5py object's path.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("b.h5", "w", driver="core", backing_store=False) as h5:
    ...     basename(h5.create_group("entry/xps/V2p_O1s"))
    'V2p_O1s'
    """
    return obj.name.rsplit("/", 1)[-1]


def label(obj) -> str:
    """The label of a named group or field: ``@long_name`` where present, else its name.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("l.h5", "w", driver="core", backing_store=False) as h5:
    ...     g = h5.create_group("Na3V2_PO4_3")
    ...     g.attrs["long_name"] = "Na3V2(PO4)3"
    ...     label(g), label(h5.create_group("V2O3"))
    ('Na3V2(PO4)3', 'V2O3')
    """
    name = obj.attrs.get("long_name")
    return text(name) if name is not None and text(name).strip() else basename(obj)


def attrs_of(obj) -> dict:
    """The attributes of an h5py object as plain Python values (strings decoded, numpy
    scalars to numbers, arrays to lists).

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("a.h5", "w", driver="core", backing_store=False) as h5:
    ...     h5.attrs["units"] = "eV"
    ...     h5.attrs["region_ev"] = np.array([510.0, 538.0])
    ...     attrs_of(h5)
    {'region_ev': [510.0, 538.0], 'units': 'eV'}
    """
    out = {}
    for key in sorted(obj.attrs):
        value = obj.attrs[key]
        if isinstance(value, np.ndarray):
            value = [text(v) if isinstance(v, bytes | str) else v for v in value.tolist()]
        elif isinstance(value, bytes | np.bytes_):
            value = text(value)
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def read_array(ds) -> np.ndarray:
    """A dataset's values: strings decoded to a str array, a string table stored flat with a
    ``@shape`` attribute put back in its shape.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("r.h5", "w", driver="core", backing_store=False) as h5:
    ...     ds = h5.create_dataset("reason", data=np.array([b"", b"no peak", b"", b""], dtype=object),
    ...                            dtype=h5py.string_dtype())
    ...     ds.attrs["shape"] = [2, 2]
    ...     read_array(ds).tolist()
    [['', 'no peak'], ['', '']]
    """
    value = ds[()]
    if isinstance(value, bytes):
        return np.array(text(value))
    value = np.asarray(value)
    if value.dtype == object or value.dtype.kind == "S":
        value = np.array([text(v) for v in value.ravel()], dtype=str).reshape(value.shape)
    shape = ds.attrs.get("shape")
    if shape is not None and value.ndim == 1 and int(np.prod(shape)) == value.size:
        value = value.reshape(tuple(int(s) for s in np.atleast_1d(shape)))
    return value


def scalar(ds):
    """A scalar dataset as a Python value (``str`` for strings).

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("s.h5", "w", driver="core", backing_store=False) as h5:
    ...     scalar(h5.create_dataset("n", data=np.int64(3))), scalar(h5.create_dataset("m", data="pchip"))
    (3, 'pchip')
    """
    value = read_array(ds)
    return value.item() if value.ndim == 0 else value.tolist()


def units_of(ds) -> str | None:
    """The ``@units`` of a dataset, or None.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("u.h5", "w", driver="core", backing_store=False) as h5:
    ...     ds = h5.create_dataset("e", data=[1.0])
    ...     ds.attrs["units"] = "eV"
    ...     units_of(ds), units_of(h5.create_dataset("n", data=[1]))
    ('eV', None)
    """
    u = ds.attrs.get("units")
    return None if u is None else text(u)


def fields(group) -> dict:
    """The datasets directly in a group, name -> dataset (sub-groups left out). A dataset
    linked under two names (NeXus ``<signal>_errors`` beside ``sigma``) is given once, under
    the name that does not end in ``_errors``.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("f.h5", "w", driver="core", backing_store=False) as h5:
    ...     _ = h5.create_dataset("a", data=[1.0]); _ = h5.create_group("sub")
    ...     h5["a_err"] = [0.1]
    ...     h5["a_errors"] = h5["a_err"]  # a link
    ...     list(fields(h5))
    ['a', 'a_err']
    """
    import h5py

    found = [(k, v) for k, v in group.items() if isinstance(v, h5py.Dataset)]
    found.sort(key=lambda kv: kv[0].endswith("_errors"))  # stable: other names first
    out, seen = {}, []
    for k, v in found:
        if any(v == other for other in seen):
            continue
        seen.append(v)
        out[k] = v
    order = [k for k, _ in group.items() if k in out]
    return {k: out[k] for k in order}


def groups(group) -> dict:
    """The sub-groups directly in a group, name -> group.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("g.h5", "w", driver="core", backing_store=False) as h5:
    ...     _ = h5.create_dataset("a", data=[1.0]); _ = h5.create_group("sub")
    ...     list(groups(h5))
    ['sub']
    """
    import h5py

    return {k: v for k, v in group.items() if isinstance(v, h5py.Group)}


def ordered(names, first) -> list[str]:
    """``names`` with those in ``first`` leading, in ``first``'s order.

    Examples
    --------
    >>> ordered(["b", "value", "a", "label"], ("label", "value"))
    ['label', 'value', 'b', 'a']
    """
    names = list(names)
    return [k for k in first if k in names] + [k for k in names if k not in first]


def table(group, n: int | None = None, names=None, index_name: str | None = None) -> pd.DataFrame:
    """The 1D datasets of ``group`` of one length as the columns of a DataFrame.

    Parameters
    ----------
    group : h5py.Group
        The group.
    n : int, optional
        The row count; default: the length of the first 1D dataset (in ``names`` order, or the
        group's). Datasets of another length or rank are left out.
    names : list of str, optional
        The columns to take, in this order (missing ones left out); default: all.
    index_name : str, optional
        Name of the row index (0, 1, ...).

    Returns
    -------
    pandas.DataFrame
        ``df.attrs["units"]`` maps each column that has ``@units`` to it.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("t.h5", "w", driver="core", backing_store=False) as h5:
    ...     h5["voltage_v"] = [3.3, 3.4]
    ...     h5["voltage_v"].attrs["units"] = "V"
    ...     h5["label"] = np.array([b"a", b"b"], dtype=object)
    ...     h5["grid"] = [1.0, 2.0, 3.0]  # another length: left out
    ...     df = table(h5, names=["label", "voltage_v", "grid"])
    >>> df.to_dict("list"), df.attrs["units"]
    ({'label': ['a', 'b'], 'voltage_v': [3.3, 3.4]}, {'voltage_v': 'V'})
    """
    found = fields(group)
    order = [k for k in (names if names is not None else found) if k in found]
    columns, units = {}, {}
    for key in order:
        ds = found[key]
        if ds.ndim != 1 and "shape" not in ds.attrs:
            continue
        values = read_array(ds)
        if values.ndim != 1:
            continue
        if n is None:
            n = values.size
        if values.size != n:
            continue
        columns[key] = values
        if units_of(ds):
            units[key] = units_of(ds)
    df = pd.DataFrame(columns, index=pd.RangeIndex(n or 0, name=index_name))
    df.attrs["units"] = units
    return df


def data_var(ds, dims: tuple[str, ...]):
    """A dataset as an in-memory ``xarray.DataArray`` on ``dims``, with its attributes.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("d.h5", "w", driver="core", backing_store=False) as h5:
    ...     h5["norm"] = [[0.0, 1.0]]
    ...     h5["norm"].attrs["units"] = "1"
    ...     da = data_var(h5["norm"], ("spectrum", "energy_ev"))
    >>> da.dims, da.attrs
    (('spectrum', 'energy_ev'), {'units': '1'})
    """
    import xarray as xr

    return xr.DataArray(read_array(ds), dims=dims, attrs=attrs_of(ds))


def parse_json(ds) -> object:
    """A JSON string dataset parsed with :func:`json.loads` (data only, nothing executed).

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("j.h5", "w", driver="core", backing_store=False) as h5:
    ...     parse_json(h5.create_dataset("settings_json", data='{"background": "shirley"}'))
    {'background': 'shirley'}
    """
    return json.loads(text(ds[()]))


def find_named(group, wanted: str, kind: str, file: str):
    """The sub-group of ``group`` whose label or name is ``wanted``.

    Raises
    ------
    KeyError
        Naming the file, the kind of thing and the labels there are.

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("n.h5", "w", driver="core", backing_store=False) as h5:
    ...     g = h5.create_group("lattice/Na3V2_PO4_3")
    ...     g.attrs["long_name"] = "Na3V2(PO4)3"
    ...     basename(find_named(h5["lattice"], "Na3V2(PO4)3", "phase", "r.h5"))
    'Na3V2_PO4_3'
    """
    subs = groups(group)
    for key, g in subs.items():
        if wanted in (key, label(g)):
            return g
    there = ", ".join(label(g) for g in subs.values()) or "none"
    raise KeyError(f"{file}: no {kind} {wanted!r} (there are: {there})")
