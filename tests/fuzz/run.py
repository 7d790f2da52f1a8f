"""The long fuzz run: many mutants of every seed family, a table per reader, the findings.

Usage (from the repository root)::

    .venv/bin/python tests/fuzz/run.py --mutants 20000            # all families, ~1400 each
    .venv/bin/python tests/fuzz/run.py --mutants 2000 --families recipes,corpus-echem
    .venv/bin/python tests/fuzz/run.py --mutants 20000 --workers 2 --report fuzz.md
    .venv/bin/python tests/fuzz/run.py --reproduce "recipes:nvp_operando.yaml:deep_nesting:0"

``--mutants`` is the total, shared equally by the families whose data is present (a family's
first mutants are the ones the CI suite runs). Each call has ``--timeout`` seconds (10) before
it counts as a hang. The table has one row per reader: mutants, read ok, refused with the input
error, unexpected exceptions, invalid data, hangs, crashes, seconds. The findings that follow
group the failures by reader, outcome, exception and place, each with one mutant id and the
command that reproduces it. ``--reproduce ID`` writes that one mutant to a folder it prints and
runs its reader in this process, so the traceback shows.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or with -m

from sandbox import OUTCOMES, PASSING, MutantRunner, Outcome, Sandbox  # noqa: E402
from seeds import FAMILIES, Mutant, find_mutant, plan  # noqa: E402
from targets import TARGETS  # noqa: E402

REPRODUCE = ".venv/bin/python tests/fuzz/run.py --reproduce"


def _work(jobs: list[Mutant], results: dict[str, Outcome], timeout_s: float, workdir: Path,
          lock: threading.Lock, progress: list[int], total: int, quiet: bool) -> None:
    with Sandbox(timeout_s=timeout_s) as box:
        runner = MutantRunner(box, workdir)
        while True:
            with lock:
                if not jobs:
                    return
                m = jobs.pop()
            outcome = runner.run(m)
            with lock:
                results[m.id] = outcome
                progress[0] += 1
                if not quiet and (progress[0] % 500 == 0 or progress[0] == total):
                    print(f"  {progress[0]}/{total} mutants", file=sys.stderr, flush=True)


def fuzz(mutants: int, families: list[str] | None = None, timeout_s: float = 10.0,
         workers: int = 1, quiet: bool = False) -> tuple[list[Mutant], dict[str, Outcome], list[str]]:
    """Run ``mutants`` mutants shared by the families present; returns the plan, the outcome of
    each mutant id, and the families skipped (with why)."""
    chosen = [f for f in FAMILIES if not families or f.name in families]
    present = [(f, f.seeds()) for f in chosen]
    skipped = [f"{f.name}: {f.absent}" for f, s in present if not s]
    present = [(f, s) for f, s in present if s]
    share = math.ceil(mutants / max(1, len(present)))
    todo = [m for f, s in present for m in plan(f, share, s)][:mutants]
    results: dict[str, Outcome] = {}
    jobs, lock, progress = list(reversed(todo)), threading.Lock(), [0]
    with tempfile.TemporaryDirectory(prefix="xpipe-fuzz-") as tmp:
        threads = [threading.Thread(target=_work, args=(jobs, results, timeout_s, Path(tmp) / str(k),
                                                        lock, progress, len(todo), quiet))
                   for k in range(max(1, workers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return todo, results, skipped


def table(todo: list[Mutant], results: dict[str, Outcome]) -> str:
    """One row per reader (and a total): counts of each outcome and the seconds spent."""
    rows: dict[str, Counter] = defaultdict(Counter)
    secs: dict[str, float] = defaultdict(float)
    for m in todo:
        o = results[m.id]
        for name in (TARGETS[m.seed.target].label, "total"):
            rows[name][o.status] += 1
            secs[name] += o.seconds
    head = ["reader", "mutants", "read ok", "refused", "unexpected", "invalid data", "hangs",
            "crashes", "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in sorted(rows, key=lambda n: (n == "total", n)):
        c = rows[name]
        cells = [name, str(sum(c.values()))] + [str(c[s]) for s in OUTCOMES] + [f"{secs[name]:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def findings(todo: list[Mutant], results: dict[str, Outcome]) -> str:
    """The failures, grouped by reader, outcome, exception type and place."""
    groups: dict[tuple[str, str, str, str], list[Mutant]] = defaultdict(list)
    for m in todo:
        o = results[m.id]
        if o.status not in PASSING:
            what = o.detail.split(":")[0] if o.status == "unexpected" else re.sub(r"'[^']*'", "'...'", o.detail)
            groups[(m.seed.target, o.status, what, o.where.split(";")[0])].append(m)
    if not groups:
        return "No failures: every mutant was read into valid data or refused with the input error."
    out = []
    for (target, status, exc, where), ms in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        first = results[ms[0].id]
        kinds = Counter(m.kind for m in ms)
        out += [f"- **{TARGETS[target].label}**: {status} `{exc}` at `{where or '?'}`: "
                f"{len(ms)} mutants ({', '.join(f'{k} {n}' for k, n in kinds.most_common())})",
                f"  - e.g. `{ms[0].id}`: {first.detail}" + (f" [{first.where}]" if first.where else ""),
                f"  - reproduce: `{REPRODUCE} \"{ms[0].id}\"`"]
    return "\n".join(out)


def reproduce(mutant_id: str) -> int:
    """Write one mutant and read it here, printing the outcome or the traceback."""
    m = find_mutant(mutant_id)
    folder = Path(tempfile.mkdtemp(prefix="xpipe-fuzz-repro-"))
    entry = MutantRunner(Sandbox(), folder).write(m)
    target = TARGETS[m.seed.target]
    print(f"mutant {m.id}\nfile   {entry}\nreader {target.label}{dict(m.seed.options) or ''}")
    t0 = time.perf_counter()
    try:
        value = target.call(entry, **dict(m.seed.options))
    except target.error() as exc:
        print(f"refused with the input error ({time.perf_counter() - t0:.2f} s): {exc}")
        return 0
    except BaseException:  # noqa: BLE001 - show what escaped
        traceback.print_exc()
        return 1
    problem = target.check(value)
    print(f"read ({time.perf_counter() - t0:.2f} s): " + (problem or "valid data"))
    return 0 if problem is None else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", type=int, default=20000, help="total mutants (default 20000)")
    ap.add_argument("--families", default="", help="comma-separated family names (default: all)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds before a call is a hang")
    ap.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--report", type=Path, help="also write the table and findings to this file")
    ap.add_argument("--reproduce", metavar="ID", help="run one mutant here and show its traceback")
    ap.add_argument("--list-families", action="store_true", help="list the families and seeds")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    if args.reproduce:
        return reproduce(args.reproduce)
    if args.list_families:
        for f in FAMILIES:
            seeds = f.seeds()
            print(f"{f.name:18s} {len(seeds):4d} seeds" + ("" if seeds else f"  ({f.absent})"))
        return 0
    t0 = time.perf_counter()
    todo, results, skipped = fuzz(args.mutants, [s for s in args.families.split(",") if s],
                                  args.timeout, args.workers, args.quiet)
    fams = Counter(m.seed.family for m in todo)
    text = "\n\n".join([
        f"{len(todo)} mutants in {time.perf_counter() - t0:.0f} s ({args.workers} worker(s), "
        f"{args.timeout:g} s limit per call); families: "
        + ", ".join(f"{k} {n}" for k, n in fams.items()),
        *(["Skipped: " + "; ".join(skipped)] if skipped else []),
        table(todo, results), "Findings:", findings(todo, results)])
    print(text)
    if args.report:
        args.report.write_text(text + "\n")
    return 0 if all(results[m.id].status in PASSING for m in todo) else 1


if __name__ == "__main__":
    sys.exit(main())
