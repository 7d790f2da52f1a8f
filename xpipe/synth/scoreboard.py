"""Score operando phase analysis against the ground truth of generated scenarios.

A scenario (:mod:`xpipe.synth.scenarios`) is written as frames, a PONI, CIFs, a recipe and
``truth.json``; the recipe is run through the same runner as ``xpipe run``, and
``results.h5`` is compared with the truth, per frame and phase:

* presence calls: a phase reported present where its true weight fraction is 0 is a false
  presence; a phase reported absent where it is present is a miss unless its true fraction is
  below the detection limit reported for that frame (then "not detected, below the limit" is the
  right answer);
* cells: |delta a|, |delta b|, |delta c| where the phase is above 10 wt %;
* weight fractions: |delta w| over every (frame, phase) where the phase is present or reported,
  against the truth renormalised over the phases the frame can show (a phase truly present
  below the detection limit reported for it is invisible to any diffraction analysis; the
  error against the full truth and the largest such hidden fraction are printed too);
* two-phase windows: first and last frame where both phases of a true window are reported;
* minor phases: detection rate of phases at 1.5 to 3 wt %, and of every phase present at twice
  its reported detection limit or more (the limit must not be an excuse);
* esd coverage: share of cells and fractions whose error is within one reported esd.

:data:`TARGETS` holds the targets the scoreboard is held to.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..nexus import labelled
from ..recipe.model import load_recipe
from ..runner import run
from .scenarios import make_scenario, write_scenario

__all__ = ["TARGETS", "ScenarioScore", "format_table", "run_scenario", "score_results", "totals"]

#: name -> (description, comparison, value)
TARGETS = {
    "false_presence": ("frames where an absent phase is reported present", "==", 0),
    "presence_right": ("(frame, phase) presence calls right", ">=", 0.99),
    "a_within": ("abs(delta a) <= 0.002 A where the phase is > 10 wt %", ">=", 0.99),
    "c_within": ("abs(delta c) <= 0.005 A where the phase is > 10 wt %", ">=", 0.99),
    "w_within": ("abs(delta w) <= 0.03", ">=", 0.99),
    "window_within": ("two-phase window boundaries within one frame", ">=", 1.0),
    "minor_found": ("phases at 1.5-3 wt % found", ">=", 0.95),
    "limit_sharp": ("phases at twice their reported detection limit or more found", ">=", 0.99),
    "esd_cover": ("cell and fraction errors within one esd (about 0.68)", "between", (0.5, 0.9)),
}


@dataclass
class ScenarioScore:
    """Counts of one scenario (summed over scenarios by :func:`totals`).

    Parameters
    ----------
    seed : int
        The scenario's seed (-1 when unknown).
    kind : str
        Its kind.
    n_frames, calls, right, false_presence, missed_above_limit : int
        Frames, (frame, phase) presence calls, right calls, phases reported present where
        absent, phases missed above their detection limit.
    cell_n, a_ok, c_ok : int
        Cells compared (phase above 10 wt %) and those within 0.002 A (a) and 0.005 A (c).
    w_n, w_ok : int
        Weight fractions compared and those within 0.03.
    w_max, w_max_all, hidden_mass : float
        Largest fraction error against the visible and the full truth, largest true fraction
        of a phase below its detection limit.
    windows, windows_ok : int
        True two-phase windows and those found within one frame at both ends.
    minor_n, minor_found, above_limit_n, above_limit_found : int
        Phases at 1.5-3 wt % and at twice their detection limit or more, and those found.
    esd_n, esd_in : int
        Errors with a reported esd, and those within one esd.
    seconds : float
        Time of the run, s.
    error : str
        Why the scenario could not be scored ("" when it was).
    notes : list of str
        Wrong calls and windows, one line each.

    Examples
    --------
    >>> sc = ScenarioScore(seed=3, calls=4, right=3)
    >>> sc.right / sc.calls, sc.error
    (0.75, '')
    """

    seed: int
    kind: str = ""
    n_frames: int = 0
    calls: int = 0
    right: int = 0
    false_presence: int = 0
    missed_above_limit: int = 0
    cell_n: int = 0
    a_ok: int = 0
    c_ok: int = 0
    w_n: int = 0
    w_ok: int = 0
    w_max: float = 0.0
    w_max_all: float = 0.0
    hidden_mass: float = 0.0
    windows: int = 0
    windows_ok: int = 0
    minor_n: int = 0
    minor_found: int = 0
    above_limit_n: int = 0
    above_limit_found: int = 0
    esd_n: int = 0
    esd_in: int = 0
    seconds: float = 0.0
    error: str = ""
    notes: list = field(default_factory=list)


def _read(results: Path) -> dict:
    out = {}
    with h5py.File(results, "r") as h:
        # phase groups are named with valid NeXus names; the phase itself is their @long_name
        for name, g in labelled(h["entry/xrd/lattice"]).items():
            out[name] = {k: g[k][()] for k in ("present", "a", "b", "c", "a_err", "b_err", "c_err",
                                              "phase_fraction", "phase_fraction_err", "detection_limit")}
            out[name]["status"] = [s.decode() if isinstance(s, bytes) else str(s) for s in g["status"][()]]
    return out


def score_results(results: Path, truth: dict, seed: int = -1) -> ScenarioScore:
    """Compare ``results.h5`` of a scenario with its ``truth.json`` content.

    Parameters
    ----------
    results : path
        ``results.h5`` of the run (``entry/xrd/lattice/<phase>`` groups).
    truth : dict
        Content of the scenario's ``truth.json`` (:func:`xpipe.synth.scenarios.truth_dict`).
    seed : int
        Seed recorded in the score.

    Returns
    -------
    ScenarioScore
        The counts; ``error`` set when a phase of the truth is missing from the results.

    Examples
    --------
    One phase in two frames, the second a refined 0.0035 A too long:

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "results.h5"
    >>> with h5py.File(path, "w") as h:
    ...     g = h.create_group("entry/xrd/lattice/Al")
    ...     for key in ("a", "b", "c"):
    ...         g[key], g[key + "_err"] = [4.0497, 4.0530], [0.001, 0.001]
    ...     g["present"], g["status"] = [True, True], [b"ok", b"ok"]
    ...     g["phase_fraction"], g["phase_fraction_err"] = [1.0, 1.0], [0.01, 0.01]
    ...     g["detection_limit"] = [0.01, 0.01]
    >>> cell = {"weight_fraction": 1.0, "a_a": 4.0495, "c_a": 4.0495}
    >>> truth = {"phases": [{"name": "Al"}], "frames": [{"phases": {"Al": cell}}] * 2}
    >>> sc = score_results(path, truth)
    >>> (sc.right, sc.calls), (sc.a_ok, sc.c_ok, sc.cell_n), (sc.w_ok, sc.w_n)
    ((2, 2), (1, 2, 2), (2, 2))
    """
    rep = _read(Path(results))
    frames = truth["frames"]
    sc = ScenarioScore(seed=seed, kind=truth.get("kind", ""), n_frames=len(frames))
    names = [p["name"] for p in truth["phases"]]
    for name in names:
        if name not in rep:
            sc.error = f"phase {name} missing from results"
            return sc
    for f, fr in enumerate(frames):
        visible, total = _visible(sc, rep, names, f, fr)
        for name in names:
            t = fr["phases"].get(name, {"weight_fraction": 0.0})
            _score_phase(sc, rep[name], name, f, t, visible.get(name, 0.0) / total)
    for win in truth.get("two_phase_windows", []):
        _score_window(sc, rep, win)
    return sc


def _visible(sc: ScenarioScore, rep: dict, names: list, f: int, fr: dict) -> tuple[dict, float]:
    """True fractions of frame ``f`` among the phases it can show, and their sum.

    Fractions are compared among the phases this frame can show: one truly present but below
    the detection limit reported for it is left out of the truth's normalisation (and the
    largest such fraction kept in ``sc.hidden_mass``).
    """
    visible = {}
    for name in names:
        w = float(fr["phases"].get(name, {"weight_fraction": 0.0})["weight_fraction"])
        dl = float(rep[name]["detection_limit"][f])
        if bool(rep[name]["present"][f]) or w <= 0 or not (np.isfinite(dl) and w < dl):
            visible[name] = w
        else:
            sc.hidden_mass = max(sc.hidden_mass, w)
    return visible, sum(visible.values()) or 1.0


def _score_phase(sc: ScenarioScore, r: dict, name: str, f: int, t: dict, w_vis: float) -> None:
    """Score phase ``name`` in frame ``f``: presence, cell, fraction, minor phase, limit."""
    w = float(t["weight_fraction"])
    called = bool(r["present"][f])
    dl = float(r["detection_limit"][f])
    sc.calls += 1
    if called and w <= 0:
        sc.false_presence += 1
        sc.notes.append(f"frame {f}: {name} reported present, truly absent")
    elif called or w <= 0 or (np.isfinite(dl) and w < dl):
        sc.right += 1
    else:
        sc.missed_above_limit += 1
    if w > 0.10 and called:
        _score_cell(sc, r, f, t)
    if (called or w > 0) and not _score_fraction(sc, r, f, w, w_vis, called):
        return  # no finite fraction reported: not counted for minor phases and limits either
    if 0.015 <= w <= 0.03:
        sc.minor_n += 1
        sc.minor_found += called
    if w > 0 and np.isfinite(dl) and w >= 2.0 * dl:
        sc.above_limit_n += 1
        sc.above_limit_found += called


def _score_cell(sc: ScenarioScore, r: dict, f: int, t: dict) -> None:
    da = abs(r["a"][f] - t["a_a"])
    dc = abs(r["c"][f] - t["c_a"])
    sc.cell_n += 1
    sc.a_ok += bool(da <= 0.002)
    sc.c_ok += bool(dc <= 0.005)
    for d, e in ((da, r["a_err"][f]), (dc, r["c_err"][f])):
        if np.isfinite(e) and e > 0:
            sc.esd_n += 1
            sc.esd_in += bool(d <= e)


def _score_fraction(sc: ScenarioScore, r: dict, f: int, w: float, w_vis: float,
                    called: bool) -> bool:
    """Count the weight fraction error; False when the reported fraction is not finite."""
    wr = float(r["phase_fraction"][f]) if called else 0.0
    if not np.isfinite(wr):
        return False
    sc.w_max_all = max(sc.w_max_all, abs(wr - w))
    dw = abs(wr - w_vis)
    sc.w_n += 1
    sc.w_ok += bool(dw <= 0.03)
    sc.w_max = max(sc.w_max, dw)
    e = float(r["phase_fraction_err"][f])
    if called and w > 0 and np.isfinite(e) and e > 0:
        sc.esd_n += 1
        sc.esd_in += bool(dw <= e)
    return True


def _score_window(sc: ScenarioScore, rep: dict, win: dict) -> None:
    """A true two-phase window against the reported run of both phases overlapping it most."""
    a, b = win["phases"]
    both = np.asarray(rep[a]["present"], bool) & np.asarray(rep[b]["present"], bool)
    sc.windows += 1
    idx = np.flatnonzero(both)
    if idx.size == 0:
        sc.notes.append(f"two-phase window {a} + {b} not found")
        return
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    lo, hi = win["first_frame"], win["last_frame"]
    best = max(runs, key=lambda r: len(set(r.tolist()) & set(range(lo, hi + 1))))
    ok = abs(int(best[0]) - lo) <= 1 and abs(int(best[-1]) - hi) <= 1
    sc.windows_ok += ok
    if not ok:
        sc.notes.append(f"window {a} + {b}: reported {best[0]}-{best[-1]}, true {lo}-{hi}")


def run_scenario(seed: int, workdir: Path, *, n_frames: int | None = None) -> ScenarioScore:
    """Generate scenario ``seed`` in ``workdir``, run its recipe, score it.

    Parameters
    ----------
    seed : int
        Seed of the scenario (:func:`xpipe.synth.scenarios.make_scenario`).
    workdir : path
        Folder for the data set, the recipe and the results.
    n_frames : int, optional
        Number of frames (default: the scenario's own).

    Returns
    -------
    ScenarioScore
        The counts and the run time (s); ``error`` set when the run wrote no results.

    Examples
    --------
    >>> import tempfile
    >>> sc = run_scenario(6, tempfile.mkdtemp(), n_frames=2)  # a whole run of two frames
    >>> sc.kind, sc.error, (sc.right, sc.calls), (sc.a_ok, sc.cell_n)
    ('broadening', '', (2, 2), (2, 2))
    """
    scn = make_scenario(seed, n_frames=n_frames)
    recipe = write_scenario(scn, workdir)
    truth = json.loads((Path(workdir) / "truth.json").read_text())
    t0 = time.perf_counter()
    loaded = load_recipe(recipe)
    out = Path(workdir) / "results"
    report = run(loaded, out, workers=1, quiet=True, echo=lambda *a, **k: None, use_cache=False)
    seconds = time.perf_counter() - t0
    results = out / "results.h5"
    if not results.exists():
        return ScenarioScore(seed=seed, kind=truth.get("kind", ""), error=f"no results.h5 ({report})")
    sc = score_results(results, truth, seed)
    sc.seconds = seconds
    return sc


def totals(scores: list[ScenarioScore]) -> dict:
    """Summed counts and the value of every target.

    Parameters
    ----------
    scores : list of ScenarioScore

    Returns
    -------
    dict
        ``counts`` (summed, and the largest errors), ``values`` and ``met`` of every key of
        :data:`TARGETS`, ``errors`` (scenarios that could not be scored).

    Examples
    --------
    >>> tot = totals([ScenarioScore(seed=0, calls=10, right=10, cell_n=4, a_ok=4, c_ok=3),
    ...               ScenarioScore(seed=1, calls=10, right=9, cell_n=4, a_ok=4, c_ok=4)])
    >>> tot["values"]["presence_right"], tot["values"]["c_within"], tot["met"]["a_within"]
    (0.95, 0.875, True)
    """
    s = {k: sum(getattr(x, k) for x in scores) for k in (
        "calls", "right", "false_presence", "missed_above_limit", "cell_n", "a_ok", "c_ok", "w_n", "w_ok",
        "windows", "windows_ok", "minor_n", "minor_found", "above_limit_n", "above_limit_found", "esd_n", "esd_in")}
    s["w_max"] = max((x.w_max for x in scores), default=0.0)
    s["w_max_all"] = max((x.w_max_all for x in scores), default=0.0)
    s["hidden_mass"] = max((x.hidden_mass for x in scores), default=0.0)

    def ratio(a, b):
        return s[a] / s[b] if s[b] else math.nan

    values = {
        "false_presence": s["false_presence"],
        "presence_right": ratio("right", "calls"),
        "a_within": ratio("a_ok", "cell_n"),
        "c_within": ratio("c_ok", "cell_n"),
        "w_within": ratio("w_ok", "w_n"),
        "window_within": ratio("windows_ok", "windows"),
        "minor_found": ratio("minor_found", "minor_n"),
        "limit_sharp": ratio("above_limit_found", "above_limit_n"),
        "esd_cover": ratio("esd_in", "esd_n"),
    }
    met = {}
    for k, (_, op, target) in TARGETS.items():
        v = values[k]
        if op == "==":
            met[k] = v == target
        elif op == ">=":
            met[k] = bool(v >= target) if np.isfinite(v) else True
        else:
            met[k] = bool(target[0] <= v <= target[1]) if np.isfinite(v) else True
    return {"counts": s, "values": values, "met": met, "errors": sum(bool(x.error) for x in scores)}


def format_table(scores: list[ScenarioScore], tot: dict) -> str:
    """Markdown: one line per scenario, then the targets.

    Parameters
    ----------
    scores : list of ScenarioScore
    tot : dict
        Their :func:`totals`.

    Returns
    -------
    str
        Two Markdown tables.

    Examples
    --------
    >>> scores = [ScenarioScore(seed=0, kind="biphasic", n_frames=20, calls=40, right=40)]
    >>> print(format_table(scores, totals(scores)).splitlines()[2])
    | 0 | biphasic | 20 | 40/40 | 0 | - | 0.000 | 0/0 | 0.0 |
    """
    lines = ["| seed | kind | frames | calls right | false presence | cells in tol. (a / c) | max abs dw | windows | s |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for x in scores:
        if x.error:
            lines.append(f"| {x.seed} | {x.kind} | {x.n_frames} | error: {x.error} | | | | | |")
            continue
        cells = f"{x.a_ok}/{x.cell_n} / {x.c_ok}/{x.cell_n}" if x.cell_n else "-"
        lines.append(f"| {x.seed} | {x.kind} | {x.n_frames} | {x.right}/{x.calls} | {x.false_presence} | {cells} | "
                     f"{x.w_max:.3f} | {x.windows_ok}/{x.windows} | {x.seconds:.1f} |")
    lines += ["", "| target | value | goal | met |", "|---|---:|---|---|"]
    for k, (desc, op, target) in TARGETS.items():
        v = tot["values"][k]
        goal = {"==": "=", ">=": "≥"}.get(op, op) + f" {target}" if op != "between" else f"{target[0]} to {target[1]}"
        shown = f"{v}" if isinstance(v, int) else f"{v:.3f}"
        lines.append(f"| {desc} | {shown} | {goal} | {'yes' if tot['met'][k] else 'NO'} |")
    lines.append(f"| largest abs weight fraction error | {tot['counts']['w_max']:.3f} | | |")
    lines.append(f"| the same against the truth including phases below their detection limit | "
                 f"{tot['counts']['w_max_all']:.3f} | | |")
    lines.append(f"| largest true fraction of a phase below its detection limit | {tot['counts']['hidden_mass']:.3f} | | |")
    return "\n".join(lines)
