"""EXAFS shell fits: FEFF paths fitted to one chi(k) or a series with Larch ``feffit``.

Every fitted value comes with its uncertainty and units in its name (Angstrom, Angstrom^2, eV).
Parameters are shared across a series or refined per spectrum, and per path, per shell or
common to the paths, the way :func:`fit_shells` is told.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .chi import Chi
from .feff import FeffPath

PARAMETER_KINDS = ("s02", "de0", "dr", "sigma2", "n")
_PER_PATH_ALLOWED = ("de0", "dr", "sigma2")
_DEFAULT_GUESSES = {"s02": 1.0, "de0": 0.0, "dr": 0.0, "sigma2": 0.005}


class _LarchOut(io.StringIO):
    """Keeps what Larch prints; has an encoding, which Larch asks sys.stdout for (path hashes)."""

    encoding = "utf-8"


@dataclass(frozen=True)
class FitParameter:
    """One fit parameter of a shell fit.

    Parameters
    ----------
    name : str
        Parameter name, e.g. ``dr_p1_s0``.
    value : float
        Fitted (or held) value, in the unit of its kind (dr in Angstrom, sigma2 in Angstrom^2,
        de0 in eV; s02 and n have none).
    stderr : float
        Standard error: 0 when held fixed, nan when the fit gave none.
    vary : bool
        Whether it was refined.
    initial : float
        Starting value.

    Examples
    --------
    >>> p = FitParameter("sigma2_p1_s0", value=0.0102, stderr=0.0004, vary=True, initial=0.005)
    >>> p.value - p.initial > 0, p.vary
    (True, True)
    """

    name: str
    value: float
    stderr: float
    vary: bool
    initial: float


@dataclass(frozen=True)
class ShellResult:
    """The fitted path parameters of one path in one spectrum.

    Parameters
    ----------
    spectrum, spectrum_label : int, str
        Which spectrum of the fit, and its label.
    path_index, label : int, str
        FEFF index and label of the path.
    reff_a : float
        FEFF half path length (Angstrom).
    r_a, r_err_a : float
        Fitted half path length ``reff_a + dr_a`` and its error (Angstrom).
    dr_a, dr_err_a : float
        Change of half path length and its error (Angstrom).
    n, n_err : float
        Coordination number (path degeneracy unless floated) and its error.
    sigma2_a2, sigma2_err_a2 : float
        Mean-square relative displacement and its error (Angstrom^2).
    de0_ev, de0_err_ev : float
        Edge shift and its error (eV).
    s02, s02_err : float
        Amplitude reduction factor and its error.
    names : dict
        Each quantity ('s02', 'de0', 'dr', 'sigma2', 'n') to the fit parameter behind it.

    Errors are 0 for a value held fixed.

    Examples
    --------
    >>> s = ShellResult(spectrum=0, spectrum_label="FeO", path_index=1, label="Fe-O",
    ...                 reff_a=2.155, r_a=2.185, r_err_a=0.004, dr_a=0.03, dr_err_a=0.004,
    ...                 n=6.0, n_err=0.0, sigma2_a2=0.0100, sigma2_err_a2=0.0006, de0_ev=0.0,
    ...                 de0_err_ev=0.0, s02=0.8, s02_err=0.05, names={"dr": "dr_p1_s0"})
    >>> round(s.r_a - s.reff_a, 3) == s.dr_a, s.names["dr"]
    (True, 'dr_p1_s0')
    """

    spectrum: int
    spectrum_label: str
    path_index: int
    label: str
    reff_a: float
    r_a: float
    r_err_a: float
    dr_a: float
    dr_err_a: float
    n: float
    n_err: float
    sigma2_a2: float
    sigma2_err_a2: float
    de0_ev: float
    de0_err_ev: float
    s02: float
    s02_err: float
    names: dict = field(default_factory=dict)


@dataclass
class FitCurves:
    """Data and model of one spectrum of a shell fit, for plots.

    Parameters
    ----------
    label : str
        The spectrum's label.
    k, chi_data, chi_model : ndarray
        chi(k) of data and model on the fit's k grid (1/Angstrom).
    r_a, chir_mag_data, chir_mag_model : ndarray
        |chi(R)| of data and model (R in Angstrom), transformed with the fit window and the
        first k weight of the fit.
    kweight : int
        That k weight.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.arange(0.0, 14.0, 0.05)
    >>> c = FitCurves("FeO", k, np.sin(4 * k), np.sin(4 * k), np.arange(0.0, 10.0, 0.03),
    ...               np.zeros(334), np.zeros(334), kweight=2)
    >>> round(float(np.sqrt(np.mean((c.chi_data - c.chi_model) ** 2))), 6)
    0.0
    """

    label: str
    k: np.ndarray
    chi_data: np.ndarray
    chi_model: np.ndarray
    r_a: np.ndarray
    chir_mag_data: np.ndarray
    chir_mag_model: np.ndarray
    kweight: int


@dataclass
class ShellFit:
    """Result of :func:`fit_shells`.

    Parameters
    ----------
    shells : list of ShellResult
        One per spectrum and path.
    parameters : dict of FitParameter
        Every fit parameter by name.
    r_factor, chi_square, reduced_chi_square, n_independent, n_variables
        Larch's fit statistics over all spectra together.
    curves : list of FitCurves
        Data and model per spectrum.
    settings : dict
        Every setting of the fit, as resolved.
    success, errorbars : bool
        Whether the fit converged, and whether every refined parameter got a finite, positive
        standard error.
    message : str
        The minimiser's message.

    Examples
    --------
    One sigma2 for all paths (``per_path=("dr",)``), so it carries no path name:

    >>> import contextlib, io, tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from larch.xafs import feffpath, path2chi
    >>> from xpipe.xas.feff import run_feff, select_paths
    >>> work = Path(tempfile.mkdtemp())
    >>> atoms = [(0, 0, 0, 0), (2.155, 0, 0, 1), (-2.155, 0, 0, 1), (0, 2.155, 0, 1),
    ...          (0, -2.155, 0, 1), (0, 0, 2.155, 1), (0, 0, -2.155, 1)]
    >>> _ = (work / "feff.inp").write_text(
    ...     "HOLE 1 1.0\\nPOTENTIALS\\n 0 26 Fe\\n 1 8 O\\nATOMS\\n"
    ...     + "".join(f" {x} {y} {z} {ipot}\\n" for x, y, z, ipot in atoms) + "END\\n")
    >>> paths = run_feff(work / "feff.inp", cache_dir=work / "cache", rmax_a=2.5)
    >>> with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())):  # Larch wants an encoding
    ...     truth = feffpath(str(paths[0].file), s02=0.9, sigma2=0.008)
    ...     path2chi(truth, k=np.arange(0.0, 14.0, 0.05))
    >>> fit = fit_shells(Chi(k=truth.k, chi=truth.chi, e0_ev=7112.0), paths, rmax_a=2.5,
    ...                  per_path=("dr",))
    >>> sorted(fit.parameters), fit.success
    (['de0_s0', 'dr_p1_s0', 'n_p1_s0', 's02', 'sigma2_s0'], True)
    >>> round(fit.parameters["s02"].value, 2), fit.r_factor < 1e-4
    (0.9, True)
    """

    shells: list[ShellResult]
    parameters: dict[str, FitParameter]
    r_factor: float
    chi_square: float
    reduced_chi_square: float
    n_independent: float
    n_variables: int
    curves: list[FitCurves]
    settings: dict
    success: bool
    errorbars: bool
    message: str = ""

    def shell(self, label: str | int, spectrum: int = 0) -> ShellResult:
        """The result for the first path with this label (or FEFF index) in that spectrum."""
        for s in self.shells:
            if s.spectrum == spectrum and (s.label == label or s.path_index == label):
                return s
        raise KeyError(f"no path {label!r} in spectrum {spectrum}")


def _kind_scopes(shared: Sequence[str], per_spectrum: Sequence[str] | None) -> set[str]:
    """Kinds with one value over the whole series (the rest have one per spectrum)."""
    shared_set, kinds = set(shared), set(PARAMETER_KINDS)
    unknown = shared_set - kinds
    if unknown:
        raise ValueError(f"unknown parameter in shared: {sorted(unknown)}; use {PARAMETER_KINDS}")
    if per_spectrum is not None:
        per = set(per_spectrum)
        if per - kinds:
            raise ValueError(f"unknown parameter in per_spectrum: {sorted(per - kinds)}; "
                             f"use {PARAMETER_KINDS}")
        if per & shared_set:
            raise ValueError(f"parameters both shared and per spectrum: {sorted(per & shared_set)}")
        missing = kinds - {"n"} - per - shared_set
        if missing:
            raise ValueError(f"parameters neither shared nor per spectrum: {sorted(missing)}")
    return shared_set


def _stderr(par) -> float:
    if not par.vary and par.expr is None:
        return 0.0
    err = getattr(par, "stderr", None)
    return float(err) if err is not None and np.isfinite(err) else float("nan")


@dataclass
class _FitPlan:
    """The checked inputs of a shell fit: spectra, paths, and how parameters are shared."""

    chis: list[Chi]
    paths: list[FeffPath]
    shared: set[str]
    per_path: Sequence[str]
    keys: list[str]  # per path: the name its own parameters carry ('p<FEFF index>')
    shell_of: list[str]  # per path: the name of its shell, for per-path parameters
    guess: dict[str, float]
    bounds: dict[str, tuple[float | None, float | None]]
    fixed: dict[str, float]
    degeneracy_fixed: bool
    transform: dict[str, Any]  # Larch's feffit_transform keywords
    rmin_a: float
    rmax_a: float


def _plan_fit(spectra: Chi | Sequence[Chi], paths: Sequence[FeffPath], *, kmin: float,
              kmax: float, rmin_a: float, rmax_a: float, shared: Sequence[str],
              per_spectrum: Sequence[str] | None, per_path: Sequence[str],
              shells: Sequence[str] | None, guesses: Mapping[str, float] | None,
              bounds: Mapping[str, tuple[float | None, float | None]] | None,
              fixed: Mapping[str, float] | None, degeneracy_fixed: bool, dk: float,
              window: str, kweight: int | Sequence[int]) -> _FitPlan:
    """Check the fit's inputs (raising ValueError on the first fault) and resolve the sharing."""
    chis = [spectra] if isinstance(spectra, Chi) else list(spectra)
    paths = list(paths)
    if not chis:
        raise ValueError("no spectra to fit")
    if not paths:
        raise ValueError("no paths to fit (select_paths returned nothing?)")
    if len({str(p.file) for p in paths}) != len(paths):
        raise ValueError("a path is listed twice")
    shared_set = _kind_scopes(shared, per_spectrum)
    bad = set(per_path) - set(_PER_PATH_ALLOWED)
    if bad:
        raise ValueError(f"per_path may hold {_PER_PATH_ALLOWED}, got {sorted(bad)}")
    fixed = dict(fixed or {})
    if set(fixed) - {"s02", "de0", "dr", "sigma2"}:
        raise ValueError(f"fixed may hold s02, de0, dr, sigma2; got {sorted(fixed)}")
    if not degeneracy_fixed and "s02" not in fixed:
        raise ValueError("with N refined, s02 must be held fixed (they are fully correlated): "
                         "pass fixed={'s02': value}")
    keys = [f"p{p.index}" for p in paths]
    if len(set(keys)) != len(keys):  # paths from several FEFF runs: number them in order
        keys = [f"p{j + 1}" for j in range(len(paths))]
    if shells is None:
        shell_of = list(keys)
    else:
        if len(shells) != len(paths):
            raise ValueError(f"shells names {len(shells)} shells for {len(paths)} paths")
        shell_of = [re.sub(r"\W", "_", str(s)) for s in shells]
    guess = {**_DEFAULT_GUESSES, **(guesses or {})}
    bounds = dict(bounds or {})
    if kmax <= kmin or rmax_a <= rmin_a:
        raise ValueError(f"need kmin < kmax and rmin_a < rmax_a, got k {kmin}-{kmax}, "
                         f"R {rmin_a}-{rmax_a}")
    transform = dict(kmin=kmin, kmax=kmax, dk=dk, window=window, rmin=rmin_a, rmax=rmax_a,
                     kweight=tuple(int(w) for w in kweight) if np.ndim(kweight) else int(kweight),
                     fitspace="r")
    return _FitPlan(chis, paths, shared_set, per_path, keys, shell_of, guess, bounds, fixed,
                    degeneracy_fixed, transform, rmin_a, rmax_a)


