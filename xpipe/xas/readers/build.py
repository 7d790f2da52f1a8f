"""From a table of named columns to an :class:`~xpipe.xas.scan.XasScan`.

The steps, in order: pick the energy, I0, It, fluorescence and mu columns (by the user's
choice, else by common beamline names); choose the mode; gather the signal and the reference
channel; subtract stated dark counts; drop rows without finite values; put the energy axis in
order (see :mod:`xpipe.xas.readers`); compute mu(E) and the reference mu.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...io.text import ABSURD_VALUE
from ..scan import XasReadError, XasScan
from .base import (
    _I0_NAMES,
    _IREF_NAMES,
    _IT_NAMES,
    _MU_NAMES,
    _MUREF_NAMES,
    _PREFIXES,
    ColumnSpec,
    _dead_time_factor,
    _find_dt_i0,
    _find_energy,
    _find_fluorescence,
    _Table,
)

HC_EV_ANGSTROM = 12398.419843320026
"""h*c in eV*Angstrom, for E = hc / (2 d sin(theta))."""

DUPLICATE_STEP_EV = 1e-3
"""Energy steps at or below this (in eV) are repeated points, averaged together."""

KEV_BELOW = 200.0
"""An energy column whose values all lie below this is taken to be in keV."""

_MODES = ("auto", "transmission", "fluorescence", "mu")

# --------------------------------------------------------------------------------------------
# the energy axis


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
    if finite.size and np.min(finite) <= 0:
        raise XasReadError(f"{t.path}: energy column '{name}' holds values from "
                           f"{np.min(finite):g} to {np.max(finite):g}, zero or negative: "
                           "energies relative to an edge, or not an energy; expected absolute "
                           "energies in eV or keV (pass energy=<column> and energy_units=)")
    if finite.size and np.nanmax(np.abs(finite)) < KEV_BELOW:
        return values * 1000.0, f"keV (values below {KEV_BELOW:g})"
    return values, "eV"


def _positive(where: str, name: str, a: np.ndarray, what: str,
              inverted: list[str] | None = None) -> np.ndarray:
    """The counts of a column, refused unless all are positive; a column whose values are all
    negative (a current amplifier of inverted polarity) is negated and named in ``inverted``."""
    if inverted is not None and a.size and np.all(a < 0):
        inverted.append(name)
        return -a
    bad = np.count_nonzero(~(a > 0))
    if bad:
        raise XasReadError(f"{where}: {what} needs positive values in column '{name}', but "
                           f"{bad} of {a.size} points are zero, negative or missing")
    return a


# --------------------------------------------------------------------------------------------
# building the scan, step by step


@dataclass
class _Picked:
    """The columns chosen for one scan, by role, and the energy axis in eV."""

    e_ev: np.ndarray
    e_unit: str
    cols: dict[str, Any]
    i0: str | None
    it: str | None
    mu: str | None
    fl: list[str]
    dt_specs: list[ColumnSpec] | None
    fl_element: tuple[str, str] | None
    i0_fluor: str | None = None


def _pick_columns(t: _Table, energy: ColumnSpec | None, i0: ColumnSpec | None,
                  itrans: ColumnSpec | None, mu: ColumnSpec | None,
                  ifluor: ColumnSpec | Sequence[ColumnSpec] | None,
                  dead_time: Sequence[ColumnSpec] | None, energy_units: str) -> _Picked:
    """The columns the user named, else those found by their common names."""
    e_name = t.resolve(energy, "energy") if energy is not None else _find_energy(t)
    e_raw = np.asarray(t.data[e_name], dtype=float)
    e_ev, e_unit = _energy_to_ev(t, e_name, e_raw, energy_units)
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
        raise XasReadError(f"{t.path}: {len(dt_specs)} dead-time columns for {len(fl_names)} "
                           "fluorescence channels; expected one dead-time factor per channel")
    # fluorescence found by name is divided by the I0 the detector's live time scales, if any
    i0_fluor = _find_dt_i0(t) if ifluor is None and i0 is None and fl_names else None
    return _Picked(e_ev, e_unit, {"energy": e_name}, i0_name, it_name, mu_name, fl_names,
                   dt_specs, fl_element, i0_fluor)


def _auto_mode(t: _Table, pk: _Picked, *, mu: Any, ifluor: Any, itrans: Any) -> str:
    """The mode a user's choice of columns implies, else the one the columns found allow."""
    if mu is not None:
        return "mu"
    if ifluor is not None:
        return "fluorescence"
    if itrans is not None:
        return "transmission"
    if pk.fl and (pk.i0 or pk.i0_fluor):
        return "fluorescence"
    if pk.i0 and pk.it:
        return "transmission"
    if pk.mu:
        return "mu"
    missing = "no I0 column" if not pk.i0 and (pk.it or pk.fl) else (
        "no I0/It, I0/If or mu columns")
    hint = ("the file has no column names: pass i0=, itrans= or ifluor= (names like "
            "'col2' or 0-based indices)") if not t.named else (
        "pass i0=, itrans=, ifluor= or mu= to choose columns")
    raise XasReadError(f"{t.path}: {missing}; expected I0 with It (transmission), I0 with "
                       f"fluorescence channels, or a mu column; columns are: "
                       f"{t.listing()}; {hint}")


