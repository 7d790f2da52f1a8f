"""Run readers on mutants in a worker process, with a time limit and a memory limit.

The worker is a separate (spawned) process that serves one call at a time. A call that runs
past the time limit is stopped by an alarm inside the worker (which tells where it was), or,
when it is stuck in compiled code, by killing the worker; a worker that dies (a segfault, an
abort, the memory limit) is reported as a crash and replaced for the next call. So a hang or a
crash is a result in the table, never a test run that waits forever.

Outcomes: ``ok`` (valid data), ``refused`` (the documented input error), ``unexpected``
(any other exception), ``invalid`` (data that breaks the reader's promises), ``hang``,
``crash``.

Examples
--------
>>> with Sandbox(timeout_s=2.0) as box:
...     [box.call(t, "x").status for t in ("selftest-ok", "selftest-raise", "selftest-refuse")]
['ok', 'unexpected', 'refused']
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import resource
import signal
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from mutate import mutant_bytes, mutant_recipe
from seeds import Mutant, Seed
from targets import TARGETS, Target

#: The outcomes that keep the property (read into valid data, or refused with the input error).
PASSING = ("ok", "refused")
#: Every outcome, in table order.
OUTCOMES = ("ok", "refused", "unexpected", "invalid", "hang", "crash")


@dataclass(frozen=True)
class Outcome:
    """What one call did: ``status`` (see :data:`OUTCOMES`), a one-line ``detail``, ``where``
    the exception left xpipe (and where it was raised, when that is in a library), and the
    ``seconds`` the call took."""

    status: str
    detail: str = ""
    where: str = ""
    seconds: float = 0.0

    def describe(self) -> str:
        return f"{self.status}: {self.detail}" + (f" [{self.where}]" if self.where else "")


class _Hang(BaseException):
    """Raised by the alarm inside the worker (a BaseException, so ``except Exception`` in a
    reader does not take it for a read error)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Hang()


def _one_line(exc: BaseException, most: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= most else text[:most - 3] + "..."


def _where(tb: TracebackType | None) -> str:
    """The innermost xpipe frame of a traceback and, when different, the innermost frame."""
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if f"{os.sep}xpipe{os.sep}" in f.filename]

    def short(f: traceback.FrameSummary) -> str:
        parts = Path(f.filename).parts
        keep = parts[parts.index("xpipe"):] if "xpipe" in parts else parts[-2:]
        return f"{'/'.join(keep)}:{f.lineno} in {f.name}"

    out = [short(ours[-1])] if ours else []
    if frames and (not ours or frames[-1] is not ours[-1]):
        out.append("raised in " + short(frames[-1]))
    return "; ".join(out)


# ---------------------------------------------------------------- targets that test the sandbox

def _selftest(name: str) -> Target:
    def hang(path: str) -> None:
        while True:
            try:
                time.sleep(0.05)
            except Exception:  # noqa: BLE001 - a reader that swallows errors must still be caught
                pass

    def crash(path: str) -> None:
        os.kill(os.getpid(), signal.SIGSEGV)

    def refuse(path: str) -> None:
        raise ValueError(f"{path}: refused")

    def fail(path: str) -> None:
        return [][1]

    call = {"selftest-ok": lambda path: 1, "selftest-raise": fail, "selftest-refuse": refuse,
            "selftest-hang": hang, "selftest-crash": crash}[name]
    return Target(call, "builtins.ValueError", lambda value: None, name)


def _attempt(target: Target, path: str, options: dict[str, Any], timeout_s: float) -> Outcome:
    t0 = time.perf_counter()
    expected = target.error()
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            value = target.call(path, **options)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.perf_counter() - t0
        if took > timeout_s:
            return Outcome("hang", f"returned only after {took:.1f} s", "", took)
        problem = target.check(value)
        return Outcome("ok" if problem is None else "invalid", problem or "", "", took)
    except _Hang as exc:
        return Outcome("hang", f"still running after {timeout_s:g} s", _where(exc.__traceback__),
                       time.perf_counter() - t0)
    except expected as exc:
        took = time.perf_counter() - t0
        if took > timeout_s:  # the alarm was turned into a read error
            return Outcome("hang", f"refused only after {took:.1f} s", "", took)
        return Outcome("refused", f"{type(exc).__name__}: {_one_line(exc)}", "", took)
    except BaseException as exc:  # noqa: BLE001 - anything else is the finding
        return Outcome("unexpected", f"{type(exc).__name__}: {_one_line(exc)}",
                       _where(exc.__traceback__), time.perf_counter() - t0)


