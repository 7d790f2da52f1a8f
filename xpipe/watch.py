"""Live processing: ``xpipe watch`` follows an operando experiment while its files are written.

The recipe's ``xrd.frames`` (2D frames: single-frame files matched by a glob, or an HDF5 dataset
that grows along its first axis) or ``xrd.patterns`` (1D pattern files) are listed again at every
poll. A frame is handed to the stage's worker only once it is complete:

- a single-frame file when its size and modification time have not changed for ``settle_s``;
- a frame of an HDF5 stack once it has been inside the dataset for ``settle_s`` (the dataset
  length and the file's size and modification time are followed), or at once when the writer has
  closed the file. Files a writer holds open in SWMR mode are read as an SWMR reader;
- with a scan log giving the times, only once the frame has its row.

A frame that still cannot be read (or integrated) after that is tried again at later polls, and
recorded as failed, as ``xpipe run`` records it, only when it stays unreadable for
``retry_s`` (ten times the settle time by default).

Finished chunks go to the checkpoints the batch runner uses (``OUTDIR/.xpipe/<stage>``, items
keyed by :attr:`FrameRef.key`), so a restarted watch and ``xpipe run --resume`` continue where
the watch stopped, and no frame is processed twice. Every ``redraw_every`` new frames or
``redraw_s`` seconds, ``results.h5`` is rewritten (atomically) with the stack stage only, and the
contour map redrawn. On Ctrl-C, SIGTERM or after ``idle_timeout_s`` without a new frame, the
watch stops and assembles the complete results of the frames processed, as ``xpipe run`` does:
every stage of the recipe, figures and summary.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import runner
from .cache import FileHasher
from .executor import Executor, RunInterrupted, interruptible
from .io.frames import FrameRef, inputs_listing
from .recipe.model import LoadedRecipe, load_recipe
from .recipe.schema import Context
from .recipe.yamlio import load_yaml
from .stages.xrd_integrate import IntegrateStage
from .stages.xrd_patterns import PatternStage
from .stages.xrd_results import frames_table, plot_contour
from .store import CheckpointStore, FolderBusy, WriterLock, atomic_write_bytes, now_iso
from .watch_support import _KeptWorker, _Readiness, _stop_on_signals, _StopFlag, _Stopped

log = logging.getLogger("xpipe")


class WatchError(Exception):
    """The recipe or the output folder cannot be watched; the message says why.

    Parameters
    ----------
    message : str
        Why: nothing to watch, the folder busy, or checkpoints of another recipe there.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xps.yaml")
    >>> try:
    ...     Watch(loaded, pathlib.Path(tempfile.mkdtemp()))
    ... except WatchError as exc:
    ...     print(str(exc).split(":")[0])
    nvp_xps.yaml has no xrd.frames (2D frames) or xrd.patterns (1D pattern files)
    """


@dataclass
class WatchOptions:
    """How often to look, and when a file counts as complete (seconds throughout).

    Parameters
    ----------
    poll_s : float
        Time between looks at the files.
    settle_s : float
        A file is complete once its size and modification time are unchanged this long (a
        frame of an HDF5 stack once it has been in the dataset this long).
    redraw_every, redraw_s : int, float
        Update ``results.h5`` and the contour map every so many new frames, or seconds.
    idle_timeout_s : float
        Stop after this long without a new frame; 0 never.
    retry_s : float or None
        How long a frame may stay unreadable before it is recorded as failed (default ten
        times the larger of ``settle_s`` and ``poll_s``; see :attr:`retry_window_s`).
    heartbeat_s : float
        A status line at least this often.

    Examples
    --------
    >>> WatchOptions().retry_window_s, WatchOptions(settle_s=5.0).retry_window_s
    (20.0, 50.0)
    """

    poll_s: float = 1.0
    settle_s: float = 2.0
    redraw_every: int = 50
    redraw_s: float = 60.0
    idle_timeout_s: float = 600.0  # 0: never stop for lack of new frames
    retry_s: float | None = None  # default: 10 x max(settle_s, poll_s)
    heartbeat_s: float = 60.0

    @property
    def retry_window_s(self) -> float:
        return self.retry_s if self.retry_s is not None else 10.0 * max(self.settle_s, self.poll_s)


# ----------------------------------------------------------------------------- the recipe


def _watched_files(path: str | Path) -> str | list[str] | None:
    """The ``files`` value of the recipe's ``xrd.frames`` (or ``xrd.patterns``), read before the
    recipe is validated; None when there is none (validation then says what is wrong)."""
    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    xrd = data.get("xrd") if isinstance(data, dict) else None
    for key in ("frames", "patterns"):
        section = xrd.get(key) if isinstance(xrd, dict) else None
        files = section.get("files") if isinstance(section, dict) else None
        if isinstance(files, str) or (isinstance(files, list) and all(isinstance(f, str) for f in files)):
            return files
    return None


def load_live_recipe(path: str | Path) -> LoadedRecipe:
    """Load and validate a recipe for watching: everything is checked as for ``xpipe run``,
    except that its frames (or pattern files) are not listed, since they may not exist yet;
    the watch lists them at every poll.

    Parameters
    ----------
    path : str or Path
        The recipe file.

    Returns
    -------
    xpipe.recipe.model.LoadedRecipe

    Raises
    ------
    xpipe.recipe.schema.RecipeInvalid
        Like :func:`xpipe.load_recipe`, for any other problem.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "recipe.yaml").write_text("name: live\\noutput: out\\nxrd:\\n"
    ...     "  patterns: {files: 'p_*.xy', time_source: mtime}\\n")
    >>> load_live_recipe(folder / "recipe.yaml").recipe.xrd.patterns.files  # none written yet
    'p_*.xy'
    >>> try:
    ...     xpipe.load_recipe(folder / "recipe.yaml")
    ... except Exception as exc:
    ...     print(type(exc).__name__, "-", str(exc).splitlines()[-1].split(": ", 1)[1][:44])
    RecipeInvalid - xrd.patterns.files: no file matches 'p_*.xy'
    """
    files = _watched_files(path)
    if files is None:
        return load_recipe(path)
    with inputs_listing("deferred", files):
        return load_recipe(path)


def _watched_section(loaded: LoadedRecipe):
    """``(section, stage class)`` of what the watch follows; :class:`WatchError` if nothing."""
    xrd = loaded.recipe.xrd
    if xrd is not None and xrd.frames is not None:
        return xrd.frames, IntegrateStage
    if xrd is not None and xrd.patterns is not None:
        return xrd.patterns, PatternStage
    raise WatchError(
        f"{loaded.path.name} has no xrd.frames (2D frames) or xrd.patterns (1D pattern files): "
        "xpipe watch follows frames or patterns while they are written; run the other sections "
        "with xpipe run"
    )


# ----------------------------------------------------------------------------- the watch


class Watch:
    """One watch session; see the module documentation. :meth:`run` returns the final report.

    Used in a ``with`` block, which takes the output folder (one watch or run at a time) and
    continues the checkpoints found there if they come from this recipe.

    Parameters
    ----------
    loaded : xpipe.recipe.model.LoadedRecipe
        The recipe (:func:`load_live_recipe`), with ``xrd.frames`` or ``xrd.patterns``.
    outdir : Path
        The output folder.
    options : WatchOptions, optional
        Polling, settling, redrawing and stopping (the defaults of ``xpipe watch``).
    quiet : bool
        No status lines.

    Raises
    ------
    WatchError
        Nothing to watch in the recipe, the folder busy, or checkpoints of another recipe.

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "recipe.yaml").write_text("name: live\\noutput: out\\nxrd:\\n"
    ...     "  patterns: {files: 'p_*.xy', time_source: mtime}\\n  figures: {contour: false}\\n")
    >>> loaded = load_live_recipe(folder / "recipe.yaml")
    >>> x = np.linspace(10.0, 20.0, 201)
    >>> y = 100 + 900 * np.exp(-((x - 15) ** 2))
    >>> for i in range(3):  # three patterns arrive
    ...     np.savetxt(folder / f"p_{i}.xy", np.column_stack([x, y]))
    >>> from xpipe.executor import make_executor
    >>> options = WatchOptions(poll_s=0.01, settle_s=0.0, idle_timeout_s=0.05)  # stop when idle
    >>> with Watch(loaded, folder / "out", options, quiet=True) as session:
    ...     report = session.run(make_executor("serial"))
    >>> report.done, report.results.name, [f.name for f in report.files]
    (3, 'results.h5', ['xrd_frames.csv', 'summary.json', 'summary.md'])
    """

    def __init__(self, loaded: LoadedRecipe, outdir: Path, options: WatchOptions | None = None,
                 quiet: bool = False) -> None:
        self.loaded = loaded
        self.outdir = Path(outdir)
        self.work = self.outdir / ".xpipe"
        self.executor: Executor | None = None
        self._lock = None
        self.opt = options or WatchOptions()
        self.quiet = quiet
        self.section, self.stage_cls = _watched_section(loaded)
        self.name = self.stage_cls.name
        self.label = self.stage_cls.label
        self.base_dir = loaded.base_dir
        self.uses_log = self.section.scan_log is not None and self.section.time_source in ("auto", "scan_log")
        time_dataset = getattr(self.section, "hdf5_time_dataset", None)
        uses_hdf5_times = getattr(self.section, "time_source", None) in ("auto", "hdf5")
        self.readiness = _Readiness(self.opt.settle_s, time_dataset if uses_hdf5_times else None)
        self.stop = _StopFlag()
        self.refs: list[FrameRef] = []
        self.log_times: list | None = None
        self.done: set[str] = set()
        self.failed: dict[str, tuple[str, tuple[int, int] | None]] = {}  # key -> (reason, file signature)
        self.first_failure: dict[str, float] = {}
        self.retry_at: dict[str, float] = {}
        self.warned: set[str] = set()
        self.processed = 0  # frames with an outcome in this session
        self.busy_s = 0.0
        self.worker: _KeptWorker | None = None
        self.handed: dict[str, tuple[int, int] | None] = {}  # file -> (size, mtime) when handed on
        self.ck = CheckpointStore(self.work / self.name)
        self.seq = 0

    # -- setup

    def __enter__(self) -> Watch:
        """Take the output folder: one watch at a time, checkpoints of this recipe continued."""
        self.work.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(self.work, "xpipe watch")
        try:
            self._lock = lock.__enter__()
        except FolderBusy as exc:
            raise WatchError(str(exc)) from None
        try:
            self._open_store()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            self._lock.__exit__()
            self._lock = None

    def _open_store(self) -> None:
        """Continue the checkpoints in OUTDIR if they come from this recipe, else start them."""
        if self.ck.manifest() is None:
            self.ck.reset(runner.stage_manifest(self.loaded, None))
        else:
            try:
                runner.check_same_recipe(self.ck, self.loaded, self.outdir,
                                         hint="watch into another -o, or remove that folder to start afresh")
            except runner.ResumeError as exc:
                raise WatchError(str(exc)) from None
        self.done = self.ck.done_keys()
        self.seq = self.ck.next_sequence()

    # -- listing

    def _list(self) -> None:
        """List the frames as they are now; keep the last good list when that fails."""
        section = self.section
        missing = object()
        section._refs = missing
        if self.uses_log:
            section._log_times = missing
        try:
            with inputs_listing("missing_ok", section.files):
                problems = list(section.check(Context(base_dir=self.base_dir)))
            refs = section._refs
            times = section._log_times if self.uses_log else None
        finally:
            section._refs = self.refs
            if self.uses_log:
                section._log_times = self.log_times
        listed = refs is not missing
        log_ok = not self.uses_log or (listed and isinstance(times, list) and len(times) == len(refs))
        # a frame without its scan-log row yet waits for it; any other problem is reported
        problems = [(k, m) for k, m in problems if not (k == "scan_log" and log_ok)]
        if not listed or not log_ok or problems:
            for key, message in problems or [("files", "cannot list the frames")]:
                text = f"{self.section_key}.{key}: {message}"
                if text not in self.warned:
                    self.warned.add(text)
                    log.warning("%s (looking again at the next poll)", text)
            return
        self.refs = section._refs = refs
        self.log_times = times
        if self.uses_log:
            section._log_times = times

    @property
    def section_key(self) -> str:
        return "xrd.patterns" if self.name == "xrd.patterns" else "xrd.frames"

    def _use_refs(self, refs: list[FrameRef]) -> None:
        """Make ``refs`` the frames the recipe section (and stages built from it) hold."""
        self.section._refs = refs
        if self.uses_log:
            pos = {r.key: i for i, r in enumerate(self.refs)}
            self.section._log_times = [self.log_times[pos[r.key]] for r in refs]

    # -- processing

    def _pending(self, now: float) -> list[int]:
        ready = self.readiness.ready(self.refs, self.done, now)
        out = []
        for i, ref in enumerate(self.refs):
            key = ref.key
            if key not in ready or key in self.done or self.retry_at.get(key, 0.0) > now:
                continue
            if self.log_times is not None and self.log_times[i] is None:
                continue
            if key in self.failed:
                reason, sig = self.failed[key]
                if ref.dataset is not None or sig == self.readiness.signature(ref.path):
                    continue
                del self.failed[key]  # the file was written again: try it again
                self.first_failure.pop(key, None)
            out.append(i)
        return out

    def _process(self, pending: list[int]) -> int:
        """Hand ``pending`` to the executor; returns how many frames got an outcome."""
        refs = list(self.refs)
        keys = [r.key for r in refs]
        if self.worker is None:
            self.worker = _KeptWorker(self.stage_cls(self.loaded.recipe.xrd, self.base_dir).worker())
        self.worker.refs = refs
        for i in pending:
            self.handed[refs[i].path] = self.readiness.signature(refs[i].path)
        chunk = self.loaded.recipe.run.chunk_frames
        chunks = [pending[i : i + chunk] for i in range(0, len(pending), chunk)]
        outcome = [0]

        def on_result(indices: list[int], result: dict) -> None:
            now = time.monotonic()
            kept = []
            for index, reason in result.get("failures", []):
                key = keys[index]
                first = self.first_failure.setdefault(key, now)
                if now - first >= self.opt.retry_window_s:
                    kept.append((index, reason))
                    self.retry_at.pop(key, None)
                    self.failed[key] = (reason, self.readiness.signature(refs[index].path))
                    log.warning("failed: %s", reason)
                else:  # perhaps not complete yet after all: look again later
                    self.retry_at[key] = now + max(self.opt.settle_s, self.opt.poll_s)
                    log.debug("not readable yet, trying again later: %s", reason)
            result = {**result, "failures": kept}
            meta = result.get("meta", [])
            if meta or kept:
                self.ck.save(self.seq, keys, result)
                self.seq += 1
            for m in meta:
                key = keys[m["index"]]
                self.done.add(key)
                self.first_failure.pop(key, None)
                self.retry_at.pop(key, None)
                if m.get("sha256"):
                    self.worker.checksums.setdefault(refs[m["index"]].path, m["sha256"])
            outcome[0] += len(meta) + len(kept)
            if self.stop.is_set():
                raise _Stopped

        t0 = time.perf_counter()
        try:
            runner.run_chunks(self.worker, chunks, self.executor, on_result)
        finally:
            self.busy_s += time.perf_counter() - t0
            self.worker.release()
            self.processed += outcome[0]
        return outcome[0]

    # -- results

    def _finished_refs(self) -> list[FrameRef]:
        return [r for r in self.refs if r.key in self.done or r.key in self.failed]

    def _run_entry(self, started: str) -> dict:
        return {"stage": self.name, "mode": "watch", "started": started, "ended": now_iso(),
                "processed": self.processed, "workers": self.executor.workers,
                "executor": self.executor.describe(), "rate_per_s": round(self.rate, 3)}

    @property
    def rate(self) -> float:
        return self.processed / self.busy_s if self.busy_s > 0 else 0.0

    def _update(self, runs: list[dict], started: str) -> None:
        """Intermediate results: results.h5 with the stack stage only, the frames table and the
        contour map."""
        self._use_refs(self._finished_refs())
        stage = self.stage_cls(self.loaded.recipe.xrd, self.base_dir)
        report = runner.assemble(self.loaded, self.outdir, [stage], {stage.name: None},
                                 runs + [self._run_entry(started)], started, products=False,
                                 root_attrs={"xpipe_watch": "intermediate: the frames so far, "
                                             f"{self.name} stage only; complete when the watch stops"})
        frames_table(report.results, self.outdir / "xrd_frames.csv", self.base_dir)
        if self.loaded.recipe.xrd.figures.contour:
            plot_contour(report.results, self.outdir / "figures" / "xrd_contour.png", self.loaded.recipe.xrd.figures)
        log.info("updated %s and the contour map: %d %s", report.results, report.done, self.label)

    def _final(self, finished: list[FrameRef], runs: list[dict], started: str) -> runner.RunReport:
        """The complete results of the ``finished`` frames, as ``xpipe run`` makes them."""
        self._use_refs(finished)
        self._remember_checksums(finished)
        stages = runner.build_stages(self.loaded)
        hashes = runner.stage_hashes(stages, self.work, use_cache=True)
        manifest = self.ck.manifest() or runner.stage_manifest(self.loaded, None)
        if manifest.get("recipe_sha256") == self.loaded.sha256:
            # these checkpoints now hold exactly these frames: a later xpipe run on the same
            # files reuses them, one on more or changed files starts afresh (or --resume)
            manifest["stage_hash"] = hashes.get(self.name)
            atomic_write_bytes(self.ck.manifest_path, json.dumps(manifest, indent=1).encode())
        runs.append(self._run_entry(started))
        for st in stages:
            if st.name != self.name and st.keys():
                runner.process_stage(self.loaded, self.outdir, st, self.executor, digest=hashes[st.name],
                                     resume=False, quiet=self.quiet, runs=runs, started=started)
        return runner.assemble(self.loaded, self.outdir, stages, hashes, runs, started)

    def _remember_checksums(self, refs: list[FrameRef]) -> None:
        """Give the stage cache the checksums the workers computed of files that are unchanged
        since they were handed on, so the final assembly does not read every frame again."""
        known = self.worker.checksums if self.worker is not None else {}
        hasher = FileHasher(self.work / "file_hashes.json")
        added = 0
        for path in {r.path for r in refs if r.dataset is None}:
            sig, digest = self.handed.get(path), known.get(path)
            if sig is None or digest is None:
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if (st.st_size, st.st_mtime_ns) == sig:
                hasher.remember(path, st, digest)
                added += 1
        if added:
            hasher.save()

    # -- the loop

    def _status(self) -> str:
        keys = {r.key for r in self.refs}
        done = len(keys & self.done)
        failed = len(keys & set(self.failed))
        waiting = len(keys) - done - failed
        return (f"{len(keys)} {self.label} seen, {waiting} waiting, {done} done, {failed} failed; "
                f"{self.processed} in this session at {self.rate:.1f} {self.label}/s")

    def run(self, executor: Executor) -> runner.RunReport:
        """Watch until stopped (inside ``with``), with ``executor`` for every batch.

        The first SIGINT or SIGTERM stops the watch after the chunk at hand and assembles the
        results; a second one, or one while they are assembled, stops at once
        (:class:`xpipe.runner.RunInterrupted`, the finished chunks kept)."""
        if self._lock is None:
            raise RuntimeError("Watch.run() is called inside 'with Watch(...) as session:'")
        self.executor = executor
        runs = runner.load_runs(self.work)
        started = now_iso()
        files = self.section.files
        shown = files if isinstance(files, str) else ", ".join(files)
        log.info("watching %s -> %s (poll %g s, settle %g s, %s); %d %s already done; Ctrl-C to stop",
                 shown, self.outdir, self.opt.poll_s, self.opt.settle_s, self.executor.describe(),
                 len(self.done), self.label)
        try:
            with _stop_on_signals(self.stop):
                why = self._loop(runs, started)
            log.info("%s: %s", why, self._status())
            finished = self._finished_refs()
            if not finished:
                log.warning("no %s were processed; nothing was written", self.label)
                return runner.RunReport(outdir=self.outdir, results=None)
            log.info("assembling the complete results of %d %s", len(finished), self.label)
            with interruptible():  # a signal now stops at once
                return self._final(finished, runs, started)
        except RunInterrupted as exc:
            exc.report(f"; {len(self.done)} {self.label} done and kept: start xpipe watch again, "
                       "or xpipe run --resume")
            raise

    def _loop(self, runs: list[dict], started: str) -> str:
        """Look, process and redraw until stopped; returns why it stopped."""
        opt = self.opt
        last_activity = last_redraw = last_line = time.monotonic()
        since_redraw = 0
        while not self.stop.is_set():
            now = time.monotonic()
            n_before = len(self.refs)
            self._list()
            pending = self._pending(now)
            if pending or self.retry_at or self.readiness.changed or len(self.refs) != n_before:
                last_activity = now  # frames arrive, change, or are tried again
            idle = now - last_activity  # measured between looks, not across slow updates
            if opt.idle_timeout_s and idle >= opt.idle_timeout_s:
                return f"no new {self.label} for {opt.idle_timeout_s:g} s"
            if pending:
                try:
                    n = self._process(pending)
                except _Stopped:
                    break
                since_redraw += n
                if not self.quiet:
                    log.info("%s", self._status())
                    last_line = time.monotonic()
            now = time.monotonic()
            if since_redraw and (since_redraw >= opt.redraw_every or now - last_redraw >= opt.redraw_s):
                try:
                    self._update(runs, started)
                except Exception as exc:  # noqa: BLE001 - a quick look must not end the watch
                    log.warning("could not update the intermediate results: %s: %s", type(exc).__name__, exc)
                since_redraw = 0
                last_redraw = time.monotonic()
            if not self.quiet and time.monotonic() - last_line >= opt.heartbeat_s:
                log.info("%s; no new %s for %.0f s", self._status(), self.label, idle)
                last_line = time.monotonic()
            self.stop.sleep(opt.poll_s)
        return "stopped"


def watch(loaded: LoadedRecipe, outdir: Path, executor: Executor, options: WatchOptions | None = None,
          quiet: bool = False) -> runner.RunReport:
    """Follow the recipe's frames into ``outdir`` until stopped; returns the final report.

    Stopped by Ctrl-C, SIGTERM or ``options.idle_timeout_s`` without a new frame; the complete
    results of the frames processed are then assembled as ``xpipe run`` makes them.

    Parameters
    ----------
    loaded : xpipe.recipe.model.LoadedRecipe
        The recipe (:func:`load_live_recipe`), with ``xrd.frames`` or ``xrd.patterns``.
    outdir : Path
        The output folder.
    executor : Executor
        Where the frames are processed (left open).
    options : WatchOptions, optional
        Polling, settling, redrawing and stopping.
    quiet : bool
        No status lines.

    Returns
    -------
    xpipe.runner.RunReport
        ``results`` is None when no frame was processed.

    Raises
    ------
    WatchError
        The recipe has nothing to watch, another watch writes to ``outdir``, or the
        checkpoints there come from another version of the recipe.

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "recipe.yaml").write_text("name: live\\noutput: out\\nxrd:\\n"
    ...     "  patterns: {files: 'p_*.xy', time_source: mtime}\\n  figures: {contour: false}\\n")
    >>> loaded = load_live_recipe(folder / "recipe.yaml")
    >>> x = np.linspace(10.0, 20.0, 201)
    >>> y = 100 + 900 * np.exp(-((x - 15) ** 2))
    >>> for i in range(3):  # three patterns arrive
    ...     np.savetxt(folder / f"p_{i}.xy", np.column_stack([x, y]))
    >>> from xpipe.executor import make_executor
    >>> options = WatchOptions(poll_s=0.01, settle_s=0.0, idle_timeout_s=0.05)  # stop when idle
    >>> with make_executor("serial") as executor:
    ...     report = watch(loaded, folder / "out", executor, options, quiet=True)
    >>> report.done, report.failed, report.results.name
    (3, [], 'results.h5')
    """
    with Watch(loaded, outdir, options, quiet) as session:
        return session.run(executor)
