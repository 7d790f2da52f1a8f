"""Executors: run a worker over chunks of items, serially, in local processes, or on Dask.

A stage hands the runner a *worker* (an object with ``setup()`` and ``process(indices) -> dict``,
picklable before ``setup``) and the runner hands it, with a list of chunks of item indices, to one
:class:`Executor`. Every executor calls ``on_result(chunk, result)`` in the calling process once per
chunk, as chunks finish, and keeps a bounded number of chunks in flight so memory does not grow with
the number of items:

- :class:`SerialExecutor`: everything in this process.
- :class:`ProcessExecutor`: a pool of local processes; on platforms that fork, the worker is set
  up and warmed up once (e.g. the integration engine built) and shared copy-on-write. A worker
  whose ``fork_safe`` is False (one on an OpenCL device) is set up in each process, started
  with 'spawn'.
- :class:`DaskExecutor`: a Dask distributed cluster, given by a scheduler address or started
  here as a ``LocalCluster``. The worker object travels once to each Dask worker, which sets it
  up once and then reads its own items (frame files) by path; only the small per-chunk results
  (1D patterns, fitted numbers) come back through the scheduler.

Each chunk's result depends only on its items and the worker's settings, so every executor gives
the same numbers as serial processing.

Within a worker, :func:`xpipe.io.prefetch.prefetched` overlaps reading/decoding the next items with processing this
one.

Stopping: inside :class:`interruptible`, SIGINT and SIGTERM raise :class:`RunInterrupted` in this
process. A chunk being handed to ``on_result`` (its checkpoint being saved) is finished first, the
chunks that came back meanwhile are handed on too, and the executor's workers are stopped; the
workers themselves ignore both signals (Ctrl-C reaches the whole process group, a batch scheduler
signals every process of the job), so they never print a traceback of their own.
"""


from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("xpipe")

_WORKER: Any = None


def _init_worker(worker: Any, threads: int) -> None:
    """Runs in each pool process: cap its OpenMP threads, set the worker up unless inherited ready.

    ``OMP_NUM_THREADS`` is read only when an OpenMP runtime starts; in a forked child the
    parent's runtime is already running, so the cap is applied through threadpoolctl, which
    calls ``omp_set_num_threads`` on every runtime loaded in the process.
    """
    global _WORKER
    _exit_with_parent()
    # Ctrl-C in a terminal reaches the whole process group, and a batch scheduler signals every
    # process of the job; the run in the parent decides what to do (keep the finished chunks,
    # then stop the workers), so a worker does not die of either on its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="openmp")
    _WORKER = worker
    if not getattr(worker, "ready", False):
        worker.setup()


def _exit_with_parent(poll_s: float = 0.5) -> None:
    """End this worker when the run that started it is gone (e.g. killed with SIGKILL), instead
    of waiting forever on its task queue."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="xpipe-parent-watch", daemon=True).start()


def _process(indices: list[int]) -> dict:
    return _WORKER.process(indices)


class Executor:
    """Runs ``worker.process`` over chunks; see the module documentation.

    The base of every executor: :meth:`map` hands each chunk's result to ``on_result`` in
    this process; :meth:`close` (or the end of a ``with`` block) releases what it holds.

    Examples
    --------
    >>> with SerialExecutor() as ex:
    ...     isinstance(ex, Executor), ex.describe()
    (True, 'serial, 1 worker(s)')
    """

    name = "executor"
    workers = 1

    def map(self, worker: Any, chunks: list[list[int]], on_result: OnResult) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name}, {self.workers} worker(s)"

    def close(self) -> None:
        """Release what the executor holds (pools, cluster connections)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


OnResult = Callable[[list[int], dict], None]


