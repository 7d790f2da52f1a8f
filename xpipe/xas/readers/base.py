"""What every XAS reader shares: the registry, file checks, name helpers and the column table.

Each format module reads its file into a :class:`_Table` of named columns (plus what the
header says: units, d-spacing, dark offsets, element, edge, start time) and hands it to
:func:`~xpipe.xas.readers.build._build_scan`, which picks the columns and builds mu(E). The
columns of each role (energy, I0, It, fluorescence, reference) are found here by the names
beamlines give them.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ...io.registry import Registry
from ...io.text import cut_last_row
from ..scan import XasReadError

PathLike = str | Path
ColumnSpec = str | int

#: The XAS file formats, in sniff order; a file no format claims is read as text columns.
REGISTRY = Registry("XAS", error=XasReadError, fallback="columns")

_NUMBER_SPLIT = re.compile(r"[,\s]+")
_COMMENT_MARKS = "#;!%*"


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


def _file_text(p: Path) -> str:
    """The text of a file, every byte kept (latin-1)."""
    return p.read_bytes().decode("latin-1")


def _numeric_fields(line: str) -> list[str] | None:
    """The fields of a line of numbers, None for any other line (header, comment, blank)."""
    fields = [f for f in _NUMBER_SPLIT.split(line.strip()) if f]
    if not fields or line.lstrip()[:1] in _COMMENT_MARKS:
        return None
    try:
        for f in fields:
            float(f)
    except ValueError:
        return None
    return fields


def _data_lines(text: str, ncol: int) -> list[int]:
    """File line numbers (1-based) of the lines holding ``ncol`` numbers: the table's rows."""
    return [n for n, line in enumerate(text.splitlines(), start=1)
            if len(_numeric_fields(line) or ()) == ncol]


def _check_last_row(p: Path, text: str) -> None:
    """Refuse a file whose last data row is cut off: it has no line end, and it holds fewer
    numbers (or a broken one) than the three rows before it, or its last number is written
    shorter than that column is in them (see :func:`~xpipe.io.text.cut_last_row`)."""
    if not text or text.endswith(("\n", "\r")):
        return
    lines = text.splitlines()
    fields = _NUMBER_SPLIT.split(lines[-1].strip())
    before = [f for line in lines[-8:-1] if (f := _numeric_fields(line)) is not None]
    if cut_last_row(fields, before):
        raise XasReadError(
            f"{p}: line {len(lines)}, the last, is cut off: it ends without a line end after "
            f"{' '.join(f for f in fields if f)[-30:]!r}, shorter than the rows before it; "
            "expected complete rows (the file is incomplete)")


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
            # optional: dateutil reads the free-form dates some beamlines write
            from dateutil.parser import parse as dateparse

            t = dateparse(text)
        except (ValueError, OverflowError, ImportError):
            return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


def _element_symbol(text: Any) -> str | None:
    """A valid element symbol ('Fe') from text like 'fe' or 'Fe ', else None."""
    import xraydb  # slow to import (its database): only when a file names an element

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


@dataclass
class _Table:
    """A table of named columns, whatever file it came from, and what its header says."""

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
    line_of: list[int] | None = None

    def where(self, row: int) -> str:
        """'line N' of a row of the table where the file's lines are known, else 'point K'."""
        n = len(next(iter(self.data.values()), ()))
        if self.line_of is not None and len(self.line_of) == n:
            return f"line {self.line_of[row]}"
        return f"point {row + 1} of {n}"

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


# Column names by role, compared after lower-casing and removing '_' (so 'I_0' == 'i0').
_ENERGY_NAMES = ("energy", "e", "energyev", "ev", "monoenergy", "enc", "energyenc", "ene", "en",
                 "nrj", "ebraggenergy", "braggenergy", "achievedenergy", "energyachieved",
                 "energyreadback", "energyrbv", "energykev", "ekev", "energyc")
_I0_NAMES = ("i0", "io", "i0sum", "mon", "monitor", "izero", "incomingbeam")
_IT_NAMES = ("it", "i1", "itrans", "itr", "i1sum", "itsum", "itransmission", "trans",
             "absorbedbeam")
