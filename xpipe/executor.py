"""Executors: run a worker over chunks of items, serially or in a pool of processes.

The runner hands a *worker* (an object with ``setup()`` and ``process(indices) -> dict``) and a
list of chunks to :func:`run_chunks`. With one worker everything happens in this process; with
more, each process builds its own worker once (one integrator per process) and chunks are handed
out with a bounded number in flight, so memory does not grow with the number of frames. Within a
worker, :func:`prefetched` overlaps reading/decoding the next items with processing this one.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any


def prefetched(load: Callable[[int], Any], indices: Iterable[int], depth: int = 2) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, load(index))`` in order, loading up to ``depth`` items ahead in a thread.

    Decoding (fabio, HDF5 filters) releases the GIL for much of its time, so it overlaps with the
    integration of the previous frame. ``depth`` bounds the frames held in memory.
    """
    indices = list(indices)
    if depth <= 0 or len(indices) <= 1:
        for i in indices:
            yield i, load(i)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def feed() -> None:
        for i in indices:
            if stop.is_set():
                return
            try:
                item = (i, load(i), None)
            except BaseException as exc:  # handed to the consumer, re-raised there
                item = (i, None, exc)
            q.put(item)

    t = threading.Thread(target=feed, name="xpipe-prefetch", daemon=True)
    t.start()
    try:
        for _ in indices:
            i, value, exc = q.get()
            if exc is not None:
                raise exc
            yield i, value
    finally:
        stop.set()
        while t.is_alive():  # unblock the feeder if the consumer stopped early
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


_WORKER: Any = None


def _init_worker(worker: Any, threads: int) -> None:
    """Runs in each pool process: cap its OpenMP threads, set the worker up unless inherited ready.

    ``OMP_NUM_THREADS`` is read only when an OpenMP runtime starts; in a forked child the
    parent's runtime is already running, so the cap is applied through threadpoolctl, which
    calls ``omp_set_num_threads`` on every runtime loaded in the process.
    """
    global _WORKER
    _exit_with_parent()
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


def run_chunks(
    worker: Any,
    chunks: list[list[int]],
    workers: int,
    on_result: Callable[[list[int], dict], None],
) -> None:
    """Process ``chunks`` with ``workers`` processes, calling ``on_result(chunk, result)`` in this
    process as each one finishes (completion order with several workers).

    With several workers on a platform that forks, the worker is set up and warmed up here
    (``warm_up()``, e.g. building the integration engine) before the pool starts, so every
    process shares that one engine copy-on-write instead of building its own.
    """
    if not chunks:
        return
    workers = min(workers, len(chunks))
    if workers <= 1:
        worker.setup()
        for chunk in chunks:
            on_result(chunk, worker.process(chunk))
        return
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    if ctx.get_start_method() == "fork":
        worker.setup()
        getattr(worker, "warm_up", lambda: None)()
        worker.ready = True
    threads = max(1, (os.cpu_count() or 1) // workers)
    with warnings.catch_warnings():
        # Processes fork on submit. The parent's only other threads are idle OpenMP workers
        # (from warm_up), which hold no Python locks; libgomp starts fresh ones in the child.
        warnings.filterwarnings("ignore", message=".*multi-threaded, use of fork.*", category=DeprecationWarning)
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(worker, threads)) as pool:
            pending = iter(chunks)
            in_flight = {}
            for chunk in pending:
                in_flight[pool.submit(_process, chunk)] = chunk
                if len(in_flight) >= 2 * workers:
                    break
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in done:
                    chunk = in_flight.pop(fut)
                    on_result(chunk, fut.result())
                    nxt = next(pending, None)
                    if nxt is not None:
                        in_flight[pool.submit(_process, nxt)] = nxt
