"""The runner: orders stages, hands chunks to the executor, checkpoints, assembles results.

It knows nothing about diffraction or spectroscopy. A stage provides its item keys, a worker,
and a ``write`` that turns the checkpoints into its part of the results file; the runner does
validation, resume, progress, failure accounting, the atomic results file and provenance.
A stage with no keys is a whole-stack stage: it does its work in ``write``, on what the
stages before it have written into the results being assembled.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import cache as stage_cache
from .cache import FileHasher, stage_hash
from .executor import Executor, make_executor, run_chunks
from .progress import Progress
from .recipe.model import LoadedRecipe
from .stages import registry
from .stages.base import Stage
from .store import (
    CheckpointStore,
    WriterLock,
    atomic_h5,
    now_iso,
    nx_group,
    versions,
    write_provenance,
)
from .summary import write_summary

log = logging.getLogger("xpipe")

RESULTS_NAME = "results.h5"


@dataclass
class RunReport:
    """What a run did: where it wrote, what was done and what failed.

    Attributes
    ----------
    outdir : Path
        The output folder.
    results : Path or None
        ``results.h5``; None for a dry run.
    done : int
        Items (frames, spectra) processed or taken from checkpoints.
    failed : list of (str, str)
        Every failed item: its key and the reason.
    files : list of Path
        Tables, figures and summaries written beside ``results.h5``.
    engine_builds : int
        Integration engines pyFAI built (one per worker process when all goes well).

    Examples
    --------
    >>> from pathlib import Path
    >>> report = RunReport(outdir=Path("out"), results=None, failed=[("f_0001.cbf", "truncated")])
    >>> report.exit_code
    1
    """

    outdir: Path
    results: Path | None
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    engine_builds: int = 0

    @property
    def exit_code(self) -> int:
        """0 when every item was done, 1 when some failed (as the command line returns)."""
        return 1 if self.failed else 0


class ResumeError(Exception):
    """--resume cannot continue the run found in the output folder."""


def build_stages(loaded: LoadedRecipe) -> list[Stage]:
    """The stages of a loaded recipe, in run order (see :mod:`xpipe.stages.registry`)."""
    return registry.build_stages(loaded.recipe, loaded.base_dir)


def _workers(cfg, workers: int | None) -> int:
    w = workers or cfg.workers
    return (os.cpu_count() or 1) if w == "auto" else int(w)


def executor_for(cfg, workers: int | None = None, scheduler: str | None = None,
                 dask_local: int | None = None) -> Executor:
    """The executor a run uses: command-line choices first, then the recipe's ``run`` section."""
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
    an ``xpipe watch`` writes to ``outdir``.
    """
    recipe = loaded.recipe
    if executor is None and not dry_run:
        with executor_for(recipe.run, workers, scheduler, dask_local) as owned:
            return run(loaded, outdir, workers=workers, resume=resume, quiet=quiet, echo=echo,
                       use_cache=use_cache, executor=owned)
    workers = executor.workers if executor is not None else _workers(recipe.run, workers)
    chunk = recipe.run.chunk_frames
    stages = build_stages(loaded)
    work = outdir / ".xpipe"

    if dry_run:
        echo(f"recipe   {loaded.path} (valid)")
        echo(f"output   {outdir / RESULTS_NAME}")
        echo(f"executor {_plan_executor(recipe.run, workers, scheduler, dask_local)}, {chunk} items per chunk")
        for st in stages:
            keys = st.keys()
            ck = CheckpointStore(work / st.name)
            done = len(set(keys) & ck.done_keys()) if resume else 0
            if not keys:  # a whole-stack stage, run when the results are assembled
                echo(f"stage    {st.name}: the whole {st.label}")
            else:
                echo(f"stage    {st.name}: {len(keys)} {st.label}" + (f", {done} already done" if resume else ""))
            for line in st.plan_lines():
                echo(f"         {line}")
        echo("dry run: nothing was processed or written")
        return RunReport(outdir=outdir, results=None)

    outdir.mkdir(parents=True, exist_ok=True)
    with WriterLock(work, "xpipe run"):  # FolderBusy while a watch or another run writes here
        started = now_iso()
        runs = load_runs(work) if resume else []
        hashes = stage_hashes(stages, work, use_cache)
        for st in stages:
            if st.keys():  # whole-stack stages work in write(), on what the stages before produced
                process_stage(loaded, outdir, st, executor, digest=hashes[st.name], resume=resume,
                              quiet=quiet, runs=runs, started=started)
        return assemble(loaded, outdir, stages, hashes, runs, started)


# ----------------------------------------------------------------------------- the parts of a run


def load_runs(work: Path) -> list[dict]:
    """The record of earlier runs into this output folder (``runs.json``), empty if none."""
    try:
        runs = json.loads((work / "runs.json").read_text())
    except (OSError, ValueError):
        return []
    return runs if isinstance(runs, list) else []


def stage_hashes(stages: list[Stage], work: Path, use_cache: bool = True) -> dict[str, str | None]:
    """Each stage's content hash (None without the cache, or for stages that do not take part)."""
    hasher = FileHasher(work / "file_hashes.json")
    hashes: dict[str, str | None] = {}
    for st in stages:
        upstream = [hashes[d] or "none" for d in st.depends_on if d in hashes]
        hashes[st.name] = stage_hash(st, upstream, hasher) if use_cache else None
    if use_cache:
        hasher.save()
    return hashes