class SerialExecutor(Executor):
    """Every chunk in this process, in order.

    Examples
    --------
    >>> class Squares:  # a worker: set up once, then one call per chunk of item indices
    ...     def setup(self):
    ...         self.ready = True
    ...     def process(self, indices):
    ...         return {"sum": sum(i * i for i in indices)}
    >>> results = []
    >>> SerialExecutor().map(Squares(), [[0, 1], [2, 3]], lambda c, r: results.append((c, r)))
    >>> results
    [([0, 1], {'sum': 1}), ([2, 3], {'sum': 13})]
    """

    name = "serial"

    def map(self, worker: Any, chunks: list[list[int]], on_result: OnResult) -> None:
        if not chunks:
            return
        if not getattr(worker, "ready", False):
            worker.setup()
        for chunk in chunks:
            _hand_on(on_result, chunk, worker.process(chunk))


class ProcessExecutor(Executor):
    """A pool of ``workers`` local processes, started for each stage and ended after it.

    Parameters
    ----------
    workers : int, optional
        Pool size (default: one per CPU core); never more than there are chunks, and a
        single chunk or worker runs in this process.

    Examples
    --------
    >>> class Squares:  # a worker: set up once, then one call per chunk of item indices
    ...     def setup(self):
    ...         self.ready = True
    ...     def process(self, indices):
    ...         return {"sum": sum(i * i for i in indices)}
    >>> ex = ProcessExecutor(4)
    >>> ex.describe()
    'processes, 4 worker(s)'
    >>> results = []
    >>> ex.map(Squares(), [[1, 2, 3]], lambda c, r: results.append(r))  # one chunk: no pool
    >>> results
    [{'sum': 14}]
    """

    name = "processes"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def map(self, worker: Any, chunks: list[list[int]], on_result: OnResult) -> None:
        if not chunks:
            return
        workers = min(self.workers, len(chunks))
        if workers <= 1:
            SerialExecutor().map(worker, chunks, on_result)
            return
        # Forked processes share the engine built here once. A worker that is not fork-safe
        # (one integrating on an OpenCL device) is set up in each process instead, started
        # with 'spawn': an OpenCL context does not survive a fork.
        methods = multiprocessing.get_all_start_methods()
        fork = "fork" in methods and getattr(worker, "fork_safe", True)
        ctx = multiprocessing.get_context("fork" if fork else "spawn")
        if fork:
            worker.setup()
            getattr(worker, "warm_up", lambda: None)()
            worker.ready = True
        threads = max(1, (os.cpu_count() or 1) // workers)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(worker, threads))
        started = [0]

        def submit(chunk: list[int]):
            started[0] += 1
            if started[0] > workers:
                return pool.submit(_process, chunk)
            # the first submits start the processes: they are born ignoring Ctrl-C
            with _sigint_ignored(), warnings.catch_warnings():
                # The parent's only other threads are idle OpenMP workers (from warm_up), which
                # hold no Python locks; libgomp starts fresh ones in the child.
                warnings.filterwarnings("ignore", message=".*multi-threaded, use of fork.*",
                                        category=DeprecationWarning)
                return pool.submit(_process, chunk)

        try:
            _bounded(submit, chunks, 2 * workers, on_result,
                     lambda futs: wait(futs, return_when=FIRST_COMPLETED)[0])
        except BaseException:
            _stop_pool(pool)  # at once, not after the chunks still in flight
            raise
        pool.shutdown(wait=True)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """End a pool's processes now, dropping the chunks they were working on."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.kill()  # they ignore SIGTERM (see _init_worker)
    for proc in processes:
        proc.join(timeout=5)
    if manager is not None:
        # the pool's thread ends once it sees them gone; until it has, the interpreter's exit
        # may wake it through a pipe it is closing (a traceback, before Python 3.12)
        manager.join(timeout=10)


class DaskExecutor(Executor):
    """Chunks as tasks on a Dask distributed cluster.

    ``address`` ('tcp://host:8786', or the JSON file written by ``dask scheduler
    --scheduler-file``) connects to a running scheduler; otherwise ``local_workers``
    processes are started here as a ``LocalCluster`` listening on the loopback interface only
    (one thread each, dashboard off), and stopped by :meth:`close`.

    Parameters
    ----------
    address : str, optional
        Scheduler address or scheduler file; None starts a local cluster.
    local_workers : int, optional
        Processes of the local cluster (default: one per CPU core).
    timeout_s : float
        How long to wait for the scheduler, s.

    Raises
    ------
    ExecutorError
        When ``distributed`` is missing or the scheduler cannot be reached.

    Examples
    --------
    >>> DaskExecutor.name, issubclass(DaskExecutor, Executor)  # starting one needs a cluster
    ('dask', True)
    """

    name = "dask"

    def __init__(self, address: str | None = None, local_workers: int | None = None,
                 timeout_s: float = 30.0) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - a dependency of xpipe
            raise ExecutorError("Dask execution needs the 'distributed' package (pip install 'dask[distributed]')") from exc
        self.address = address
        self._cluster = None
        # OpenMP threads per task: Dask starts its worker processes with OMP_NUM_THREADS=1. On a
        # cluster of our own, the machine's cores are shared out as the process pool does; on
        # a cluster given by address, its workers' own settings stand.
        self.omp_threads: int | None = None
        try:
            if address is None:
                n = max(1, local_workers or os.cpu_count() or 1)
                self.omp_threads = max(1, (os.cpu_count() or 1) // n)
                with _sigint_ignored():  # inherited by the worker processes the nannies start
                    self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                 host="127.0.0.1", dashboard_address=None)
                self.client = Client(self._cluster, timeout=timeout_s)
            elif is_scheduler_file(address):
                self.client = Client(scheduler_file=address, timeout=timeout_s)
            else:
                self.client = Client(address, timeout=timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            where = f"the scheduler at {address}" if address else "a local Dask cluster"
            raise ExecutorError(f"cannot connect to {where}: {exc}") from exc
        info = self.client.scheduler_info()
        self.workers = max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
        if address is not None and not info.get("workers"):
            log.warning("the scheduler at %s has no workers yet; tasks wait until one joins", address)

    def describe(self) -> str:
        where = self.address or f"local cluster {self.client.scheduler.address}"
        return f"dask ({where}), {self.workers} worker thread(s)"

    def map(self, worker: Any, chunks: list[list[int]], on_result: OnResult) -> None:
        if not chunks:
            return
        from distributed import wait as dask_wait

        # The worker (settings and item list, not data) travels once to every Dask worker.
        remote = self.client.scatter(worker, broadcast=True, hash=False)
        try:
            _bounded(lambda chunk: self.client.submit(_dask_process, remote, chunk, self.omp_threads, pure=False),
                     chunks, 2 * self.workers, on_result,
                     lambda futs: dask_wait(list(futs), return_when="FIRST_COMPLETED").done)
        finally:
            self.client.cancel([remote])

    def close(self) -> None:
        client, cluster = getattr(self, "client", None), self._cluster
        self.client = None
        self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT here while processes are started, so that they ignore it too (an ignored
    signal stays ignored across exec, and Python then installs no KeyboardInterrupt handler):
    Ctrl-C reaches the whole process group, and only this process should act on it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by a signal (SIGINT, SIGTERM); the chunks finished before it are kept. A
    ``KeyboardInterrupt``, so that what stops on Ctrl-C stops on it too.

    Parameters
    ----------
    signum : int
        The signal, kept as ``signal``; ``exit_code`` is 128 + its number, as a shell says.
    message : str, optional
        What was kept and what to do (default: ``interrupted by <signal>``); ``logged`` says
        whether :meth:`report` logged it already.

    Examples
    --------
    >>> exc = RunInterrupted(signal.SIGTERM)
    >>> str(exc), exc.signal.name, exc.exit_code, isinstance(exc, KeyboardInterrupt)
    ('interrupted by SIGTERM', 'SIGTERM', 143, True)
    """

    def __init__(self, signum: int, message: str | None = None) -> None:
        self.signal = signal.Signals(signum)
        self.logged = False
        super().__init__(message or f"interrupted by {self.signal.name}")

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signal)

    def report(self, detail: str) -> None:
        """Log one line, ``interrupted by <signal>`` and ``detail`` (what was kept, what to do),
        which becomes the message; only the first call of an interruption does anything."""
        if self.logged:
            return
        self.logged = True
        self.args = (f"interrupted by {self.signal.name}{detail}",)
        log.warning("%s", self.args[0])