def _signal(t: _Table, pk: _Picked, mode: str) -> dict[str, np.ndarray]:
    """The columns mu(E) is computed from in ``mode``; records them in ``pk.cols``."""
    where, cols = t.path, pk.cols
    if mode == "transmission":
        if not pk.i0 or not pk.it:
            which = "I0" if not pk.i0 else "It"
            raise XasReadError(f"{where}: transmission needs I0 and It columns but found no "
                               f"{which}; columns are: {t.listing()}")
        cols.update(i0=pk.i0, itrans=pk.it)
        return {"i0": t.data[pk.i0], "it": t.data[pk.it]}
    if mode == "fluorescence":
        i0 = pk.i0_fluor or pk.i0
        if not i0 or not pk.fl:
            which = "I0" if not i0 else "fluorescence channel"
            raise XasReadError(f"{where}: fluorescence needs I0 and at least one fluorescence "
                               f"channel but found no {which}; columns are: {t.listing()}")
        needed = {"i0": t.data[i0]}
        cols.update(i0=i0, ifluor=list(pk.fl))
        for k, name in enumerate(pk.fl):
            needed[f"f{k}"] = t.data[name]
        if pk.dt_specs is not None:
            dt_used = []
            for k, spec in enumerate(pk.dt_specs):
                dt_label, factor = _dead_time_factor(t, spec)
                needed[f"d{k}"] = factor
                dt_used.append(dt_label)
            cols["dead_time"] = dt_used
        return needed
    if not pk.mu:
        raise XasReadError(f"{where}: no mu column; expected one named like "
                           f"'mu', 'xmu', 'mutrans' or 'mufluor'; columns are: {t.listing()}")
    cols["mu"] = pk.mu
    return {"mu": t.data[pk.mu]}


