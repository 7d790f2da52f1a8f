"""The steps of a run: a stage's items processed into checkpoints, ``results.h5`` assembled
from them, the record of runs and the stages' content hashes.

:func:`xpipe.runner.run` puts them together; ``xpipe watch`` uses them one by one. Their names
are importable from :mod:`xpipe.runner` too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from . import cache as stage_cache
from .cache import FileHasher, stage_hash
from .executor import Executor, RunInterrupted, run_chunks
from .nexus import finish_entry, write_process
from .progress import Progress
from .recipe.model import LoadedRecipe
from .stages.base import Stage
from .store import (
    CheckpointStore,
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
    failed_stages : list of str
        Names of the stages with failed items, in run order.

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
    failed_stages: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every item was done, 1 when some failed (as the command line returns)."""
        return 1 if self.failed else 0


class ResumeError(Exception):
    """--resume cannot continue the run found in the output folder.

    Parameters
    ----------
    message : str
        Why, and what to do instead.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xps.yaml")
    >>> from xpipe.store import CheckpointStore
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> try:
    ...     check_same_recipe(CheckpointStore(folder / ".xpipe" / "xps"), loaded, folder)
    ... except ResumeError as exc:
    ...     print(str(exc).split(": ")[1])
    no unfinished run of this recipe found
    """


def load_runs(work: Path) -> list[dict]:
    """The record of earlier runs into this output folder (``runs.json``), empty if none.

    Parameters
    ----------
    work : Path
        The output folder's ``.xpipe`` folder.

    Returns
    -------
    list of dict
        One entry per stage run (stage, start and end, items processed, executor); empty for
        a missing or unreadable file.

    Examples
    --------
    >>> import tempfile
    >>> work = Path(tempfile.mkdtemp())
    >>> load_runs(work)
    []
    >>> _ = (work / "runs.json").write_text('[{"stage": "xps", "processed": 0, "cached": true}]')
    >>> load_runs(work)
    [{'stage': 'xps', 'processed': 0, 'cached': True}]
    """
    try:
        runs = json.loads((work / "runs.json").read_text())
    except (OSError, ValueError):
        return []
    return runs if isinstance(runs, list) else []


def stage_hashes(stages: list[Stage], work: Path, use_cache: bool = True) -> dict[str, str | None]:
    """Each stage's content hash (None without the cache, or for stages that do not take part).

    A stage's hash covers its settings, its input files' contents and the hashes of the stages
    it depends on; the files' checksums are remembered in ``work/file_hashes.json``.

    Parameters
    ----------
    stages : list of Stage
        The run's stages, in run order.
    work : Path
        The output folder's ``.xpipe`` folder.
    use_cache : bool
        False gives None for every stage.

    Returns
    -------
    dict of str to (str or None)
        Hex sha256 by stage name.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xps.yaml")
    >>> from xpipe.runner import build_stages
    >>> work = pathlib.Path(tempfile.mkdtemp())
    >>> hashes = stage_hashes(build_stages(loaded), work)
    >>> {name: len(h) for name, h in hashes.items()}, (work / "file_hashes.json").is_file()
    ({'xps': 64}, True)
    >>> stage_hashes(build_stages(loaded), work, use_cache=False)
    {'xps': None}
    """
    hasher = FileHasher(work / "file_hashes.json")
    hashes: dict[str, str | None] = {}
    for st in stages:
        upstream = [hashes[d] or "none" for d in st.depends_on if d in hashes]
        hashes[st.name] = stage_hash(st, upstream, hasher) if use_cache else None
        fp = st.fingerprint() if use_cache else None
        if fp is not None:  # hashed above: remembered, so these are lookups
            st.input_digests = {p: hasher.sha256(p) for p in fp[1]}
    if use_cache:
        hasher.save()
    return hashes


def stage_manifest(loaded: LoadedRecipe, digest: str | None) -> dict:
    """What a stage's checkpoint folder records about the run that fills it.

    Parameters
    ----------
    loaded : xpipe.recipe.model.LoadedRecipe
        The recipe of the run.
    digest : str or None
        The stage's content hash (:func:`stage_hashes`).

    Returns
    -------
    dict
        The recipe's path and sha256, the xpipe version and the stage hash.

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xps.yaml")
    >>> m = stage_manifest(loaded, None)
    >>> sorted(m), m["recipe_sha256"] == loaded.sha256
    (['recipe', 'recipe_sha256', 'stage_hash', 'xpipe'], True)
    """
    return {"recipe_sha256": loaded.sha256, "recipe": str(loaded.path),
            "xpipe": versions()["xpipe"],
            "stage_hash": digest}


