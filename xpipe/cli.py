"""The ``xpipe`` command line: validate, run, watch, info, inspect.

Exit codes: 0 all done; 1 finished but some items failed (each recorded in the results);
2 nothing could run or the run stopped: bad recipe or arguments, an input file that cannot be
read, an output folder that cannot be used (in the way, read-only, busy, full, a file size
limit), or something the machine lacks (an optional library, OpenCL, a Dask scheduler);
130 interrupted (Ctrl-C), 143 stopped by SIGTERM (128 + the signal's number).

Every failure is said in one line, ``xpipe COMMAND: what went wrong: what to do`` (see
:mod:`xpipe.errors`); ``--debug`` prints the traceback before it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback

from . import __version__
from .errors import RecipeError, classify
from .outdir import check_output_folder, free_space_warning

EXIT_OK, EXIT_FAILED_ITEMS, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xpipe", description="Operando X-ray data of battery materials, from raw files to results, driven by recipes.")
    p.add_argument("--version", action="version", version=f"xpipe {__version__}")
    p.add_argument("--debug", action="store_true", help="on an error, print its traceback too")
    common = argparse.ArgumentParser(add_help=False)  # --debug after the command as well
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an error, print its traceback too")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    v = sub.add_parser("validate", help="check a recipe without running it", parents=[common],
                       description="Check a recipe (every problem with its key and line) and the "
                       "output folder it would write to (a file in the way, not writable, read-only, "
                       "a link leading out of it); exit code 2 when there is any problem.")
    v.add_argument("recipe", help="recipe file (YAML)")
    v.add_argument("-o", "--output", metavar="OUTDIR",
                   help="check this output folder (default: the recipe's 'output')")
    v.add_argument("--effective", action="store_true",
                   help="print every setting with the value in force, defaults included (JSON), "
                   "in the current recipe format")

    r = sub.add_parser("run", help="run a recipe", parents=[common])
    r.add_argument("recipe", help="recipe file (YAML)")
    r.add_argument("-o", "--output", metavar="OUTDIR", help="output folder (default: the recipe's 'output')")
    _executor_arguments(r)
    r.add_argument("--resume", action="store_true", help="continue an interrupted run in OUTDIR, skipping finished frames")
    r.add_argument("--dry-run", action="store_true", help="validate and show what would be done, then stop")
    r.add_argument("--no-cache", action="store_true",
                   help="run every stage, even those whose inputs and settings are unchanged since the last run into OUTDIR")
    g = r.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    g.add_argument("-v", "--verbose", action="store_true", help="more detail")

    w = sub.add_parser("watch", help="process frames while an experiment writes them (live mode)", parents=[common],
                       description="Follow the recipe's xrd.frames (or xrd.patterns) while they are written: "
                       "each complete frame is processed once, results.h5 and the contour map are updated "
                       "as frames arrive, and the complete results are assembled when the watch stops "
                       "(Ctrl-C, SIGTERM, or --idle-timeout-s without a new frame). See docs/live.md.")
    w.add_argument("recipe", help="recipe file (YAML)")
    w.add_argument("-o", "--output", metavar="OUTDIR", help="output folder (default: the recipe's 'output')")
    w.add_argument("--poll-s", type=float, default=1.0, metavar="S", help="seconds between looks at the files (default 1)")
    w.add_argument("--settle-s", type=float, default=2.0, metavar="S",
                   help="a file is read once its size and modification time are unchanged for S seconds (default 2)")
    w.add_argument("--redraw-every", type=int, default=50, metavar="N",
                   help="update results.h5 and the contour map every N new frames (default 50)")
    w.add_argument("--redraw-s", type=float, default=60.0, metavar="S",
                   help="... or every S seconds, whichever comes first, when new frames arrived (default 60)")
    w.add_argument("--idle-timeout-s", type=float, default=600.0, metavar="S",
                   help="stop after S seconds without a new frame; 0: never (default 600)")
    _executor_arguments(w)
    g = w.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    g.add_argument("-v", "--verbose", action="store_true", help="more detail")

    i = sub.add_parser("info", help="summarise a results file", parents=[common])
    i.add_argument("results", help="results file (results.h5)")

    n = sub.add_parser("inspect", help="show what xpipe reads from an input file", parents=[common],
                       description="Show what xpipe reads from any input file: the reader family and "
                       "format and why it was chosen, its scans, blocks, regions or frame datasets, "
                       "columns with units, points or frames, ranges, timestamps and the reader's "
                       "warnings; for a file the readers refuse, the reason. Exit code 0 read, 1 "
                       "refused, 2 not a readable file. See docs/inspect.md.")
    n.add_argument("file", help="the file (frames, 1D pattern, XAS, XPS, cycler, .poni, recipe, CIF)")
    n.add_argument("--json", action="store_true", help="print one JSON object (schema xpipe.inspect/1)")
    n.add_argument("--family", choices=["frames", "pattern", "xas", "xps", "cycler", "poni", "recipe",
                                        "structure"],
                   help="read the file as this family only")
    return p


def _executor_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes, 1 for serial (default: the recipe's run section)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="run chunks on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786)")
    g.add_argument("--dask-local", type=int, metavar="N",
                   help="start a Dask cluster of N worker processes on this machine for the run")


def _check_executor_arguments(args, command: str) -> bool:
    for flag, value in (("--workers", args.workers), ("--dask-local", args.dask_local)):
        if value is not None and value < 1:
            print(f"xpipe {command}: {flag} must be >= 1, got {value}", file=sys.stderr)
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    """The ``xpipe`` command: ``validate``, ``run``, ``watch``, ``info`` or ``inspect`` with its
    arguments.

    Sets up logging (``-q`` warnings only, ``-v`` everything; the libraries' chatter hidden)
    and runs the command; ``xpipe --help`` lists the commands and their options.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``xpipe`` (default: the process's command line).

    Returns
    -------
    int
        The exit code: 0 all done, 1 finished with failed items (each recorded in the
        results), 2 nothing could run or the run stopped (bad recipe or arguments, an input
        file that cannot be read, an unusable or full output folder, a missing library or
        scheduler), 130 interrupted, 143 stopped by SIGTERM. Each failure is one line on
        stderr; ``--debug`` adds its traceback.

    Examples
    --------
    >>> import contextlib, io, pathlib, xpipe
    >>> recipe = pathlib.Path(xpipe.__file__).parents[1] / "recipes" / "nvp_xanes.yaml"
    >>> with contextlib.redirect_stdout(io.StringIO()) as out:
    ...     code = main(["validate", str(recipe)])
    >>> code, out.getvalue().replace(str(recipe), "nvp_xanes.yaml").splitlines()
    (0, ['nvp_xanes.yaml: valid', '  xas: 11 spectra'])
    >>> main(["run", str(recipe), "--workers", "0"])  # a usage error, said on stderr
    2
    >>> main(["validate", str(recipe), "-o", str(recipe)])  # an output folder that is a file
    2
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    xpipe_log = logging.getLogger("xpipe")
    previous_level = xpipe_log.level
    _set_up_logging(args)
    try:
        return {"validate": _validate, "run": _run, "watch": _watch, "info": _info,
                "inspect": _inspect}[args.command](args)
    except KeyboardInterrupt as exc:
        return _interrupted(args, exc)
    except Exception as exc:
        if _signal_of(exc) is not None:
            return _interrupted(args, exc)
        return _failed(args, exc)
    except BaseException as exc:  # a stop asked for by a signal that is not an Exception
        if isinstance(exc, SystemExit | GeneratorExit):
            raise
        return _interrupted(args, exc)
    finally:  # main() called in a process that goes on (a notebook, tests): leave its logging as it was
        xpipe_log.setLevel(previous_level)


def _set_up_logging(args) -> None:
    """``-q`` warnings only, ``-v`` everything; the libraries' chatter hidden."""
    level = logging.WARNING if getattr(args, "quiet", False) else (logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    # xpipe's own level, set on its logger: importing Larch lowers the root logger to WARNING,
    # which would otherwise silence every info line after the first XAS spectrum is read
    logging.getLogger("xpipe").setLevel(level)
    for noisy in ("pyFAI", "fabio", "silx", "matplotlib", "h5py", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # Dask's cluster start/stop lines: distributed sets its loggers' levels from its config when
    # it is imported (later, and only when a Dask executor is asked for), so the level is given
    # through that config; warnings still show, and -v shows everything.
    chatty = "info" if level <= logging.DEBUG else "warning" if level <= logging.INFO else logging.getLevelName(level).lower()
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", chatty)
    for name in ("distributed", "dask"):
        logging.getLogger(name).setLevel(chatty.upper())


def _signal_of(exc: BaseException) -> int | None:
    """The signal that stopped the command: SIGINT for Ctrl-C, else the ``signum`` (or
    ``signal``) the stop carries; None for an exception that is no interruption."""
    for attr in ("signum", "signal"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
    if isinstance(exc, KeyboardInterrupt) or type(exc).__name__.endswith("Interrupted"):
        return int(signal.SIGINT)
    return None


def _interrupted(args, exc: BaseException) -> int:
    """One line saying the command was stopped, in the runner's words (none when the runner
    said it already); the exit code 128 + the signal's number."""
    signum = _signal_of(exc) or int(signal.SIGINT)
    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    if not getattr(exc, "logged", False):
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        kept = {"run": "; finished chunks are kept, continue with xpipe run --resume",
                "watch": "; finished chunks are kept: start xpipe watch again, or xpipe run --resume"}
        print(f"xpipe {args.command}: interrupted by {name}{kept.get(args.command, '')}", file=sys.stderr)
    return 128 + signum


def _failed(args, exc: Exception) -> int:
    """One line saying what stopped the command and what to do (the traceback too with
    ``--debug``); the exit code of the error's family."""
    error = classify(exc, getattr(args, "outdir", None))
    if getattr(args, "debug", False):
        traceback.print_exception(exc)
    report = getattr(exc, "report", None)
    if isinstance(error, RecipeError) and callable(report):  # the recipe's problems, one a line
        print(report(), file=sys.stderr)
    print(error.line(args.command), file=sys.stderr)
    return error.exit_code


def _output_folder_ok(args, outdir) -> bool:
    """Say what stops a run from writing into ``outdir`` (one line each) and warn when its file
    system is nearly full; False when it cannot be used."""
    args.outdir = outdir
    problems = check_output_folder(outdir)
    for problem in problems:
        print(f"xpipe {args.command}: {problem}", file=sys.stderr)
    if not problems and (warning := free_space_warning(outdir)):
        logging.getLogger("xpipe").warning("%s", warning)
    return not problems


def _load(path: str):
    from .recipe.model import load_recipe  # deferred: --version and usage errors answer at once
    from .recipe.schema import RecipeInvalid  # deferred: --version and usage errors answer at once

    try:
        return load_recipe(path)
    except RecipeInvalid as exc:
        print(exc.report(), file=sys.stderr)
        return None


def _validate(args) -> int:
    loaded = _load(args.recipe)
    if loaded is None:
        return EXIT_USAGE
    from .runner import (  # deferred: --version and usage errors answer at once
        build_stages,
        output_dir,
    )

    if args.effective:
        import json

        print(json.dumps(loaded.effective(), indent=2, default=str))
        return EXIT_OK
    if not _output_folder_ok(args, output_dir(loaded, args.output)):
        return EXIT_USAGE
    migrated = (f" (format version {loaded.written_version}, read as {loaded.recipe.version})"
                if loaded.written_version != loaded.recipe.version else "")
    print(f"{args.recipe}: valid{migrated}")
    for st in build_stages(loaded):
        # a whole-results stage has no items: its plan has a line per unit (an XPS series, ...)
        print(f"  {st.name}: {len(st.keys()) or len(st.plan_lines())} {st.label}")
    return EXIT_OK


def _run(args) -> int:
    if not _check_executor_arguments(args, "run"):
        return EXIT_USAGE
    loaded = _load(args.recipe)
    if loaded is None:
        print("xpipe run: not started, the recipe is invalid", file=sys.stderr)
        return EXIT_USAGE
    from .runner import output_dir, run  # deferred: --version and usage errors answer at once

    outdir = output_dir(loaded, args.output)
    if not _output_folder_ok(args, outdir):
        return EXIT_USAGE
    log = logging.getLogger("xpipe")
    if not args.dry_run:
        log.info("running %s -> %s", loaded.path.name, outdir)
    # the runner's errors (folder busy, nothing to resume, no scheduler, disk full, ...) are
    # said in one line by main()
    report = run(loaded, outdir, workers=args.workers, resume=args.resume, dry_run=args.dry_run, quiet=args.quiet,
                 use_cache=not args.no_cache, scheduler=args.scheduler, dask_local=args.dask_local)
    if args.dry_run:
        return EXIT_OK
    log.info("wrote %s (%d item(s) done, %d failed, %d engine build(s))", report.results, report.done, len(report.failed), report.engine_builds)
    return _outcome(report, failed_groups(report), "the CSV tables")


#: Where each stage records its failed items in results.h5.
_FAILED_GROUPS = {"xrd.integrate": "/entry/xrd/failed", "xrd.patterns": "/entry/xrd/failed",
                  "xas": "/entry/xas/<series>/failed", "xps": "/entry/xps/<series>/failed"}


def failed_groups(report) -> str:
    """Where a run's failed items are recorded: the failed groups of the stages that had some.

    Parameters
    ----------
    report : xpipe.run_steps.RunReport
        The run's report.

    Returns
    -------
    str
        The groups, said for the log line.

    Examples
    --------
    >>> from pathlib import Path
    >>> from xpipe.run_steps import RunReport
    >>> failed_groups(RunReport(Path("out"), None, failed=[("V2p/a.vms", "fit failed")], failed_stages=["xps"]))
    'the failed group (/entry/xps/<series>/failed)'
    """
    stages = report.failed_stages or list(_FAILED_GROUPS)
    groups = dict.fromkeys(_FAILED_GROUPS.get(name, f"/entry/{name}") for name in stages)
    return f"the failed group{'s' if len(groups) > 1 else ''} ({', '.join(groups)})"


def _outcome(report, groups: str, tables: str) -> int:
    """List what was written and what failed; the exit code."""
    log = logging.getLogger("xpipe")
    for f in report.files:
        log.debug("wrote %s", f)
    if report.failed:
        log.warning("%d item(s) failed; see %s in %s and %s", len(report.failed), groups, report.results, tables)
        for key, reason in report.failed[:10]:
            log.warning("  %s", reason if key in reason else f"{key}: {reason}")
        return EXIT_FAILED_ITEMS
    return EXIT_OK


def _watch(args) -> int:
    if not _check_executor_arguments(args, "watch"):
        return EXIT_USAGE
    for flag, value, low in (("--poll-s", args.poll_s, 0.0), ("--settle-s", args.settle_s, None),
                             ("--redraw-every", args.redraw_every, 0), ("--redraw-s", args.redraw_s, None),
                             ("--idle-timeout-s", args.idle_timeout_s, None)):
        if value != value or (value <= low if low is not None else value < 0):
            print(f"xpipe watch: {flag} must be {'> ' + str(low) if low is not None else '>= 0'}, got {value}",
                  file=sys.stderr)
            return EXIT_USAGE
    from .recipe.schema import RecipeInvalid  # deferred: --version and usage errors answer at once
    from .watch import load_live_recipe  # deferred: --version and usage errors answer at once

    try:
        loaded = load_live_recipe(args.recipe)
    except RecipeInvalid as exc:
        print(exc.report(), file=sys.stderr)
        print("xpipe watch: not started, the recipe is invalid", file=sys.stderr)
        return EXIT_USAGE
    from .runner import (  # deferred: --version and usage errors answer at once
        executor_for,
        output_dir,
    )
    from .watch import Watch, WatchOptions  # deferred: --version and usage errors answer at once

    # a frame read before it is complete is tried again; what the decoder logs then is noise
    # (a frame that stays unreadable is recorded with its reason, as in xpipe run)
    logging.getLogger("fabio").setLevel(logging.CRITICAL)
    outdir = output_dir(loaded, args.output)
    if not _output_folder_ok(args, outdir):
        return EXIT_USAGE
    options = WatchOptions(poll_s=args.poll_s, settle_s=args.settle_s, redraw_every=args.redraw_every,
                           redraw_s=args.redraw_s, idle_timeout_s=args.idle_timeout_s)
    log = logging.getLogger("xpipe")
    # the watch's errors (nothing to watch, folder busy, no scheduler, disk full, ...) and
    # Ctrl-C are said in one line by main()
    with Watch(loaded, outdir, options, quiet=args.quiet) as session:
        with executor_for(loaded.recipe.run, args.workers, args.scheduler, args.dask_local) as executor:
            report = session.run(executor)
    if report.results is None:
        return EXIT_OK
    log.info("wrote %s (%d item(s) done, %d failed)", report.results, report.done, len(report.failed))
    return _outcome(report, "/entry/xrd/failed", "xrd_frames.csv")


def _info(args) -> int:
    from .results import open_results  # deferred: --version and usage errors answer at once

    try:
        res = open_results(args.results)
    except (FileNotFoundError, ValueError) as exc:
        print(f"xpipe info: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with res:
        print(_describe(res))
    return EXIT_OK


def _inspect(args) -> int:
    import json

    from .inspect import format_exception, inspect_file  # deferred: it imports every reader

    report = inspect_file(args.file, family=args.family)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    elif report.exit_code != EXIT_USAGE:
        print(report.text())
    if getattr(args, "debug", False) and report.exception is not None:
        print(format_exception(report), file=sys.stderr, end="")
    if report.error:
        print(f"xpipe inspect: {report.error}", file=sys.stderr)
    return report.exit_code


def _describe(res) -> str:
    """Human summary of a results file."""
    lines = [f"{res.path}"]
    prov = res.provenance() if res.has("provenance") else {}
    if prov:
        v = prov.get("versions", {})
        lines.append(f"  made by xpipe {v.get('xpipe')} (pyFAI {v.get('pyFAI')}, numpy {v.get('numpy')}) "
                     f"on {prov.get('host')}, {prov.get('start_time')} -> {prov.get('end_time')}")
        lines.append(f"  recipe {prov.get('recipe_path')} (sha256 {str(prov.get('recipe_sha256'))[:12]})")
    if res.has("xrd/integrated"):
        s = res.patterns()
        st = res.integration_settings()
        span = f"{s.radial.min():.4g}..{s.radial.max():.4g} {s.radial_units}" if s.radial.size else "empty"
        lines.append(f"  /entry/xrd/integrated: {s.n_frames} frames x {s.radial.size} bins, {s.radial_name} {span}")
        if s.n_frames and s.frame_time_s.size and s.frame_time_s[-1] == s.frame_time_s[-1]:
            lines.append(f"    time: start {s.start_time}, last frame at {s.frame_time_s[-1] / 3600:.3f} h")
        cached = " (the folded engine read from the engine cache)" if st.get("engine_cache_file") else ""
        lines.append(f"    method {st.get('method_used')}, engine builds {st.get('engine_builds')}{cached}, "
                     f"error model {st.get('error_model')}, polarisation {st.get('polarization_factor')}")
        failed = res.failed()
        lines.append(f"  /entry/xrd/failed: {len(failed)} frame(s)")
        for _src, reason in failed[:5]:
            lines.append(f"    {reason}")
    if res.has("xrd/cake"):
        shape = res.entry["xrd/cake/intensity"].shape
        lines.append(f"  /entry/xrd/cake: {shape[0]} caked frames, {shape[1]} azimuthal x {shape[2]} radial")
    if res.has("xrd/lattice"):
        for name, g in res.entry["xrd/lattice"].items():
            present = g["present"][()]
            label = str(g.attrs.get("long_name", name))
            shown = name if label == name else f"{name} ({label})"
            lines.append(f"  /entry/xrd/lattice/{shown}: refined in {int(present.sum())} of {present.size} frames")
    if res.has("xas"):
        for name, g in res.entry["xas"].items():
            n = g["spectra/label"].shape[0] if "spectra" in g else 0
            n_std = g["standards/label"].shape[0] if "standards" in g else 0
            lines.append(f"  /entry/xas/{name}: {g.attrs.get('element')} {g.attrs.get('edge')} edge, {n} spectra, "
                         f"{n_std} standards, {len(g['failed/key'])} failed")
            if "spectra/valence" in g:
                v = g["spectra/valence"][()]
                ok = v[v == v]
                if ok.size:
                    lines.append(f"    valence {ok.min():.3f}..{ok.max():.3f} ({g['spectra/valence'].attrs.get('method')})")
    if res.has("exafs"):
        for name, g in res.entry["exafs"].items():
            if "fit" in g:
                lines.append(f"  /entry/exafs/{name}/fit: {len(g['fit/label'])} path fits, R-factor {float(g['fit/r_factor'][()]):.4f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