class _Shield:
    """While ``depth`` > 0 a chunk is being handed on; a signal then waits in ``pending``."""

    depth = 0
    pending: int | None = None


class interruptible:
    """While inside, SIGINT and SIGTERM raise :class:`RunInterrupted` (in the main thread; in
    another thread nothing changes). The handlers found are put back at the exit.

    A chunk being handed to ``on_result`` by an executor is finished first (its checkpoint
    saved whole), and the exception comes right after it. Forked worker processes inherit the
    handler, which does nothing there: the process that entered decides.

    Parameters
    ----------
    on_first : callable, optional
        Called with the signal's number instead of raising, for the first signal only (a watch
        stops after the chunk at hand); a second one raises.

    Examples
    --------
    >>> import os
    >>> before = signal.getsignal(signal.SIGTERM)
    >>> try:
    ...     with interruptible():
    ...         os.kill(os.getpid(), signal.SIGTERM)  # what a batch scheduler sends
    ...         for _ in range(10**6):  # the handler runs between two lines of Python
    ...             pass
    ... except RunInterrupted as exc:
    ...     print(exc, exc.exit_code)
    interrupted by SIGTERM 143
    >>> signal.getsignal(signal.SIGTERM) is before  # put back
    True
    """

    def __init__(self, on_first: Callable[[int], None] | None = None) -> None:
        self.on_first = on_first
        self.old: dict[int, Any] = {}
        self.pid = os.getpid()

    def _handle(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.pid:  # a forked worker before its own set-up: not its call
            return
        if self.on_first is not None:
            first, self.on_first = self.on_first, None
            first(signum)
            return
        if _Shield.depth:
            _Shield.pending = signum
            return
        raise RunInterrupted(signum)

    def __enter__(self) -> interruptible:
        if threading.current_thread() is threading.main_thread():
            self.pid = os.getpid()
            _Shield.pending = None
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self.old.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)
        self.old = {}