def stage_manifest(loaded: LoadedRecipe, digest: str | None) -> dict:
    """What a stage's checkpoint folder records about the run that fills it."""
    return {"recipe_sha256": loaded.sha256, "recipe": str(loaded.path), "xpipe": versions()["xpipe"],
            "stage_hash": digest}


def check_same_recipe(ck: CheckpointStore, loaded: LoadedRecipe, outdir: Path,
                      hint: str = "run without --resume to start afresh, or use another -o") -> None:
    """Raise :class:`ResumeError` when the checkpoints in ``ck`` were made with another version
    of the recipe (or there are none)."""
    old = ck.manifest()
    if old is None:
        raise ResumeError(f"nothing to resume in {outdir}: no unfinished run of this recipe found")
    if old.get("recipe_sha256") != loaded.sha256:
        raise ResumeError(
            f"the run in {outdir} was made with a different version of the recipe "
            f"(sha256 {str(old.get('recipe_sha256', '?'))[:12]}, now {loaded.sha256[:12]}); {hint}"
        )


def process_stage(loaded: LoadedRecipe, outdir: Path, st: Stage, executor: Executor, *,
                  digest: str | None, resume: bool, quiet: bool, runs: list[dict], started: str) -> None:
    """Process the items of one checkpointed stage that are not done yet.

    Without ``resume``, checkpoints of unchanged inputs and settings (``digest`` equal to the
    one recorded, every item done) are reused, and anything else is started afresh. With
    ``resume``, the checkpoints must come from the same recipe; their finished items are kept.
    """
    keys = st.keys()
    work = outdir / ".xpipe"
    ck = CheckpointStore(work / st.name)
    old = ck.manifest() or {}
    if (not resume and digest is not None and old.get("stage_hash") == digest
            and set(keys) <= ck.done_keys()):
        log.info("%s: inputs and settings unchanged, reusing %d %s", st.name, len(keys), st.label)
        runs.append({"stage": st.name, "started": started, "ended": now_iso(), "processed": 0, "cached": True})
        return
    if resume:
        check_same_recipe(ck, loaded, outdir)
        done_keys = ck.done_keys()
    else:
        ck.reset(stage_manifest(loaded, digest))
        done_keys = set()
    pending = [i for i, k in enumerate(keys) if k not in done_keys]
    already = len(keys) - len(pending)
    if resume:
        log.info("%s: %d of %d %s already done, %d to do", st.name, already, len(keys), st.label, len(pending))
    progress = Progress(len(keys), st.label, quiet=quiet, done=already)
    seq = [ck.next_sequence()]

    def on_result(indices: list[int], result: dict) -> None:
        ck.save(seq[0], keys, result)
        seq[0] += 1
        for _, reason in result.get("failures", []):
            log.warning("failed: %s", reason)
        progress.update(len(indices), failed=len(result.get("failures", [])))

    chunk = loaded.recipe.run.chunk_frames
    chunks = [pending[i : i + chunk] for i in range(0, len(pending), chunk)]
    run_chunks(st.worker(), chunks, executor, on_result)
    runs.append({"stage": st.name, "started": started, "ended": now_iso(), "processed": len(pending),
                 "resumed": resume, "workers": executor.workers, "executor": executor.describe(),
                 "rate_per_s": round(progress.rate, 3)})