def check_same_recipe(ck: CheckpointStore, loaded: LoadedRecipe, outdir: Path,
                      hint: str = "run without --resume to start afresh, or use another -o",
                      ) -> None:
    """Raise :class:`ResumeError` when the checkpoints in ``ck`` were made with another version
    of the recipe (or there are none).

    Parameters
    ----------
    ck : xpipe.store.CheckpointStore
        A stage's checkpoints.
    loaded : xpipe.recipe.model.LoadedRecipe
        The recipe of this run.
    outdir : Path
        The output folder, for the message.
    hint : str
        What to do instead, ending the message.

    Returns
    -------
    None

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xps.yaml")
    >>> from xpipe.store import CheckpointStore
    >>> ck = CheckpointStore(pathlib.Path(tempfile.mkdtemp()) / "xps")
    >>> ck.reset(stage_manifest(loaded, None))
    >>> check_same_recipe(ck, loaded, ck.folder.parent)  # the same recipe: nothing said
    >>> ck.reset({"recipe_sha256": "0" * 64})
    >>> try:
    ...     check_same_recipe(ck, loaded, ck.folder.parent)
    ... except ResumeError as exc:
    ...     print(str(exc).split(" (")[0].split(" was ")[1])
    made with a different version of the recipe
    """
    old = ck.manifest()
    if old is None:
        raise ResumeError(f"nothing to resume in {outdir}: no unfinished run of this recipe found")
    if old.get("recipe_sha256") != loaded.sha256:
        raise ResumeError(
            f"the run in {outdir} was made with a different version of the recipe "
            f"(sha256 {str(old.get('recipe_sha256', '?'))[:12]}, now {loaded.sha256[:12]}); {hint}"
        )


def check_resumable(loaded: LoadedRecipe, outdir: Path, stages: list[Stage]) -> None:
    """Raise :class:`ResumeError` unless a stage's checkpoints in ``outdir`` come from this
    recipe: when there are none (nothing to resume), or only another recipe's.

    A run killed at any point leaves the stages it had started with this recipe's manifest;
    those it had not reached start afresh when it is resumed (:func:`process_stage`).

    Parameters
    ----------
    loaded, outdir : LoadedRecipe, Path
        The recipe and the output folder (checkpoints in ``outdir/.xpipe/<stage>``).
    stages : list of Stage
        The run's stages; those without items have no checkpoints and are not looked at.

    Returns
    -------
    None

    Examples
    --------
    >>> import pathlib, tempfile, xpipe
    >>> root = pathlib.Path(xpipe.__file__).parents[1]
    >>> loaded = xpipe.load_recipe(root / "recipes" / "nvp_xanes.yaml")
    >>> from xpipe.runner import build_stages
    >>> stages, folder = build_stages(loaded), pathlib.Path(tempfile.mkdtemp())
    >>> try:
    ...     check_resumable(loaded, folder, stages)
    ... except ResumeError as exc:
    ...     print(str(exc).split(": ")[1])
    no unfinished run of this recipe found
    >>> CheckpointStore(folder / ".xpipe" / "xas").reset(stage_manifest(loaded, None))
    >>> check_resumable(loaded, folder, stages)  # a stage was started: resumable
    """
    stores = [CheckpointStore(outdir / ".xpipe" / st.name) for st in stages if st.keys()]
    manifests = [(ck, ck.manifest()) for ck in stores]
    started = [ck for ck, m in manifests if m is not None]
    if not stores or any(m.get("recipe_sha256") == loaded.sha256 for _, m in manifests if m):
        return
    check_same_recipe((started or stores)[0], loaded, outdir)  # says why not


