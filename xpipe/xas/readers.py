"""Readers for XAS data files, and a writer for Athena projects.

Every reader returns :class:`~xpipe.xas.scan.XasScan` objects that passed ``check()``, and
raises :class:`~xpipe.xas.scan.XasReadError` with a message that names the file and says what
was expected. Larch does the parsing where it does it well (XDI, Athena projects, the header
conventions of many beamlines); this module picks the columns, builds mu(E) and tidies the
energy axis.

Energy axis rules, for every format:

- energies in keV (all values below 200) are converted to eV; angles are converted with the
  monochromator d-spacing when the file gives one;
- a scan recorded from high to low energy is reversed (``metadata['reversed_energy']``);
- repeated energy points are averaged (``metadata['merged_duplicate_points']`` counts the
  points removed);
- an energy that goes back and forth is an error: nothing is sorted silently.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .scan import XasReadError, XasScan

__all__ = ["read_athena", "read_columns", "read_nexus", "read_scan", "read_xdi", "write_athena"]

PathLike = str | Path
ColumnSpec = str | int

HC_EV_ANGSTROM = 12398.419843320026
"""h*c in eV*Angstrom, for E = hc / (2 d sin(theta))."""

DUPLICATE_STEP_EV = 1e-3
"""Energy steps at or below this (in eV) are repeated points, averaged together."""

KEV_BELOW = 200.0
"""An energy column whose values all lie below this is taken to be in keV."""

_MODES = ("auto", "transmission", "fluorescence", "mu")

# Column names by role, compared after lower-casing and removing '_' (so 'I_0' == 'i0').
_ENERGY_NAMES = ("energy", "e", "energyev", "ev", "monoenergy", "enc", "energyenc", "ene", "en",
                 "nrj", "ebraggenergy", "braggenergy", "achievedenergy", "energyachieved",
                 "energyreadback", "energyrbv", "energykev", "ekev", "energyc")
_I0_NAMES = ("i0", "io", "i0sum", "mon", "monitor", "izero", "incomingbeam")
_IT_NAMES = ("it", "i1", "itrans", "itr", "i1sum", "itsum", "itransmission", "trans",
             "absorbedbeam")
_IREF_NAMES = ("iref", "ir", "i2", "irefer", "irefsum", "irsum", "i2sum", "ireference")
_IFLUOR_NAMES = ("ifluor", "if", "ifl", "ifluo", "fluo", "fluor", "fluorescence", "pips", "lytle")
_MU_NAMES = ("mu", "xmu", "mue", "mutrans", "mufluor", "musample", "absorption")
_MUREF_NAMES = ("muref", "murefer", "mureference")
# 'i0_eh1', 'i1_eh1', 'ir_eh2': the ion chamber name followed by a qualifier.
_PREFIXES = {"i0": ("i0_",), "itrans": ("i1_", "it_"), "iref": ("ir_", "iref_", "i2_")}

_ROI_RE = re.compile(r"^(?:sum_)?([a-z]{1,2})_([klm])([ab])\d?(?:_mca_?(\d+))?$")
_CHANNEL_RE = re.compile(r"^(?:if(?:ch)?|ifluor_?|fluo_?)(\d+)$")
_DTC_RE = re.compile(r"^(?:dtfactor|dt_factor|dtc|dt_corr|dtcorr|deadtime)_?(?:mca)?_?(\d+)$")


# --------------------------------------------------------------------------------------------
# small helpers


class _Sink(io.StringIO):
    """Swallows what Larch prints; has an encoding, which Larch's text decoding asks for."""

    encoding = "utf-8"


def _quiet() -> contextlib.AbstractContextManager:
    return contextlib.redirect_stdout(_Sink())


def _existing_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise XasReadError(f"{p}: file not found; expected an XAS data file at this path")
    if not p.is_file():
        raise XasReadError(f"{p}: is not a file; expected an XAS data file")
    if p.stat().st_size == 0:
        raise XasReadError(f"{p}: file is empty; expected XAS data")
    return p


def _norm_name(text: str) -> str:
    """Column name as compared: lower case, runs of other characters turned into '_'."""
    return re.sub(r"[^0-9a-z]+", "_", str(text).strip().lower()).strip("_")


def _key(name: str) -> str:
    return name.replace("_", "")


