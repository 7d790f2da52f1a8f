"""The global optimum of a fit: a deterministic set of starts, local least squares from the best
of them, and the lowest chi-square with ties broken by the order of the starts.

A local minimiser stops at the first minimum it finds, and where a long, flat valley ends
depends on rounding: the same data on another machine (another BLAS, thread count or data
order) could come out with another answer. Here the fit is

1. **screened**: the template start (the values the model gives, areas from the data) and a
   Sobol design (unscrambled, so the same everywhere) over the box of the free non-linear
   parameters (centres, widths, free shape parameters) are each completed with the best
   non-negative areas for them (the model is linear in its areas: one non-negative least squares
   solve per start) and ranked by chi-square;
2. **refined**: the template start, and the best distinct screened starts that come near its
   optimum, are each fitted to convergence with :func:`scipy.optimize.least_squares` (trust-region reflective, bounds
   handled exactly, tight tolerances) on all free parameters;
3. **chosen**: the lowest chi-square wins; chi-squares within a relative ``1e-9`` count as the
   same optimum, and among those the earliest start wins.

The parameters are handled as a vector: link expressions (numbers, parameter names,
``+ - * /`` and parentheses, as :mod:`xpipe.xps.fit.links` writes them) are compiled once into
closures over that vector by walking their syntax tree; nothing is evaluated as Python code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import lmfit
import numpy as np
from scipy.optimize import least_squares, nnls
from scipy.stats import qmc

from .data import _Spectrum
from .evaluate import _evaluate, _line_values, _Problem

#: Relative chi-square difference below which two local fits found the same optimum.
SAME_OPTIMUM_RTOL = 1e-9
#: Default number of screened starts (Sobol points besides the template start).
DEFAULT_SCREEN = 63
#: A screened start is fitted when its chi-square is below this many times the template's optimum.
SCREEN_FACTOR = 3.0
#: Default most local fits (the template start plus screened starts near its optimum).
DEFAULT_LOCAL = 3
#: Most steps of each stage of a local fit (scipy counts the model evaluations of a step, not
#: those of its numerical Jacobian): a converging fit takes 10-30.
MAX_STEPS = 60
_TOL = 1e-10  # ftol, xtol and gtol of each local least-squares fit
_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _compile_expr(text: str, index: dict[str, int]) -> Callable[[np.ndarray], float]:
    """A closure over the full value vector for one link expression (arithmetic only)."""

    def build(node):
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            op, a, b = _OPS[type(node.op)], build(node.left), build(node.right)
            return lambda v: op(a(v), b(v))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            a = build(node.operand)
            return (lambda v: -a(v)) if isinstance(node.op, ast.USub) else a
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            c = float(node.value)
            return lambda v: c
        if isinstance(node, ast.Name) and node.id in index:
            i = index[node.id]
            return lambda v: v[i]
        raise ValueError(f"the link expression {text!r} holds {ast.dump(node)[:60]}; only numbers, parameters "
                         "and + - * / are allowed")

    return build(ast.parse(text, mode="eval"))


class _Vector:
    """The free parameters of an lmfit ``Parameters`` as a vector, and every value from it."""

    def __init__(self, params: lmfit.Parameters):
        self.names_all = list(params)
        index = {n: i for i, n in enumerate(self.names_all)}
        self.free = [n for n, p in params.items() if p.vary and not p.expr]
        self.free_idx = np.array([index[n] for n in self.free], dtype=int)
        self.lo = np.array([params[n].min for n in self.free], dtype=float)
        self.hi = np.array([params[n].max for n in self.free], dtype=float)
        self.base = np.array([params[n].value for n in self.names_all], dtype=float)
        self.exprs = [(index[n], _compile_expr(params[n].expr, index)) for n in self._expr_order(params)]

    @staticmethod
    def _expr_order(params: lmfit.Parameters) -> list[str]:
        """Expression parameters, each after those it uses (the links have no loops)."""
        pending = [n for n, p in params.items() if p.expr]
        deps = {n: {t.id for t in ast.walk(ast.parse(params[n].expr, mode="eval")) if isinstance(t, ast.Name)}
                for n in pending}
        done: list[str] = []
        while pending:
            ready = [n for n in pending if not (deps[n] & set(pending))]
            if not ready:
                raise ValueError(f"the links form a loop among {', '.join(pending)}")
            done += ready
            pending = [n for n in pending if n not in ready]
        return done

    def full(self, x: np.ndarray) -> np.ndarray:
        v = self.base.copy()
        v[self.free_idx] = x
        for i, fn in self.exprs:
            v[i] = fn(v)
        return v

    def values(self, x: np.ndarray) -> dict[str, float]:
        return dict(zip(self.names_all, self.full(x).tolist()))

    def start(self) -> np.ndarray:
        return self.base[self.free_idx].copy()


@dataclass
class Optimum:
    """How the optimum of a fit was found.

    Parameters
    ----------
    n_screened : int
        Starts screened (the template start and the Sobol points).
    n_local : int
        Local least-squares fits run.
    n_best : int
        Local fits that ended at the best optimum (chi-square within a relative 1e-9).
    best_start : int
        Which local fit won (0: the template start).
    chi_squares : list of float
        Final chi-square of each local fit, in start order.
    nfev : int
        Residual evaluations of all local fits together.

    Examples
    --------
    >>> o = Optimum(33, 3, 2, 0, [10.0, 10.0, 12.5], 400)
    >>> o.as_dict()["n_best"], o.n_best / o.n_local > 0.5
    (2, True)
    """

    n_screened: int
    n_local: int
    n_best: int
    best_start: int
    chi_squares: list[float] = field(default_factory=list)
    nfev: int = 0

    def as_dict(self) -> dict:
        """The record as plain data (for the fit's settings and results files)."""
        return {"n_screened": self.n_screened, "n_local": self.n_local, "n_best": self.n_best,
                "best_start": self.best_start, "chi_squares": list(self.chi_squares), "nfev": self.nfev,
                "same_optimum_rtol": SAME_OPTIMUM_RTOL, "method": "scipy least_squares (trf), multi-start"}


class _Engine:
    """Residual, area solve and local fits of one problem on the parameter vector."""

    BAD = _Problem.BAD

    def __init__(self, problem: _Problem, params: lmfit.Parameters):
        self.problem = problem
        self.spectra: list[_Spectrum] = problem.spectra
        self.vec = _Vector(params)
        self.n_points = problem.n_points
        area_names = {n for sp in self.spectra for n in sp.comp.area_params}
        self.area_pos = [i for i, n in enumerate(self.vec.free) if n in area_names]
        self.nonlin_pos = [i for i, n in enumerate(self.vec.free) if n not in area_names]
        self.linear = all(sp.kind != "active_shirley" for sp in self.spectra)
        self.nfev = 0
        self.line_index: dict[int, list] = {}
        n = 0
        for sp in self.spectra:
            self.line_index[sp.index] = [(n + i, ln) for i, ln in enumerate(sp.comp.lines)]
            n += len(sp.comp.lines)
        self.n_lines = n
        self.y = np.concatenate([sp.y for sp in self.spectra])
        self.bg = np.concatenate([sp.bg_static for sp in self.spectra])
        self.sig = np.concatenate([sp.sigma for sp in self.spectra])

    def residual(self, x: np.ndarray) -> np.ndarray:
        self.nfev += 1
        v = self.vec.values(x)
        try:
            r = np.concatenate([(sp.y - _evaluate(sp, v)[0]) / sp.sigma for sp in self.spectra])
        except (ValueError, FloatingPointError, ZeroDivisionError, OverflowError):
            return np.full(self.n_points, self.BAD)
        return np.where(np.isfinite(r), r, self.BAD)

    def chi2(self, x: np.ndarray) -> float:
        r = self.residual(x)
        return float(r @ r)

    def _line_areas(self, x: np.ndarray) -> np.ndarray:
        v = self.vec.values(x)
        return np.array([ln.area.fn(v) for sp in self.spectra for ln in sp.comp.lines], dtype=float)

    def solve_areas(self, x: np.ndarray) -> np.ndarray:
        """``x`` with its free areas replaced by the non-negative least-squares best ones (the
        model is linear in them; for the active Shirley the data's Shirley stands in)."""
        if not self.area_pos:
            return x
        x = x.copy()
        x[self.area_pos] = 0.0
        v0 = self.vec.values(x)
        prof = []  # unit-area profile of every line, spectra one after the other (block rows)
        for sp in self.spectra:
            block = np.zeros((sp.x.size, self.n_lines))
            for li, ln in self.line_index[sp.index]:
                c, w, _, kw = _line_values(ln, v0)
                block[:, li] = ln.func(sp.x, c, w, **kw)
            prof.append(block)
        p_mat = np.concatenate(prof, axis=0)
        a0 = self._line_areas(x)
        m = np.empty((self.n_lines, len(self.area_pos)))
        for k, j in enumerate(self.area_pos):
            xj = x.copy()
            xj[j] = 1.0
            m[:, k] = self._line_areas(xj) - a0
        a_mat = (p_mat @ m) / self.sig[:, None]
        b = (self.y - self.bg - p_mat @ a0) / self.sig
        if not (np.all(np.isfinite(a_mat)) and np.all(np.isfinite(b))):
            return x
        scale = np.maximum(np.linalg.norm(a_mat, axis=0), 1e-300)
        sol = nnls(a_mat / scale, b, maxiter=50 * a_mat.shape[1])[0] / scale
        x[self.area_pos] = np.minimum(sol, self.vec.hi[self.area_pos])
        return x

    def interior(self, x: np.ndarray) -> np.ndarray:
        """``x`` moved just inside its bounds (the trust-region method starts strictly inside)."""
        lo, hi = self.vec.lo, self.vec.hi
        span = np.where(np.isfinite(hi - lo), hi - lo, np.maximum(np.abs(x), 1.0))
        eps = 1e-9 * span
        return np.clip(x, np.where(np.isfinite(lo), lo + eps, -np.inf), np.where(np.isfinite(hi), hi - eps, np.inf))

    def projected(self, z: np.ndarray, x_ref: np.ndarray) -> np.ndarray:
        """The full vector for non-linear values ``z``, areas solved (variable projection)."""
        x = x_ref.copy()
        x[self.nonlin_pos] = z
        return self.solve_areas(x)

    def local(self, x0: np.ndarray, max_nfev: int | None, tol: float = _TOL, polish: bool = True
              ) -> tuple[np.ndarray, float, bool, str]:
        """One local fit: (vector, chi-square, converged, message).

        With a background that does not depend on the peaks, the non-linear parameters are
        fitted first with the areas solved at every step (variable projection: an area that
        reached zero can come back, which a joint fit cannot do once its gradient vanishes);
        then, with ``polish``, all free parameters together from there."""
        if not self.vec.free:
            return x0, self.chi2(x0), True, "no free parameters"
        lo, hi = self.vec.lo, self.vec.hi
        msg, ok = "", True
        if self.linear and self.nonlin_pos and self.area_pos:
            pos = self.nonlin_pos
            x_ref = x0.copy()
            res = least_squares(lambda z: self.residual(self.projected(z, x_ref)), self.interior(x0)[pos],
                                bounds=(lo[pos], hi[pos]), method="trf", x_scale="jac", ftol=tol, xtol=tol,
                                gtol=tol, max_nfev=max_nfev or MAX_STEPS)
            x0, msg, ok = self.projected(res.x, x_ref), str(res.message), bool(res.status > 0)
            if not polish:
                return x0, self.chi2(x0), ok, msg
        res = least_squares(self.residual, self.interior(x0), bounds=(lo, hi), method="trf", x_scale="jac",
                            ftol=tol, xtol=tol, gtol=tol, max_nfev=max_nfev or MAX_STEPS)
        return res.x, float(2.0 * res.cost), bool(res.status > 0), str(res.message)


def _screen_points(eng: _Engine, x0: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` starts from an unscrambled Sobol design over the box of the free non-linear
    parameters (an infinite bound: +-20 % of the start value), areas solved for each."""
    pos = eng.nonlin_pos
    if not pos or n <= 0:
        return []
    lo, hi = eng.vec.lo[pos].copy(), eng.vec.hi[pos].copy()
    half = 0.2 * np.maximum(np.abs(x0[pos]), 1e-3)
    lo = np.where(np.isfinite(lo), lo, x0[pos] - half)
    hi = np.where(np.isfinite(hi), hi, x0[pos] + half)
    m = int(np.ceil(np.log2(n + 1)))
    pts = qmc.Sobol(d=len(pos), scramble=False).random_base2(m)[1:n + 1]  # the first point is the corner
    out = []
    for u in pts:
        x = x0.copy()
        x[pos] = lo + u * (hi - lo)
        out.append(eng.solve_areas(x))
    return out


def global_fit(problem: _Problem, params: lmfit.Parameters, *, screen: int = DEFAULT_SCREEN,
               local: int = DEFAULT_LOCAL, max_nfev: int | None = None):
    """Deterministic multi-start least squares of a fit problem.

    The template start is fitted first. Screened starts whose chi-square (areas solved) is
    already below :data:`SCREEN_FACTOR` times that local optimum's are fitted next, best first,
    up to ``local`` fits in all: a start that far above it cannot be told from the rest of the
    box and costs a fit for nothing, one below it lies in another, better valley.

    Parameters
    ----------
    problem : xpipe.xps.fit.evaluate._Problem
        The spectra and their compiled models.
    params : lmfit.Parameters
        Starting values, bounds and links (areas already estimated from the data).
    screen : int
        Sobol starts screened besides the template start (0: the template start only).
    local : int
        Most local fits: the template start and up to ``local - 1`` screened starts.
    max_nfev : int or None
        Cap on the steps of each stage of a local fit (None: :data:`MAX_STEPS`).

    Returns
    -------
    (lmfit.minimizer.MinimizerResult, Optimum)
        The best fit as lmfit's result object (its parameters, chi-square, success) and the
        record of the starts.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xps.fit import Component
    >>> from xpipe.xps.fit.fitting import _build
    >>> from xpipe.xps.fit.evaluate import _Problem
    >>> from xpipe.xps.lineshapes import profile
    >>> x = np.linspace(280, 292, 241)
    >>> y = 100 + 5000 * profile("gl", x, 284.8, 1.1, m=30) + 2000 * profile("gl", x, 286.3, 1.1, m=30)
    >>> spectra, params, _, _ = _build([(x, y, None)], [Component("A", 285.0), Component("B", 286.0)],
    ...                                shared=(), links=(), region=None, background="linear",
    ...                                background_options=None, source=None, series=False)
    >>> result, optimum = global_fit(_Problem(spectra, params), params, screen=15, local=3)
    >>> round(result.params["c0_center"].value, 2), optimum.n_screened, optimum.n_best >= 1
    (284.8, 16, True)
    """
    eng = _Engine(problem, params)
    x_tpl = eng.vec.start()
    fits = [eng.local(x_tpl, max_nfev)]
    screened = [x_tpl] + _screen_points(eng, x_tpl, screen if eng.linear else 0)
    chis = [eng.chi2(x) for x in screened]
    limit = SCREEN_FACTOR * fits[0][1]
    order = sorted((i for i in range(1, len(screened)) if chis[i] < limit), key=lambda i: (chis[i], i))
    picks = _distinct([fits[0][0]] + screened[1:], [0] + order, max(1, local))
    fits += [eng.local(screened[i], max_nfev) for i in picks[1:]]
    finals = [f[1] if np.isfinite(f[1]) else np.inf for f in fits]
    best_chi = min(finals)
    tol = SAME_OPTIMUM_RTOL * max(abs(best_chi), 1e-300)
    same = [k for k, c in enumerate(finals) if c - best_chi <= tol]
    k_best = same[0]
    x_best, chi_best, ok, msg = fits[k_best]
    result = _as_result(eng, params, x_best, chi_best, ok, msg)
    opt = Optimum(len(screened), len(fits), len(same), k_best, [float(c) for c in finals], eng.nfev)
    result.message = (f"{msg} Best of {len(fits)} local fits ({len(screened)} starts screened); "
                      f"{len(same)} reached it.")
    return result, opt


def _distinct(points: list[np.ndarray], order: list[int], n: int) -> list[int]:
    """The first ``n`` indices of ``order`` whose points differ from those already taken."""
    picks: list[int] = []
    for i in order:
        if len(picks) >= n:
            break
        if not any(np.allclose(points[i], points[j], rtol=1e-6, atol=1e-9) for j in picks):
            picks.append(i)
    return picks


def _as_result(eng: _Engine, params: lmfit.Parameters, x: np.ndarray, chi2: float, ok: bool, msg: str):
    """An lmfit ``MinimizerResult`` holding the parameters at ``x``."""
    out = params.copy()
    for name, val in zip(eng.vec.free, x):
        out[name].value = float(np.clip(val, out[name].min, out[name].max))
    out.update_constraints()
    res = lmfit.minimizer.MinimizerResult()
    nvar = len(eng.vec.free)
    res.params, res.var_names, res.nvarys = out, list(eng.vec.free), nvar
    res.ndata, res.nfree = eng.n_points, max(eng.n_points - nvar, 1)
    res.chisqr, res.redchi = float(chi2), float(chi2) / max(eng.n_points - nvar, 1)
    res.residual = eng.residual(x)
    res.success, res.message, res.nfev = ok, msg, eng.nfev
    res.method, res.errorbars = "least_squares", False
    return res