class _Parameters:
    """The fit parameters, each made once, in the order the paths first ask for them."""

    def __init__(self, plan: _FitPlan) -> None:
        self.plan = plan
        self.pars: dict[str, object] = {}
        self.initial: dict[str, float] = {}

    def name(self, kind: str, spectrum: int, shell: str | None, degeneracy: float = 1.0) -> str:
        """Create (once) and return the parameter of ``kind`` for this spectrum and shell."""
        from larch.fitting import param  # larch takes seconds to import: only when fitting

        plan = self.plan
        nm = kind
        if shell is not None:
            nm += f"_{shell}"
        if kind not in plan.shared:
            nm += f"_s{spectrum}"
        if nm not in self.pars:
            lo, hi = plan.bounds.get(kind, (None, None))
            lims = {"min": -np.inf if lo is None else lo, "max": np.inf if hi is None else hi}
            if kind == "n":
                value = float(degeneracy)
                vary = not plan.degeneracy_fixed
            elif kind in plan.fixed:
                value, vary = float(plan.fixed[kind]), False
            else:
                value, vary = float(plan.guess[kind]), True
            self.pars[nm] = param(value, vary=vary, **lims)
            self.initial[nm] = value
        return nm


def _datasets(plan: _FitPlan, book: _Parameters
              ) -> tuple[list[Any], dict[tuple[int, int], dict[str, str]]]:
    """One Larch feffit dataset per spectrum, and the parameter names of each (spectrum, path)."""
    # larch takes seconds to import: only when fitting
    from larch import Group
    from larch.xafs import feffit_dataset, feffit_transform, feffpath

    names_of: dict[tuple[int, int], dict[str, str]] = {}
    datasets = []
    for i, c in enumerate(plan.chis):
        larch_paths = {}
        for j, (path, shell) in enumerate(zip(plan.paths, plan.shell_of)):
            nm = {kind: book.name(kind, i, shell if kind in plan.per_path else None)
                  for kind in ("s02", "de0", "dr", "sigma2")}
            nm["n"] = book.name("n", i, plan.keys[j], path.degeneracy)
            names_of[(i, j)] = nm
            larch_paths[f"p{j}"] = feffpath(
                str(path.file), label=f"p{j}", degen=1.0,
                s02=f"{nm['s02']}*{nm['n']}", e0=nm["de0"], deltar=nm["dr"], sigma2=nm["sigma2"])
        data = Group(k=np.asarray(c.k, float), chi=np.asarray(c.chi, float),
                     filename=c.label or f"spectrum {i}", groupname=f"s{i}")
        datasets.append(feffit_dataset(data=data, paths=larch_paths,
                                       transform=feffit_transform(**plan.transform)))
    return datasets, names_of


