"""The inspection report as text, one labelled line per fact, as ``xpipe inspect`` prints it.

Examples
--------
>>> print(render_text({"path": "a.xy", "size_bytes": 2048, "ok": False,
...                    "error": "a.xy: no numeric rows", "candidates": []}))
a.xy  (2.0 kB)
  refused      a.xy: no numeric rows
"""

from __future__ import annotations

from typing import Any

from .detect import WHY

#: Metadata entries shown in the text report (``--json`` gives them all).
TEXT_METADATA = 8
#: Characters of one metadata or detail value shown in the text report.
TEXT_VALUE = 60
#: Items listed in the text report.
TEXT_ITEMS = 30

_FAMILY_WORDS = {"frames": "frame", "pattern": "1D pattern", "xas": "XAS", "xps": "XPS",
                 "cycler": "cycler", "poni": "PONI geometry", "recipe": "recipe",
                 "structure": "CIF structure"}


def _size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _cut(value: Any) -> str:
    text = str(value)
    return text if len(text) <= TEXT_VALUE else text[:TEXT_VALUE - 3] + "..."


def _num(x: Any) -> str:
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def _ranges(ranges: dict[str, Any]) -> str:
    return ", ".join(f"{name} {_num(r[0])} .. {_num(r[1])}" for name, r in ranges.items() if r)


def _item_line(item: dict[str, Any]) -> str:
    parts = [str(item.get("name")), f"{item.get('n_points')} points" if item.get("kind") != "dataset"
             else f"{item.get('n_points')} frames"]
    if item.get("ranges"):
        parts.append(_ranges(item["ranges"]))
    if item.get("timestamp"):
        parts.append(str(item["timestamp"]))
    details = {k: v for k, v in (item.get("details") or {}).items() if v not in (None, "", False)}
    if details:
        parts.append(", ".join(f"{k}={_cut(v)}" for k, v in details.items()))
    return "  ".join(p for p in parts if p)


def _frames_line(frames: dict[str, Any]) -> str:
    shape = " x ".join(str(n) for n in frames.get("frame_shape") or [])
    return (f"{frames.get('count')} frame(s), each {shape} (rows x columns) "
            f"{frames.get('dtype')}; one frame was read")


def _columns_line(columns: list[dict[str, Any]]) -> str:
    out = []
    for c in columns:
        text = str(c.get("name"))
        if c.get("unit"):
            text += f" [{c['unit']}]"
        if c.get("role") and c.get("role") != c.get("name"):
            text += f" -> {c['role']}"
        out.append(text)
    return ", ".join(out)


def _times_line(t: dict[str, Any]) -> str:
    first, last = t.get("first"), t.get("last")
    when = first if first == last else f"{first} .. {last}"
    return f"{when} ({t.get('source')})"


def _body(report: dict[str, Any]) -> list[str]:
    lines = []
    family = report.get("family")
    lines.append(f"  read as      {_FAMILY_WORDS.get(family, family)}: {report.get('format')}"
                 + (f" ({report['format_description']})" if report.get("format_description") else ""))
    lines.append(f"  chosen by    {WHY.get(report.get('detected_by'), report.get('detected_by'))}")
    if report.get("frames"):
        lines.append(f"  frames       {_frames_line(report['frames'])}")
    elif report.get("n_points") is not None:
        lines.append(f"  points       {report['n_points']}")
    if report.get("columns"):
        lines.append(f"  columns      {_columns_line(report['columns'])}")
    ranges = _ranges(report.get("ranges") or {})
    if ranges:
        lines.append(f"  ranges       {ranges}")
    t = report.get("timestamps") or {}
    if t.get("first") or t.get("last"):
        lines.append(f"  time         {_times_line(t)}")
    items = report.get("items") or []
    if items:
        kinds = sorted({str(i.get("kind")) for i in items})
        lines.append(f"  {len(items)} {'/'.join(kinds)}{'s' if len(items) != 1 else ''}:")
        lines += [f"    {_item_line(i)}" for i in items[:TEXT_ITEMS]]
        if len(items) > TEXT_ITEMS:
            lines.append(f"    ... {len(items) - TEXT_ITEMS} more (--json lists them all)")
    meta = report.get("metadata") or {}
    shown = [f"{k}={_cut(v)}" for k, v in list(meta.items())[:TEXT_METADATA]
             if v not in (None, "", [], {})]
    if shown:
        more = f"; {len(meta) - TEXT_METADATA} more with --json" if len(meta) > TEXT_METADATA else ""
        lines.append(f"  metadata     {'; '.join(shown)}{more}")
    return lines


def render_text(report: dict[str, Any]) -> str:
    """The report (:meth:`~xpipe.inspect.Inspection.to_dict`) as lines of text.

    Parameters
    ----------
    report : dict
        The JSON report.

    Returns
    -------
    str
        A header line (the file and its size), then one line per fact: what it was read as
        and why, frames or points, columns with units, ranges, times, the file's parts,
        metadata, warnings, notes, and every family that claims the file with its outcome.

    Examples
    --------
    >>> print(render_text({"path": "c.csv", "size_bytes": 40, "ok": True, "family": "cycler",
    ...                    "format": "csv", "detected_by": "suffix", "n_points": 3,
    ...                    "ranges": {"time_s": [0.0, 1800.0]}, "candidates": []}))
    c.csv  (40 bytes)
      read as      cycler: csv
      chosen by    its suffix
      points       3
      ranges       time_s 0 .. 1800
    """
    lines = [f"{report.get('path')}  ({_size(report.get('size_bytes'))})"]
    if report.get("ok"):
        lines += _body(report)
    else:
        lines.append(f"  refused      {report.get('error')}")
    for w in report.get("warnings") or []:
        lines.append(f"  warning      {w}")
    for n in report.get("notes") or []:
        lines.append(f"  note         {n}")
    for c in report.get("candidates") or []:
        why = c.get("detected_by")
        outcome = c.get("outcome") + (f": {c['error']}" if c.get("error") else "")
        if len(outcome) > 160:
            outcome = outcome[:157] + "..."
        lines.append(f"  claimed by   {c.get('family')} {c.get('format')} ({why}): {outcome}")
    return "\n".join(lines)
