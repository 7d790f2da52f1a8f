"""Reading ahead: the next items load in a thread while this one is processed."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def prefetched(load: Callable[[int], Any], indices: Iterable[int], depth: int = 2,
               threads: int = 1) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, load(index))`` in order, loading up to ``depth`` items ahead in a thread.

    Decoding (fabio, HDF5 filters) releases the GIL for much of its time, so it overlaps with the
    integration of the previous frame. ``depth`` bounds the frames held in memory.

    Parameters
    ----------
    load : callable
        ``load(index)``: reads one item. An exception it raises is re-raised by the generator
        when that item's turn comes.
    indices : iterable of int
        The items, in the order they are yielded.
    depth : int
        Items loaded ahead at most; 0 (or a single item) loads each in turn, without a thread.
    threads : int
        Threads that load at once (for a consumer faster than one loader, e.g. a GPU); the
        items still come out in order, and at most ``max(depth, threads)`` are held ahead.

    Returns
    -------
    iterator of (int, object)
        Each index with what ``load`` returned for it, in the order of ``indices``.

    Examples
    --------
    >>> [(i, v) for i, v in prefetched(lambda i: i * i, [3, 1, 2])]
    [(3, 9), (1, 1), (2, 4)]
    >>> [i for i, _ in prefetched(lambda i: i, range(6), depth=4, threads=3)]
    [0, 1, 2, 3, 4, 5]
    >>> next(prefetched(lambda i: 1 / i, [0, 1]))
    Traceback (most recent call last):
    ...
    ZeroDivisionError: division by zero
    """
    indices = list(indices)
    if depth <= 0 or len(indices) <= 1:
        for i in indices:
            yield i, load(i)
        return
    if threads > 1:
        yield from _pooled(load, indices, max(depth, threads), threads)
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


def _pooled(load: Callable[[int], Any], indices: list[int], depth: int, threads: int) -> Iterator[tuple[int, Any]]:
    """:func:`prefetched` with ``threads`` loaders: a window of ``depth`` items in flight."""
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="xpipe-prefetch")
    window: deque = deque()
    todo = iter(indices)
    try:
        for i in todo:
            window.append((i, pool.submit(load, i)))
            if len(window) >= depth:
                break
        while window:
            i, fut = window.popleft()
            nxt = next(todo, None)
            if nxt is not None:
                window.append((nxt, pool.submit(load, nxt)))
            yield i, fut.result()
    finally:
        for _, fut in window:
            fut.cancel()
        pool.shutdown(wait=True)