def _feffit(book: _Parameters, datasets: list[Any]) -> Any:
    """Run Larch's ``feffit``; what it prints is kept for the error when it does not run."""
    # larch takes seconds to import: only when fitting
    from larch.fitting import param_group
    from larch.xafs import feffit

    stray = _LarchOut()
    with contextlib.redirect_stdout(stray), warnings.catch_warnings():
        # Larch propagates errors through the fixed parameters too (zero spread): harmless
        warnings.filterwarnings("ignore", message="Using UFloat objects with std_dev==0")
        out = feffit(param_group(**book.pars), datasets)
    if out is None:
        raise RuntimeError(f"feffit did not run: {stray.getvalue().strip()}")
    return out


def _shell_results(plan: _FitPlan, names_of: dict[tuple[int, int], dict[str, str]],
                   parameters: dict[str, FitParameter]) -> list[ShellResult]:
    def val(nm: str) -> tuple[float, float]:
        p = parameters[nm]
        return p.value, p.stderr

    results = []
    for (i, j), nm in names_of.items():
        p = plan.paths[j]
        dr, dr_err = val(nm["dr"])
        n, n_err = val(nm["n"])
        s2, s2_err = val(nm["sigma2"])
        e0, e0_err = val(nm["de0"])
        s02, s02_err = val(nm["s02"])
        results.append(ShellResult(
            spectrum=i, spectrum_label=plan.chis[i].label, path_index=p.index, label=p.label,
            reff_a=p.reff_a, r_a=p.reff_a + dr, r_err_a=dr_err, dr_a=dr, dr_err_a=dr_err,
            n=n, n_err=n_err, sigma2_a2=s2, sigma2_err_a2=s2_err, de0_ev=e0, de0_err_ev=e0_err,
            s02=s02, s02_err=s02_err, names=dict(nm)))
    return results


