"""Digests of a results file, to compare the results of the shipped recipes with committed truth.

A digest keeps, for every dataset outside ``/entry/provenance``, its shape and a few sums that
change when any value, its order or its NaN pattern changes: the sum, the sum of absolute values,
a position-weighted sum, the extremes and the NaN count (numbers), or the values themselves
(short string datasets that are not paths or times). Refresh the committed truth only when a
change of results is intended: ``XPIPE_UPDATE_TRUTH=1 pytest tests/test_shipped_recipes.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np

#: Groups and names whose content depends on where and when a run happened (engines built: 0
#: when an earlier run kept the folded integration engine).
VOLATILE = ("provenance", "source", "path", "file", "time_iso", "start_time", "end_time", "date",
            "created", "version", "host", "command", "engine_builds")


def _volatile(name: str) -> bool:
    parts = name.lower().split("/")
    return any(v in p for p in parts for v in VOLATILE)


_NUMBER = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")


_PATH = re.compile(r"(?:[A-Za-z]:)?[/\\][^\s\"',;]*[/\\]([^\s\"',;/\\]+)")


def _rounded(text: str) -> str:
    """Numbers written into text (JSON settings, fitted values) to 4 significant digits, so the
    text compares equal when the numbers agree to far better than that; file paths reduced to
    their names, which do not depend on where the repository is."""
    return _NUMBER.sub(lambda m: f"{float(m.group()):.4g}", _PATH.sub(r"\1", text))


def digest(path: str | Path) -> dict[str, list]:
    """``{dataset path: summary}`` of every dataset of a results file."""
    out: dict[str, list] = {}

    def visit(name: str, obj) -> None:
        if not isinstance(obj, h5py.Dataset) or _volatile(name):
            return
        value = obj[()]
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            a = arr.astype(np.float64).ravel()
            finite = a[np.isfinite(a)]
            weights = (np.arange(a.size) % 7 + 1.0)[np.isfinite(a)]
            out[name] = [list(arr.shape), float(finite.sum()), float(np.abs(finite).sum()),
                         float((finite * weights).sum()),
                         float(finite.min()) if finite.size else None,
                         float(finite.max()) if finite.size else None,
                         int(a.size - finite.size)]
        elif arr.size <= 64:
            flat = [_rounded(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
                    for v in arr.ravel()]
            out[name] = [list(arr.shape), flat]
        else:
            out[name] = [list(arr.shape)]

    with h5py.File(path, "r") as h5:
        h5.visititems(visit)
    return out


def compare(found: dict, truth: dict, rtol: float = 1e-5) -> list[str]:
    """Differences between two digests, one line each (empty when they agree).

    Sums agree within ``rtol`` of the sum of absolute values; extremes within ``rtol`` of the
    larger of their own size and the mean absolute value.
    """
    problems = []
    for name in sorted(set(found) | set(truth)):
        if name not in found or name not in truth:
            problems.append(f"{name}: {'missing' if name not in found else 'new dataset'}")
            continue
        a, b = found[name], truth[name]
        if a[0] != b[0] or len(a) != len(b):
            problems.append(f"{name}: shape {a[0]} instead of {b[0]}")
        elif len(b) == 7:  # numbers: shape, sum, |sum|, weighted sum, min, max, NaN count
            size = max(1, int(np.prod(b[0])))
            abs_sum = b[2]
            tols = [rtol * abs_sum, rtol * abs_sum, 7 * rtol * abs_sum]
            tols += [rtol * max(abs(v or 0.0), abs_sum / size) for v in b[4:6]]
            for label, x, y, tol in zip(("sum", "|sum|", "weighted sum", "min", "max"),
                                        a[1:6], b[1:6], tols):
                if (x is None) != (y is None) or (x is not None and abs(x - y) > tol):
                    problems.append(f"{name}: {label} {x!r} instead of {y!r}")
                    break
            else:
                if a[6] != b[6]:
                    problems.append(f"{name}: {a[6]} NaN instead of {b[6]}")
        elif a[1:] != b[1:]:
            problems.append(f"{name}: {str(a[1:])[:100]} instead of {str(b[1:])[:100]}")
    return problems


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def save(path: Path, d: dict) -> None:
    path.write_text(json.dumps(d, indent=0, sort_keys=True) + "\n")
