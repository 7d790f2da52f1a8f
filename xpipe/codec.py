"""Stage state as data: dataclass trees to JSON and arrays, and back, without executing anything.

The stage cache keeps the in-memory state of a whole-results stage (what its figures and tables
need) between runs. Pickle is not used: unpickling runs whatever code the file names, and an
output folder may be shared. Instead :func:`dumps` writes a tree of plain values to one ``.npz``
file: JSON for the structure, numpy arrays beside it, read back with ``allow_pickle=False``.

What it keeps: None, bool, int, float, str, bytes, :class:`pathlib.Path`, numpy arrays (object
arrays element by element) and scalars, lists, tuples, dicts (any keys it keeps), dataclasses
defined in xpipe modules (by their qualified name; attributes outside the declared fields are
private memos and are left out), ``str`` subclasses of xpipe (such as ``InputFile``), and the
fitted values of :class:`lmfit.Parameters` (expressions kept as text, never evaluated).

What it rebuilds: only those. A class named in a file must be a dataclass defined in a module
under ``xpipe.`` (imported only when it is a module of the installed package); it is made with
``object.__new__`` and its declared fields set one by one, so no constructor, ``__post_init__``
or ``__setstate__`` of the file's choosing runs. Anything else raises :class:`CodecError`.

:func:`seal` and :func:`unseal` put a JSON record in an envelope carrying its sha256 and the
xpipe version, so a cache or checkpoint file that was changed, cut or written by another
version is recognised and ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import io
import json
import re
import sys
import zipfile
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from . import __version__

_MODULE = re.compile(r"xpipe(\.[A-Za-z][A-Za-z0-9_]*)+")  # no private or dunder module (__main__)
_QUALNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_TREE = "tree_json"


class CodecError(ValueError):
    """A value the codec cannot write, or a file it will not read back.

    Parameters
    ----------
    message : str
        What, and where in the tree (``state[0].fits[2].params``).

    Examples
    --------
    >>> try:
    ...     dumps({"f": len})
    ... except CodecError as exc:
    ...     print(exc)
    ['f']: cannot keep a builtin_function_or_method
    """


def _ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _xpipe_class(ref: str) -> type:
    """The class ``module:qualname`` names, when it is a class defined in an xpipe module."""
    module, _, qualname = str(ref).partition(":")
    if not _MODULE.fullmatch(module) or not _QUALNAME.fullmatch(qualname) or "__" in qualname:
        raise CodecError(f"{ref!r} is not a class of xpipe; not read")
    mod = sys.modules.get(module)
    if mod is None:
        root = Path(sys.modules["xpipe"].__file__).parent
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin is None or root.resolve() not in origin.parents:
            raise CodecError(f"{ref!r} names no module of xpipe; not read")
        try:
            mod = importlib.import_module(module)  # a module of the installed package, by its file
        except ImportError as exc:
            raise CodecError(f"{ref!r}: its module does not import ({exc})") from None
    obj: Any = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, type) or obj.__module__ != module or obj.__qualname__ != qualname:
        raise CodecError(f"{ref!r} is not a class defined in {module}; not read")
    return obj


class _Writer:
    """Turns a value into a JSON-able tree; arrays go to ``self.arrays``."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.open: set[int] = set()  # the containers being written: a value met again is a cycle

    def array(self, arr: np.ndarray, where: str) -> dict:
        if arr.dtype == object:
            return {"$": "objarray", "shape": list(arr.shape),
                    "v": [self.value(v, f"{where}.flat[{i}]") for i, v in enumerate(arr.flat)]}
        if arr.dtype.hasobject:
            raise CodecError(f"{where}: cannot keep an array of dtype {arr.dtype}")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = arr
        return {"$": "array", "i": name}

    def value(self, obj: Any, where: str) -> Any:
        if obj is None or type(obj) in (bool, int, str):
            return obj
        if id(obj) in self.open:
            raise CodecError(f"{where}: refers back to a value that holds it")
        self.open.add(id(obj))
        try:
            return self.node(obj, where)
        finally:
            self.open.discard(id(obj))

    def node(self, obj: Any, where: str) -> Any:  # one branch per kept type
        if type(obj) is float:
            return obj if np.isfinite(obj) else {"$": "float", "v": repr(obj)}
        if isinstance(obj, np.ndarray):
            return self.array(obj, where)
        if isinstance(obj, np.generic):
            return {"$": "scalar", "v": self.array(np.asarray(obj), where)}
        if type(obj) is bytes:
            return {"$": "bytes", "v": obj.hex()}
        if isinstance(obj, PurePath):
            return {"$": "path", "v": str(obj)}
        if type(obj) in (list, tuple):
            return {"$": type(obj).__name__, "v": [self.value(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if type(obj) is dict:
            return {"$": "dict", "v": [[self.value(k, f"{where} key"), self.value(v, f"{where}[{k!r}]")]
                                       for k, v in obj.items()]}
        cls = type(obj)
        if cls.__module__ == "lmfit.parameter" and cls.__qualname__ == "Parameters":
            return self.parameters(obj, where)
        if not cls.__module__.startswith("xpipe.") or "<locals>" in cls.__qualname__:
            raise CodecError(f"{where}: cannot keep a {cls.__qualname__}")
        if cls.__mro__ == (cls, str, object) and not getattr(obj, "__dict__", None):  # as InputFile
            return {"$": "str", "cls": _ref(cls), "v": str(obj)}
        if not dataclasses.is_dataclass(obj):
            raise CodecError(f"{where}: cannot keep a {cls.__qualname__} (not a dataclass)")
        names = [f.name for f in dataclasses.fields(obj)]
        extra = [k for k in getattr(obj, "__dict__", {}) if k not in names and not k.startswith("_")]
        if extra:
            raise CodecError(f"{where}: {cls.__qualname__} has attributes outside its fields: {extra}")
        return {"$": "dataclass", "cls": _ref(cls),
                "f": {n: self.value(getattr(obj, n), f"{where}.{n}") for n in names}}

    def parameters(self, params: Any, where: str) -> dict:
        rows = []
        for name, p in params.items():
            at = f"{where}[{name!r}]"
            rows.append([name, self.value(p.value, at), bool(p.vary), p.expr, self.value(p.min, at),
                         self.value(p.max, at), self.value(p.brute_step, at), self.value(p.stderr, at),
                         self.value(p.correl, at), self.value(p.init_value, at), self.value(p.user_data, at)])
        return {"$": "lmfit.Parameters", "v": rows}


class _Reader:
    """Turns a tree written by :class:`_Writer` back into values."""

    def __init__(self, arrays: Any) -> None:
        self.arrays = arrays

    def array(self, node: dict) -> np.ndarray:
        if node.get("$") == "objarray":
            out = np.empty(len(node["v"]), dtype=object)
            for i, v in enumerate(node["v"]):
                out[i] = self.value(v)
            return out.reshape([int(n) for n in node["shape"]])
        if node.get("$") != "array" or not str(node.get("i", "")).startswith("a"):
            raise CodecError(f"not an array node: {str(node)[:80]}")
        return np.asarray(self.arrays[node["i"]])

    def value(self, node: Any) -> Any:  # one branch per kept type
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict:
            raise CodecError(f"unexpected {type(node).__name__} in the tree")
        kind = node.get("$")
        if kind in ("array", "objarray"):
            return self.array(node)
        if kind == "scalar":
            return self.array(node["v"])[()]
        if kind == "float":
            return float(node["v"])
        if kind == "bytes":
            return bytes.fromhex(node["v"])
        if kind == "path":
            return Path(node["v"])
        if kind in ("list", "tuple"):
            items = [self.value(v) for v in node["v"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {self.value(k): self.value(v) for k, v in node["v"]}
        if kind == "str":
            cls = _xpipe_class(node["cls"])
            if cls.__mro__ != (cls, str, object):
                raise CodecError(f"{node['cls']!r} is not a plain str type; not read")
            return str.__new__(cls, str(node["v"]))
        if kind == "dataclass":
            return self.dataclass(node)
        if kind == "lmfit.Parameters":
            return self.parameters(node["v"])
        raise CodecError(f"unknown node {kind!r}")

    def dataclass(self, node: dict) -> Any:
        cls = _xpipe_class(node["cls"])
        if not dataclasses.is_dataclass(cls):
            raise CodecError(f"{node['cls']!r} is not a dataclass; not read")
        names = {f.name for f in dataclasses.fields(cls)}
        fields = node["f"]
        if type(fields) is not dict or set(fields) != names:
            raise CodecError(f"{node['cls']!r}: the fields kept are not the class's fields")
        obj = object.__new__(cls)
        for name in names:
            object.__setattr__(obj, name, self.value(fields[name]))
        return obj

    def parameters(self, rows: list) -> Any:
        from lmfit import Parameter, Parameters  # deferred: lmfit is slow to import

        params = Parameters()
        for name, value, vary, expr, lo, hi, step, stderr, correl, init, user in rows:
            par = Parameter(name=str(name))
            # lmfit's saved state, with no interpreter attached: the expression stays text, its value
            # is the one fitted, and nothing is evaluated
            par.__setstate__((str(name), self.value(value), bool(vary), None if expr is None else str(expr),
                              self.value(lo), self.value(hi), self.value(step), self.value(stderr),
                              self.value(correl), self.value(init), self.value(user)))
            dict.__setitem__(params, str(name), par)
        return params


def encode(obj: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """``obj`` as a JSON-able tree and the arrays it refers to.

    Parameters
    ----------
    obj : Any
        A value of the kinds listed in :mod:`xpipe.codec`.

    Returns
    -------
    tree : Any
        JSON-able: plain values, and ``{"$": kind, ...}`` nodes for the others.
    arrays : dict of str to numpy.ndarray
        The arrays (no object arrays) the tree names.

    Raises
    ------
    CodecError
        A value it cannot keep, with where it is.

    Examples
    --------
    >>> import numpy as np
    >>> tree, arrays = encode({"x": np.arange(3.0), "n": 2})
    >>> tree["$"], arrays["a0"]
    ('dict', array([0., 1., 2.]))
    """
    writer = _Writer()
    return writer.value(obj, ""), writer.arrays


def decode(tree: Any, arrays: Any) -> Any:
    """The value :func:`encode` gave ``tree`` and ``arrays`` for.

    Parameters
    ----------
    tree : Any
        The tree.
    arrays : mapping of str to numpy.ndarray
        Its arrays.

    Returns
    -------
    Any
        The value, rebuilt only from the kinds listed in :mod:`xpipe.codec`.

    Raises
    ------
    CodecError
        A node it does not read (such as a class that is not an xpipe dataclass).

    Examples
    --------
    >>> import numpy as np
    >>> decode(*encode({(1, "a"): [np.float64(0.5), None]}))
    {(1, 'a'): [np.float64(0.5), None]}
    """
    try:
        return _Reader(arrays).value(tree)
    except CodecError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        raise CodecError(f"malformed tree ({type(exc).__name__}: {exc})") from None


def dumps(obj: Any) -> bytes:
    """``obj`` as the bytes of one ``.npz`` file (the tree as JSON, and its arrays).

    Parameters
    ----------
    obj : Any
        A value of the kinds listed in :mod:`xpipe.codec`.

    Returns
    -------
    bytes
        The file's content; :func:`loads` reads it back.

    Raises
    ------
    CodecError
        A value it cannot keep.

    Examples
    --------
    >>> from xpipe.stages.base import StageSummary
    >>> summary = StageSummary(done=2, failed=[("b.vms", "no V 2p block")], inputs=[])
    >>> loads(dumps(summary)) == summary
    True
    """
    tree, arrays = encode(obj)
    text = json.dumps(tree, allow_nan=False, separators=(",", ":"))
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{_TREE: np.frombuffer(text.encode(), dtype=np.uint8)})
    return buf.getvalue()


def loads(data: bytes) -> Any:
    """The value :func:`dumps` wrote; nothing in it is executed.

    Parameters
    ----------
    data : bytes
        The content of the ``.npz`` file.

    Returns
    -------
    Any
        The value.

    Raises
    ------
    CodecError
        Not such a file, or a tree naming something it does not read.

    Examples
    --------
    >>> loads(dumps([1, "two", (3.0, None)]))
    [1, 'two', (3.0, None)]
    >>> try:
    ...     loads(b"PK not a file")
    ... except CodecError as exc:
    ...     print(str(exc).split(" (")[0])
    not a state file
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        tree = json.loads(arrays.pop(_TREE).tobytes().decode())
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, RecursionError,
            zipfile.BadZipFile) as exc:
        raise CodecError(f"not a state file ({type(exc).__name__}: {exc})") from None
    return decode(tree, arrays)


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``.

    Examples
    --------
    >>> sha256(b"abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(data).hexdigest()


def seal(record: dict) -> bytes:
    """``record`` as JSON in an envelope with its sha256 and the xpipe version that wrote it.

    Parameters
    ----------
    record : dict
        JSON-able data.

    Returns
    -------
    bytes
        The file's content; :func:`unseal` checks and opens it.

    Examples
    --------
    >>> unseal(seal({"stage_hash": "ab12"}))
    {'stage_hash': 'ab12'}
    """
    body = json.dumps(record, sort_keys=True)
    return json.dumps({"xpipe": __version__, "sha256": sha256(body.encode()), "record": body}).encode()


def unseal(data: bytes) -> dict:
    """The record :func:`seal` wrapped, once its checksum and version are checked.

    Parameters
    ----------
    data : bytes
        The file's content.

    Returns
    -------
    dict
        The record.

    Raises
    ------
    CodecError
        Not an envelope, a checksum that does not match (the file was changed or cut), or
        another xpipe version; the message says which.

    Examples
    --------
    >>> data = seal({"stage_hash": "ab12"})
    >>> try:
    ...     unseal(data.replace(b"ab12", b"ab13"))
    ... except CodecError as exc:
    ...     print(exc)
    its checksum does not match its content (changed or cut since it was written)
    """
    try:
        envelope = json.loads(data.decode())
        version, digest, body = envelope["xpipe"], envelope["sha256"], envelope["record"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        raise CodecError("not a file xpipe wrote (no checksum envelope)") from None
    if not isinstance(body, str) or sha256(body.encode()) != digest:
        raise CodecError("its checksum does not match its content (changed or cut since it was written)")
    if version != __version__:
        raise CodecError(f"written by xpipe {version}, this is xpipe {__version__}")
    record = json.loads(body)
    if not isinstance(record, dict):
        raise CodecError("not a file xpipe wrote (its record is not a mapping)")
    return record