def _fit_curves(plan: _FitPlan, out: Any) -> list[FitCurves]:
    kweight = plan.transform["kweight"]
    kw0 = int(kweight[0]) if isinstance(kweight, tuple) else int(kweight)
    curves = []
    for i, ds in enumerate(out.datasets):
        mk = np.asarray(ds.model.k, float)
        curves.append(FitCurves(
            label=plan.chis[i].label, k=mk, chi_data=np.interp(mk, ds.data.k, ds.data.chi),
            chi_model=np.asarray(ds.model.chi, float), r_a=np.asarray(ds.model.r, float),
            chir_mag_data=np.asarray(ds.data.chir_mag, float),
            chir_mag_model=np.asarray(ds.model.chir_mag, float), kweight=kw0))
    return curves


def _fit_settings(plan: _FitPlan) -> dict[str, Any]:
    settings = {**plan.transform, "rmin_a": plan.rmin_a, "rmax_a": plan.rmax_a,
                "shared": sorted(plan.shared), "per_path": list(plan.per_path),
                "shells": list(plan.shell_of), "fixed": plan.fixed, "guesses": plan.guess,
                "bounds": plan.bounds, "degeneracy_fixed": plan.degeneracy_fixed,
                "n_spectra": len(plan.chis),
                "paths": [(p.index, p.label, p.reff_a) for p in plan.paths],
                "engine": "larch.feffit"}
    settings.pop("rmin")
    settings.pop("rmax")
    return settings