def _serve(conn: Any, timeout_s: float, memory_mb: int) -> None:
    """The worker: read (target, path, options) requests and answer each with an Outcome."""
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _on_alarm)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)  # libraries that print (fabio, HDF5 diagnostics) stay quiet
        os.dup2(null.fileno(), 2)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        name, path, options = request
        target = _selftest(name) if name.startswith("selftest-") else TARGETS[name]
        conn.send(_attempt(target, path, options, timeout_s))


class Sandbox:
    """A worker process that runs one reader call at a time.

    Parameters
    ----------
    timeout_s : float
        A call running longer is a hang.
    memory_mb : int
        Address-space limit of the worker (a reader asking for more gets MemoryError).
    grace_s : float
        Extra time before a worker that does not answer the alarm is killed (also covers the
        first import of a reader's libraries).
    """

    def __init__(self, timeout_s: float = 10.0, memory_mb: int = 4096, grace_s: float = 20.0) -> None:
        self.timeout_s, self.memory_mb, self.grace_s = timeout_s, memory_mb, grace_s
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Any = None
        self.restarts = 0

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child, self.timeout_s, self.memory_mb),
                                       daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def _stop(self, kill: bool) -> int | None:
        if self._proc is None:
            return None
        if kill:
            self._proc.kill()
        self._proc.join(5)
        code = self._proc.exitcode
        self._conn.close()
        self._proc = self._conn = None
        return code

    def close(self) -> None:
        """Stop the worker."""
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
            except OSError:
                pass
        self._stop(kill=False)

    def call(self, target: str, path: str, options: dict[str, Any] | None = None) -> Outcome:
        """Run ``target`` (a name in ``targets.TARGETS``) on ``path`` in the worker."""
        if self._proc is None or not self._proc.is_alive():
            if self._proc is not None:
                self._stop(kill=True)
                self.restarts += 1
            self._start()
        t0 = time.perf_counter()
        self._conn.send((target, str(path), dict(options or {})))
        if not self._conn.poll(self.timeout_s + self.grace_s):
            self._stop(kill=True)
            return Outcome("hang", f"no answer after {time.perf_counter() - t0:.0f} s (stuck in "
                           "compiled code; worker killed)", "", time.perf_counter() - t0)
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            code = self._stop(kill=False)
            why = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
            return Outcome("crash", f"the worker process died ({why})", "", time.perf_counter() - t0)


class MutantRunner:
    """Writes mutants to files and runs their reader in a :class:`Sandbox`.

    Each seed gets a folder in ``workdir`` that links the files beside the seed (HDF5 external
    links, multi-file data sets still resolve); the mutant is written under the seed's name.
    """

    def __init__(self, sandbox: Sandbox, workdir: str | Path | None = None) -> None:
        self.sandbox = sandbox
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="xpipe-fuzz-"))
        self._data: dict[str, bytes] = {}
        self._dirs: dict[str, Path] = {}

    def _folder(self, seed: Seed) -> Path:
        if seed.key not in self._dirs:
            folder = self.workdir / f"{len(self._dirs):04d}"
            folder.mkdir(parents=True, exist_ok=True)
            if seed.make is None and seed.path is not None:
                for sibling in seed.path.parent.iterdir():
                    if sibling.name != seed.path.name:
                        (folder / sibling.name).symlink_to(sibling)
            self._dirs[seed.key] = folder
        return self._dirs[seed.key]

    def mutant(self, m: Mutant) -> bytes:
        """The mutant's bytes."""
        if m.seed.key not in self._data:
            self._data[m.seed.key] = m.seed.data()
        data = self._data[m.seed.key]
        if m.seed.target == "recipe":
            return mutant_recipe(data.decode(), m.seed.key, m.kind, m.index)
        return mutant_bytes(data, m.seed.key, m.kind, m.index)

    def write(self, m: Mutant) -> str:
        """Write the mutant; returns the entry its reader takes (``path`` or ``path::dataset``)."""
        path = self._folder(m.seed) / Path(m.seed.name).name
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(self.mutant(m))
        os.replace(tmp, path)
        return str(path) + (f"::{m.seed.dataset}" if m.seed.dataset else "")

    def run(self, m: Mutant) -> Outcome:
        """Write the mutant and run its reader."""
        return self.sandbox.call(m.seed.target, self.write(m), dict(m.seed.options))
