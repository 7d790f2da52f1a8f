"""The families of errors a user can act on, each said in one line with what to do.

Four families, one per kind of remedy:

- :class:`RecipeError`: the recipe is wrong (a key, a value); fix the recipe.
- :class:`InputFileError`: an input file cannot be read or is not what it should be; fix or
  replace the file.
- :class:`OutputError`: the output folder cannot be used (a file in the way, read-only, full,
  busy, a file size limit); choose another ``-o`` or fix the folder.
- :class:`EnvironmentProblem`: something the machine lacks (an optional library, an OpenCL
  device, a Dask scheduler); install or start it.

Each carries the file or recipe key it is about and a hint, and :meth:`XpipeError.line` says
it all in one line, as the command line prints it::

    xpipe run: output folder /x/y is read-only: choose another -o or fix its permissions

The errors raised elsewhere in xpipe (the recipe's ``RecipeInvalid``, the readers' read errors,
``FolderBusy``, ``ResumeError``, ``ExecutorError``, ``WatchError``) and the bare ``OSError`` of a
write that failed are put in their family by :func:`classify`. This module imports nothing from
xpipe, so that any layer can raise these errors.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from pathlib import Path

__all__ = ["EnvironmentProblem", "InputFileError", "OutputError", "RecipeError", "XpipeError",
           "classify", "from_os_error"]


class XpipeError(Exception):
    """An error the user can act on: what went wrong, about which file or key, and what to do.

    Parameters
    ----------
    what : str
        What went wrong, naming the file or key (one line; later lines are joined to it).
    hint : str, optional
        What to do about it.
    path : str or Path, optional
        The file or folder it is about.
    key : str, optional
        The recipe key it is about (``xrd.integrate.poni``).

    Examples
    --------
    >>> exc = OutputError("output folder /x/y is read-only", hint="choose another -o or fix its permissions",
    ...                   path="/x/y")
    >>> exc.line("run")
    'xpipe run: output folder /x/y is read-only: choose another -o or fix its permissions'
    >>> exc.exit_code, exc.family
    (2, 'output')
    """

    #: the exit code of a command that stops on this error: nothing could run
    exit_code = 2
    #: the family's name, as a word
    family = "error"

    def __init__(self, what: str, *, hint: str = "", path: str | Path | None = None,
                 key: str | None = None) -> None:
        self.what = _one_line(what)
        self.hint = _one_line(hint)
        self.path = None if path is None else str(path)
        self.key = key
        super().__init__(f"{self.what}: {self.hint}" if self.hint else self.what)

    def line(self, command: str) -> str:
        """The error in one line, as ``xpipe COMMAND`` prints it.

        Parameters
        ----------
        command : str
            The command that stopped (``run``, ``validate``, ...).

        Returns
        -------
        str

        Examples
        --------
        >>> RecipeError("xrd.npt: expected an integer", key="xrd.npt").line("validate")
        'xpipe validate: xrd.npt: expected an integer'
        """
        return f"xpipe {command}: {self}"


class RecipeError(XpipeError):
    """The recipe is wrong: fix the key it names.

    Examples
    --------
    >>> RecipeError("r.yaml: 2 problems found", hint="see the problems above").family
    'recipe'
    """

    family = "recipe"


class InputFileError(XpipeError):
    """An input file cannot be read, or is not what the recipe says it is.

    Examples
    --------
    >>> InputFileError("cannot read /d/a.cbf: permission denied", path="/d/a.cbf").path
    '/d/a.cbf'
    """

    family = "input"


class OutputError(XpipeError):
    """The output folder cannot be used: in the way, read-only, full, busy, or over a size limit.

    Examples
    --------
    >>> str(OutputError("output folder /x is a file", hint="choose another -o"))
    'output folder /x is a file: choose another -o'
    """

    family = "output"


class EnvironmentProblem(XpipeError):
    """The machine lacks what the run asks for: an optional library, an OpenCL device, a scheduler.

    Examples
    --------
    >>> EnvironmentProblem("the optional library 'lmfit' is not installed", hint="pip install lmfit").family
    'environment'
    """

    family = "environment"


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


# ----------------------------------------------------------------------------- OSError

_FULL = {errno.ENOSPC: "no space left on the device", errno.EFBIG: "the file size limit (ulimit -f) was reached",
         getattr(errno, "EDQUOT", -1): "the disk quota is exceeded"}
_DENIED = {errno.EROFS: "is on a read-only file system", errno.EACCES: "is not writable (permission denied)",
           errno.EPERM: "is not writable (operation not permitted)"}
#: what HDF5 puts in its messages when the errno is not set on the exception
_ERRNO_IN_TEXT = re.compile(r"errno = (\d+)")
_FILENAME_IN_TEXT = re.compile(r"filename = '([^']*)'")


def _errno(exc: OSError) -> int | None:
    if exc.errno is not None:
        return exc.errno
    found = _ERRNO_IN_TEXT.search(str(exc))
    return int(found.group(1)) if found else None


def _filename(exc: OSError) -> Path | None:
    name = exc.filename
    if name is None:
        found = _FILENAME_IN_TEXT.search(str(exc))
        name = found.group(1) if found else None
    if name is None or isinstance(name, int):
        return None
    return Path(os.path.abspath(os.fsdecode(name)))


def _related(path: Path | None, outdir: Path | None) -> bool:
    """``path`` is the output folder, inside it, or a folder on the way to it."""
    if path is None or outdir is None:
        return False
    return path == outdir or outdir in path.parents or path in outdir.parents


def from_os_error(exc: OSError, outdir: str | Path | None = None) -> XpipeError | None:
    """The family of a bare ``OSError``: an output error when the disk is full, a file size
    limit or quota is reached, or the output folder (or a folder on the way to it) is in the
    way or not writable; an input error for another file that cannot be opened.

    Parameters
    ----------
    exc : OSError
        What a write or a read raised (HDF5's errors included: the errno and file name are
        taken from its message when the exception lacks them).
    outdir : str or Path, optional
        The output folder of the command.

    Returns
    -------
    XpipeError or None
        None when the error cannot be told apart (no errno, no file name).

    Examples
    --------
    >>> import errno
    >>> full = OSError(errno.ENOSPC, "No space left on device", "/x/y/results.h5")
    >>> from_os_error(full, "/x/y").line("run")  # doctest: +ELLIPSIS
    'xpipe run: no space left on the device writing /x/y/results.h5: free space or choose another -o; ...'
    >>> ro = OSError(errno.EROFS, "Read-only file system", "/x/y/.xpipe")
    >>> print(from_os_error(ro, "/x/y"))
    output folder /x/y is on a read-only file system: choose another -o or fix its permissions
    >>> type(from_os_error(FileExistsError(errno.EEXIST, "File exists", "/x/y"), "/x/y")).__name__
    'OutputError'
    >>> from_os_error(PermissionError(errno.EACCES, "Permission denied", "/d/a.cbf"), "/x/y").family
    'input'
    >>> print(from_os_error(OSError(errno.EIO, "Input/output error", "/x/y/results.h5"), "/x/y"))
    cannot write /x/y/results.h5: Input/output error: check the output folder and its file system, or choose another -o
    """
    out = None if outdir is None else Path(os.path.abspath(outdir))
    code, name = _errno(exc), _filename(exc)
    if code in _FULL:
        where = f" writing {name}" if name else (f" in {out}" if out else "")
        remedy = "raise the limit (ulimit -f unlimited)" if code == errno.EFBIG else "free space"
        return OutputError(f"{_FULL[code]}{where}", path=name or out,
                           hint=f"{remedy} or choose another -o; finished chunks are kept, "
                           "xpipe run --resume continues from them")
    if isinstance(exc, FileExistsError | NotADirectoryError) and _related(name, out):
        blocker = next((p for p in [out, *out.parents] if p.exists() and not p.is_dir()), name)
        return OutputError(f"output folder {out} cannot be made: {blocker} is a file, not a folder",
                           path=blocker, hint="choose another -o or move the file")
    if code in _DENIED and _related(name, out):
        return OutputError(f"output folder {out} {_DENIED[code]}", path=name,
                           hint="choose another -o or fix its permissions")
    if name is not None and not _related(name, out):
        return InputFileError(f"cannot read {name}: {exc.strerror or exc}", path=name,
                              hint="check the file and its permissions")
    if name is not None:
        return OutputError(f"cannot write {name}: {exc.strerror or exc}", path=name,
                           hint="check the output folder and its file system, or choose another -o")
    return None


# ----------------------------------------------------------------------------- classify

#: the errors raised elsewhere in xpipe, by the module that offers them: (module, name, family,
#: what goes before the message); looked up in ``sys.modules`` so that nothing is imported here
KNOWN = [
    ("xpipe.recipe.schema", "RecipeInvalid", RecipeError, ""),
    ("xpipe.recipe.yamlio", "YamlSyntaxError", RecipeError, ""),
    ("xpipe.recipe.versions", "VersionError", RecipeError, ""),
    ("xpipe.store", "FolderBusy", OutputError, "not started: "),
    ("xpipe.runner", "ResumeError", OutputError, "cannot resume: "),
    ("xpipe.executor", "ExecutorError", EnvironmentProblem, ""),
    ("xpipe.xrd.opencl", "OpenCLUnavailable", EnvironmentProblem, ""),
    ("xpipe.watch", "WatchError", XpipeError, ""),
    ("xpipe.io.frames.base", "FrameReadError", InputFileError, ""),
    ("xpipe.io.patterns.base", "PatternReadError", InputFileError, ""),
    ("xpipe.xas.scan", "XasReadError", InputFileError, ""),
    ("xpipe.xps.readers.base", "XpsReadError", InputFileError, ""),
    ("xpipe.echem.readers.base", "CyclerReadError", InputFileError, ""),
    ("xpipe.xrd.integrate", "FrameError", InputFileError, ""),
]
#: the folders of xpipe whose modules read input files
_READER_PARTS = ("io", "readers")


def _known(exc: BaseException) -> XpipeError | None:
    for module, name, family, prefix in KNOWN:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            if hasattr(exc, "problems") and hasattr(exc, "report"):  # the recipe's problem list
                n = len(exc.problems)
                return RecipeError(f"not started, the recipe is invalid ({n} problem{'s' if n != 1 else ''})",
                                   path=getattr(exc, "source", None))
            path = getattr(exc, "path", None)
            return family(f"{prefix}{exc}", path=path if isinstance(path, str | Path) else None)
    return None


def _reader_frame(exc: BaseException):
    """The innermost xpipe frame the exception went through, when it is a reader's; else None."""
    package = Path(__file__).resolve().parent
    tb, innermost = exc.__traceback__, None
    while tb is not None:
        file = Path(tb.tb_frame.f_code.co_filename)
        if package in file.parents:
            innermost = (file.relative_to(package), tb.tb_frame)
        tb = tb.tb_next
    if innermost is None or not any(part in _READER_PARTS for part in innermost[0].parts[:-1]):
        return None
    return innermost[1]


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify(exc: BaseException, outdir: str | Path | None = None) -> XpipeError:
    """The family of any error that stopped a command, with its one-line message.

    An :class:`XpipeError` stays as it is; xpipe's other errors go to their family (see
    ``KNOWN``); a bare ``OSError`` is told apart by :func:`from_os_error` (looking through
    what caused it too); a missing library is an :class:`EnvironmentProblem`; another error
    raised while reading an input file is an :class:`InputFileError`; anything else is an
    unexpected :class:`XpipeError` whose traceback ``--debug`` shows.

    Parameters
    ----------
    exc : BaseException
        What stopped the command.
    outdir : str or Path, optional
        The command's output folder, to tell its write errors from the inputs' read errors.

    Returns
    -------
    XpipeError

    Examples
    --------
    >>> classify(ModuleNotFoundError("No module named 'lmfit'", name="lmfit")).line("run")
    "xpipe run: the optional library 'lmfit' is not installed: install it into this Python environment and run again"
    >>> classify(KeyError("spam")).line("validate")
    "xpipe validate: unexpected error (KeyError: 'spam'): run again with --debug to see where, and report it"
    """
    if isinstance(exc, XpipeError):
        return exc
    known = _known(exc)
    if known is not None:
        return known
    for link in _chain(exc):
        if isinstance(link, OSError) and (found := from_os_error(link, outdir)) is not None:
            return found
    if isinstance(exc, ImportError):
        lib = (exc.name or "").split(".")[0] or str(exc)
        return EnvironmentProblem(f"the optional library '{lib}' is not installed",
                                  hint="install it into this Python environment and run again")
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frame = _reader_frame(exc)
    if frame is not None:
        path = frame.f_locals.get("path")
        path = os.fspath(path) if isinstance(path, str | os.PathLike) else None
        return InputFileError(f"cannot read {path if path else 'an input file'} ({what})", path=path,
                              hint="check the file; --debug shows where its reader stopped")
    return XpipeError(f"unexpected error ({what})", hint="run again with --debug to see where, and report it")