def _shell_fit(plan: _FitPlan, book: _Parameters, names_of: dict[tuple[int, int], dict[str, str]],
               out: Any) -> ShellFit:
    """The result of a Larch fit, in typed form."""
    params = out.params
    parameters = {nm: FitParameter(nm, float(params[nm].value), _stderr(params[nm]),
                                   bool(params[nm].vary), book.initial[nm]) for nm in book.pars}
    errorbars = bool(out.errorbars) and all(
        math.isfinite(p.stderr) and p.stderr > 0 for p in parameters.values() if p.vary)
    return ShellFit(shells=_shell_results(plan, names_of, parameters), parameters=parameters,
                    r_factor=float(out.rfactor), chi_square=float(out.chi_square),
                    reduced_chi_square=float(out.chi2_reduced),
                    n_independent=float(out.n_independent), n_variables=int(out.nvarys),
                    curves=_fit_curves(plan, out), settings=_fit_settings(plan),
                    success=bool(out.success), errorbars=errorbars,
                    message=str(out.message or ""))


def fit_shells(spectra: Chi | Sequence[Chi], paths: Sequence[FeffPath], *, kmin: float = 3.0,
               kmax: float = 12.0, dk: float = 1.0, window: str = "hanning",
               kweight: int | Sequence[int] = 2, rmin_a: float = 1.0, rmax_a: float = 3.0,
               shared: Sequence[str] = ("s02",), per_spectrum: Sequence[str] | None = None,
               per_path: Sequence[str] = ("dr", "sigma2"), shells: Sequence[str] | None = None,
               guesses: Mapping[str, float] | None = None,
               bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
               fixed: Mapping[str, float] | None = None,
               degeneracy_fixed: bool = True) -> ShellFit:
    """Fit FEFF paths to one chi(k) or a series of them with Larch ``feffit`` in R space.

    Parameter kinds: ``s02`` (amplitude reduction), ``de0`` (edge shift, eV), ``dr`` (change of
    half path length, Å; R = reff + dr), ``sigma2`` (Å²) and ``n`` (coordination number). A
    parameter is named by its kind, then ``_<shell>`` when per path (shell ``p<FEFF index>`` by
    default) and ``_s<i>`` when per spectrum, e.g. ``dr_p1_s0``.

    Parameters
    ----------
    spectra : Chi or sequence of Chi
        The chi(k) to fit.
    paths : sequence of FeffPath
        The paths of the model (see :func:`~xpipe.xas.feff.select_paths`).
    kmin, kmax, dk, window, kweight
        The transform: k range and taper (1/Å), window shape, k weight (a list: fitted together).
    rmin_a, rmax_a : float
        Fit range in R (Å).
    shared, per_spectrum : sequence of str
        Kinds with one value for the whole series, and with one per spectrum (default: the rest).
    per_path : sequence of str
        Kinds (de0, dr, sigma2) with one value per path, or per shell (``shells``: a name per
        path); the others are common to the paths. ``n`` is always per path.
    shells : sequence of str, optional
        A shell name for every path; paths of one shell share their per-path parameters.
    guesses, bounds, fixed : dict, optional
        By kind: starting values (s02 1, de0 0, dr 0, sigma2 0.005), ``(min, max)``, values held.
    degeneracy_fixed : bool
        Hold ``n`` at the FEFF degeneracy; else refine it, with ``s02`` held in ``fixed``.

    Returns
    -------
    ShellFit
        Values with standard errors per path and spectrum, fit statistics, data and model.

    Examples
    --------
    Recover dr = 0.03 Å and sigma2 = 0.01 Å² from a chi(k) Larch computes from the path:

    >>> import contextlib, io, tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from larch.xafs import feffpath, path2chi
    >>> from xpipe.xas.feff import run_feff, select_paths
    >>> work = Path(tempfile.mkdtemp())
    >>> atoms = [(0, 0, 0, 0), (2.155, 0, 0, 1), (-2.155, 0, 0, 1), (0, 2.155, 0, 1),
    ...          (0, -2.155, 0, 1), (0, 0, 2.155, 1), (0, 0, -2.155, 1)]
    >>> _ = (work / "feff.inp").write_text(
    ...     "HOLE 1 1.0\\nPOTENTIALS\\n 0 26 Fe\\n 1 8 O\\nATOMS\\n"
    ...     + "".join(f" {x} {y} {z} {ipot}\\n" for x, y, z, ipot in atoms) + "END\\n")
    >>> paths = select_paths(run_feff(work / "feff.inp", cache_dir=work / "cache", rmax_a=2.5))
    >>> with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())):  # Larch wants an encoding
    ...     truth = feffpath(str(paths[0].file), s02=0.8, sigma2=0.01, deltar=0.03)
    ...     path2chi(truth, k=np.arange(0.0, 14.0, 0.05))
    >>> fit = fit_shells(Chi(k=truth.k, chi=truth.chi, e0_ev=7112.0), paths, rmax_a=2.5,
    ...                  fixed={"de0": 0.0})
    >>> s = fit.shell("Fe-O")
    >>> round(s.dr_a, 3), round(s.sigma2_a2, 4), round(s.s02, 2), s.n
    (0.03, 0.01, 0.8, 6.0)
    """
    plan = _plan_fit(spectra, paths, kmin=kmin, kmax=kmax, rmin_a=rmin_a, rmax_a=rmax_a,
                     shared=shared, per_spectrum=per_spectrum, per_path=per_path, shells=shells,
                     guesses=guesses, bounds=bounds, fixed=fixed,
                     degeneracy_fixed=degeneracy_fixed, dk=dk, window=window, kweight=kweight)
    book = _Parameters(plan)
    with contextlib.redirect_stdout(_LarchOut()):  # Larch hashes paths with stdout's encoding
        datasets, names_of = _datasets(plan, book)
    return _shell_fit(plan, book, names_of, _feffit(book, datasets))