def _hand_on(on_result: OnResult, chunk: list[int], result: dict) -> None:
    """``on_result(chunk, result)``, not cut short by a signal of :class:`interruptible`: one
    arriving meanwhile raises :class:`RunInterrupted` once it has returned (or raised)."""
    _Shield.depth += 1
    try:
        on_result(chunk, result)
    finally:
        _Shield.depth -= 1
        if not _Shield.depth and _Shield.pending is not None:
            signum, _Shield.pending = _Shield.pending, None
            raise RunInterrupted(signum)  # the signal wins over what on_result raised


def is_scheduler_file(address: str) -> bool:
    """A scheduler given by the file ``dask scheduler --scheduler-file`` writes, not a URL.

    Parameters
    ----------
    address : str
        The ``run.scheduler`` setting or ``--scheduler`` argument.

    Returns
    -------
    bool
        True for a JSON file name, False for an address such as ``tcp://host:8786``.

    Examples
    --------
    >>> is_scheduler_file("scheduler.json"), is_scheduler_file("tcp://10.0.0.5:8786")
    (True, False)
    """
    return "://" not in address and address.lower().endswith(".json")


class ExecutorError(Exception):
    """The executor asked for cannot be used (no scheduler, bad setting).

    Parameters
    ----------
    message : str
        What cannot be used and why.

    Examples
    --------
    >>> try:
    ...     raise ExecutorError("cannot connect to the scheduler at tcp://10.0.0.5:8786")
    ... except ExecutorError as exc:
    ...     print(exc)
    cannot connect to the scheduler at tcp://10.0.0.5:8786
    """


def _bounded(submit: Callable[[list[int]], Any], chunks: list[list[int]], depth: int,
             on_result: OnResult, wait_some: Callable[[Any], Iterable[Any]]) -> None:
    """Keep at most ``depth`` chunks in flight; hand each result on as its chunk finishes."""
    pending = iter(chunks)
    in_flight: dict[Any, list[int]] = {}
    try:
        for chunk in pending:
            in_flight[submit(chunk)] = chunk
            if len(in_flight) >= depth:
                break
        while in_flight:
            for fut in wait_some(in_flight.keys()):
                chunk = in_flight.pop(fut)
                _hand_on(on_result, chunk, fut.result())
                nxt = next(pending, None)
                if nxt is not None:
                    in_flight[submit(nxt)] = nxt
    except KeyboardInterrupt:
        # stopped: the chunks that came back meanwhile are handed on (their checkpoints kept)
        for fut, chunk in list(in_flight.items()):
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                del in_flight[fut]
                _hand_on(on_result, chunk, fut.result())
        raise
    finally:
        for fut in in_flight:
            fut.cancel()