def _unique(names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(names):
        name = name or f"col{i + 1}"
        if name in out:
            name = f"{name}_{i + 1}"
        out.append(name)
    return out


def _parse_time(text: str | None) -> float | None:
    """Seconds since the epoch from an ISO-like date; a time without zone is taken as UTC."""
    if not text:
        return None
    text = str(text).strip()
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        try:
            from dateutil.parser import parse as dateparse

            t = dateparse(text)
        except (ValueError, OverflowError, ImportError):
            return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


def _element_symbol(text: Any) -> str | None:
    """A valid element symbol ('Fe') from text like 'fe' or 'Fe ', else None."""
    import xraydb

    if text is None:
        return None
    sym = str(text).strip()
    if not sym or len(sym) > 2 or not sym.isalpha():
        return None
    sym = sym.capitalize()
    try:
        xraydb.atomic_number(sym)
    except (ValueError, KeyError, TypeError):
        return None
    return sym


def _edge_name(text: Any) -> str | None:
    if text is None:
        return None
    e = str(text).strip().upper()
    return e if re.fullmatch(r"K|L[1-3]|M[1-5]|N[1-7]", e) else None


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a scalar from Larch or h5py."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------------------------
# a table of named columns, whatever file it came from


@dataclass
class _Table:
    path: Path
    names: list[str]
    data: dict[str, np.ndarray]
    units: dict[str, str] = field(default_factory=dict)
    fmt: str = "generic columns"
    named: bool = True
    energy_hint: str | None = None
    d_spacing: float | None = None
    dark: dict[str, float] = field(default_factory=dict)
    time_column: str | None = None
    element: str | None = None
    edge: str | None = None
    e0: float | None = None
    time_s: float | None = None
    metadata: dict = field(default_factory=dict)

    def listing(self) -> str:
        return ", ".join(self.names)

    def resolve(self, spec: ColumnSpec, role: str) -> str:
        """Column name for a user's choice: a name (any case), 'colN' (1-based) or a 0-based int."""
        n = len(self.names)
        if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            i = int(spec)
            if not -n <= i < n:
                raise XasReadError(f"{self.path}: column index {i} for {role} is out of range; "
                                   f"the file has {n} columns ({self.listing()})")
            return self.names[i]
        if not isinstance(spec, str):
            raise TypeError(f"{role}: expected a column name or index, got {type(spec).__name__}")
        name = _norm_name(spec)
        if name in self.data:
            return name
        by_key = [c for c in self.names if _key(c) == _key(name)]
        if by_key:
            return by_key[0]
        m = re.fullmatch(r"col_?(\d+)", name)
        if m and 1 <= int(m.group(1)) <= n:
            return self.names[int(m.group(1)) - 1]
        raise XasReadError(f"{self.path}: no column '{spec}' for {role}; columns are: "
                           f"{self.listing()}")

    def find(self, candidates: Sequence[str], prefixes: Sequence[str] = ()) -> str | None:
        if not self.named:
            return None
        keys = {_key(c): c for c in reversed(self.names)}
        for cand in candidates:
            if cand in keys:
                return keys[cand]
        for pre in prefixes:
            for c in self.names:
                if c.startswith(pre):
                    return c
        return None


def _find_energy(t: _Table) -> str:
    if t.energy_hint and t.energy_hint in t.data:
        return t.energy_hint
    if not t.named:
        return t.names[0]
    name = t.find(_ENERGY_NAMES)
    if name:
        return name
    contains = [c for c in t.names if "energy" in c]
    measured = [c for c in contains if not re.search(r"request|set|target|drive|demand", c)]
    if measured or contains:
        return (measured or contains)[0]
    raise XasReadError(f"{t.path}: no energy column; expected a column named like 'energy', "
                       f"'E', 'energy_eV' or 'mono energy'; columns are: {t.listing()}. "
                       "Pass energy=<name or index> to choose one")


def _edges_in_range(sym: str, emin: float, emax: float, margin: float = 50.0) -> bool:
    import xraydb

    for edge in ("K", "L3", "L2", "L1"):
        try:
            e = xraydb.xray_edge(sym, edge).energy
        except (ValueError, KeyError, AttributeError, TypeError):
            continue
        if emin - margin <= e <= emax + margin:
            return True
    return False


def _find_fluorescence(t: _Table, energy_ev: np.ndarray | None
                       ) -> tuple[list[str], list[str] | None, tuple[str, str] | None]:
    """Fluorescence channels, their dead-time factors (or None), and (element, edge) of ROIs."""
    if not t.named:
        return [], None, None
    # 1. one channel with a fluorescence name
    single = t.find(_IFLUOR_NAMES)
    # 2. numbered channels: ifch1.., if1.., ifluor_2.. (XDAC, KEK-PF with several detectors)
    numbered = sorted((int(m.group(1)), c) for c in t.names if (m := _CHANNEL_RE.match(c)))
    if numbered:
        chans = ([single] if single else []) + [c for _, c in numbered if c != single]
        dts: list[str] | None = None
        nums = [n for n, _ in numbered]
        if not single and all(f"iffast{n}" in t.data and f"ifslow{n}" in t.data for n in nums):
            dts = [f"iffast{n}/ifslow{n}" for n in nums]
        return chans, dts, None
    if single:
        return [single], None, None
    # 3. regions of interest named after the element and line: Fe_Ka_mca1.., Sum_Fe_Ka
    per_element: dict[str, dict[int, str]] = {}
    sums: dict[str, str] = {}
    shells: dict[str, str] = {}
    for c in t.names:
        m = _ROI_RE.match(c)
        if not m:
            continue
        sym = _element_symbol(m.group(1))
        if sym is None:
            continue
        shells[sym] = {"k": "K", "l": "L3", "m": "M5"}[m.group(2)]
        if m.group(4) is not None:
            per_element.setdefault(sym, {})[int(m.group(4))] = c
        elif c.startswith("sum_"):
            sums[sym] = c
    symbols = list(dict.fromkeys([*per_element, *sums]))
    if not symbols:
        return [], None, None
    chosen = None
    if t.element in symbols:
        chosen = t.element
    elif energy_ev is not None and np.isfinite(energy_ev).any():
        lo, hi = float(np.nanmin(energy_ev)), float(np.nanmax(energy_ev))
        inside = [s for s in symbols if _edges_in_range(s, lo, hi)]
        if len(inside) == 1:
            chosen = inside[0]
    if chosen is None and len(symbols) == 1:
        chosen = symbols[0]
    if chosen is None:
        return [], None, None
    chans_by_n = per_element.get(chosen, {})
    if chans_by_n:
        nums = sorted(chans_by_n)
        dtc = {int(m.group(1)): c for c in t.names if (m := _DTC_RE.match(c))}
        dts = [dtc[n] for n in nums] if all(n in dtc for n in nums) else None
        return [chans_by_n[n] for n in nums], dts, (chosen, shells[chosen])
    return [sums[chosen]], None, (chosen, shells[chosen])


def _dead_time_factor(t: _Table, spec: ColumnSpec) -> tuple[str, np.ndarray]:
    """A dead-time factor column, or the ratio 'a/b' of two columns (ICR/OCR)."""
    if isinstance(spec, str) and "/" in spec:
        num, den = (t.resolve(s.strip(), "dead-time factor") for s in spec.split("/", 1))
        return f"{num}/{den}", t.data[num] / t.data[den]
    name = t.resolve(spec, "dead-time factor")
    return name, t.data[name]


def _order_energy(where: str, energy: np.ndarray, arrays: dict[str, np.ndarray]
                  ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Reverse a falling scan and average repeated points; a zig-zag energy is an error."""
    notes: dict[str, Any] = {"reversed_energy": False, "merged_duplicate_points": 0}
    e = energy
    steps = np.diff(e)
    if np.count_nonzero(steps < -DUPLICATE_STEP_EV) > np.count_nonzero(steps > DUPLICATE_STEP_EV):
        e = e[::-1]
        arrays = {k: v[::-1] for k, v in arrays.items()}
        notes["reversed_energy"] = True
        steps = np.diff(e)
    back = np.flatnonzero(steps < -DUPLICATE_STEP_EV)
    if back.size:
        i = int(back[0])
        raise XasReadError(
            f"{where}: energy is not monotonic: it steps back from {e[i]:.3f} to {e[i + 1]:.3f} eV "
            f"(point {i + 1} of {e.size}, {back.size} backward steps in all); expected an energy "
            "that rises (or falls) through the whole scan")
    dup = steps <= DUPLICATE_STEP_EV
    if dup.any():
        ids = np.concatenate([[0], np.cumsum(~dup)])
        counts = np.bincount(ids)

        def mean(a: np.ndarray) -> np.ndarray:
            return np.bincount(ids, weights=a) / counts

        e = mean(e)
        arrays = {k: mean(v) for k, v in arrays.items()}
        notes["merged_duplicate_points"] = int(dup.sum())
    return e, arrays, notes


def _energy_to_ev(t: _Table, name: str, values: np.ndarray, energy_units: str
                  ) -> tuple[np.ndarray, str]:
    unit = energy_units.strip().lower() if energy_units != "auto" else t.units.get(name, "").lower()
    if unit in ("deg", "degree", "degrees"):
        if not t.d_spacing or t.d_spacing <= 0:
            raise XasReadError(f"{t.path}: energy column '{name}' holds monochromator angles but "
                               "the file gives no d-spacing; expected a d-spacing to convert "
                               "angles to energy")
        with np.errstate(divide="ignore", invalid="ignore"):
            ev = HC_EV_ANGSTROM / (2.0 * t.d_spacing * np.sin(np.radians(values)))
        return ev, f"angle (deg), d = {t.d_spacing} A"
    if unit == "kev":
        return values * 1000.0, "keV"
    if unit == "ev":
        return values, "eV"
    if energy_units != "auto":
        raise ValueError(f"energy_units must be 'auto', 'eV', 'keV' or 'deg', got {energy_units!r}")
    finite = values[np.isfinite(values)]
    if finite.size and np.nanmax(np.abs(finite)) < KEV_BELOW:
        return values * 1000.0, f"keV (values below {KEV_BELOW:g})"
    return values, "eV"


def _positive(where: str, name: str, a: np.ndarray, what: str) -> None:
    bad = np.count_nonzero(~(a > 0))
    if bad:
        raise XasReadError(f"{where}: {what} needs positive values in column '{name}', but "
                           f"{bad} of {a.size} points are zero, negative or missing")


def _build_scan(t: _Table, *, energy: ColumnSpec | None = None, i0: ColumnSpec | None = None,
                itrans: ColumnSpec | None = None, iref: ColumnSpec | None = None,
                ifluor: ColumnSpec | Sequence[ColumnSpec] | None = None,
                dead_time: Sequence[ColumnSpec] | None = None, mu: ColumnSpec | None = None,
                mode: str = "auto", energy_units: str = "auto", reference: bool = True,
                require_reference: bool = False, dark_offsets: bool = True,
                label: str | None = None) -> XasScan:
    """Pick columns, build mu(E) and the reference channel, tidy the energy axis."""
    where = str(t.path)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    cols: dict[str, Any] = {}
    e_name = t.resolve(energy, "energy") if energy is not None else _find_energy(t)
    e_raw = np.asarray(t.data[e_name], dtype=float)
    e_ev, e_unit = _energy_to_ev(t, e_name, e_raw, energy_units)
    cols["energy"] = e_name

    i0_name = t.resolve(i0, "I0") if i0 is not None else t.find(_I0_NAMES, _PREFIXES["i0"])
    it_name = (t.resolve(itrans, "It") if itrans is not None
               else t.find(_IT_NAMES, _PREFIXES["itrans"]))
    mu_name = t.resolve(mu, "mu") if mu is not None else t.find(_MU_NAMES)

    fl_element = None
    if ifluor is not None:
        specs = [ifluor] if isinstance(ifluor, (str, int)) else list(ifluor)
        fl_names = [t.resolve(s, "fluorescence") for s in specs]
        dt_specs: list[ColumnSpec] | None = None
    else:
        fl_names, auto_dt, fl_element = _find_fluorescence(t, e_ev)
        dt_specs = list(auto_dt) if auto_dt is not None else None
    if dead_time is not None:
        dt_specs = [dead_time] if isinstance(dead_time, (str, int)) else list(dead_time)
    if dt_specs is not None and fl_names and len(dt_specs) != len(fl_names):
        raise XasReadError(f"{where}: {len(dt_specs)} dead-time columns for {len(fl_names)} "
                           "fluorescence channels; expected one dead-time factor per channel")

    if mode == "auto":
        if mu is not None:
            mode = "mu"
        elif ifluor is not None:
            mode = "fluorescence"
        elif itrans is not None:
            mode = "transmission"
        elif fl_names and i0_name:
            mode = "fluorescence"
        elif i0_name and it_name:
            mode = "transmission"
        elif mu_name:
            mode = "mu"
        else:
            missing = "no I0 column" if not i0_name and (it_name or fl_names) else (
                "no I0/It, I0/If or mu columns")
            hint = ("the file has no column names: pass i0=, itrans= or ifluor= (names like "
                    "'col2' or 0-based indices)") if not t.named else (
                "pass i0=, itrans=, ifluor= or mu= to choose columns")
            raise XasReadError(f"{where}: {missing}; expected I0 with It (transmission), I0 with "
                               f"fluorescence channels, or a mu column; columns are: "
                               f"{t.listing()}; {hint}")

    needed: dict[str, np.ndarray] = {}
    if mode == "transmission":
        if not i0_name or not it_name:
            which = "I0" if not i0_name else "It"
            raise XasReadError(f"{where}: transmission needs I0 and It columns but found no "
                               f"{which}; columns are: {t.listing()}")
        needed = {"i0": t.data[i0_name], "it": t.data[it_name]}
        cols.update(i0=i0_name, itrans=it_name)
    elif mode == "fluorescence":
        if not i0_name or not fl_names:
            which = "I0" if not i0_name else "fluorescence channel"
            raise XasReadError(f"{where}: fluorescence needs I0 and at least one fluorescence "
                               f"channel but found no {which}; columns are: {t.listing()}")
        needed = {"i0": t.data[i0_name]}
        cols.update(i0=i0_name, ifluor=list(fl_names))
        for k, name in enumerate(fl_names):
            needed[f"f{k}"] = t.data[name]
        if dt_specs is not None:
            dt_used = []
            for k, spec in enumerate(dt_specs):
                dt_label, factor = _dead_time_factor(t, spec)
                needed[f"d{k}"] = factor
                dt_used.append(dt_label)
            cols["dead_time"] = dt_used
    else:
        if not mu_name:
            raise XasReadError(f"{where}: no mu column; expected one named like "
                               f"'mu', 'xmu', 'mutrans' or 'mufluor'; columns are: {t.listing()}")
        needed = {"mu": t.data[mu_name]}
        cols["mu"] = mu_name

    # reference foil: ln(It/Iref) from counts, else a stored mu_ref column
    ref_note = None
    if reference or require_reference:
        ir_name = t.resolve(iref, "Iref") if iref is not None else t.find(
            _IREF_NAMES, _PREFIXES["iref"])
        muref_name = t.find(_MUREF_NAMES)
        if ir_name and it_name and ir_name not in (it_name, i0_name):
            a, b = t.data[it_name], t.data[ir_name]
            if np.all(a > 0) and np.all(b > 0):
                needed.update(ref_it=a, ref_ir=b)
                cols.update(iref=ir_name, reference_it=it_name)
            else:
                ref_note = (f"reference channel '{ir_name}' not used: it holds zero or negative "
                            "values")
        elif ir_name and not it_name:
            ref_note = f"reference channel '{ir_name}' not used: no It column to ratio it with"
        if "ref_ir" not in needed and muref_name:
            needed["ref_mu"] = t.data[muref_name]
            cols["mu_ref"] = muref_name
        if require_reference and "ref_ir" not in needed and "ref_mu" not in needed:
            why = f" ({ref_note})" if ref_note else ""
            raise XasReadError(f"{where}: a reference channel was required but none is usable"
                               f"{why}; expected an Iref column (iref, ir, i2, irefer) beside It, "
                               f"or a mu_ref column; columns are: {t.listing()}")

    # dark offsets the file states per second of counting (KEK-PF, SSRL)
    dark_used: dict[str, float] = {}
    if dark_offsets and t.dark and t.time_column:
        by_name = {"i0": i0_name, "it": it_name, "ref_it": it_name,
                   "ref_ir": cols.get("iref")}
        by_name.update({f"f{k}": n for k, n in enumerate(fl_names)})
        for key, name in by_name.items():
            if key in needed and name in t.dark and t.dark[name]:
                needed[key] = needed[key] - t.dark[name] * t.data[t.time_column]
                dark_used[name] = t.dark[name]

    arrays = {k: np.asarray(v, dtype=float) for k, v in needed.items()}
    keep = np.isfinite(e_ev)
    for k, v in arrays.items():
        if not k.startswith("ref_"):  # a gap in the reference drops the reference, not rows
            keep &= np.isfinite(v)
    dropped = int(np.count_nonzero(~keep))
    if not keep.any():
        raise XasReadError(f"{where}: no rows with finite energy and signal; expected numeric "
                           f"columns ({', '.join(str(v) for v in cols.values())})")
    e_ev = e_ev[keep]
    arrays = {k: v[keep] for k, v in arrays.items()}
    e_ev, arrays, notes = _order_energy(where, e_ev, arrays)

    if mode == "transmission":
        _positive(where, cols["i0"], arrays["i0"], "transmission")
        _positive(where, cols["itrans"], arrays["it"], "transmission")
        mu_arr = np.log(arrays["i0"] / arrays["it"])
    elif mode == "fluorescence":
        _positive(where, cols["i0"], arrays["i0"], "fluorescence")
        total = np.zeros_like(e_ev)
        for k in range(len(fl_names)):
            total += arrays[f"f{k}"] * (arrays[f"d{k}"] if f"d{k}" in arrays else 1.0)
        mu_arr = total / arrays["i0"]
    else:
        mu_arr = arrays["mu"]
    ref = None
    if "ref_ir" in arrays:
        ref = np.log(arrays["ref_it"] / arrays["ref_ir"])
    elif "ref_mu" in arrays:
        ref = arrays["ref_mu"]
    if ref is not None and not np.all(np.isfinite(ref)):
        ref, ref_note = None, "reference channel not used: it holds non-finite values"

    meta = dict(t.metadata)
    meta.update(format=t.fmt, columns=cols, energy_units_in_file=e_unit, **notes)
    if dropped:
        meta["dropped_rows"] = dropped
    if dark_used:
        meta["dark_offsets_subtracted"] = dark_used
    if ref_note:
        meta["reference_note"] = ref_note
    element, edge = t.element, t.edge
    if element is None and fl_element is not None:
        element, edge = fl_element  # from ROI names such as 'Fe_Ka_mca1'
    scan = XasScan(energy_ev=e_ev, mu=mu_arr, source=where, label=label or t.path.stem,
                   mode=mode, reference_mu=ref, element=element, edge=edge,
                   time_s=t.time_s, metadata=meta)
    if scan.element is None and t.e0:
        _guess_element_from_e0(scan, t.e0)
    scan.check()
    return scan


def _guess_element_from_e0(scan: XasScan, e0: float) -> None:
    import xraydb

    try:
        sym, edge = xraydb.guess_edge(float(e0))
    except (ValueError, TypeError):
        return
    if sym:
        scan.element, scan.edge = str(sym), str(edge)
        scan.metadata["element_from"] = f"E0 = {e0:g} eV in the header"


# --------------------------------------------------------------------------------------------
# text column files


_HEADER_ELEMENT_RE = re.compile(
    r"^[#;!%*\s]*(?:scanparameters\.element|element\.symbol|element)\s*[:=]\s*([A-Za-z]{1,2})\b",
    re.I)
_HEADER_EDGE_RE = re.compile(r"^[#;!%*\s]*(?:\w+\.)?edge\s*[:=]\s*([KLMN][1-7]?)\b", re.I)
_HEADER_E0_RE = re.compile(r"^[#;!%*\s]*(?:\w+\.)?e0\s*[:=]\s*([0-9]+(?:\.[0-9]*)?)", re.I)
_HEADER_TIME_RE = re.compile(r"scan\.start_time\s*[:=]\s*(.+)$", re.I)


def _header_facts(t: _Table, header: Sequence[str]) -> None:
    for line in header:
        if t.element is None and (m := _HEADER_ELEMENT_RE.search(line)):
            t.element = _element_symbol(m.group(1))
        if t.edge is None and (m := _HEADER_EDGE_RE.search(line)):
            t.edge = _edge_name(m.group(1))
        if t.e0 is None and (m := _HEADER_E0_RE.search(line)):
            with contextlib.suppress(ValueError):
                t.e0 = float(m.group(1))
        if t.time_s is None and (m := _HEADER_TIME_RE.search(line)):
            t.time_s = _parse_time(m.group(1))
            t.metadata["start_time"] = m.group(1).strip()


def _label_words(line: str, ncol: int) -> list[str] | None:
    text = line.strip()
    for prefix in ("#L", "#C", "#", ";", "%", "!", "*"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    text = text.strip()
    if not text or not re.search(r"[A-Za-z]", text):
        return None
    for words in (re.split(r"\t|\s{2,}|,", text), text.split()):
        words = [w.strip() for w in words if w.strip()]
        if len(words) == ncol:
            numeric = sum(bool(re.fullmatch(r"[-+]?[0-9.eE+-]+", w)) for w in words)
            if numeric < ncol:
                return words
    return None


def _generic_labels(header: Sequence[str], ncol: int) -> list[str] | None:
    """Column names from the last meaningful header line (or the one before it)."""
    tried = 0
    for line in reversed(header):
        stripped = line.strip().lstrip("#;%!* ").strip()
        if not stripped or not re.search(r"[A-Za-z0-9]", stripped):
            continue  # blank or a '#------' rule
        words = _label_words(line, ncol)
        if words:
            return words
        tried += 1
        if tried >= 2:
            break
    return None


def _kekpf_setup(t: _Table, header: Sequence[str], d_spacing: float | None) -> None:
    """KEK-PF (and SPring-8, SAGA, Aichi) files: angles, and channels named by their mode row."""
    t.d_spacing = d_spacing
    for name in ("angle_drive", "angle_read"):
        if name in t.data:
            t.units[name] = "deg"
    t.energy_hint = "angle_read" if "angle_read" in t.data else None
    rows = {line.split()[0].lower(): line.split()[1:] for line in header if line.split()}
    nch = len(t.names) - 3
    modes = rows.get("mode", [])[-nch:] if nch > 0 else []
    offsets = rows.get("offset", [])[-nch:] if nch > 0 else []
    role = {1: "i0", 2: "itrans", 3: "ifluor"}
    renamed = list(t.names)
    for k in range(nch):
        try:
            code = int(float(modes[k]))
        except (IndexError, ValueError):
            continue
        base = role.get(code)
        if base is None:
            continue
        name = base if base not in renamed else f"{base}_{k + 1}"
        old = renamed[3 + k]
        renamed[3 + k] = name
        t.data[name] = t.data.pop(old)
        with contextlib.suppress(IndexError, ValueError):
            t.dark[name] = float(offsets[k])
    t.names = renamed
    if "time" in t.data:
        t.time_column = "time"
    t.metadata["dark_offsets"] = dict(t.dark)


def _ssrl_setup(t: _Table, header: Sequence[str]) -> None:
    """SSRL EXAFS Data Collector: the 'Offsets:' row gives dark counts per second per column."""
    for i, line in enumerate(header[:-1]):
        if line.strip().lower().startswith("offsets"):
            try:
                values = [float(v) for v in header[i + 1].split()]
            except ValueError:
                return
            if len(values) == len(t.names):
                t.dark = {n: v for n, v in zip(t.names, values) if v}
                t.metadata["dark_offsets"] = dict(t.dark)
            break
    clock = [n for n in t.names if "clock" in n or n in ("time", "count_time")]
    if clock:
        t.time_column = clock[0]


def _read_text_table(path: Path) -> _Table:
    from larch.io import read_ascii
    from larch.io.xafs_beamlines import guess_beamline

    try:
        with _quiet():
            grp = read_ascii(str(path))
    except Exception as exc:  # Larch raises many kinds; report them as one
        raise XasReadError(f"{path}: could not be read as a text file of columns "
                           f"({type(exc).__name__}: {exc})") from exc
    data = np.asarray(getattr(grp, "data", []), dtype=float)
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 2:
        raise XasReadError(f"{path}: no table of numbers found; expected rows of numeric "
                           "columns (energy, I0, It, ...) after an optional header")
    header = [str(h) for h in getattr(grp, "header", [])]
    ncol = data.shape[0]
    beamline = guess_beamline(header)(header)
    fmt = getattr(beamline, "name", "generic")
    if fmt == "generic":
        words = _generic_labels(header, ncol)
        names = _unique([_norm_name(w) for w in words]) if words else [
            f"col{i + 1}" for i in range(ncol)]
        named = words is not None
        fmt = "generic columns" if named else "columns without names"
    else:
        names = _unique([_norm_name(n) for n in grp.array_labels])
        named = True
    t = _Table(path=path, names=names, data=dict(zip(names, data)), fmt=fmt, named=named)
    attrs = getattr(grp, "attrs", None)
    if attrs is not None:
        t.metadata["header"] = {k: _plain(v) for k, v in vars(attrs).items()
                                if not k.startswith("_")}
    if fmt == "KEK PF":
        _kekpf_setup(t, header, getattr(grp, "mono_dspace", None))
    elif fmt == "SSRL":
        _ssrl_setup(t, header)
    _header_facts(t, header)
    return t


def read_columns(path: PathLike, *, energy: ColumnSpec | None = None,
                 i0: ColumnSpec | None = None, itrans: ColumnSpec | None = None,
                 iref: ColumnSpec | None = None,
                 ifluor: ColumnSpec | Sequence[ColumnSpec] | None = None,
                 dead_time: Sequence[ColumnSpec] | None = None, mu: ColumnSpec | None = None,
                 mode: str = "auto", energy_units: str = "auto", reference: bool = True,
                 require_reference: bool = False, dark_offsets: bool = True) -> XasScan:
    """Read a beamline text file of columns.

    Column names come from the header (the last comment line before the data, or the layout
    of a beamline Larch recognises: GSECARS/APS 13-ID, NSLS XDAC, SSRL, KEK-PF, ...). A file
    without names gets ``col1 .. colN`` and energy is the first column.

    Parameters
    ----------
    path : str or Path
        The data file.
    energy, i0, itrans, iref, mu : str or int, optional
        Columns to use, by name (any case, or ``'colN'``, 1-based) or 0-based index; found from
        common names when omitted (energy: 'energy', 'E', 'mono energy'; i0: 'I0', 'mon';
        itrans: 'It', 'I1'; iref: 'Iref', 'Ir', 'I2').
    ifluor : str, int or list, optional
        Fluorescence channel(s); ``mu = sum_i(If_i * dtc_i) / I0``. Found from names like
        'ifluor', 'IFch1..', 'Fe_Ka_mca1..' when omitted.
    dead_time : list, optional
        Dead-time correction factor per fluorescence channel: a column, or 'ICR/OCR' as the ratio
        of two columns. Found for 'DTFactor_mcaN' or 'IFfastN'/'IFslowN' columns when omitted.
    mode : {'auto', 'transmission', 'fluorescence', 'mu'}
        'auto' prefers fluorescence channels, then I0/It, then a mu column.
    energy_units : {'auto', 'eV', 'keV', 'deg'}
        'auto' uses what the file says, else keV when every value is below 200.
    reference : bool
        Read the reference channel ``ln(It/Iref)`` when there is one.
    require_reference : bool
        Raise when no usable reference channel is present.
    dark_offsets : bool
        Subtract the dark counts per second the header states (KEK-PF, SSRL) times the count time.

    Returns
    -------
    XasScan
    """
    p = _existing_file(path)
    t = _read_text_table(p)
    return _build_scan(t, energy=energy, i0=i0, itrans=itrans, iref=iref, ifluor=ifluor,
                       dead_time=dead_time, mu=mu, mode=mode, energy_units=energy_units,
                       reference=reference, require_reference=require_reference,
                       dark_offsets=dark_offsets)


# --------------------------------------------------------------------------------------------
# XDI


def _fast_xdi(p: Path):
    """Parse a plain XDI file (header fields, '# Column.N: name [units]', a numeric table) with
    numpy, about 10x faster than Larch's line-by-line reader; None when the file is anything
    else, so that Larch's reader (and its messages) take over."""
    from types import SimpleNamespace

    try:
        text = p.read_text(errors="strict")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# XDI/"):
        return None
    attrs: dict[str, dict[str, str]] = {}
    columns: dict[int, tuple[str, str]] = {}
    first_data = None
    in_comments = False
    for i, line in enumerate(lines[1:], start=1):
        if not line.startswith("#"):
            first_data = i
            break
        body = line[1:].strip()
        if body.startswith("///"):
            in_comments = True
            continue
        if body.startswith("---"):
            in_comments = False
            continue
        if in_comments or ":" not in body:
            continue
        key, value = (x.strip() for x in body.split(":", 1))
        if "." not in key or " " in key:
            continue
        family, name = key.split(".", 1)
        if family.lower() == "column":
            try:
                parts = value.split()
                columns[int(name)] = (parts[0], parts[1] if len(parts) > 1 else "")
            except (ValueError, IndexError):
                return None
            attrs.setdefault("column", {})[name] = value
            continue
        attrs.setdefault(family.lower(), {})[name.lower()] = value
    if first_data is None or not columns or sorted(columns) != list(range(1, len(columns) + 1)):
        return None
    try:
        table = np.loadtxt(lines[first_data:], dtype=float, ndmin=2)
    except ValueError:
        return None
    if table.shape[1] != len(columns):
        return None
    mono = attrs.get("mono", {})
    try:
        dspacing = float(mono["d_spacing"].split()[0]) if "d_spacing" in mono else None
    except ValueError:
        dspacing = None
    return SimpleNamespace(
        data=table.T, array_labels=[columns[k][0] for k in sorted(columns)],
        array_units=[columns[k][1] for k in sorted(columns)], attrs=attrs, dspacing=dspacing,
        element=attrs.get("element", {}).get("symbol"), edge=attrs.get("element", {}).get("edge"))


def read_xdi(path: PathLike, *, mode: str = "auto", reference: bool = True,
             require_reference: bool = False) -> XasScan:
    """Read an XDI file.

    Columns are found by their XDI names (energy or angle, i0, itrans, ifluor, irefer, mutrans,
    mufluor, murefer) and by the same beamline names as :func:`read_columns`; several
    fluorescence channels with dead-time factors are summed.

    Parameters
    ----------
    path : str or Path
        The XDI file.
    mode : {'auto', 'transmission', 'fluorescence', 'mu'}
        'auto' prefers fluorescence channels, then i0/itrans, then a mu column.
    reference : bool
        Read the reference channel ``ln(It/Iref)`` when the file has one.
    require_reference : bool
        Raise when the file has no usable reference channel.

    Returns
    -------
    XasScan
        ``element``/``edge`` from Element.symbol/Element.edge, ``time_s`` from Scan.start_time,
        and every header field in ``metadata['xdi']`` ('Mono.d_spacing', 'Beamline.name', ...).
    """
    p = _existing_file(path)
    g = _fast_xdi(p)
    if g is None:  # not the plain layout: Larch's full XDI parser
        from larch.io import read_xdi as larch_read_xdi

        try:
            with _quiet():
                g = larch_read_xdi(str(p))
        except Exception as exc:  # Larch raises ValueError and others for files it cannot parse
            detail = " ".join(str(exc).split())
            raise XasReadError(f"{p}: not a readable XDI file; expected a first line '# XDI/1.x', "
                               f"'# Column.N: name' fields and a numeric table ({detail})") from exc
    data = np.asarray(g.data, dtype=float)
    labels = [str(s) for s in getattr(g, "array_labels", [])]
    if data.ndim != 2 or not labels or data.shape[0] != len(labels):
        raise XasReadError(f"{p}: XDI file without a usable data table; expected one column per "
                           "'# Column.N' field")
    names = _unique([_norm_name(s) for s in labels])
    units = {n: str(u) for n, u in zip(names, getattr(g, "array_units", [])) if u}
    t = _Table(path=p, names=names, data=dict(zip(names, data)), units=units, fmt="XDI")
    fields: dict[str, Any] = {}
    for family, members in (getattr(g, "attrs", {}) or {}).items():
        if isinstance(members, Mapping):
            for key, value in members.items():
                fields[f"{family.capitalize()}.{key}"] = _plain(value)
    t.metadata["xdi"] = fields
    d = _plain(getattr(g, "dspacing", None))
    if isinstance(d, (int, float)) and d > 0:
        t.d_spacing = float(d)
        t.metadata["mono_d_spacing"] = float(d)
    for key in ("Beamline.name", "Beamline.Name"):
        if key in fields:
            t.metadata["beamline"] = fields[key]
    for key in ("Sample.name", "Sample.Name"):
        if key in fields:
            t.metadata["sample"] = fields[key]
    t.element = _element_symbol(_plain(getattr(g, "element", None)))
    t.edge = _edge_name(_plain(getattr(g, "edge", None)))
    start = fields.get("Scan.start_time")
    if start:
        t.time_s = _parse_time(start)
        t.metadata["start_time"] = str(start)
    if "energy" not in t.data and "angle" in t.data:
        t.units.setdefault("angle", "deg")
        t.energy_hint = "angle"
    for key, value in fields.items():
        if t.edge is None and key.lower() in ("scanparameters.edge", "element.edge"):
            t.edge = _edge_name(value)
    for key in ("Scanparameters.e0", "Scanparameters.E0", "Scan.edge_energy"):
        value = fields.get(key)
        if value is not None and t.e0 is None:
            with contextlib.suppress(ValueError, TypeError):
                t.e0 = float(str(value).split()[0])
    if t.element is None:
        for key, value in fields.items():
            if key.lower() in ("scanparameters.element", "element.symbol"):
                t.element = _element_symbol(value)
    return _build_scan(t, mode=mode, reference=reference, require_reference=require_reference)


# --------------------------------------------------------------------------------------------
# Athena projects


_ATHENA_SCALARS = (int, float, str)


def read_athena(path: PathLike) -> list[XasScan]:
    """Read the mu(E) groups of an Athena project (.prj, old Perl-text or JSON, plain or gzip).

    Parameters
    ----------
    path : str or Path
        The project file.

    Returns
    -------
    list of XasScan
        One per mu(E) group, in project order, labelled with the Athena group label. Athena's
        stored processing parameters (e0, pre1, pre2, nor1, nor2, nnorm, rbkg, spl1, spl2, kw,
        eshift, ...) are in ``metadata['athena']`` with the Fourier-transform ones under
        ``metadata['athena']['fft']``. Groups holding chi(k) or other non-mu records are skipped
        and listed in ``metadata['athena_skipped']`` of every returned scan.
    """
    from larch.io.athena_project import AthenaProject, is_athena_project

    p = _existing_file(path)
    if not is_athena_project(str(p)):
        raise XasReadError(f"{p}: not an Athena project; expected a .prj file (plain or gzip) "
                           "whose first line is '# Athena project file -- ...'")
    proj = AthenaProject()
    try:
        with _quiet():
            proj.read(str(p), do_preedge=False, do_bkg=False, do_fft=False)
    except Exception as exc:  # Larch's parsers raise ValueError, KeyError, json errors, ...
        raise XasReadError(f"{p}: Athena project could not be parsed ({type(exc).__name__}: "
                           f"{exc}); expected Athena's Perl-text or JSON record layout") from exc
    scans: list[XasScan] = []
    skipped: list[str] = []
    for name, grp in proj.groups.items():
        label = str(getattr(grp, "label", name))
        energy = getattr(grp, "energy", None)
        mu = getattr(grp, "mu", None)
        if energy is None or mu is None:
            skipped.append(label)
            continue
        params = getattr(grp, "athena_params", None)
        athena: dict[str, Any] = {}
        bkg = getattr(params, "bkg", None)
        fft = getattr(params, "fft", None)
        if bkg is not None:
            athena.update({k: _plain(v) for k, v in vars(bkg).items()
                           if not k.startswith("_") and isinstance(_plain(v), _ATHENA_SCALARS)})
        if fft is not None:
            athena["fft"] = {k: _plain(v) for k, v in vars(fft).items()
                             if not k.startswith("_") and isinstance(_plain(v), _ATHENA_SCALARS)}
        athena["id"] = _plain(getattr(grp, "athena_id", name))
        meta: dict[str, Any] = {"format": "Athena project", "athena": athena,
                                "athena_group": name}
        element = _element_symbol(getattr(grp, "atsym", None)) or _element_symbol(athena.get("z"))
        edge = _edge_name(getattr(grp, "edge", None)) or _edge_name(
            athena.get("fft", {}).get("edge"))
        scan = XasScan(energy_ev=np.asarray(energy, float), mu=np.asarray(mu, float),
                       source=str(p), label=label, mode="mu", element=element, edge=edge,
                       metadata=meta)
        scan.check()
        scans.append(scan)
    if not scans:
        raise XasReadError(f"{p}: no mu(E) groups in this Athena project; expected at least one "
                           f"group of energy and mu (found {len(skipped)} other groups)")
    if skipped:
        for scan in scans:
            scan.metadata["athena_skipped"] = list(skipped)
    return scans


_PRE_EDGE_KEYS = {"e0": "e0", "pre1": "pre1", "pre2": "pre2", "norm1": "norm1", "nor1": "norm1",
                  "norm2": "norm2", "nor2": "norm2", "nnorm": "nnorm", "nvict": "nvict",
                  "step": "step", "edge_step": "step"}
_BKG_KEYS = {"rbkg": "rbkg", "spl1": "spl1", "kmin": "spl1", "spl2": "spl2", "kmax": "spl2",
             "kw": "kw", "kweight": "kw", "dk": "dk", "eshift": "eshift",
             "energy_shift": "eshift", "clamp1": "clamp1", "clamp2": "clamp2"}
_DERIVED_ARRAYS = {"norm", "flat", "pre_edge", "post_edge", "dmude", "d2mude", "bkg", "chi",
                   "k", "chie", "norm_poly", "flat_alt"}
_ATHENA_GROUP_KEYS = {"element", "edge", "i0", "fft"}


def _athena_item(item: Any) -> tuple[str, np.ndarray, np.ndarray, dict[str, Any],
                                     np.ndarray | None]:
    if isinstance(item, XasScan):
        extra = dict(item.metadata.get("athena", {}) or {})
        extra = {k: v for k, v in extra.items()
                 if k in _PRE_EDGE_KEYS or k in _BKG_KEYS or k == "fft"}
        if item.element:
            extra["element"] = item.element
        if item.edge:
            extra["edge"] = item.edge
        return item.label, item.energy_ev, item.mu, extra, item.reference_mu
    if isinstance(item, Sequence) and not isinstance(item, str) and len(item) in (3, 4):
        label, energy, mu = item[0], item[1], item[2]
        extra = dict(item[3]) if len(item) == 4 and item[3] is not None else {}
        return str(label), np.asarray(energy, float), np.asarray(mu, float), extra, None
    raise TypeError("write_athena expects XasScan objects or (label, energy_ev, mu[, extra]) "
                    f"tuples, got {type(item).__name__}")


def write_athena(path: PathLike, scans_or_groups: Iterable[Any], *,
                 include_reference: bool = False) -> Path:
    """Write groups to an Athena project (.prj, gzip) that Athena and Larix open.

    Parameters
    ----------
    path : str or Path
        Project file to write (replaced if it exists).
    scans_or_groups : iterable
        XasScan objects, or tuples ``(label, energy_ev, mu)`` / ``(label, energy_ev, mu, extra)``.
        ``extra`` may give normalisation parameters (e0, pre1, pre2, norm1/nor1, norm2/nor2,
        nnorm, nvict, step), background parameters (rbkg, kmin/spl1, kmax/spl2, kweight/kw, dk,
        eshift, clamp1, clamp2), 'element', 'edge', an 'i0' array and a dict 'fft' of Athena
        fft_* values. Parameters not given are found by Larch's ``pre_edge``. Derived arrays
        (norm, flat, pre_edge, post_edge, bkg, chi, ...) are accepted and not stored: Athena
        recomputes them from the parameters. A scan read by :func:`read_athena` keeps its stored
        parameters.
    include_reference : bool
        Also write each XasScan's reference channel as a group '<label> reference'.

    Returns
    -------
    Path
        The file written.
    """
    from larch import Group
    from larch.io.athena_project import AthenaProject
    from larch.xafs import pre_edge

    out = Path(path)
    items: list[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]] = []
    for item in scans_or_groups:
        label, energy, mu, extra, ref = _athena_item(item)
        items.append((label, energy, mu, extra))
        if include_reference and ref is not None:
            ref_extra = {k: v for k, v in extra.items() if k in ("element", "edge")}
            items.append((f"{label} reference", energy, ref, ref_extra))
    if not items:
        raise ValueError(f"{out}: nothing to write; expected at least one group")
    proj = AthenaProject()
    for label, energy, mu, extra in items:
        unknown = set(extra) - set(_PRE_EDGE_KEYS) - set(_BKG_KEYS) - _DERIVED_ARRAYS - (
            _ATHENA_GROUP_KEYS)
        if unknown:
            raise ValueError(f"group '{label}': unknown entries {sorted(unknown)}; expected "
                             "normalisation or background parameters, element, edge, i0, fft "
                             "or derived arrays")
        energy = np.asarray(energy, float)
        mu = np.asarray(mu, float)
        XasScan(energy_ev=energy, mu=mu, source=str(out), label=label).check()
        grp = Group(name=label, energy=energy.copy(), mu=mu.copy(), filename=label)
        if extra.get("i0") is not None:
            grp.i0 = np.asarray(extra["i0"], float)
        kws = {_PRE_EDGE_KEYS[k]: float(v) for k, v in extra.items()
               if k in _PRE_EDGE_KEYS and v is not None}
        if "nnorm" in kws:
            kws["nnorm"] = int(kws["nnorm"])
        try:
            pre_edge(grp, **kws)
        except Exception as exc:  # Larch's fits fail with several exception types
            raise XasReadError(f"{out}: normalisation of group '{label}' failed in Larch "
                               f"({type(exc).__name__}: {exc}); check e0 and the pre/post-edge "
                               "ranges") from exc
        if "e0" in kws:
            grp.e0 = kws["e0"]
        before = set(proj.groups)
        with _quiet():
            proj.add_group(grp)
        (key,) = set(proj.groups) - before
        args = proj.groups[key].args
        args["label"] = label
        for k, v in extra.items():
            if k in _BKG_KEYS and v is not None:
                args[f"bkg_{_BKG_KEYS[k]}"] = v
        for k, v in (extra.get("fft") or {}).items():
            if isinstance(_plain(v), _ATHENA_SCALARS):
                args[f"fft_{k}"] = _plain(v)
        element = _element_symbol(extra.get("element"))
        if element:
            args["bkg_z"] = args["atsym"] = element
        edge = _edge_name(extra.get("edge"))
        if edge:
            args["fft_edge"] = args["edge"] = edge
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        proj.save(str(out), use_gzip=True)
    except OSError as exc:
        raise XasReadError(f"{out}: could not write the Athena project ({exc})") from exc
    return out


# --------------------------------------------------------------------------------------------
# NeXus / HDF5


def _nx_class(obj: Any) -> str:
    return str(_plain(obj.attrs.get("NX_class", "")))


def _h5_text(obj: Any) -> str | None:
    import h5py

    if not isinstance(obj, h5py.Dataset):
        return None
    value = obj[()]
    if isinstance(value, np.ndarray):
        value = value.flat[0] if value.size else ""
    return str(_plain(value)).strip()


def _h5_array(group: Any, *paths: str) -> tuple[np.ndarray, str, str] | None:
    """First 1-D or 2-D numeric dataset found among paths: (values, path, units)."""
    import h5py

    for sub in paths:
        obj = group.get(sub)
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu" and obj.ndim in (1, 2):
            return np.asarray(obj[()], dtype=float), sub, str(_plain(obj.attrs.get("units", "")))
    return None


def _nexus_entry(entry: Any, path: Path, name: str) -> list[XasScan]:
    import h5py

    nxdata = [k for k, v in entry.items() if isinstance(v, h5py.Group) and _nx_class(v) == "NXdata"]
    data_paths = (["data"] if "data" in entry else []) + [k for k in nxdata if k != "data"]
    if _nx_class(entry) == "NXdata":  # a bare NXdata at the top of the file
        data_paths.insert(0, ".")
    e = _h5_array(entry, "instrument/monochromator/energy",
                  *[f"{d}/energy" for d in data_paths], "energy")
    if e is None:
        return []
    energy, e_path, e_units = e
    roles = {
        "i0": ("instrument/incoming_beam/data", "instrument/i0/data",
               *[f"{d}/incoming_beam" for d in data_paths], *[f"{d}/i0" for d in data_paths]),
        "absorbed": ("instrument/absorbed_beam/data",
                     *[f"{d}/absorbed_beam" for d in data_paths]),
        "itrans": ("instrument/itrans/data", *[f"{d}/itrans" for d in data_paths]),
        "ifluor": ("instrument/ifluor/data", *[f"{d}/ifluor" for d in data_paths]),
        "iref": ("instrument/irefer/data", "instrument/reference/data",
                 *[f"{d}/irefer" for d in data_paths]),
        "mu": tuple(f"{d}/{m}" for d in data_paths for m in ("mu", "mutrans", "mufluor")),
        "mu_ref": tuple(f"{d}/{m}" for d in data_paths for m in ("mu_ref", "murefer")),
    }
    found = {role: _h5_array(entry, *paths) for role, paths in roles.items()}
    for d in data_paths:  # an NXdata whose @signal is the absorption ('intensity' in NXxas_*)
        signal = _plain(entry[d].attrs.get("signal", ""))
        if found["mu"] is None and signal and signal not in ("absorbed_beam", "incoming_beam"):
            found["mu"] = _h5_array(entry, f"{d}/{signal}")
    mode_text = ""
    for sub in [f"{d}/mode" for d in data_paths] + ["instrument/absorbed_beam/mode"]:
        mode_text = (_h5_text(entry.get(sub)) or "").lower()
        if mode_text:
            break
    definition = (_h5_text(entry.get("definition")) or "").strip()
    if not mode_text and definition.lower().startswith("nxxas_fluo"):
        mode_text = "fluorescence"
    columns: dict[str, np.ndarray] = {"energy": energy}
    used: dict[str, str] = {"energy": e_path}
    if found["absorbed"] is not None:
        role = "ifluor" if mode_text.startswith("fluo") else "itrans"
        if found[role] is None:
            found[role] = found["absorbed"]
    for role in ("i0", "itrans", "ifluor", "iref", "mu", "mu_ref"):
        if found[role] is not None:
            columns[role], used[role] = found[role][0], found[role][1]

    meta: dict[str, Any] = {"format": "NeXus", "entry": name, "nexus_paths": used}
    if definition:
        meta["definition"] = definition
    title = _h5_text(entry.get("title"))
    sample = _h5_text(entry.get("sample/name"))
    if sample:
        meta["sample"] = sample
    start = _h5_text(entry.get("start_time"))
    element = None
    for sub in ("scan/xrayedge/element", "element/name", "element", "sample/element"):
        element = _element_symbol(_h5_text(entry.get(sub)))
        if element:
            break
    edge = None
    for sub in ("scan/xrayedge/edge", "element/edge/name", "edge", "element/edge"):
        edge = _edge_name(_h5_text(entry.get(sub)))
        if edge:
            break
    label = title or name
    has_trans = "i0" in columns and "itrans" in columns
    has_fluo = "i0" in columns and "ifluor" in columns
    if mode_text.startswith("fluo") and has_fluo:
        mode = "fluorescence"
    elif mode_text.startswith("trans") and has_trans:
        mode = "transmission"
    elif has_fluo and not has_trans:
        mode = "fluorescence"
    elif has_trans:
        mode = "transmission"
    elif "mu" in columns:
        mode = "mu"
    else:
        raise XasReadError(f"{path} [{name}]: energy found at {e_path} but no absorption data; "
                           "expected instrument/incoming_beam/data with absorbed_beam/data, or "
                           f"mu in an NXdata group (found: {', '.join(used)})")
    roles_kw: dict[str, Any] = {"energy": "energy"}
    if mode == "transmission":
        roles_kw.update(i0="i0", itrans="itrans")
    elif mode == "fluorescence":
        roles_kw.update(i0="i0", ifluor="ifluor")
    else:
        roles_kw["mu"] = "mu"

    rows = [columns]
    mu2d = columns.get("mu")
    if mu2d is not None and mu2d.ndim == 2:
        rows = [{**{k: v for k, v in columns.items() if k != "mu"}, "mu": r} for r in mu2d]
    scans = []
    for k, cols in enumerate(rows):
        if any(v.ndim != 1 for v in cols.values()):
            raise XasReadError(f"{path} [{name}]: expected 1-D energy and detector data, got "
                               f"shapes { {r: v.shape for r, v in cols.items()} }")
        sizes = {v.size for v in cols.values()}
        if len(sizes) != 1:
            raise XasReadError(f"{path} [{name}]: energy and detector data differ in length "
                               f"({ {r: v.size for r, v in cols.items()} }); expected one value "
                               "per energy point")
        names = list(cols)
        t = _Table(path=path, names=names, data=cols, fmt="NeXus",
                   units={"energy": e_units} if e_units else {}, element=element, edge=edge,
                   time_s=_parse_time(start), metadata=dict(meta))
        if start:
            t.metadata["start_time"] = start
        scans.append(_build_scan(t, mode=mode, label=label if len(rows) == 1 else f"{label}[{k}]",
                                 **roles_kw))
    return scans


def read_nexus(path: PathLike, entry: str | None = None) -> list[XasScan]:
    """Read XAS scans from a NeXus/HDF5 file (NXxas and close relatives).

    Each NXentry is read from ``instrument/monochromator/energy`` with
    ``instrument/incoming_beam/data`` as I0 and ``instrument/absorbed_beam/data`` as It (or If
    when ``data/mode`` says fluorescence); Larch's layout (``instrument/i0``, ``itrans``,
    ``ifluor``, ``irefer``) and an NXdata holding ``energy`` with ``mu`` (or its @signal) are
    read too.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.
    entry : str, optional
        Name of the entry to read; all entries with XAS data when omitted.

    Returns
    -------
    list of XasScan
    """
    import h5py

    p = _existing_file(path)
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise XasReadError(f"{p}: not an HDF5/NeXus file ({exc}); expected an HDF5 file with an "
                           "NXxas entry") from exc
    with f:
        groups = [k for k, v in f.items() if isinstance(v, h5py.Group)]
        if entry is not None:
            if entry not in f or not isinstance(f[entry], h5py.Group):
                raise XasReadError(f"{p}: no entry '{entry}'; entries are: {', '.join(groups)}")
            names = [entry]
        else:
            flagged = [k for k in groups if _nx_class(f[k]) == "NXentry"]
            names = flagged or groups
        scans: list[XasScan] = []
        for name in names:
            scans.extend(_nexus_entry(f[name], p, name))
    if not scans:
        raise XasReadError(f"{p}: no XAS data found; expected an NXentry with "
                           "instrument/monochromator/energy and incoming_beam/absorbed_beam data, "
                           "or an NXdata group with energy and mu")
    return scans


# --------------------------------------------------------------------------------------------
# dispatch


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _sniff(p: Path) -> str:
    ext = p.suffix.lower()
    if ext == ".xdi":
        return "xdi"
    if ext == ".prj":
        return "athena"
    if ext in (".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".nx"):
        return "nexus"
    with p.open("rb") as fh:
        head = fh.read(1024)
    if head.startswith(_HDF5_MAGIC):
        return "nexus"
    if head.startswith(b"\x1f\x8b"):
        from larch.io.athena_project import is_athena_project

        return "athena" if is_athena_project(str(p)) else "columns"
    text = head.decode("latin-1")
    if text.startswith("# Athena project file"):
        return "athena"
    if re.match(r"#\s*XDI/", text):
        return "xdi"
    return "columns"


def read_scan(path: PathLike, **kw: Any) -> list[XasScan]:
    """Read any supported XAS file, chosen by extension and content.

    ``.xdi`` or an XDI first line: :func:`read_xdi`; ``.prj``: :func:`read_athena`;
    ``.h5``/``.hdf5``/``.nxs``: :func:`read_nexus`; anything else: :func:`read_columns`.
    Keywords go to the reader chosen.

    Returns
    -------
    list of XasScan
        Always a list, also for formats that hold a single scan.
    """
    p = _existing_file(path)
    kind = _sniff(p)
    if kind == "xdi":
        return [read_xdi(p, **kw)]
    if kind == "athena":
        return read_athena(p, **kw)
    if kind == "nexus":
        return read_nexus(p, **kw)
    return [read_columns(p, **kw)]