_IREF_NAMES = ("iref", "ir", "i2", "irefer", "irefsum", "irsum", "i2sum", "ireference")
_IFLUOR_NAMES = ("ifluor", "if", "iff", "ifl", "ifluo", "fluo", "fluor", "fluorescence", "pips",
                 "lytle")
_MU_NAMES = ("mu", "xmu", "mue", "mutrans", "mufluor", "musample", "absorption", "xanes")
_MUREF_NAMES = ("muref", "murefer", "mureference")
# 'i0_eh1', 'i1_eh1', 'ir_eh2': the ion chamber name followed by a qualifier.
_PREFIXES = {"i0": ("i0_",), "itrans": ("i1_", "it_"), "iref": ("ir_", "iref_", "i2_")}

_ROI_RE = re.compile(r"^(?:sum_)?([a-z]{1,2})_([klm])([ab])\d?(?:_mca_?(\d+))?$")
_CHANNEL_RE = re.compile(r"^(?:if(?:ch)?|ifluor_?|fluo_?|sca\d?_)(\d+)$")  # sca1_N: SSRL SCAs
# 'xmap4_aska_sum', 'xsp3_pbla_sum', 'xsp3_0_pbla': a detector, the element and line run together
_COMPACT_ROI_RE = re.compile(r"^[a-z]+\d*_(?:(\d+)_)?([a-z]{1,2})([klm])([ab])(_sum)?$")
# 'xmap4_dt_corr_i0': I0 scaled by the detector's live-time fraction (APS 20-ID)
_DT_I0_RE = re.compile(r"(?:^|_)dt_?corr_?i0$")
_DTC_RE = re.compile(r"^(?:dtfactor|dt_factor|dtc|dt_corr|dtcorr|deadtime)_?(?:mca)?_?(\d+)$")


# --------------------------------------------------------------------------------------------
# finding columns by their role


def _find_energy(t: _Table) -> str:
    if t.energy_hint and t.energy_hint in t.data:
        return t.energy_hint
    if not t.named:
        return t.names[0]
    if t.names[0] == "k" and any(n.startswith("chi") for n in t.names):
        raise XasReadError(f"{t.path}: a chi(k) file (columns {t.listing()}): EXAFS already "
                           "extracted on a wavenumber axis, not mu(E); expected an energy scan "
                           "(energy with mu, or I0 with It or fluorescence)")
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
    import xraydb  # slow to import (its database): only when ROI names must be told apart

    for edge in ("K", "L3", "L2", "L1"):
        try:
            e = xraydb.xray_edge(sym, edge).energy
        except (ValueError, KeyError, AttributeError, TypeError):
            continue
        if emin - margin <= e <= emax + margin:
            return True
    return False


def _numbered_channels(t: _Table, single: str | None
                       ) -> tuple[list[str], list[str] | None] | None:
    """Channels numbered ifch1.., if1.., ifluor_2.. (XDAC, KEK-PF with several detectors)."""
    numbered = sorted((int(m.group(1)), c) for c in t.names if (m := _CHANNEL_RE.match(c)))
    if not numbered:
        return None
    chans = ([single] if single else []) + [c for _, c in numbered if c != single]
    dts: list[str] | None = None
    nums = [n for n, _ in numbered]
    if not single and all(f"iffast{n}" in t.data and f"ifslow{n}" in t.data for n in nums):
        dts = [f"iffast{n}/ifslow{n}" for n in nums]
    return chans, dts


def _roi_names(t: _Table) -> tuple[dict[str, dict[int, str]], dict[str, str], dict[str, str]]:
    """ROI columns by element: per detector channel, summed, and the edge of their line."""
    per_element: dict[str, dict[int, str]] = {}
    sums: dict[str, str] = {}
    shells: dict[str, str] = {}
    for c in t.names:
        if m := _ROI_RE.match(c):
            sym, shell, channel, is_sum = (_element_symbol(m.group(1)), m.group(2), m.group(4),
                                           c.startswith("sum_"))
        elif m := _COMPACT_ROI_RE.match(c):
            sym, shell, channel, is_sum = (_element_symbol(m.group(2)), m.group(3), m.group(1),
                                           m.group(1) is None)
        else:
            continue
        if sym is None:
            continue
        shells[sym] = {"k": "K", "l": "L3", "m": "M5"}[shell]
        if channel is not None:
            per_element.setdefault(sym, {})[int(channel)] = c
        elif is_sum:
            sums[sym] = c
    return per_element, sums, shells