_DASK_LOCK = threading.Lock()
_OMP_SET: set[int] = set()  # task threads whose OpenMP thread count is set


def _dask_process(worker: Any, indices: list[int], omp_threads: int | None = None) -> dict:
    """Runs on a Dask worker: set the (scattered, per-process) worker up once, then process.

    With ``omp_threads``, OpenMP code called from this task thread uses that many threads:
    ``OMP_NUM_THREADS`` counts for a runtime not loaded yet (the worker's setup loads it), and
    the thread's own setting, made once in each thread that runs tasks, for one already loaded.
    """
    with _DASK_LOCK:
        if not getattr(worker, "ready", False):
            if omp_threads:
                os.environ["OMP_NUM_THREADS"] = str(omp_threads)
            worker.setup()
            worker.ready = True
    if omp_threads and threading.get_ident() not in _OMP_SET:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=omp_threads, user_api="openmp")
        _OMP_SET.add(threading.get_ident())
    return worker.process(indices)


def make_executor(kind: str = "processes", workers: int | None = None, scheduler: str | None = None,
                  dask_local: int | None = None) -> Executor:
    """The executor for a run: ``scheduler`` or ``dask_local`` choose Dask, else ``kind``.

    Parameters
    ----------
    kind : {'processes', 'serial', 'dask'}
        The ``run.executor`` setting.
    workers : int, optional
        Worker processes (1 or fewer: serial).
    scheduler : str, optional
        A Dask scheduler address or scheduler file.
    dask_local : int, optional
        Processes of a local Dask cluster.

    Returns
    -------
    Executor
        Not started yet for local processes (the pool starts in :meth:`Executor.map`); a
        Dask executor is connected.

    Examples
    --------
    >>> make_executor("serial").describe(), make_executor("processes", workers=1).name
    ('serial, 1 worker(s)', 'serial')
    >>> make_executor("processes", workers=3).describe()
    'processes, 3 worker(s)'
    """
    if scheduler:
        return DaskExecutor(address=scheduler)
    if dask_local:
        return DaskExecutor(local_workers=dask_local)
    if kind == "serial" or (workers is not None and workers <= 1):
        return SerialExecutor()
    if kind == "dask":
        return DaskExecutor(local_workers=workers)
    return ProcessExecutor(workers)


def run_chunks(worker: Any, chunks: list[list[int]], executor: Executor | int, on_result: OnResult) -> None:
    """Process ``chunks`` with ``executor`` (or a number of local processes), calling
    ``on_result(chunk, result)`` in this process as each one finishes.

    Parameters
    ----------
    worker : Any
        Has ``setup()`` and ``process(indices) -> dict``; picklable before ``setup``.
    chunks : list of list of int
        Item indices, one list per chunk.
    executor : Executor or int
        The executor, or a number of local processes.
    on_result : callable
        Called as ``on_result(chunk, result)`` once per chunk, in the order chunks finish.

    Returns
    -------
    None

    Examples
    --------
    >>> class Squares:  # a worker: set up once, then one call per chunk of item indices
    ...     def setup(self):
    ...         self.ready = True
    ...     def process(self, indices):
    ...         return {"sum": sum(i * i for i in indices)}
    >>> totals = {}
    >>> run_chunks(Squares(), [[0, 1, 2], [3]], SerialExecutor(),
    ...            lambda chunk, result: totals.update({chunk[0]: result["sum"]}))
    >>> totals
    {0: 5, 3: 9}
    """
    if isinstance(executor, int):
        executor = make_executor("processes", executor)
    executor.map(worker, chunks, on_result)
