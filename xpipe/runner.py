"""The runner: orders stages, hands chunks to the executor, checkpoints, assembles results.

It knows nothing about diffraction or spectroscopy. A stage provides its item keys, a worker,
and a ``write`` that turns the checkpoints into its part of the results file; the runner does
validation, resume, progress, failure accounting, the atomic results file and provenance.
A stage with no keys is a whole-stack stage: it does its work in ``write``, on what the
stages before it have written into the results being assembled.
"""

from __future__ import annotations

import os
from pathlib import Path

from .executor import Executor, RunInterrupted, interruptible, make_executor, run_chunks
from .recipe.model import LoadedRecipe
from .run_steps import (
    RESULTS_NAME,
    ResumeError,
    RunReport,
    assemble,
    check_resumable,
    check_same_recipe,
    load_runs,
    process_stage,
    stage_hashes,
    stage_manifest,
)
from .stages import registry
from .stages.base import Stage
from .store import CheckpointStore, WriterLock, now_iso

#: what a run is made of; the steps and the results record are defined in :mod:`xpipe.run_steps`
__all__ = ["RESULTS_NAME", "ResumeError", "RunInterrupted", "RunReport", "assemble", "build_stages",
           "check_resumable", "check_same_recipe", "executor_for", "load_runs", "output_dir",
           "process_stage", "run", "run_chunks", "stage_hashes", "stage_manifest"]


def build_stages(loaded: LoadedRecipe) -> list[Stage]:
    """The stages of a loaded recipe, in run order (see :mod:`xpipe.stages.registry`).

    Parameters
    ----------
    loaded : xpipe.recipe.model.LoadedRecipe
        The recipe and its folder.

    Returns
    -------
    list of Stage

    Examples
    --------
    >>> import pathlib, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_full.yaml")
    >>> [s.name for s in build_stages(loaded)]
    ['xrd.integrate', 'xrd_phases', 'xas', 'xps', 'echem', 'timeline']
    """
    return registry.build_stages(loaded.recipe, loaded.base_dir)


def _workers(cfg, workers: int | None) -> int:
    w = workers or cfg.workers
    return (os.cpu_count() or 1) if w == "auto" else int(w)


def executor_for(cfg, workers: int | None = None, scheduler: str | None = None,
                 dask_local: int | None = None) -> Executor:
    """The executor a run uses: command-line choices first, then the recipe's ``run`` section.

    Parameters
    ----------
    cfg : xpipe.recipe.sections.run.RunConfig
        The recipe's ``run`` section (executor, workers, scheduler).
    workers : int, optional
        Local worker processes (1: serial in this process).
    scheduler : str, optional
        Address of a Dask scheduler to run the chunks on.
    dask_local : int, optional
        Workers of a Dask cluster started on this machine.

    Returns
    -------
    Executor
        Not started yet; use it in a ``with`` block, which closes it.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xps.yaml")
    >>> with executor_for(loaded.recipe.run, workers=1) as ex:
    ...     ex.describe()
    'serial, 1 worker(s)'
    """
    if scheduler or dask_local:
        return make_executor(scheduler=scheduler, dask_local=dask_local)
    if workers is None and cfg.scheduler:
        return make_executor(scheduler=cfg.scheduler)
    kind = cfg.executor if workers is None else "processes"
    return make_executor(kind, _workers(cfg, workers))


def _plan_executor(cfg, workers, scheduler, dask_local) -> str:
    if scheduler or (workers is None and not dask_local and cfg.scheduler):
        return f"dask scheduler {scheduler or cfg.scheduler}"
    if dask_local or (workers is None and cfg.executor == "dask"):
        return f"dask local cluster, {dask_local or _workers(cfg, workers)} worker(s)"
    n = _workers(cfg, workers)
    return "serial" if n <= 1 or (workers is None and cfg.executor == "serial") else f"{n} local processes"


def output_dir(loaded: LoadedRecipe, override: str | Path | None) -> Path:
    """The output folder of a run: ``override`` if given, else the recipe's ``output`` key,
    relative to the recipe's folder; always absolute.

    Examples
    --------
    >>> import pathlib, xpipe
    >>> loaded = xpipe.load_recipe(pathlib.Path(xpipe.__file__).parents[1] / "recipes" / "nvp_xps.yaml")
    >>> output_dir(loaded, None).parts[-2:]
    ('results', 'nvp_xps')
    """
    if override is not None:
        return Path(override).expanduser().resolve()
    out = Path(loaded.recipe.output).expanduser()
    return (out if out.is_absolute() else (loaded.base_dir / out)).resolve()