def process_stage(loaded: LoadedRecipe, outdir: Path, st: Stage, executor: Executor, *,
                  digest: str | None, resume: bool, quiet: bool, runs: list[dict],
                  started: str) -> None:
    """Process the items of one checkpointed stage that are not done yet.

    With ``resume``, checkpoints of this very recipe (the run interrupted) keep their finished
    items. Other checkpoints of unchanged inputs and settings (``digest`` equal to the one
    recorded, every item done) are reused, and from then on count as this recipe's; anything
    else is started afresh. Stopped by a signal (:class:`xpipe.executor.RunInterrupted`), it
    logs how many items are done and kept.

    Parameters
    ----------
    loaded, outdir : LoadedRecipe, Path
        The recipe and the output folder (checkpoints in ``outdir/.xpipe/<stage>``).
    st, executor : Stage, Executor
        A stage with items (:meth:`Stage.keys`), and where its chunks are processed.
    digest : str or None
        The stage's content hash (None: never reuse).
    resume, quiet : bool
        Continue an interrupted run; no progress lines.
    runs, started : list of dict, str
        The record of the run (appended to), and when it started (ISO 8601).

    Returns
    -------
    None

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
    >>> from xpipe.executor import make_executor
    >>> from xpipe.runner import build_stages
    >>> [stage], runs = build_stages(loaded), []
    >>> with make_executor("serial") as ex:
    ...     process_stage(loaded, folder / "out", stage, ex, digest=None, resume=False,
    ...                   quiet=True, runs=runs, started=now_iso())
    >>> len(CheckpointStore(folder / "out" / ".xpipe" / stage.name).done_keys())
    2
    >>> runs[0]["stage"], runs[0]["processed"], runs[0]["executor"]
    ('xrd.patterns', 2, 'serial, 1 worker(s)')
    """
    keys = st.keys()
    ck = CheckpointStore(outdir / ".xpipe" / st.name)
    done_keys = _kept(ck, loaded, st, keys, digest, resume)
    if done_keys is None:
        runs.append({"stage": st.name, "started": started, "ended": now_iso(), "processed": 0,
                     "cached": True})
        return
    pending = [i for i, k in enumerate(keys) if k not in done_keys]
    already = len(keys) - len(pending)
    if resume:
        log.info("%s: %d of %d %s already done, %d to do", st.name, already, len(keys), st.label,
                 len(pending))
    progress = Progress(len(keys), st.label, quiet=quiet, done=already)
    kept = [already]
    try:
        _process_chunks(ck, keys, pending, st, executor, progress, loaded.recipe.run.chunk_frames,
                        kept)
    except RunInterrupted as exc:
        if progress.tty and not progress.quiet and progress.done < progress.total:
            progress.stream.write("\n")  # end the bar's line
        exc.report(f"; {kept[0]} of {len(keys)} {st.label} done and kept, continue with --resume")
        raise
    runs.append({"stage": st.name, "started": started, "ended": now_iso(),
                 "processed": len(pending), "resumed": resume, "workers": executor.workers,
                 "executor": executor.describe(), "rate_per_s": round(progress.rate, 3)})


def _kept(ck: CheckpointStore, loaded: LoadedRecipe, st: Stage, keys: list[str],
          digest: str | None, resume: bool) -> set[str] | None:
    """The keys of the items done that a stage keeps (the checkpoints started afresh when it
    keeps none); None when its checkpoints are reused whole, inputs and settings unchanged."""
    old = ck.manifest() or {}
    ours = resume and old.get("recipe_sha256") == loaded.sha256
    if (not ours and digest is not None and old.get("stage_hash") == digest
            and set(keys) <= ck.done_keys()):
        log.info("%s: inputs and settings unchanged, reusing %d %s", st.name, len(keys), st.label)
        if old.get("recipe_sha256") != loaded.sha256:  # part of this recipe's run from now on
            ck.write_manifest({**old, **stage_manifest(loaded, digest)})
        return None
    if ours:  # the interrupted run of this recipe: its finished items are kept
        for path in ck.folder.glob(".*"):  # temporaries of the chunks a kill cut short
            path.unlink(missing_ok=True)
        return ck.done_keys()
    ck.reset(stage_manifest(loaded, digest))  # not reached by this recipe's run yet: afresh
    return set()


def _process_chunks(ck: CheckpointStore, keys: list[str], pending: list[int], st: Stage,
                    executor: Executor, progress: Progress, chunk: int, kept: list[int]) -> None:
    """Hand the items ``pending`` to ``executor`` in chunks of ``chunk``; each finished chunk is
    saved in ``ck`` as it comes back (its items done counted in ``kept[0]``), and its failures
    logged."""
    seq = [ck.next_sequence()]

    def on_result(indices: list[int], result: dict) -> None:
        ck.save(seq[0], keys, result)
        seq[0] += 1
        kept[0] += len(result.get("meta", []))
        for _, reason in result.get("failures", []):
            log.warning("failed: %s", reason)
        progress.update(len(indices), failed=len(result.get("failures", [])))

    chunks = [pending[i : i + chunk] for i in range(0, len(pending), chunk)]
    run_chunks(st.worker(), chunks, executor, on_result)


