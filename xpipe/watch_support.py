"""What ``xpipe watch`` (:mod:`xpipe.watch`) needs besides its session: when a listed frame is
complete, the stage's worker kept across batches, and stopping on a signal between chunks."""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from .executor import interruptible
from .io.frames import FrameRef, hdf5_closed, hdf5_length, series_offsets

log = logging.getLogger("xpipe")


# ----------------------------------------------------------------------------- readiness


class _Readiness:
    """Which listed frames are complete: files unchanged for ``settle_s``, frames of growing
    HDF5 datasets inside the dataset for ``settle_s`` (or the file closed by its writer)."""

    def __init__(self, settle_s: float, time_dataset: str | None) -> None:
        self.settle_s = settle_s
        self.time_dataset = time_dataset
        # path -> ((size, mtime), when first seen)
        self.files: dict[str, tuple[tuple[int, int], float]] = {}
        # (path, dataset) -> [(when first seen, length)]
        self.growth: dict[tuple[str, str], list[tuple[float, int]]] = {}
        self.changed = False  # whether the last look found anything new or changed

    def signature(self, path: str) -> tuple[int, int] | None:
        entry = self.files.get(path)
        return entry[0] if entry else None

    def _settled(self, path: str, now: float) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            self.files.pop(path, None)
            return False
        sig = (st.st_size, st.st_mtime_ns)
        old = self.files.get(path)
        if old is None or old[0] != sig:
            self.files[path] = (sig, now)
            self.changed = True
            return st.st_size > 0 and self.settle_s <= 0
        return st.st_size > 0 and now - old[1] >= self.settle_s

    def ready(self, refs: list[FrameRef], skip: set[str], now: float) -> set[str]:
        """Keys of the complete frames among ``refs``, those in ``skip`` (done) left out."""
        self.changed = False
        ready: set[str] = set()
        stacks: dict[tuple[str, str], list[FrameRef]] = {}
        lengths: dict[tuple[str, str], int] = {}
        for ref in refs:
            if ref.dataset is not None:
                where = (ref.path, ref.dataset)
                lengths[where] = max(lengths.get(where, 0), (ref.index or 0) + 1)
                if ref.key not in skip:
                    stacks.setdefault(where, []).append(ref)
            elif ref.key not in skip and self._settled(ref.path, now):
                ready.add(ref.key)
        for (path, dataset), members in stacks.items():
            n = lengths[(path, dataset)]
            history = self.growth.setdefault((path, dataset), [])
            if history and n < history[-1][1]:  # the file was written anew
                history.clear()
            if not history or n > history[-1][1]:
                history.append((now, n))
                self.changed = True
            limit = max((length for seen, length in history if now - seen >= self.settle_s),
                        default=0)
            settled = self._settled(path, now)
            if limit < n and (settled or hdf5_closed(path)):
                limit = n
            if limit and self.time_dataset:  # a frame's time is written after the frame
                # the time dataset counts the whole series; an Eiger data_00000N part starts
                # further on in it
                try:
                    first = series_offsets(path, [dataset]).get(dataset, 0)
                    limit = min(limit, (hdf5_length(path, self.time_dataset) or 0) - first)
                except (OSError, ValueError):  # not readable just now: next poll
                    limit = 0
            ready.update(r.key for r in members if (r.index or 0) < limit)
        return ready


# ----------------------------------------------------------------------------- the worker


class _KeptWorker:
    """The stage's worker, set up once in this process and kept for every batch of the watch.

    File checksums already known travel with it, so fresh worker processes do not read a
    growing HDF5 file whole again for its checksum at every batch.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.checksums: dict[str, str] = {}
        self._set_up = False

    @property
    def refs(self) -> list[FrameRef]:
        return self.inner.refs

    @refs.setter
    def refs(self, refs: list[FrameRef]) -> None:
        self.inner.refs = refs

    def setup(self) -> None:
        if not self._set_up:
            self.inner.setup()
            self._set_up = True
        known = getattr(self.inner, "_checksums", None)
        if isinstance(known, dict):
            for path, digest in self.checksums.items():
                known.setdefault(path, digest)

    @property
    def fork_safe(self) -> bool:
        return getattr(self.inner, "fork_safe", True)

    def warm_up(self) -> None:
        getattr(self.inner, "warm_up", lambda: None)()

    def process(self, indices: list[int]) -> dict:
        return self.inner.process(indices)

    def release(self) -> None:
        """Close the files the worker keeps open here, so that writers can reopen them and the
        next batch sees them as they are now."""
        reader = getattr(self.inner, "reader", None)
        if reader is not None:
            reader.close()

    def __getstate__(self) -> dict:
        """A copy sent to a spawned process or a Dask worker sets itself up there."""
        return {"inner": self.inner, "checksums": self.checksums, "_set_up": False}


class _Stopped(Exception):
    """Raised between chunks once a stop was asked for."""


class _StopFlag:
    """Set from a signal handler (so no locks), looked at between polls and chunks."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._set and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))


# ----------------------------------------------------------------------------- stopping


class _stop_on_signals(interruptible):
    """SIGINT (Ctrl-C) and SIGTERM ask the watch to stop after the chunk at hand; a second one
    stops at once (:class:`xpipe.executor.RunInterrupted`; finished chunks are kept)."""

    def __init__(self, stop: _StopFlag) -> None:
        def first(signum: int) -> None:
            stop.set()
            log.warning("%s: stopping after the chunk at hand, then assembling the results "
                        "(again to stop at once)", signal.Signals(signum).name)

        super().__init__(on_first=first)