def assemble(loaded: LoadedRecipe, outdir: Path, stages: list[Stage], hashes: dict[str, str | None],
             runs: list[dict], started: str, *, products: bool = True,
             root_attrs: dict[str, str] | None = None) -> RunReport:
    """Write ``results.h5`` (atomically) from the checkpoints of ``stages``; with ``products``,
    also what each stage makes beside it (tables, figures, exports) and the summary.

    Whole-stack stages run here, on what the stages before them wrote; with a ``hashes`` entry
    they are replayed from the cache when their inputs and settings are unchanged.
    """
    recipe = loaded.recipe
    work = outdir / ".xpipe"
    runs_path = work / "runs.json"
    report = RunReport(outdir=outdir, results=None)
    work.mkdir(parents=True, exist_ok=True)
    runs_path.write_text(json.dumps(runs, indent=1))
    results = outdir / RESULTS_NAME
    inputs: list[tuple[str, str | None]] = []
    with atomic_h5(results) as h5:
        entry = _new_entry(h5, recipe, root_attrs)
        for st in stages:
            summary = _write_stage(st, entry, work, hashes.get(st.name), runs, started)
            report.done += summary.done
            report.failed.extend(summary.failed)
            report.engine_builds += summary.engine_builds
            inputs.extend(summary.inputs)
        write_provenance(entry, recipe_text=loaded.text, recipe_sha256=loaded.sha256,
                         recipe_path=str(loaded.path), inputs=inputs, started=runs[0]["started"] if runs else started,
                         runs=runs, effective_settings=loaded.effective(),
                         recipe_version=loaded.written_version)
    runs_path.write_text(json.dumps(runs, indent=1))
    report.results = results
    if not products:
        return report
    for st in stages:
        report.files.extend(st.after(results, outdir))
    report.files.extend(write_summary(results, report, outdir))
    return report


def _new_entry(h5, recipe, root_attrs: dict[str, str] | None):
    """The NXroot attributes and ``/entry`` with the recipe's title and description."""
    h5.attrs["NX_class"] = "NXroot"
    h5.attrs["creator"] = f"xpipe {versions()['xpipe']}"
    h5.attrs["file_time"] = now_iso()
    h5.attrs["default"] = "entry"
    for name, value in (root_attrs or {}).items():
        h5.attrs[name] = value
    entry = nx_group(h5, "entry", "NXentry")
    entry.create_dataset("title", data=recipe.name)
    if recipe.description:
        entry.create_dataset("description", data=recipe.description)
    return entry


def _write_stage(st: Stage, entry, work: Path, digest: str | None, runs: list[dict], started: str):
    """One stage's part of the results: replayed from the cache when a whole-results stage's
    inputs and settings are unchanged, else written (and cached)."""
    whole = not st.keys() and st.caches_state
    if whole and digest is not None:
        summary = stage_cache.replay(work, st, entry, digest)
        if summary is not None:
            log.info("%s: inputs and settings unchanged, reusing the cached %s", st.name, st.label)
            runs.append({"stage": st.name, "started": started, "ended": now_iso(), "processed": 0, "cached": True})
            return summary
    before = stage_cache.Snapshot(entry) if whole and digest is not None else None
    summary = st.write(entry, CheckpointStore(work / st.name))
    if before is not None:
        stage_cache.store(work, st, entry, before, digest, summary)
    return summary
