"""The fields of a VAMAS file: the line cursor, block parameters 1 to 40, ordinates, abscissa.

:mod:`xpipe.xps.readers.vamas` reads a file with these and describes the layout.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from .base import (
    XpsReadError,
    _opt_float,
    _to_float,
    kinetic_to_binding,
)

_SPUTTER_TECHNIQUES = ("FABMS", "FABMS energy spec", "ISS", "SIMS", "SIMS energy spec", "SNMS",
                       "SNMS energy spec")
_DEPTH_PROFILE_MODES = ("MAPDP", "MAPSVDP", "SDP", "SDPSV")
_ELECTRON_TECHNIQUES = ("AES diff", "AES dir", "EDX", "ELS", "UPS", "XPS", "XRF")


class _Cursor:
    """Walks the lines of a VAMAS file; every failure names the file, line and block."""

    def __init__(self, lines: list[str], start: int, path: Path):
        self.lines = lines
        self.i = start
        self.path = path
        self.where = "file header"

    def fail(self, msg: str, line_index: int | None = None) -> XpsReadError:
        n = (self.i if line_index is None else line_index) + 1
        return XpsReadError(f"{self.path}: VAMAS {self.where}, line {n}: {msg}")

    def text(self, what: str) -> str:
        if self.i >= len(self.lines):
            raise self.fail(f"unexpected end of file; expected {what}")
        s = self.lines[self.i].strip()
        self.i += 1
        return s

    def take(self, n: int, what: str) -> list[str]:
        if self.i + n > len(self.lines):
            raise self.fail(f"unexpected end of file; expected {n} lines of {what}, "
                            f"got {len(self.lines) - self.i}")
        out = [s.strip() for s in self.lines[self.i: self.i + n]]
        self.i += n
        return out

    def number(self, what: str) -> float:
        s = self.text(what)
        try:
            return float(s.replace("D", "E").replace("d", "e"))
        except ValueError:
            raise self.fail(f"expected a number ({what}), got {s!r}", self.i - 1) from None

    def integer(self, what: str) -> int:
        s = self.text(what)
        try:
            return int(s)
        except ValueError:
            try:
                v = float(s)
            except ValueError:
                v = float("nan")
            if v.is_integer():
                return int(v)
            raise self.fail(f"expected an integer ({what}), got {s!r}", self.i - 1) from None

    def opt(self, what: str) -> float | None:
        return _opt_float(self.number(what))


def _decimal_axis(start: str, step: str, n: int) -> np.ndarray:
    """``start + i*step`` computed in decimal, so that each value equals the float of its
    decimal text (as an IRREGULAR file would list it)."""
    try:
        d0, d1 = Decimal(start), Decimal(step)
        nd = max(0, -d0.as_tuple().exponent, -d1.as_tuple().exponent)
        if nd <= 15:
            scale = 10 ** nd
            i0, i1 = int(d0 * scale), int(d1 * scale)
            top = abs(i0) + abs(i1) * max(n, 1)
            if d0 * scale == i0 and d1 * scale == i1 and top < 2 ** 53:
                units = i0 + np.arange(n, dtype=np.int64) * i1
                return units.astype(np.float64) / float(scale)
    except (InvalidOperation, ValueError, TypeError):
        pass
    return float(start) + np.arange(n, dtype=float) * float(step)


# --------------------------------------------------------------------------------------------
# one block: parameters 1 to 40, ordinates, abscissa, spectrum


class _Params:
    """Reads block parameter k, or gives the first block's value where the inclusion list
    leaves k out of this (later) block."""

    def __init__(self, b: int, include: dict[int, bool], first: dict[int, Any]):
        self.b, self.include, self.first = b, include, first

    def __call__(self, k: int, reader: Callable[[], Any]) -> Any:
        if self.b == 0 or self.include[k]:
            v = reader()
            if self.b == 0:
                self.first[k] = v
            return v
        return self.first.get(k)


def _source_params(cur: _Cursor, param: _Params, exp_mode: str, n_exp_vars: int
                   ) -> dict[str, Any]:
    """Block parameters 1 to 20: date, comment, technique, position and analysis source."""
    date_names = ("year", "month", "day", "hours", "minutes", "seconds",
                  "number of hours in advance of GMT")
    out: dict[str, Any] = {}
    out["date"] = [param(k + 1, lambda k=k: cur.number(date_names[k])) for k in range(7)]

    def comment():
        n = cur.integer("number of lines in the block comment")
        return cur.take(n, "block comment")

    out["comment"] = param(8, comment)
    technique = out["technique"] = param(9, lambda: cur.text("technique"))
    out["coords"] = param(10, lambda: [cur.number("x coordinate"), cur.number("y coordinate")]
                          if exp_mode in ("MAP", "MAPDP") else [])
    out["exp_values"] = param(11, lambda: [cur.text(f"value of experimental variable {k + 1}")
                                           for k in range(n_exp_vars)])
    out["source_label"] = param(12, lambda: cur.text("analysis source label"))
    out["sputter_ion"] = param(13, lambda: cur.take(3, "sputtering ion or atom parameters")
                               if exp_mode in _DEPTH_PROFILE_MODES
                               or technique in _SPUTTER_TECHNIQUES else [])
    out["hv"] = param(14, lambda: cur.opt("analysis source characteristic energy"))
    out["strength"] = param(15, lambda: cur.opt("analysis source strength"))
    out["beam"] = param(16, lambda: [cur.opt("analysis source beam width x"),
                                     cur.opt("analysis source beam width y")])
    out["fov"] = param(17, lambda: [cur.opt("field of view x"), cur.opt("field of view y")]
                       if exp_mode in ("MAP", "MAPDP", "MAPSV", "MAPSVDP", "SEM") else [])
    out["linescan"] = param(18, lambda: cur.take(6, "linescan coordinates")
                            if exp_mode in ("MAPSV", "MAPSVDP", "SEM") else [])
    out["polar"] = param(19, lambda: cur.opt("analysis source polar angle of incidence"))
    out["azimuth"] = param(20, lambda: cur.opt("analysis source azimuth"))
    return out


def _analyser_params(cur: _Cursor, param: _Params, technique: str) -> dict[str, Any]:
    """Block parameters 21 to 30: analyser settings, geometry and the detected species."""
    out: dict[str, Any] = {}
    out["analyser_mode"] = param(21, lambda: cur.text("analyser mode"))
    out["pass_energy"] = param(22, lambda: cur.opt("analyser pass energy or retard ratio"))
    out["diff_width"] = param(23, lambda: cur.opt("differential width")
                              if technique == "AES diff" else None)
    out["magnification"] = param(24, lambda: cur.opt("magnification of analyser transfer lens"))
    out["work_function"] = param(25, lambda: cur.opt("analyser work function or acceptance "
                                                     "energy"))
    out["target_bias"] = param(26, lambda: cur.opt("target bias"))
    out["analysis_width"] = param(27, lambda: [cur.opt("analysis width x"),
                                               cur.opt("analysis width y")])
    out["take_off"] = param(28, lambda: [cur.opt("analyser axis take off polar angle"),
                                         cur.opt("analyser axis take off azimuth")])
    out["species"] = param(29, lambda: cur.text("species label"))
    out["transition"], out["charge"] = param(30, lambda: [
        cur.text("transition or charge state label"), cur.text("charge of detected particle")])
    return out


def _signal_params(cur: _Cursor, param: _Params, scan_mode: str, exp_mode: str,
                   technique: str) -> dict[str, Any]:
    """Block parameters 31 to 40: abscissa, corresponding variables, signal and sample."""

    def abscissa():
        if scan_mode != "REGULAR":
            return None
        return [cur.text("abscissa label"), cur.text("abscissa units"),
                cur.text("abscissa start"), cur.text("abscissa increment")]

    def corresponding():
        n = cur.integer("number of corresponding variables")
        if n < 1:
            raise cur.fail(f"expected at least one corresponding variable, got {n}", cur.i - 1)
        return [(cur.text(f"corresponding variable {k + 1} label"),
                 cur.text(f"corresponding variable {k + 1} units")) for k in range(n)]

    def additional():
        n = cur.integer("number of additional numerical parameters")
        extra = {}
        for k in range(n):
            label = cur.text(f"additional parameter {k + 1} label")
            unit = cur.text(f"additional parameter {k + 1} units")
            extra[label] = (cur.number(f"additional parameter {k + 1} value"), unit)
        return extra

    out: dict[str, Any] = {"abscissa": param(31, abscissa), "corr": param(32, corresponding)}
    out["signal_mode"] = param(33, lambda: cur.text("signal mode"))
    out["dwell"] = param(34, lambda: cur.opt("signal collection time"))
    out["n_scans"] = param(35, lambda: cur.opt("number of scans to compile this block"))
    out["time_corr"] = param(36, lambda: cur.opt("signal time correction"))
    out["sputter_src"] = param(37, lambda: cur.take(7, "sputtering source parameters")
                               if technique in _ELECTRON_TECHNIQUES
                               and exp_mode in _DEPTH_PROFILE_MODES else [])
    out["tilt"] = param(38, lambda: [cur.opt("sample normal polar angle of tilt"),
                                     cur.opt("sample normal tilt azimuth")])
    out["rotation"] = param(39, lambda: cur.opt("sample rotation angle"))
    out["extra_params"] = param(40, additional)
    return out


def _read_ordinates(cur: _Cursor, k: int) -> tuple[np.ndarray, list, int]:
    """The ordinate values, one row per point and a column per corresponding variable; their
    (min, max) ranges; and the index of the line where the values start."""
    n_values = cur.integer("number of ordinate values")
    if n_values < 0 or n_values % k:
        raise cur.fail(f"expected the number of ordinate values to be a multiple of the "
                       f"{k} corresponding variables, got {n_values}", cur.i - 1)
    ranges = [(cur.number("minimum ordinate value"), cur.number("maximum ordinate value"))
              for _ in range(k)]
    data_start = cur.i
    chunk = cur.lines[data_start: data_start + n_values]
    got = next((j for j, s in enumerate(chunk) if _to_float(s.strip()) is None), len(chunk))
    if got < n_values:
        bad = chunk[got].strip() if got < len(chunk) else None
        detail = "the file ends there" if bad is None else f"line {data_start + got + 1} is {bad!r}"
        raise XpsReadError(
            f"{cur.path}: VAMAS {cur.where}: expected {n_values} ordinate values "
            f"({n_values // k} points x {k} variables) from line {data_start + 1}, got {got} "
            f"({detail})")
    data = np.array([_to_float(s.strip()) for s in chunk], dtype=float).reshape(-1, k)
    cur.i = data_start + n_values
    return data, ranges, data_start


def _abscissa(cur: _Cursor, scan_mode: str, absc: list | None, corr: list, data: np.ndarray,
              data_start: int) -> dict[str, Any]:
    """The x axis as the file gives it: from start and increment (REGULAR) or the first
    corresponding variable (IRREGULAR); with its label, unit and the ordinate columns left."""
    if scan_mode == "REGULAR":
        x_label, x_unit, x_start, x_step = absc
        try:
            float(x_start), float(x_step)
        except ValueError:
            raise cur.fail(f"expected numeric abscissa start and increment, got {x_start!r} "
                           f"and {x_step!r}", data_start) from None
        x = _decimal_axis(x_start, x_step, data.shape[0])
        ordinates, ord_vars = data, list(corr)
    else:
        (x_label, x_unit), ord_vars = corr[0], list(corr[1:])
        if not ord_vars:
            raise cur.fail("expected at least two corresponding variables in an IRREGULAR scan "
                           "(the abscissa and the intensity)", data_start)
        x, ordinates = data[:, 0].copy(), data[:, 1:]
        x_start, x_step = None, None
    return {"x": x, "label": x_label, "unit": x_unit, "start": x_start, "step": x_step,
            "ordinates": ordinates, "ord_vars": ord_vars}


def _binding_axis(cur: _Cursor, ax: dict[str, Any], hv: float | None,
                  work_function: float | None, subtract_wf: bool,
                  data_start: int) -> tuple[np.ndarray, bool, float]:
    """(binding energy in eV, whether the abscissa was kinetic, work function subtracted)."""
    xl = ax["label"].lower()
    if "kinetic" in xl:
        kinetic = True
    elif "binding" in xl:
        kinetic = False
    else:
        raise cur.fail(f"expected the abscissa label to name kinetic or binding energy, got "
                       f"{ax['label']!r}", data_start)
    phi_used = 0.0
    if not kinetic:
        return ax["x"], kinetic, phi_used
    if hv is None or hv <= 0:
        raise XpsReadError(
            f"{cur.path}: VAMAS {cur.where}: the abscissa is kinetic energy but the analysis "
            f"source characteristic energy (photon energy) is missing or not positive "
            f"({hv!r}); expected a photon energy to convert to binding energy")
    if subtract_wf and work_function is not None:
        phi_used = work_function
    return kinetic_to_binding(ax["x"], hv, phi_used), kinetic, phi_used


def _variables(ord_vars: list, others: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Corresponding variables after the intensity, by label (made unique)."""
    variables: dict[str, np.ndarray] = {}
    for j, ((lab, _unit), arr) in enumerate(zip(ord_vars[1:], others), start=2):
        key = lab or f"variable_{j}"
        if key in variables or key == ord_vars[0][0]:
            key = f"{key}_{j}"
        variables[key] = arr
    return variables