def assemble(loaded: LoadedRecipe, outdir: Path, stages: list[Stage], hashes: dict[str, str | None],
             runs: list[dict], started: str, *, products: bool = True,
             root_attrs: dict[str, str] | None = None) -> RunReport:
    """Write ``results.h5`` (atomically) from the checkpoints of ``stages``; with ``products``,
    also what each stage makes beside it (tables, figures, exports) and the summary.

    Whole-stack stages run here, on what the stages before them wrote; with a ``hashes`` entry
    they are replayed from the cache when their inputs and settings are unchanged.

    Parameters
    ----------
    loaded, outdir : LoadedRecipe, Path
        The recipe and the output folder.
    stages, hashes : list of Stage, dict of str to (str or None)
        The stages to write in run order, and their content hashes (:func:`stage_hashes`).
    runs, started : list of dict, str
        The record of the run (to ``runs.json`` and the provenance), and when it started.
    products : bool
        Also the files beside ``results.h5`` and the summary.
    root_attrs : dict of str to str, optional
        More attributes of the file's root.

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
    >>> from xpipe.executor import make_executor
    >>> from xpipe.runner import build_stages
    >>> stages, runs, started = build_stages(loaded), [], now_iso()
    >>> with make_executor("serial") as ex:
    ...     process_stage(loaded, folder / "out", stages[0], ex, digest=None, resume=False,
    ...                   quiet=True, runs=runs, started=started)
    >>> report = assemble(loaded, folder / "out", stages, {}, runs, started, products=False)
    >>> report.done, report.results.name, report.files
    (2, 'results.h5', [])
    """
    work = outdir / ".xpipe"
    runs_path = work / "runs.json"
    report = RunReport(outdir=outdir, results=None)
    work.mkdir(parents=True, exist_ok=True)
    runs_path.write_text(json.dumps(runs, indent=1))
    results = outdir / RESULTS_NAME
    _write_results(loaded, results, stages, work, hashes, runs, started, root_attrs, report)
    runs_path.write_text(json.dumps(runs, indent=1))
    report.results = results
    if not products:
        return report
    for st in stages:
        report.files.extend(st.after(results, outdir))
    report.files.extend(write_summary(results, report, outdir))
    return report


def _write_results(loaded: LoadedRecipe, results: Path, stages: list[Stage], work: Path,
                   hashes: dict[str, str | None], runs: list[dict], started: str,
                   root_attrs: dict[str, str] | None, report: RunReport) -> None:
    """``results.h5``, written atomically: every stage's part and the provenance; the stages'
    counts are added to ``report``."""
    inputs: list[tuple[str, str | None]] = []
    with atomic_h5(results) as h5:
        entry = _new_entry(h5, loaded.recipe, root_attrs)
        effective = loaded.effective()
        for index, st in enumerate(stages, start=1):
            summary = _write_stage(st, entry, work, hashes.get(st.name), runs, started)
            write_process(entry, st, index, now_iso(), versions()["xpipe"], _stage_settings(effective, st.name))
            report.done += summary.done
            report.failed.extend(summary.failed)
            if summary.failed:
                report.failed_stages.append(st.name)
            report.engine_builds += summary.engine_builds
            inputs.extend(summary.inputs)
        write_provenance(entry, recipe_text=loaded.text, recipe_sha256=loaded.sha256,
                         recipe_path=str(loaded.path), inputs=inputs,
                         started=runs[0]["started"] if runs else started,
                         runs=runs, effective_settings=effective,
                         recipe_version=loaded.written_version)
        electrode = getattr(getattr(loaded.recipe, "echem", None), "electrode", None)
        formula = getattr(electrode, "formula", None)
        finish_entry(entry, start_time=runs[0]["started"] if runs else started, end_time=now_iso(),
                     version=versions()["xpipe"], sample_name=f"{formula} electrode" if formula else None,
                     chemical_formula=formula)


def _stage_settings(effective: dict, stage_name: str):
    """The recipe section a stage reads (``xrd`` for ``xrd.integrate`` and ``xrd_phases``)."""
    return effective.get(stage_name.split(".")[0].split("_")[0])


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
        entry.create_dataset("experiment_description", data=recipe.description)
    return entry


def _write_stage(st: Stage, entry, work: Path, digest: str | None, runs: list[dict], started: str):
    """One stage's part of the results: replayed from the cache when a whole-results stage's
    inputs and settings are unchanged, else written (and cached)."""
    whole = not st.keys() and st.caches_state
    if whole and digest is not None:
        summary = stage_cache.replay(work, st, entry, digest)
        if summary is not None:
            log.info("%s: inputs and settings unchanged, reusing the cached %s", st.name, st.label)
            runs.append({"stage": st.name, "started": started, "ended": now_iso(), "processed": 0,
                         "cached": True})
            return summary
    before = stage_cache.Snapshot(entry) if whole and digest is not None else None
    summary = st.write(entry, CheckpointStore(work / st.name))
    if before is not None:
        stage_cache.store(work, st, entry, before, digest, summary)
    return summary
