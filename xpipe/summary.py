"""``summary.json`` and ``summary.md``: the run's headline numbers, quality flags and failures,
read back from results.h5 so a cached stage reports exactly like a fresh one."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from .nexus import labelled
from .store import atomic_write_text, versions


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _r(v, nd: int = 4):
    return None if v is None or not np.isfinite(v) else round(float(v), nd)


def phase_presence(lattice_group) -> dict:
    """Per phase: where the refinement found it and at what weight fraction, or, never found,
    the detection limit it was not found above (never an empty reason).

    Parameters
    ----------
    lattice_group : h5py.Group
        ``/entry/xrd/lattice``: one group per phase with ``present`` per frame and, when
        refined, ``phase_fraction``, ``phase_fraction_err``, ``detection_limit`` (weight
        fractions) and ``status``.

    Returns
    -------
    dict
        Per phase name: frames present, first and last frame, weight-fraction range, flagged
        frames, detection limits, and a ``text`` line for the summary.

    Examples
    --------
    >>> import h5py
    >>> from xpipe.store import write_record
    >>> h5 = h5py.File("lattice.h5", "w", driver="core", backing_store=False)  # in memory
    >>> write_record(h5.require_group("lattice"), {
    ...     "NVP": {"present": [True, True, False], "phase_fraction": [1.0, 0.62, 0.0],
    ...             "phase_fraction_err": [0.01, 0.02, 0.0], "detection_limit": [0.01] * 3},
    ...     "NaVP": {"present": [False] * 3, "detection_limit": [0.03, 0.02, 0.02]}})
    >>> out = phase_presence(h5["lattice"])
    >>> out["NVP"]["text"]
    'present in 2 of 3 frames (0-1), weight fraction 0.62 to 1'
    >>> out["NaVP"]["text"]
    'not detected; detection limit 2 wt% (2 to 3 over the frames)'
    """
    out: dict[str, dict] = {}
    for name, g in labelled(lattice_group).items():
        if "present" not in g:
            continue
        p = g["present"][()].astype(bool)
        dl = g["detection_limit"][()] if "detection_limit" in g else np.full(p.shape, np.nan)
        w = g["phase_fraction"][()] if "phase_fraction" in g else np.full(p.shape, np.nan)
        we = g["phase_fraction_err"][()] if "phase_fraction_err" in g else np.full(p.shape, np.nan)
        status = [_text(v) for v in g["status"][()]] if "status" in g else []
        rec: dict = {"frames_present": int(p.sum()), "frames": int(p.size)}
        if p.any():
            idx = np.flatnonzero(p)
            rec.update(first_frame=int(idx[0]), last_frame=int(idx[-1]))
            if np.isfinite(w[p]).any():
                rec.update(fraction_min=_r(np.nanmin(w[p]), 4), fraction_max=_r(np.nanmax(w[p]), 4),
                           fraction_err_median=_r(np.nanmedian(we[p]), 4))
            flagged = [s for s, pr in zip(status, p) if pr and s != "ok"]
            if flagged:
                rec["flagged"] = dict(Counter(flagged))
            absent = ~p & np.isfinite(dl)
            if absent.any():
                rec["detection_limit_when_absent_median"] = _r(np.nanmedian(dl[absent]), 4)
            rec["text"] = (f"present in {int(p.sum())} of {p.size} frames ({idx[0]}-{idx[-1]})"
                           + (f", weight fraction {rec['fraction_min']:.3g} to {rec['fraction_max']:.3g}"
                              if "fraction_min" in rec else ""))
        else:
            if np.isfinite(dl).any():
                rec.update(detection_limit_median=_r(np.nanmedian(dl), 4), detection_limit_min=_r(np.nanmin(dl), 4),
                           detection_limit_max=_r(np.nanmax(dl), 4))
            from .xrd.refine_results import absence_text  # slow scipy imports: only if needed

            rec["text"] = absence_text(dl)
        out[name] = rec
    return out


def volume_changes(lattice_group) -> dict:
    """Per phase: volume at the first and last frame where it is present, its extremes and the
    changes in % of the first; for two phases of the same structural family present together
    (a two-phase reaction), the change between them at their first common frame.

    Parameters
    ----------
    lattice_group : h5py.Group
        ``/entry/xrd/lattice``: one group per phase with ``volume`` (cubic angstrom) per frame,
        optionally ``volume_err`` and ``present``, and its ``family`` attribute.

    Returns
    -------
    dict
        ``phases``: per phase, volumes in cubic angstrom (``*_a3``) and changes in % of the
        first; ``transitions``: per two-phase reaction, the parent and child phase, the frame
        and the volume change in %.

    Examples
    --------
    >>> import h5py
    >>> from xpipe.store import write_record
    >>> h5 = h5py.File("volumes.h5", "w", driver="core", backing_store=False)  # in memory
    >>> write_record(h5.require_group("lattice"), {
    ...     "NVP": {"present": [True, True, False], "volume": [1439.0, 1430.0, 0.0]},
    ...     "NaVP": {"present": [False, True, True], "volume": [0.0, 1340.0, 1338.0]}})
    >>> for name in ("NVP", "NaVP"):
    ...     h5["lattice"][name].attrs["family"] = "NASICON"
    >>> out = volume_changes(h5["lattice"])
    >>> out["phases"]["NVP"]["change_net_percent"]
    -0.625
    >>> [(t["from"], t["to"], t["frame"], t["change_percent"]) for t in out["transitions"]]
    [('NVP', 'NaVP', 1, -6.294)]
    """
    phases: dict[str, dict] = {}
    present: dict[str, np.ndarray] = {}
    for name, g in labelled(lattice_group).items():
        if "volume" not in g:
            continue
        v = g["volume"][()]
        e = g["volume_err"][()] if "volume_err" in g else np.full(v.shape, np.nan)
        p = (g["present"][()] if "present" in g else np.ones(v.shape, bool)) & np.isfinite(v)
        present[name] = p
        if not p.any():
            phases[name] = {"frames_present": 0}
            continue
        idx = np.flatnonzero(p)
        first, last = v[idx[0]], v[idx[-1]]
        phases[name] = {
            "family": _text(g.attrs.get("family", "")),
            "frames_present": int(p.sum()),
            "volume_first_a3": _r(first, 3), "volume_first_err_a3": _r(e[idx[0]], 3),
            "volume_last_a3": _r(last, 3),
            "volume_min_a3": _r(v[p].min(), 3), "volume_max_a3": _r(v[p].max(), 3),
            "change_min_percent": _r(100 * (v[p].min() - first) / first, 3),
            "change_max_percent": _r(100 * (v[p].max() - first) / first, 3),
            "change_net_percent": _r(100 * (last - first) / first, 3),
        }
    pairs = []
    names = list(phases)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            fa, fb = phases[a].get("family"), phases[b].get("family")
            if not fa or fa != fb:
                continue
            both = np.flatnonzero(present[a] & present[b])
            if both.size == 0:
                continue
            # the phase present first is the parent of the reaction
            first_a = np.flatnonzero(present[a])[0]
            first_b = np.flatnonzero(present[b])[0]
            src, dst = (a, b) if first_a <= first_b else (b, a)
            k = both[0]
            by_label = labelled(lattice_group)
            va = by_label[src]["volume"][k]
            vb = by_label[dst]["volume"][k]
            v0 = by_label[src]["volume"][np.flatnonzero(present[src])[0]]
            pairs.append({"from": src, "to": dst, "frame": int(k), "change_percent": _r(100 * (vb - va) / va, 3),
                          "change_from_first_percent": _r(100 * (vb - v0) / v0, 3)})
    return {"phases": phases, "transitions": pairs}


def _valence_ranges(timeline) -> dict:
    out = {}
    for name, g in timeline["series"].items():
        if _text(g.attrs.get("quantity", "")) != "valence":
            continue
        v = g["value"][()]
        e = g["value_err"][()]
        ok = np.isfinite(v)
        if not ok.any():
            continue
        placement = [_text(p) for p in g["placement"][()]] if "placement" in g else []
        out[name] = {
            "technique": _text(g.attrs.get("technique", "")),
            "kind": _text(g.attrs.get("kind", "")),
            "n": int(ok.sum()),
            "min": _r(v[ok].min()), "max": _r(v[ok].max()),
            "range": _r(v[ok].max() - v[ok].min()),
            "median_err": _r(np.nanmedian(e[ok])) if np.isfinite(e[ok]).any() else None,
            "placement": dict(Counter(placement)),
        }
    return out


def xas_valence(xas_group) -> dict:
    """Per XAS series: the reported valence method, the status of its values and every method's
    leave-one-out error on the standards (``/entry/xas/<series>/valence_check``).

    Parameters
    ----------
    xas_group : h5py.Group
        ``/entry/xas``.

    Returns
    -------
    dict
        Per series with a check: ``reported``, ``model``, ``status`` (count per status),
        ``methods`` (per method: ``usable``, ``loo_interior_rms``, ``loo_max``, ``reason``).

    Examples
    --------
    >>> import h5py
    >>> from xpipe.store import write_record
    >>> h5 = h5py.File("xasv.h5", "w", driver="core", backing_store=False)  # in memory
    >>> write_record(h5.require_group("xas"), {"V_K": {
    ...     "spectra": {"valence_status": ["ok", "extrapolated"]},
    ...     "calibration": {"model": "piecewise_linear"},
    ...     "valence_check": {"method": ["edge_half_height", "lcf"], "usable": [True, True],
    ...                       "reason": ["", ""], "calibration_err": [0.69, float("nan")],
    ...                       "leave_one_out": {"edge_half_height": {"max_error": 0.81}}}}})
    >>> h5["xas/V_K/valence_check"].attrs["reported"] = "lcf"
    >>> out = xas_valence(h5["xas"])["V_K"]
    >>> out["reported"], out["status"], out["methods"]["edge_half_height"]["loo_interior_rms"]
    ('lcf', {'ok': 1, 'extrapolated': 1}, 0.69)
    """
    out = {}
    for name, g in xas_group.items():
        if "valence_check" not in g:
            continue
        c = g["valence_check"]
        loo = c.get("leave_one_out")
        methods = {}
        for i, m in enumerate(_text(x) for x in c["method"][()]):
            lg = loo.get(m) if loo is not None else None
            methods[m] = {"usable": bool(c["usable"][i]), "loo_interior_rms": _r(float(c["calibration_err"][i]), 3),
                          "loo_max": _r(float(lg["max_error"][()]), 3) if lg is not None and "max_error" in lg else None,
                          "reason": _text(c["reason"][i])}
        status = [_text(x) for x in g["spectra/valence_status"][()]] if "spectra/valence_status" in g else []
        model = _text(g["calibration/model"][()]) if "calibration/model" in g else None
        out[name] = {"reported": _text(c.attrs.get("reported", "")), "model": model,
                     "status": dict(Counter(k for st in status for k in st.split("; "))), "methods": methods}
    return out


def _kinds(text: str) -> list[str]:
    """Flag kinds in a '; '-joined flag text ('unresolved: ...; correlation: ...')."""
    return re.findall(r"(?:^|;\s*)([a-z][a-z0-9_]*):", text)


def _quality(entry) -> dict:
    flags: dict[str, dict] = {}
    if "xrd/lattice" in entry:
        for name, g in labelled(entry["xrd/lattice"]).items():
            if "status" in g:
                flags[f"xrd lattice {name}"] = dict(Counter(_text(s) for s in g["status"][()]))
    if "xrd/integrated" in entry:
        flags["xrd frames"] = {"integrated": int(entry["xrd/integrated/intensity"].shape[0]),
                               "failed": int(entry["xrd/failed/reason"].shape[0]) if "xrd/failed/reason" in entry else 0}
    for name, g in (entry["xas"].items() if "xas" in entry else []):
        sp = g.get("spectra")
        if sp is not None and "flags" in sp:
            c = Counter(k for s in sp["flags"][()] for k in _kinds(_text(s)))
            flags[f"xas {name}"] = dict(c) or {"clean": int(sp["flags"].shape[0])}
    for name, g in (entry["xps"].items() if "xps" in entry else []):
        if "diagnostics" in g:
            c = Counter(k for s in g["diagnostics"][()] for k in _kinds(_text(s)))
            flags[f"xps {name}"] = dict(c) or {"clean": int(g["diagnostics"].shape[0])}
    return flags


def _echem(entry) -> dict | None:
    if "echem" not in entry:
        return None
    g = entry["echem"]
    t, v = g["time_s"][()], g["voltage_v"][()]
    out = {
        "file": _text(g.attrs.get("source", "")), "format": _text(g.attrs.get("format", "")),
        "start_time": _text(g.attrs.get("start_time", "")), "rows": int(t.size),
        "duration_h": _r(t[-1] / 3600 if t.size else np.nan, 3),
        "voltage_min_v": _r(np.nanmin(v)), "voltage_max_v": _r(np.nanmax(v)),
        "cycles": int(np.max(g["cycle"][()])) if t.size else 0,
        "half_cycles": int(np.max(g["half_cycle"][()])) if t.size else 0,
        "clock_offset_s": _r(float(g["clock"].attrs.get("offset_s", 0.0)), 2),
    }
    if "offset_err_s" in g["clock"].attrs:
        out["clock_offset_err_s"] = _r(float(g["clock"].attrs["offset_err_s"]), 2)
    if "x" in g:
        x = g["x"][()]
        out["x_range"] = [_r(np.nanmin(x)), _r(np.nanmax(x))]
    return out


def build_summary(results_path: Path, report) -> dict:
    """The run's headline numbers, quality flags and failures, read back from results.h5.

    Parameters
    ----------
    results_path : Path
        The results file.
    report : RunReport
        The run's report: its ``done`` count and ``failed`` (key, reason) pairs.

    Returns
    -------
    dict
        Title, versions, electrochemistry, phases and volume changes, valence ranges, quality
        flags per stage, failures and items done: what ``summary.json`` holds.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from types import SimpleNamespace
    >>> from xpipe.store import write_record
    >>> folder = Path(tempfile.mkdtemp())
    >>> with h5py.File(folder / "results.h5", "w") as h5:
    ...     write_record(h5.require_group("entry"), {"title": "demo", "xrd": {
    ...         "integrated": {"intensity": [[1.0, 5.0], [1.0, 4.0]]},
    ...         "failed": {"reason": ["truncated file"]}}})
    >>> report = SimpleNamespace(done=2, failed=[("f_2.cbf", "truncated file")])  # a RunReport
    >>> s = build_summary(folder / "results.h5", report)
    >>> s["title"], s["quality_flags"], s["items_done"]
    ('demo', {'xrd frames': {'integrated': 2, 'failed': 1}}, 2)
    """
    import h5py

    with h5py.File(results_path, "r") as h5:
        entry = h5["entry"]
        out: dict = {
            "title": _text(entry["title"][()]) if "title" in entry else "",
            "results": str(results_path),
            "versions": versions(),
        }
        if (e := _echem(entry)) is not None:
            out["echem"] = e
        if "xrd/lattice" in entry:
            out["phases"] = phase_presence(entry["xrd/lattice"])
            out["volume_change"] = volume_changes(entry["xrd/lattice"])
        if "timeline" in entry:
            out["valence"] = _valence_ranges(entry["timeline"])
            if "notes" in entry["timeline"]:
                out["timeline_notes"] = [_text(n) for n in entry["timeline/notes"][()]]
        if "xas" in entry and (xv := xas_valence(entry["xas"])):
            out["xas_valence"] = xv
        out["quality_flags"] = _quality(entry)
    out["failures"] = [{"item": k, "reason": r} for k, r in report.failed]
    out["items_done"] = report.done
    return out


def _md(s: dict) -> str:
    lines = [f"# {s.get('title') or 'xpipe run'}", "", f"Results: `{s['results']}`", ""]
    if "echem" in s:
        e = s["echem"]
        lines += ["## Electrochemistry", "",
                  f"- {e['file']} ({e['format']}), {e['rows']} rows over {e['duration_h']} h from {e['start_time']}",
                  f"- voltage {e['voltage_min_v']}-{e['voltage_max_v']} V, {e['cycles']} cycle(s), {e['half_cycles']} half-cycle(s)",
                  f"- clock offset {e['clock_offset_s']} s" + (f" +- {e['clock_offset_err_s']} s (estimated)" if "clock_offset_err_s" in e else " (recipe)")]
        if "x_range" in e:
            lines.append(f"- x from {e['x_range'][0]} to {e['x_range'][1]}")
        lines.append("")
    if s.get("phases"):
        lines += ["## Phases", ""]
        lines += [f"- {name}: {p['text']}" + (f" (flagged: {', '.join(f'{k} {n}' for k, n in p['flagged'].items())})"
                                              if p.get("flagged") else "") for name, p in s["phases"].items()]
        lines.append("")
    if "volume_change" in s:
        lines += ["## Lattice volume", "", "| phase | frames | V first (Å³) | V min | V max | min / max / net change (%) |",
                  "|---|---|---|---|---|---|"]
        for name, p in s["volume_change"]["phases"].items():
            if not p.get("frames_present"):
                lines.append(f"| {name} | 0 | | | | |")
                continue
            lines.append(f"| {name} | {p['frames_present']} | {p['volume_first_a3']} ± {p['volume_first_err_a3']} | "
                         f"{p['volume_min_a3']} | {p['volume_max_a3']} | {p['change_min_percent']} / {p['change_max_percent']} / "
                         f"{p['change_net_percent']} |")
        for t in s["volume_change"]["transitions"]:
            lines.append(f"\n{t['from']} → {t['to']} (two-phase reaction from frame {t['frame']}): ΔV = {t['change_percent']} % "
                         f"between the coexisting cells, {t['change_from_first_percent']} % from the first {t['from']} cell")
        lines.append("")
    if s.get("valence"):
        lines += ["## Valence", "", "| series | technique | kind | n | min | max | range | median error | placement |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, v in s["valence"].items():
            pl = ", ".join(f"{k} {n}" for k, n in v["placement"].items())
            lines.append(f"| {name} | {v['technique']} | {v['kind']} | {v['n']} | {v['min']} | {v['max']} | {v['range']} | "
                         f"{v['median_err']} | {pl} |")
        lines.append("")
    for name, xv in s.get("xas_valence", {}).items():
        status = ", ".join(f"{k} {n}" for k, n in xv["status"].items())
        lines += [f"## XAS valence: {name}", "", f"Reported by {xv['reported']} (calibration curve {xv['model']}); "
                  f"status of the values: {status or 'none'}. Leave-one-out on the standards (docs/xas_valence.md):", "",
                  "| method | usable | LOO RMS between standards | LOO largest | note |", "|---|---|---|---|---|"]
        for m, d in xv["methods"].items():
            lines.append(f"| {m} | {'yes' if d['usable'] else 'no'} | {d['loo_interior_rms']} | {d['loo_max']} | {d['reason']} |")
        lines.append("")
    lines += ["## Quality flags", ""]
    for stage, c in s["quality_flags"].items():
        lines.append(f"- {stage}: " + ", ".join(f"{k} {n}" for k, n in c.items()))
    for n in s.get("timeline_notes", []):
        lines.append(f"- timeline: {n}")
    lines += ["", "## Failures", ""]
    lines += [f"- {f['item']}: {f['reason']}" for f in s["failures"]] or ["none"]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in s["versions"].items()), ""]
    return "\n".join(lines)


def write_summary(results_path: Path, report, outdir: Path) -> list[Path]:
    """Write ``summary.json`` and ``summary.md`` (see :func:`build_summary`) into ``outdir``.

    Parameters
    ----------
    results_path : Path
        The results file.
    report : RunReport
        The run's report: its ``done`` count and ``failed`` (key, reason) pairs.
    outdir : Path
        The output folder.

    Returns
    -------
    list of Path
        The two files written.

    Examples
    --------
    >>> import tempfile, h5py
    >>> from types import SimpleNamespace
    >>> from xpipe.store import write_record
    >>> folder = Path(tempfile.mkdtemp())
    >>> with h5py.File(folder / "results.h5", "w") as h5:
    ...     write_record(h5.require_group("entry"), {"title": "demo", "xrd": {
    ...         "integrated": {"intensity": [[1.0, 5.0], [1.0, 4.0]]},
    ...         "failed": {"reason": ["truncated file"]}}})
    >>> report = SimpleNamespace(done=2, failed=[("f_2.cbf", "truncated file")])  # a RunReport
    >>> [p.name for p in write_summary(folder / "results.h5", report, folder)]
    ['summary.json', 'summary.md']
    >>> (folder / "summary.md").read_text().splitlines()[-3]
    '- f_2.cbf: truncated file'
    """
    s = build_summary(results_path, report)
    j = outdir / "summary.json"
    atomic_write_text(j, json.dumps(s, indent=1, ensure_ascii=False) + "\n", outdir=outdir)
    m = outdir / "summary.md"
    atomic_write_text(m, _md(s), outdir=outdir)
    return [j, m]