def run(
    loaded: LoadedRecipe,
    outdir: Path,
    workers: int | None = None,
    resume: bool = False,
    dry_run: bool = False,
    quiet: bool = False,
    echo=print,
    use_cache: bool = True,
    executor: Executor | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
) -> RunReport:
    """Run a validated recipe into ``outdir``. See :class:`RunReport` for what comes back.

    With ``use_cache``, a stage whose inputs and settings are unchanged since the last run into
    ``outdir`` is not run again: its checkpoints or its cached part of the results are reused.
    The items of every stage go through one executor: ``executor`` if given (left open), else
    the one made from ``scheduler`` / ``dask_local`` / ``workers`` or the recipe's ``run``
    section (closed at the end). Raises :class:`xpipe.store.FolderBusy` while another run or
    an ``xpipe watch`` writes to ``outdir``, :class:`ResumeError` when ``resume`` finds nothing
    of this recipe to continue (a run killed at any point leaves something: the stages it had
    started continue, the others start afresh).

    SIGINT (Ctrl-C) and SIGTERM (a batch scheduler's end of the wall time) stop the run: the
    chunk being saved is finished, the workers are stopped, one line says how many items are
    done and kept, and :class:`RunInterrupted` (a ``KeyboardInterrupt`` with the ``signal``)
    is raised. The handlers found before the run are put back after it.

    Parameters
    ----------
    loaded, outdir : LoadedRecipe, Path
        The recipe, and the output folder (checkpoints in ``outdir/.xpipe``).
    workers, executor, scheduler, dask_local
        Where the items are processed (see :func:`executor_for`).
    resume, dry_run, quiet, use_cache : bool
        Continue the interrupted run in ``outdir``; only say through ``echo`` what would be
        done; no progress lines; reuse the stages whose inputs and settings are unchanged.
    echo : callable
        Where the dry run's lines go.

    Returns
    -------
    RunReport

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np, xpipe
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> x = np.linspace(10.0, 20.0, 201)
    >>> y = 100 + 900 * np.exp(-((x - 15) ** 2))
    >>> for i in range(2):  # two 1D patterns, and a recipe that reads them
    ...     np.savetxt(folder / f"p_{i}.xy", np.column_stack([x, y]))
    >>> _ = (folder / "recipe.yaml").write_text("name: two patterns\\noutput: out\\nxrd:\\n"
    ...     "  patterns: {files: 'p_*.xy', time_source: mtime}\\n  figures: {contour: false}\\n")
    >>> loaded = xpipe.load_recipe(folder / "recipe.yaml")
    >>> report = run(loaded, folder / "out", workers=1, quiet=True)
    >>> report.done, report.failed, [f.name for f in report.files]
    (2, [], ['xrd_frames.csv', 'summary.json', 'summary.md'])
    >>> lines = []
    >>> _ = run(loaded, folder / "out", workers=1, resume=True, dry_run=True, echo=lines.append)
    >>> lines[3]
    'stage    xrd.patterns: 2 patterns, 2 already done'
    """
    recipe = loaded.recipe
    if executor is None and not dry_run:
        with executor_for(recipe.run, workers, scheduler, dask_local) as owned:
            return run(loaded, outdir, workers=workers, resume=resume, quiet=quiet, echo=echo,
                       use_cache=use_cache, executor=owned)
    workers = executor.workers if executor is not None else _workers(recipe.run, workers)
    stages = build_stages(loaded)
    if dry_run:
        return _dry_run(loaded, outdir, stages, workers, resume, scheduler, dask_local, echo)
    outdir.mkdir(parents=True, exist_ok=True)
    # SIGINT and SIGTERM: RunInterrupted, once the chunk being saved is whole
    with interruptible(), WriterLock(outdir / ".xpipe", "xpipe run"):  # FolderBusy: another writes
        if resume:
            check_resumable(loaded, outdir, stages)
        return _run_stages(loaded, outdir, stages, executor, resume, quiet, use_cache)


def _run_stages(loaded: LoadedRecipe, outdir: Path, stages: list[Stage], executor: Executor,
                resume: bool, quiet: bool, use_cache: bool) -> RunReport:
    """Every stage's items into checkpoints, then results.h5 and what goes beside it."""
    work = outdir / ".xpipe"
    started = now_iso()
    runs = load_runs(work) if resume else []
    step = "checking the inputs"
    try:
        hashes = stage_hashes(stages, work, use_cache)
        step = "assembling the results"
        for st in stages:
            if st.keys():  # whole-stack stages work in write(), on what the stages before made
                process_stage(loaded, outdir, st, executor, digest=hashes[st.name],
                              resume=resume, quiet=quiet, runs=runs, started=started)
        return assemble(loaded, outdir, stages, hashes, runs, started)
    except RunInterrupted as exc:  # said once, here unless a stage said how far it got
        exc.report(f" while {step}; the finished chunks are kept, continue with --resume")
        raise


def _dry_run(loaded: LoadedRecipe, outdir: Path, stages: list[Stage], workers: int, resume: bool,
             scheduler: str | None, dask_local: int | None, echo) -> RunReport:
    """What a run would do, said through ``echo``; nothing is processed or written."""
    recipe = loaded.recipe
    chunk = recipe.run.chunk_frames
    work = outdir / ".xpipe"
    echo(f"recipe   {loaded.path} (valid)")
    echo(f"output   {outdir / RESULTS_NAME}")
    plan = _plan_executor(recipe.run, workers, scheduler, dask_local)
    echo(f"executor {plan}, {chunk} items per chunk")
    for st in stages:
        keys = st.keys()
        ck = CheckpointStore(work / st.name)
        ours = resume and (ck.manifest() or {}).get("recipe_sha256") == loaded.sha256
        done = len(set(keys) & ck.done_keys()) if ours else 0
        if not keys:  # a whole-stack stage, run when the results are assembled
            echo(f"stage    {st.name}: the whole {st.label}")
        else:
            already = f", {done} already done" if resume else ""
            echo(f"stage    {st.name}: {len(keys)} {st.label}{already}")
        for line in st.plan_lines():
            echo(f"         {line}")
    echo("dry run: nothing was processed or written")
    return RunReport(outdir=outdir, results=None)