def _roi_channels(t: _Table, energy_ev: np.ndarray | None
                  ) -> tuple[list[str], list[str] | None, tuple[str, str] | None]:
    """Regions of interest named after the element and line: Fe_Ka_mca1.., Sum_Fe_Ka,
    XMAP4:AsKa_Sum. Channels with dead-time factors are preferred, then the sum, then the
    channels without correction."""
    per_element, sums, shells = _roi_names(t)
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
    nums = sorted(chans_by_n)
    dtc = {int(m.group(1)): c for c in t.names if (m := _DTC_RE.match(c))}
    dts = [dtc[n] for n in nums] if nums and all(n in dtc for n in nums) else None
    if chans_by_n and (dts is not None or chosen not in sums):
        return [chans_by_n[n] for n in nums], dts, (chosen, shells[chosen])
    return [sums[chosen]], None, (chosen, shells[chosen])


def _counter_channels(t: _Table) -> tuple[list[str], list[str] | None] | None:
    """Numbered ROI counters roi1.. (NSLS-II): with dtc1.. that are dead-time-corrected counts
    (close to the ROI counts) those are the channels; dtc1.. near 1 are factors; else the
    ratio icrN/ocrN corrects them when the file has both."""
    rois = sorted((int(m.group(1)), c) for c in t.names if (m := re.match(r"^roi_?(\d+)$", c)))
    if not rois:
        return None
    nums, names = [n for n, _ in rois], [c for _, c in rois]
    if all(f"dtc{n}" in t.data for n in nums):
        ratios = []
        for n, c in rois:
            roi, dtc = t.data[c], t.data[f"dtc{n}"]
            ok = np.isfinite(roi) & np.isfinite(dtc) & (roi > 0)
            ratios.append(float(np.median(dtc[ok] / roi[ok])) if ok.any() else np.nan)
        if all(0.9 <= r <= 5.0 for r in ratios):
            return [f"dtc{n}" for n in nums], None
        return names, [f"dtc{n}" for n in nums]
    if all(f"icr{n}" in t.data and f"ocr{n}" in t.data for n in nums):
        return names, [f"icr{n}/ocr{n}" for n in nums]
    return names, None


def _find_dt_i0(t: _Table) -> str | None:
    """An I0 scaled by the fluorescence detector's live time ('XMAP4:DT Corr I0'), or None
    when there is none or it was not recorded (zeros)."""
    if not t.named:
        return None
    return next((c for c in t.names if _DT_I0_RE.search(c) and np.all(t.data[c] > 0)), None)


def _find_fluorescence(t: _Table, energy_ev: np.ndarray | None
                       ) -> tuple[list[str], list[str] | None, tuple[str, str] | None]:
    """Fluorescence channels, their dead-time factors (or None), and (element, edge) of ROIs."""
    if not t.named:
        return [], None, None
    single = t.find(_IFLUOR_NAMES)  # one channel with a fluorescence name
    numbered = _numbered_channels(t, single)
    if numbered is not None:
        return numbered[0], numbered[1], None
    if single:
        return [single], None, None
    counters = _counter_channels(t)
    if counters is not None:
        return counters[0], counters[1], None
    return _roi_channels(t, energy_ev)


def _dead_time_factor(t: _Table, spec: ColumnSpec) -> tuple[str, np.ndarray]:
    """A dead-time factor column, or the ratio 'a/b' of two columns (ICR/OCR)."""
    if isinstance(spec, str) and "/" in spec:
        num, den = (t.resolve(s.strip(), "dead-time factor") for s in spec.split("/", 1))
        return f"{num}/{den}", t.data[num] / t.data[den]
    name = t.resolve(spec, "dead-time factor")
    return name, t.data[name]