def _reference(t: _Table, pk: _Picked, needed: dict[str, np.ndarray],
               iref: ColumnSpec | None, require_reference: bool) -> str | None:
    """Add the reference foil to ``needed``: ln(It/Iref) from counts, else a stored mu_ref.

    Returns a note saying why a reference channel present was not used, or None.
    """
    ref_note = None
    ir_name = t.resolve(iref, "Iref") if iref is not None else t.find(
        _IREF_NAMES, _PREFIXES["iref"])
    muref_name = t.find(_MUREF_NAMES)
    it_name = pk.it
    if ir_name and it_name and ir_name not in (it_name, pk.i0):
        a, b = t.data[it_name], t.data[ir_name]
        if np.all(a > 0) and np.all(b > 0):
            needed.update(ref_it=a, ref_ir=b)
            pk.cols.update(iref=ir_name, reference_it=it_name)
        else:
            ref_note = (f"reference channel '{ir_name}' not used: it holds zero or negative "
                        "values")
    elif ir_name and not it_name:
        ref_note = f"reference channel '{ir_name}' not used: no It column to ratio it with"
    if "ref_ir" not in needed and muref_name:
        needed["ref_mu"] = t.data[muref_name]
        pk.cols["mu_ref"] = muref_name
    if require_reference and "ref_ir" not in needed and "ref_mu" not in needed:
        why = f" ({ref_note})" if ref_note else ""
        raise XasReadError(f"{t.path}: a reference channel was required but none is usable"
                           f"{why}; expected an Iref column (iref, ir, i2, irefer) beside It, "
                           f"or a mu_ref column; columns are: {t.listing()}")
    return ref_note


def _subtract_dark(t: _Table, pk: _Picked, needed: dict[str, np.ndarray]) -> dict[str, float]:
    """Subtract the dark counts per second the file states (KEK-PF, SSRL) times the count time."""
    dark_used: dict[str, float] = {}
    by_name = {"i0": pk.cols.get("i0", pk.i0), "it": pk.it, "ref_it": pk.it,
               "ref_ir": pk.cols.get("iref")}
    by_name.update({f"f{k}": n for k, n in enumerate(pk.fl)})
    for key, name in by_name.items():
        if key in needed and name in t.dark and t.dark[name]:
            needed[key] = needed[key] - t.dark[name] * t.data[t.time_column]
            dark_used[name] = t.dark[name]
    return dark_used


def _check_magnitudes(t: _Table, pk: _Picked, needed: dict[str, np.ndarray]) -> None:
    """Refuse a value beyond :data:`ABSURD_VALUE` in the energy or a column mu(E) is made of:
    no counter reaches it; such a number is a damaged row."""
    names = {"i0": pk.cols.get("i0", pk.i0), "it": pk.it, "mu": pk.mu, "ref_it": pk.it,
             "ref_ir": pk.cols.get("iref"), "ref_mu": pk.cols.get("mu_ref")}
    names.update({f"f{k}": n for k, n in enumerate(pk.fl)})
    columns = [(pk.cols["energy"], t.data[pk.cols["energy"]])]
    columns += [(names.get(key) or key, values) for key, values in needed.items()]
    for name, values in columns:
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(np.abs(np.asarray(values, dtype=float)) > ABSURD_VALUE)
        if bad.size:
            k = int(bad[0])
            raise XasReadError(
                f"{t.path}: {t.where(k)}: column '{name}' holds {float(values[k]):g}, beyond any "
                f"measured value (|value| > {ABSURD_VALUE:g}; {bad.size} such row"
                f"{'s' if bad.size > 1 else ''}); expected counts or energies (the file is damaged)")


def _finite_rows(where: str, pk: _Picked, needed: dict[str, np.ndarray]
                 ) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """Energy and arrays on the rows where energy and signal are finite, and the rows dropped."""
    arrays = {k: np.asarray(v, dtype=float) for k, v in needed.items()}
    keep = np.isfinite(pk.e_ev)
    for k, v in arrays.items():
        if not k.startswith("ref_"):  # a gap in the reference drops the reference, not rows
            keep &= np.isfinite(v)
    dropped = int(np.count_nonzero(~keep))
    if not keep.any():
        raise XasReadError(f"{where}: no rows with finite energy and signal; expected numeric "
                           f"columns ({', '.join(str(v) for v in pk.cols.values())})")
    return pk.e_ev[keep], {k: v[keep] for k, v in arrays.items()}, dropped


