"""Files written into an output folder: whole or not at all, and never outside the folder.

Every file goes to a new temporary file beside its target (created exclusively, so a link planted
under a temporary name is never followed), is flushed to disk and renamed over the target with
:func:`os.replace`. A rename replaces a link planted at the target's name instead of writing
through it, so a link in a shared output folder cannot redirect xpipe's writes elsewhere. A
folder on the way that is a link leading out of the output folder is refused
(:class:`UnsafeOutputPath`). One writer per output folder: :class:`WriterLock`.

:mod:`xpipe.store` re-exports all of this; stages use :func:`atomic_write_text`,
:func:`atomic_write_bytes`, :func:`atomic_open`, :func:`atomic_savefig` or :func:`atomic_path`
with :func:`safe_target`.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

#: the folder of an output folder that holds checkpoints, caches and the writer lock
WORK_NAME = ".xpipe"


class FolderBusy(Exception):
    """The output folder cannot be written now: another xpipe process writes there.

    Parameters
    ----------
    message : str
        Who holds the folder and what to do about it.

    Examples
    --------
    >>> import tempfile
    >>> work = Path(tempfile.mkdtemp()) / ".xpipe"
    >>> with WriterLock(work, "xpipe run nvp.yaml"):
    ...     try:
    ...         WriterLock(work, "xpipe watch nvp.yaml").__enter__()
    ...     except FolderBusy as exc:
    ...         print(str(exc).split(" (process")[0])
    xpipe run nvp.yaml
    """


class UnsafeOutputPath(FolderBusy):
    """A folder inside the output folder is a link leading out of it; xpipe does not write there.

    Parameters
    ----------
    message : str
        The folder, where it leads, and what to do about it.

    Examples
    --------
    >>> import tempfile
    >>> outdir, elsewhere = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> (outdir / "figures").symlink_to(elsewhere)
    >>> try:
    ...     safe_target(outdir, "figures/contour.png")
    ... except UnsafeOutputPath as exc:
    ...     print(str(exc).split(" is a link")[0] == str(outdir / "figures"))
    True
    """


def output_root(path: str | Path) -> Path:
    """The output folder a written file belongs to: the folder holding the ``.xpipe`` folder on
    its path, else the file's own folder.

    Parameters
    ----------
    path : str or Path
        A file xpipe writes.

    Returns
    -------
    Path
        The folder that the file and every folder between must stay inside.

    Examples
    --------
    >>> output_root("/data/out/.xpipe/xps/cache.json"), output_root("/data/out/summary.md")
    (PosixPath('/data/out'), PosixPath('/data/out'))
    """
    path = Path(os.path.abspath(path))
    for parent in path.parents:
        if parent.name == WORK_NAME:
            return parent.parent
    return path.parent


def safe_target(outdir: str | Path, path: str | Path) -> Path:
    """``path`` (relative to ``outdir`` unless absolute) once checked to stay inside ``outdir``.

    The path must lie inside ``outdir``, and no existing folder between ``outdir`` and the file
    may be a link leading out of ``outdir``. The file itself may be a link: the atomic writers
    replace a link instead of following it.

    Parameters
    ----------
    outdir : str or Path
        The output folder (it may itself be a link: that is the user's choice).
    path : str or Path
        The file to write.

    Returns
    -------
    Path
        The absolute path of the file.

    Raises
    ------
    UnsafeOutputPath
        The path leaves ``outdir``, or a folder on the way is a link leading out of it (named).

    Examples
    --------
    >>> import tempfile
    >>> outdir = Path(tempfile.mkdtemp())
    >>> safe_target(outdir, "figures/contour.png") == outdir / "figures" / "contour.png"
    True
    >>> (outdir / "tables").symlink_to(outdir / "figures", target_is_directory=True)
    >>> safe_target(outdir, "tables/a.csv").name  # a link that stays inside is fine
    'a.csv'
    >>> try:
    ...     safe_target(outdir, "../elsewhere.txt")
    ... except UnsafeOutputPath as exc:
    ...     print("outside" in str(exc))
    True
    """
    root = Path(os.path.abspath(outdir))
    target = Path(os.path.normpath(root / path))
    try:
        rel = target.relative_to(root)
    except ValueError:
        raise UnsafeOutputPath(f"{target} is outside the output folder {root}; xpipe writes only "
                               "inside it") from None
    if not rel.parts:
        raise UnsafeOutputPath(f"{target} is the output folder itself, not a file in it")
    real_root = root.resolve()
    folder = root
    for part in rel.parts[:-1]:
        folder = folder / part
        if not folder.is_symlink():
            continue
        leads = folder.resolve()
        if leads != real_root and real_root not in leads.parents:
            raise UnsafeOutputPath(
                f"{folder} is a link to {leads}, outside the output folder {root}; xpipe does not "
                "write through it: remove the link, or write to another output folder")
    return target


def _temporary(path: Path) -> tuple[Path, int]:
    """A new file beside ``path`` (``.<name>.<random>.tmp<suffix>``), created exclusively:
    open for writing, never a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_temporaries(path: str | Path) -> None:
    """Delete the temporaries of ``path`` that a killed writer left beside it.

    Parameters
    ----------
    path : str or Path
        A file written by the atomic writers; ``.<name>.<random>.tmp<suffix>`` beside it go.

    Returns
    -------
    None

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "results.h5"
    >>> _ = path.with_name(".results.h5.0badc0de.tmp.h5").write_bytes(b"half")
    >>> remove_temporaries(path)
    >>> list(path.parent.iterdir())
    []
    """
    path = Path(path)
    for p in path.parent.glob(f".{path.name}.*.tmp{path.suffix}"):
        p.unlink(missing_ok=True)  # a link goes, never what it points to


def atomic_write_bytes(path: str | Path, data: bytes, *, outdir: str | Path | None = None) -> None:
    """Write ``data`` to ``path`` so that the file is either old, or new and complete.

    The bytes go to a new temporary file beside ``path``, are flushed to disk and renamed over
    ``path`` (a link there is replaced, not followed); the folder is synced so that the rename
    survives a power cut.

    Parameters
    ----------
    path : str or Path
        The file to write (its folder must exist).
    data : bytes
        The whole new content.
    outdir : str or Path, optional
        The output folder the file must stay inside (:func:`safe_target`); by default the one
        holding the ``.xpipe`` folder on its path, else the file's folder (:func:`output_root`).

    Returns
    -------
    None

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "manifest.json"
    >>> atomic_write_bytes(path, b'{"stage": "integrate"}')
    >>> path.read_bytes(), [p.name for p in path.parent.iterdir()]
    (b'{"stage": "integrate"}', ['manifest.json'])
    """
    path = safe_target(output_root(path) if outdir is None else outdir, path)
    tmp, fd = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str, *, outdir: str | Path | None = None,
                      encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` as :func:`atomic_write_bytes` does.

    Parameters
    ----------
    path : str or Path
        The file to write (its folder must exist).
    text : str
        The whole new content.
    outdir : str or Path, optional
        The output folder the file must stay inside (see :func:`atomic_write_bytes`).
    encoding : str
        The text encoding.

    Returns
    -------
    None

    Examples
    --------
    >>> import tempfile
    >>> outdir, elsewhere = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "notes.md"
    >>> _ = elsewhere.write_text("mine")
    >>> (outdir / "summary.md").symlink_to(elsewhere)  # planted by someone else
    >>> atomic_write_text(outdir / "summary.md", "# Summary\\n", outdir=outdir)
    >>> (outdir / "summary.md").is_symlink(), elsewhere.read_text()
    (False, 'mine')
    """
    atomic_write_bytes(path, text.encode(encoding), outdir=outdir)


@contextmanager
def atomic_path(path: str | Path, *, outdir: str | Path | None = None) -> Iterator[Path]:
    """A new temporary file to write by name; renamed over ``path`` once the block ends well.

    For writers that want a file name (``savefig``, ``np.savetxt``, ``h5py.File``): the
    temporary keeps the suffix of ``path``, and is deleted when the block raises.

    Parameters
    ----------
    path : str or Path
        The file to write.
    outdir : str or Path, optional
        The output folder the file must stay inside (see :func:`atomic_write_bytes`).

    Returns
    -------
    contextmanager of Path
        The temporary file (empty, already created beside ``path``).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "pattern.xye"
    >>> with atomic_path(path) as tmp:
    ...     _ = tmp.write_text("10.0 1.0 1.0\\n")
    ...     print(tmp.suffix, path.exists())
    .xye False
    >>> path.read_text()
    '10.0 1.0 1.0\\n'
    """
    path = safe_target(output_root(path) if outdir is None else outdir, path)
    tmp, fd = _temporary(path)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, outdir: str | Path | None = None,
                **kwargs: Any) -> Iterator[IO]:
    """A file object on a new temporary file; renamed over ``path`` once the block ends well.

    For writers that want an open file (``csv.writer``): as :func:`atomic_path`, with the
    temporary opened by :func:`open` and closed before the rename.

    Parameters
    ----------
    path : str or Path
        The file to write.
    mode : str
        ``"w"`` (text, the default) or ``"wb"``.
    outdir : str or Path, optional
        The output folder the file must stay inside (see :func:`atomic_write_bytes`).
    **kwargs
        Passed to :func:`open` (``newline``, ``encoding``).

    Returns
    -------
    contextmanager of file object
        The temporary file, open for writing.

    Examples
    --------
    >>> import csv, tempfile
    >>> outdir, elsewhere = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = elsewhere.write_text("mine")
    >>> (outdir / "peaks.csv").symlink_to(elsewhere)  # planted by someone else
    >>> with atomic_open(outdir / "peaks.csv", "w", newline="", outdir=outdir) as fh:
    ...     csv.writer(fh).writerow(["track", "frame"])
    13
    >>> (outdir / "peaks.csv").read_bytes(), elsewhere.read_text()
    (b'track,frame\\r\\n', 'mine')
    """
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"atomic_open writes a new file: mode 'w' or 'wb', not {mode!r}")
    with atomic_path(path, outdir=outdir) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def atomic_savefig(fig: Any, path: str | Path, *, outdir: str | Path | None = None,
                   **kwargs: Any) -> Path:
    """``fig.savefig`` to a temporary file renamed over ``path`` (see :func:`atomic_path`).

    The temporary keeps the suffix of ``path``, so the format is the one ``path`` names.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        The file to write.
    outdir : str or Path, optional
        The output folder the file must stay inside (see :func:`atomic_write_bytes`).
    **kwargs
        Passed to ``savefig`` (``dpi``).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> class Figure:  # anything with savefig
    ...     def savefig(self, fname, dpi=100):
    ...         Path(fname).write_text(f"{Path(fname).suffix} at {dpi} dpi")
    >>> path = Path(tempfile.mkdtemp()) / "contour.png"
    >>> atomic_savefig(Figure(), path, dpi=300).read_text()
    '.png at 300 dpi'
    """
    with atomic_path(path, outdir=outdir) as tmp:
        fig.savefig(tmp, **kwargs)
    return Path(path)


class WriterLock:
    """One writer per output folder: ``OUTDIR/.xpipe/writer.lock``, held (``flock``) by the
    ``xpipe run`` or ``xpipe watch`` writing there. Two writers would reset or interleave each
    other's checkpoints; the operating system releases the lock when its process ends, even by
    ``kill -9``, so a stale lock never blocks a resume. No lock where ``fcntl`` is missing.
    Taking it refuses an ``.xpipe`` folder that is a link leading out of the output folder
    (:class:`UnsafeOutputPath`), and never opens a link planted as the lock file.

    Parameters
    ----------
    work : Path
        The output folder's ``.xpipe`` folder (created when missing).
    holder : str
        Who writes (e.g. ``xpipe run recipe.yaml``), shown to a second writer refused.

    Examples
    --------
    >>> import tempfile
    >>> work = Path(tempfile.mkdtemp()) / ".xpipe"
    >>> with WriterLock(work, "xpipe run nvp.yaml") as lock:
    ...     lock.path.read_text().split(" (process")[0]
    'xpipe run nvp.yaml'
    >>> with WriterLock(work, "xpipe watch nvp.yaml"):  # free again once the first one ended
    ...     pass
    """

    def __init__(self, work: Path, holder: str) -> None:
        self.path = Path(work) / "writer.lock"
        self.holder = holder
        self._fh = None

    def _open(self):
        safe_target(self.path.parent.parent, self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_symlink():  # not a lock of ours: never open what it points to
            self.path.unlink()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        return os.fdopen(fd, "r+")

    def __enter__(self) -> WriterLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            safe_target(self.path.parent.parent, self.path)
            return self
        fh = self._open()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            who = fh.read().strip() or "another xpipe process"
            fh.close()
            raise FolderBusy(f"{who} is writing to {self.path.parent.parent}; wait for it to end "
                             "(or stop it), or write to another output folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{self.holder} (process {os.getpid()} on {socket.gethostname()})")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            self._fh.close()  # closing releases the flock
            self._fh = None
