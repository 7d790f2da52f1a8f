"""The fit model compiled to lmfit parameters: each line's centre, width, area and shape as
expressions of the parameters, and the name of every quantity a link or a shared parameter can
refer to.

A :class:`~xpipe.xps.fit.model.Component` gives parameters ``<prefix>c<i>_center``, ``_fwhm``,
``_area`` and one per lineshape parameter; a :class:`~xpipe.xps.fit.model.Doublet` adds
``_splitting``, ``_area_ratio`` and ``_fwhm_ratio``, from which its minor line is derived.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import lmfit
import numpy as np

from ..lineshapes import LINESHAPES
from .model import (
    _DOUBLET_QUANTITIES,
    _QUANTITY_ALIASES,
    DEGENERACY_RATIO,
    J_LABELS,
    Component,
    Doublet,
    ModelEntry,
    _doublet_splitting,
    _norm_name,
    _shape_param_specs,
)


@dataclass
class _Q:
    """A model quantity: lmfit expression text, evaluator over the parameter values, and the
    parameter name when the quantity is one parameter (only those can be linked or shared)."""

    expr: str
    fn: Callable[[Mapping[str, float]], float]
    param: str | None = None


def _qp(name: str) -> _Q:
    return _Q(name, lambda v, n=name: v[n], name)


@dataclass
class _Line:
    name: str
    shape: str
    func: Callable[..., np.ndarray]
    species: int
    center: _Q
    fwhm: _Q
    area: _Q
    shape_q: dict[str, _Q]
    label_valence: float | None
    sensitivity: float
    doublet: str | None


@dataclass
class _Species:
    name: str
    kind: str
    lines: list[int]
    area: _Q
    label_valence: float | None
    sensitivity: float
    extra: dict[str, _Q]


@dataclass
class _Compiled:
    prefix: str
    lines: list[_Line]
    species: list[_Species]
    refs: dict[str, tuple[str, int]]  # name -> ("line", i) or ("species", i)
    labels: dict[str, str]  # parameter -> "quantity(name)"
    area_params: list[str]


def _check_entry(e: ModelEntry, name: str, is_d: bool) -> tuple[dict[str, tuple[float, float, float]],
                                                                 tuple[float, float]]:
    """Validate one model entry; return its lineshape parameter specs and its centre bounds (eV)."""
    shape_specs = _shape_param_specs(e)
    allowed = {"center", "fwhm", "area", *shape_specs} | (set(_DOUBLET_QUANTITIES) if is_d else set())
    bad = set(e.vary) - allowed
    if bad:
        raise ValueError(f"{name!r}: vary has unknown key(s) {', '.join(sorted(bad))}; allowed: {', '.join(sorted(allowed))}")
    if is_d and e.orbital not in J_LABELS:
        raise ValueError(f"doublet {name!r}: orbital {e.orbital!r}; expected 'p', 'd' or 'f'")
    c0, w0 = float(e.center), float(e.fwhm)
    clo, chi = e.center_bounds if e.center_bounds is not None else (c0 - 1.5, c0 + 1.5)
    if not clo <= c0 <= chi:
        raise ValueError(f"{name!r}: center {c0} eV outside its bounds ({clo}, {chi})")
    wlo, whi = e.fwhm_bounds
    if not wlo <= w0 <= whi:
        raise ValueError(f"{name!r}: fwhm {w0} eV outside its bounds ({wlo}, {whi}); widen fwhm_bounds")
    if e.sensitivity <= 0:
        raise ValueError(f"{name!r}: sensitivity must be > 0, got {e.sensitivity}")
    return shape_specs, (clo, chi)


class _Builder:
    """Adds the parameters of model entries to ``params`` and collects their lines and species."""

    def __init__(self, params: lmfit.Parameters, prefix: str, suffix: str):
        self.params, self.prefix, self.suffix = params, prefix, suffix
        self.lines: list[_Line] = []
        self.species: list[_Species] = []
        self.refs: dict[str, tuple[str, int]] = {}
        self.labels: dict[str, str] = {}
        self.area_params: list[str] = []

    def add_name(self, name, ref):
        if name in self.refs:
            raise ValueError(f"two components of the model are called {name!r}; names must be unique")
        self.refs[name] = ref

    def add(self, pname, label, value, vary, lo=-np.inf, hi=np.inf):
        self.params.add(pname, value=value, vary=vary, min=lo, max=hi)
        self.labels[pname] = label + self.suffix

    def entry(self, i: int, e: ModelEntry):
        if not isinstance(e, (Component, Doublet)):
            raise TypeError(f"model entry {i} is {type(e).__name__}; expected Component or Doublet")
        name = _norm_name(e.name)
        is_d = isinstance(e, Doublet)
        p = f"{self.prefix}c{i}_"
        shape_specs, (clo, chi) = _check_entry(e, name, is_d)
        head = _norm_name(e.line_names()[0]) if is_d else name
        self.add(p + "center", f"center({head})", float(e.center), e.vary.get("center", True), clo, chi)
        wlo, whi = e.fwhm_bounds
        self.add(p + "fwhm", f"fwhm({head})", float(e.fwhm), e.vary.get("fwhm", True), wlo, whi)
        a0 = np.nan if e.area is None else float(e.area)
        self.add(p + "area", f"area({name})", a0 if np.isfinite(a0) else 1.0, e.vary.get("area", True), 0.0, np.inf)
        self.params[p + "area"].user_data = {"estimate": e.area is None}
        self.area_params.append(p + "area")
        sq = {}
        for k, (val, lo, hi) in shape_specs.items():
            self.add(p + k, f"{k}({head})", val, e.vary.get(k, False), lo, hi)
            sq[k] = _qp(p + k)
        if is_d:
            self.doublet(e, p, name, sq)
        else:
            self.component(e, p, name, sq)

    def component(self, e: Component, p: str, name: str, sq: dict[str, _Q]):
        func = LINESHAPES[e.shape].func
        si = len(self.species)
        self.add_name(name, ("line", len(self.lines)))
        self.lines.append(_Line(name, e.shape, func, si, _qp(p + "center"), _qp(p + "fwhm"), _qp(p + "area"), sq,
                                e.label_valence, float(e.sensitivity), None))
        self.species.append(_Species(name, "component", [len(self.lines) - 1], _qp(p + "area"), e.label_valence,
                                     float(e.sensitivity), {}))

    def doublet(self, e: Doublet, p: str, name: str, sq: dict[str, _Q]):
        func = LINESHAPES[e.shape].func
        si = len(self.species)
        major, minor = (_norm_name(n) for n in e.line_names())
        s0 = _doublet_splitting(e)
        r_def = DEGENERACY_RATIO[e.orbital]
        r0 = float(e.area_ratio) if e.area_ratio is not None else r_def
        vs = e.vary.get("splitting", e.vary_splitting)
        vr = e.vary.get("area_ratio", e.vary_area_ratio)
        ds = max(0.3, 0.1 * abs(s0))
        self.add(p + "splitting", f"splitting({name})", s0, vs, s0 - ds, s0 + ds)
        self.add(p + "area_ratio", f"area_ratio({name})", r0, vr, 0.5 * r0, 1.5 * r0)
        self.add(p + "fwhm_ratio", f"fwhm_ratio({name})", float(e.fwhm_ratio), e.vary.get("fwhm_ratio", False),
                 0.5 * min(1.0, e.fwhm_ratio), 3.0 * max(1.0, e.fwhm_ratio))
        pc, pw, pa, ps, pr, pf = (p + k for k in ("center", "fwhm", "area", "splitting", "area_ratio", "fwhm_ratio"))
        q_major_area = _Q(f"({pa} / (1 + {pr}))", lambda v, a=pa, r=pr: v[a] / (1 + v[r]))
        q_minor_area = _Q(f"({pa} * {pr} / (1 + {pr}))", lambda v, a=pa, r=pr: v[a] * v[r] / (1 + v[r]))
        q_minor_center = _Q(f"({pc} + {ps})", lambda v, c=pc, s=ps: v[c] + v[s])
        q_minor_fwhm = _Q(f"({pw} * {pf})", lambda v, w=pw, f=pf: v[w] * v[f])
        lines = self.lines
        self.add_name(name, ("species", si))
        self.add_name(major, ("line", len(lines)))
        lines.append(_Line(major, e.shape, func, si, _qp(pc), _qp(pw), q_major_area, sq, e.label_valence,
                           float(e.sensitivity), name))
        self.add_name(minor, ("line", len(lines)))
        lines.append(_Line(minor, e.shape, func, si, q_minor_center, q_minor_fwhm, q_minor_area, sq,
                           e.label_valence, float(e.sensitivity), name))
        self.species.append(_Species(name, "doublet", [len(lines) - 2, len(lines) - 1], _qp(pa), e.label_valence,
                                     float(e.sensitivity),
                                     {"splitting": _qp(ps), "area_ratio": _qp(pr), "fwhm_ratio": _qp(pf)}))


def _compile(model: Sequence[ModelEntry], params: lmfit.Parameters, prefix: str, suffix: str) -> _Compiled:
    """Add the parameters of ``model`` to ``params`` (names ``<prefix>c<i>_...``) and describe its lines."""
    if not model:
        raise ValueError("the fit model is empty: give at least one Component or Doublet")
    b = _Builder(params, prefix, suffix)
    for i, e in enumerate(model):
        b.entry(i, e)
    return _Compiled(prefix, b.lines, b.species, b.refs, b.labels, b.area_params)


def _resolve(comp: _Compiled, quantity: str, name: str) -> _Q:
    """The quantity ``quantity(name)`` of a compiled model; ValueError with the choices otherwise."""
    q = _QUANTITY_ALIASES.get(quantity.lower(), quantity.lower())
    key = _norm_name(name)
    if key not in comp.refs:
        raise ValueError(f"unknown component {name!r}; the model has: {', '.join(comp.refs)}")
    kind, i = comp.refs[key]
    if kind == "species":  # a doublet by its own name
        sp = comp.species[i]
        if q == "area":
            return sp.area
        if q in sp.extra:
            return sp.extra[q]
        line = comp.lines[sp.lines[0]]
    else:
        line = comp.lines[i]
        if q in _DOUBLET_QUANTITIES:
            sp = comp.species[line.species]
            if sp.kind != "doublet":
                raise ValueError(f"{q}({name}): {name!r} is not part of a doublet")
            return sp.extra[q]
    if q == "center":
        return line.center
    if q == "fwhm":
        return line.fwhm
    if q == "area":
        return line.area
    if q in line.shape_q:
        return line.shape_q[q]
    allowed = ["center", "fwhm", "area", *line.shape_q] + (list(_DOUBLET_QUANTITIES) if line.doublet else [])
    raise ValueError(f"unknown quantity {quantity!r} for {name!r} ({line.shape} lineshape); expected one of {', '.join(allowed)}")