def _mu(where: str, mode: str, pk: _Picked, e_ev: np.ndarray,
        arrays: dict[str, np.ndarray], inverted: list[str]) -> np.ndarray:
    """mu(E): ln(I0/It), sum(If_i * dtc_i)/I0, or the mu column; the names of the columns of
    inverted polarity (all values negative, used negated) are added to ``inverted``."""
    cols = pk.cols
    if mode == "transmission":
        i0 = _positive(where, cols["i0"], arrays["i0"], "transmission", inverted)
        it = _positive(where, cols["itrans"], arrays["it"], "transmission", inverted)
        return np.log(i0 / it)
    if mode == "fluorescence":
        i0 = _positive(where, cols["i0"], arrays["i0"], "fluorescence", inverted)
        total = np.zeros_like(e_ev)
        for k, name in enumerate(pk.fl):
            f = arrays[f"f{k}"]
            if f.size and np.all(f < 0):
                inverted.append(name)
                f = -f
            total += f * (arrays[f"d{k}"] if f"d{k}" in arrays else 1.0)
        return total / i0
    return arrays["mu"]


def _reference_mu(arrays: dict[str, np.ndarray], ref_note: str | None
                  ) -> tuple[np.ndarray | None, str | None]:
    """ln(It/Iref) of the foil, or its stored mu; None when absent or not finite."""
    ref = None
    if "ref_ir" in arrays:
        ref = np.log(arrays["ref_it"] / arrays["ref_ir"])
    elif "ref_mu" in arrays:
        ref = arrays["ref_mu"]
    if ref is not None and not np.all(np.isfinite(ref)):
        ref, ref_note = None, "reference channel not used: it holds non-finite values"
    return ref, ref_note


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
    pk = _pick_columns(t, energy, i0, itrans, mu, ifluor, dead_time, energy_units)
    if mode == "auto":
        mode = _auto_mode(t, pk, mu=mu, ifluor=ifluor, itrans=itrans)
    needed = _signal(t, pk, mode)
    ref_note = None
    if reference or require_reference:
        ref_note = _reference(t, pk, needed, iref, require_reference)
    _check_magnitudes(t, pk, needed)
    dark_used: dict[str, float] = {}
    if dark_offsets and t.dark and t.time_column:
        dark_used = _subtract_dark(t, pk, needed)
    e_ev, arrays, dropped = _finite_rows(where, pk, needed)
    e_ev, arrays, notes = _order_energy(where, e_ev, arrays)
    inverted: list[str] = []
    mu_arr = _mu(where, mode, pk, e_ev, arrays, inverted)
    ref, ref_note = _reference_mu(arrays, ref_note)

    meta = dict(t.metadata)
    meta.update(format=t.fmt, columns=pk.cols, energy_units_in_file=pk.e_unit, **notes)
    if dropped:
        meta["dropped_rows"] = dropped
    if dark_used:
        meta["dark_offsets_subtracted"] = dark_used
    if inverted:
        meta["inverted_polarity"] = inverted  # all-negative counts, used negated
    if ref_note:
        meta["reference_note"] = ref_note
    element, edge = t.element, t.edge
    if element is None and pk.fl_element is not None:
        element, edge = pk.fl_element  # from ROI names such as 'Fe_Ka_mca1'
    scan = XasScan(energy_ev=e_ev, mu=mu_arr, source=where, label=label or t.path.stem,
                   mode=mode, reference_mu=ref, element=element, edge=edge,
                   time_s=t.time_s, metadata=meta)
    if scan.element is None and t.e0:
        _guess_element_from_e0(scan, t.e0)
    scan.check()
    return scan


def _guess_element_from_e0(scan: XasScan, e0: float) -> None:
    import xraydb  # slow to import (its database): only when a header gives E0 but no element

    try:
        sym, edge = xraydb.guess_edge(float(e0))
    except (ValueError, TypeError):
        return
    if sym:
        scan.element, scan.edge = str(sym), str(edge)
        scan.metadata["element_from"] = f"E0 = {e0:g} eV in the header"
