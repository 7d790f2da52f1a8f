"""A series of XAS spectra: per-spectrum processing and the series-level valence.

:func:`process_spectrum` takes the scans of one state (repeats are merged) through calibration,
deglitching, merging, normalisation, edge position, pre-edge peak and, when asked, the EXAFS
background and Fourier transform. It is independent of every other spectrum, so a batch runs it
in worker processes. :func:`series_valence` then places every spectrum on a calibration made
from the standards, fits it as a linear combination of references, and counts components by PCA.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from .chi import background, fourier
from .scan import XasScan
from .valence import LcfResult, PcaResult, ValenceCalibration, lcf, pca
from .valence_check import (
    MethodValence,
    ValenceCheck,
    calibrate_method,
    check_valence,
    feature_method,
    leave_one_out_lcf,
    spectrum_features,
)
from .xanes import (
    Calibration,
    NormSettings,
    XasEdgeError,
    calibrate_foil,
    deglitch,
    edge_position,
    main_edge_e0,
    merge_scans,
    normalise,
    pre_edge_peak,
)

ReferencePolicy = Literal["auto", "required", "none"]


@dataclass
class ExafsSettings:
    """autobk and forward Fourier transform settings (k in 1/angstrom, R in angstrom).

    Parameters
    ----------
    rbkg_a : float
        R (Angstrom) below which the background spline may take up signal.
    kweight : int
        k weight of background optimisation and transform.
    kmin, kmax, dk : float
        Transform k range and window taper (1/Angstrom).
    window : str
        Window shape (Larch names).

    Examples
    --------
    >>> ExafsSettings(kmax=10.0)
    ExafsSettings(rbkg_a=1.0, kweight=2, kmin=3.0, kmax=10.0, dk=1.0, window='hanning')
    """

    rbkg_a: float = 1.0
    kweight: int = 2
    kmin: float = 3.0
    kmax: float = 12.0
    dk: float = 1.0
    window: str = "hanning"


@dataclass
class XanesSettings:
    """Everything :func:`process_spectrum` needs, resolved and fixed for a series.

    Windows are relative to the tabulated edge ``edge_ev`` (eV).

    Parameters
    ----------
    element, edge : str
        Absorber and edge ('V', 'K').
    edge_ev : float
        Tabulated edge energy (eV); the foil is calibrated to it.
    norm : NormSettings
        Normalisation ranges and orders.
    reference : {'auto', 'required', 'none'}
        Calibrate on the foil when there is one, always, or never.
    align_window_ev : (float, float)
        Foil edge search window (eV).
    deglitch, deglitch_threshold : bool, float
        Replace single-point spikes, and the misfit that makes a spike.
    merge_reject : float
        Outlier limit when merging repeats.
    pre_edge_window_ev, main_edge_window_ev : (float, float)
        Pre-edge and main-edge windows (eV).
    edge_method, edge_fraction, smooth_ev : str, float, float
        Edge position method, its fraction of the step and its smoothing (eV).
    e0_ev : float or None
        Fixed normalisation E0 (calibrated, eV); None: the main-edge derivative maximum.
    exafs : ExafsSettings or None
        Also compute chi(k) and chi(R).

    Examples
    --------
    >>> from xpipe.xas.xanes import NormSettings
    >>> s = XanesSettings(element="V", edge="K", edge_ev=5465.0, norm=NormSettings())
    >>> s.windows_abs()
    ((5463.0, 5473.0), (5473.0, 5510.0))
    """

    element: str
    edge: str
    edge_ev: float
    norm: NormSettings
    reference: ReferencePolicy = "auto"
    align_window_ev: tuple[float, float] = (-15.0, 15.0)
    deglitch: bool = True
    deglitch_threshold: float = 20.0
    merge_reject: float = 5.0
    pre_edge_window_ev: tuple[float, float] = (-2.0, 8.0)
    main_edge_window_ev: tuple[float, float] = (8.0, 45.0)
    edge_method: str = "half_height"
    edge_fraction: float = 0.5
    smooth_ev: float = 0.5
    e0_ev: float | None = None  # fixed normalisation E0 (calibrated); None: main-edge derivative maximum
    exafs: ExafsSettings | None = None

    def windows_abs(self):
        """Pre-edge and main-edge windows in absolute energies (eV)."""
        pre = (self.edge_ev + self.pre_edge_window_ev[0], self.edge_ev + self.pre_edge_window_ev[1])
        main = (self.edge_ev + self.main_edge_window_ev[0], self.edge_ev + self.main_edge_window_ev[1])
        return pre, main

    def as_dict(self) -> dict:
        """The settings as plain data (for the results file)."""
        d = asdict(self)
        return d


@dataclass
class SpectrumResult:
    """One processed state of a series (calibrated energies).

    Parameters
    ----------
    label, sources : str, list of str
        The state's name and the files of its scans.
    energy_ev, mu, norm, flat : ndarray
        Calibrated energies (eV), merged mu, normalised and flattened mu.
    calibrations, merged_used, glitches : list
        Per scan: its foil calibration (or None), whether it went into the merge, and the
        energies (eV) of the points deglitched.
    e0_ev, edge_step, noise : float
        Normalisation E0 (eV), edge step and noise of ``norm``.
    edge_energy_ev, edge_energy_err_ev : float
        Edge position and uncertainty (eV).
    pre_edge_centroid_ev, pre_edge_centroid_err_ev : float
        Pre-edge peak centroid and its uncertainty (eV).
    pre_edge_area, pre_edge_area_err, pre_edge_height : float
        Its area and uncertainty (normalised mu x eV), and its height (normalised mu).
    time_s : float or None
        Mean scan start (s since the Unix epoch).
    flags : list of str
        What the processing noticed (no foil, glitches, scans left out).
    voltage_v : float or None
        Cell voltage (V) from the file header, when given.
    k, chi, r_a, chir_mag : ndarray or None
        chi(k) (k in 1/Angstrom) and |chi(R)| (R in Angstrom) when EXAFS was asked for.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xas.scan import XasScan
    >>> from xpipe.xas.xanes import NormSettings
    >>> e = np.linspace(5300.0, 5800.0, 1001)
    >>> def scan(e0, label):  # a V K-edge scan and its foil, both 1 eV too high
    ...     mu = 0.5 + np.arctan((e - e0 - 1.0) / 2.0) / np.pi
    ...     foil = 0.5 + np.arctan((e - 5466.0) / 1.0) / np.pi
    ...     return XasScan(e, mu, source=f"{label}.xdi", label=label, reference_mu=foil)
    >>> s = XanesSettings(element="V", edge="K", edge_ev=5465.0, norm=NormSettings())
    >>> r = process_spectrum([scan(5479.0, "state 1")], s)
    >>> round(r.shift_ev, 2), round(r.edge_energy_ev, 2), r.sources, r.flags
    (-1.0, 5479.03, ['state 1.xdi'], [])
    """

    label: str
    sources: list[str]
    energy_ev: np.ndarray
    mu: np.ndarray
    norm: np.ndarray
    flat: np.ndarray
    calibrations: list[Calibration | None]
    merged_used: list[bool]
    glitches: list[list[float]]  # energies of the points replaced, per scan
    e0_ev: float
    edge_step: float
    noise: float
    edge_energy_ev: float
    edge_energy_err_ev: float
    pre_edge_centroid_ev: float
    pre_edge_centroid_err_ev: float
    pre_edge_area: float
    pre_edge_area_err: float
    pre_edge_height: float
    time_s: float | None
    flags: list[str] = field(default_factory=list)
    voltage_v: float | None = None  # from the file header (XDI Sample.voltage_v), when given
    k: np.ndarray | None = None
    chi: np.ndarray | None = None
    r_a: np.ndarray | None = None
    chir_mag: np.ndarray | None = None

    @property
    def shift_ev(self) -> float:
        """Mean calibration shift (eV) of the scans merged; 0 when none was calibrated."""
        shifts = [c.shift_ev for c, u in zip(self.calibrations, self.merged_used) if c is not None and u]
        return float(np.mean(shifts)) if shifts else 0.0


def _calibration(scan: XasScan, s: XanesSettings) -> Calibration | None:
    if s.reference == "none":
        return None
    if scan.reference_mu is None:
        if s.reference == "required":
            raise XasEdgeError(f"{scan.source}: no reference-foil channel, and the recipe requires one "
                               "(set reference: auto to process it uncalibrated)")
        return None
    try:
        return calibrate_foil(scan.energy_ev, scan.reference_mu, edge_ev=s.edge_ev, window_ev=s.align_window_ev)
    except XasEdgeError as exc:
        if s.reference == "required":
            raise XasEdgeError(f"{scan.source}: reference channel: {exc}") from None
        return None


def _header_voltage(scan: XasScan) -> float | None:
    xdi = scan.metadata.get("xdi") if isinstance(scan.metadata, dict) else None
    if isinstance(xdi, dict):
        for key in ("Sample.voltage_v", "Sample.voltage", "Cell.voltage_v"):
            try:
                return float(str(xdi[key]).split()[0])
            except (KeyError, ValueError, IndexError):
                continue
    return None


def _prepared(scans: list[XasScan], s: XanesSettings, flags: list[str]):
    """Each scan checked, calibrated on its foil and deglitched: (calibrations, calibrated
    energies, mu, glitch energies), one entry per scan."""
    cals, energies, mus, glitches = [], [], [], []
    for scan in scans:
        scan.check()
        cal = _calibration(scan, s)
        if cal is None and s.reference != "none":
            flags.append(f"{scan.source}: not calibrated (no usable reference channel)")
        cals.append(cal)
        mu = scan.mu
        if s.deglitch:
            mu, idx = deglitch(scan.energy_ev, mu, threshold=s.deglitch_threshold)
            glitches.append([float(scan.energy_ev[i]) for i in idx])
            if idx.size:
                flags.append(f"{scan.source}: {idx.size} glitch point(s) replaced")
        else:
            glitches.append([])
        energies.append(scan.energy_ev + (cal.shift_ev if cal is not None else 0.0))
        mus.append(mu)
    return cals, energies, mus, glitches


def _merged(scans: list[XasScan], energies: list, mus: list, s: XanesSettings,
            flags: list[str]) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """The state's energy and mu: the one scan, or the merge of its repeats."""
    if len(scans) == 1:
        return energies[0], mus[0], [True]
    m = merge_scans(energies, mus, reject=s.merge_reject)
    used = [bool(u) for u in m.used]
    for sc, u in zip(scans, used):
        if not u:
            flags.append(f"{sc.source}: left out of the merge (deviates from the other scans)")
    return m.energy_ev, m.mu, used


def process_spectrum(scans: list[XasScan], s: XanesSettings,
                     label: str | None = None) -> SpectrumResult:
    """Calibrate, deglitch and merge the scans of one state, normalise, and measure its edge.

    Parameters
    ----------
    scans : list of XasScan
        The scans of one state (repeats are merged).
    s : XanesSettings
        The series' settings.
    label : str, optional
        The state's name; the first scan's label when None.

    Returns
    -------
    SpectrumResult
        Raises :class:`XasEdgeError` or :class:`~xpipe.xas.scan.XasReadError` (naming the file)
        when the spectrum cannot be processed.

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xas.scan import XasScan
    >>> from xpipe.xas.xanes import NormSettings
    >>> e = np.linspace(5300.0, 5800.0, 1001)
    >>> def scan(e0, label):  # a V K-edge scan and its foil, both 1 eV too high
    ...     mu = 0.5 + np.arctan((e - e0 - 1.0) / 2.0) / np.pi
    ...     foil = 0.5 + np.arctan((e - 5466.0) / 1.0) / np.pi
    ...     return XasScan(e, mu, source=f"{label}.xdi", label=label, reference_mu=foil)
    >>> s = XanesSettings(element="V", edge="K", edge_ev=5465.0, norm=NormSettings())
    >>> r = process_spectrum([scan(5479.0, "a"), scan(5479.0, "b")], s, label="state 1")
    >>> r.label, r.merged_used, round(r.e0_ev, 2), round(r.edge_energy_ev, 2)
    ('state 1', [True, True], 5479.0, 5479.03)
    """
    if not scans:
        raise ValueError("process_spectrum: no scans")
    flags: list[str] = []
    cals, energies, mus, glitches = _prepared(scans, s, flags)
    e, mu, used = _merged(scans, energies, mus, s, flags)
    where = label or scans[0].label or scans[0].source
    pre_w, main_w = s.windows_abs()
    if e[0] > main_w[0] or e[-1] < main_w[1]:
        raise XasEdgeError(f"{where}: energy range {e[0]:.1f}-{e[-1]:.1f} eV does not hold the "
                           f"{s.element} {s.edge} main-edge window "
                           f"{main_w[0]:.1f}-{main_w[1]:.1f} eV")
    try:
        e0 = s.e0_ev if s.e0_ev is not None else main_edge_e0(e, mu, window_ev=main_w,
                                                             smooth_ev=s.smooth_ev)
        nz = normalise(e, mu, e0_ev=e0, settings=s.norm)
        edge = edge_position(e, nz.norm, method=s.edge_method, window_ev=main_w,
                             fraction=s.edge_fraction, smooth_ev=s.smooth_ev, noise=nz.noise,
                             fixed_ev=s.e0_ev)
    except XasEdgeError as exc:
        raise XasEdgeError(f"{where}: {exc}") from None
    try:
        pe = pre_edge_peak(e, nz.norm, window_ev=pre_w, noise=nz.noise)
    except XasEdgeError as exc:  # a metal, or no room below the edge: the edge still counts
        flags.append(f"pre_edge: not measured ({exc})")
        pe = None
    nan = float("nan")
    times = [sc.time_s for sc in scans if sc.time_s is not None]
    res = SpectrumResult(
        label=where, sources=[sc.source for sc in scans], energy_ev=e, mu=mu, norm=nz.norm,
        flat=nz.flat, calibrations=cals, merged_used=used, glitches=glitches, e0_ev=float(e0),
        edge_step=nz.edge_step, noise=nz.noise, edge_energy_ev=edge.energy_ev,
        edge_energy_err_ev=edge.energy_err_ev, pre_edge_centroid_ev=pe.centroid_ev if pe else nan,
        pre_edge_centroid_err_ev=pe.centroid_err_ev if pe else nan, pre_edge_area=pe.area if pe else nan,
        pre_edge_area_err=pe.area_err if pe else nan, pre_edge_height=pe.height if pe else nan,
        time_s=float(np.mean(times)) if times else None, flags=flags,
        voltage_v=_header_voltage(scans[0]))
    if s.exafs is not None:
        x = s.exafs
        chi = background(e, mu, e0_ev=e0, rbkg_a=x.rbkg_a, kweight=x.kweight,
                         edge_step=nz.edge_step, label=where)
        ft = fourier(chi.k, chi.chi, kmin=x.kmin, kmax=x.kmax, dk=x.dk, window=x.window,
                     kweight=x.kweight)
        res.k, res.chi, res.r_a, res.chir_mag = chi.k, chi.chi, ft.r_a, ft.chir_mag
    return res


# ----------------------------------------------------------------------------- series level


@dataclass
class SeriesValence:
    """Valence of every spectrum of a series, by calibration and/or LCF, and the PCA count.

    Parameters
    ----------
    valence, valence_err : ndarray
        The reported valence per spectrum and its uncertainty (NaN where none).
    method : str
        The route(s) taken, and which one is reported.
    calibration : ValenceCalibration or None
        The calibration through the standards.
    calibration_valence, calibration_valence_err : ndarray or None
        Valence per spectrum from the calibration, and its uncertainty.
    extrapolated : ndarray of bool or None
        Per spectrum: outside the standards' range.
    lcf : list of LcfResult or None
        Per spectrum: its linear combination fit (None where it failed).
    pca : PcaResult or None
        Principal components of the series (3 spectra or more).
    messages : list of str
        Why a route gave nothing, and the warnings of the check.
    check : ValenceCheck or None
        Every method's valence, their leave-one-out on the standards and the status of
        each spectrum's valence (see :mod:`xpipe.xas.valence_check`).

    Examples
    --------
    >>> import numpy as np
    >>> out = SeriesValence(valence=np.array([3.5, 4.0]), valence_err=np.array([0.1, 0.1]),
    ...                     method="calibration")
    >>> out.valence.tolist(), out.lcf, out.messages
    ([3.5, 4.0], None, [])
    """

    valence: np.ndarray
    valence_err: np.ndarray
    method: str
    calibration: ValenceCalibration | None = None
    calibration_valence: np.ndarray | None = None
    calibration_valence_err: np.ndarray | None = None
    extrapolated: np.ndarray | None = None
    lcf: list[LcfResult | None] | None = None
    pca: PcaResult | None = None
    messages: list[str] = field(default_factory=list)
    check: ValenceCheck | None = None


def _feature_err(r: SpectrumResult, feature: str) -> float:
    return {"edge_energy_ev": r.edge_energy_err_ev, "pre_edge_area": r.pre_edge_area_err,
            "pre_edge_centroid_ev": r.pre_edge_centroid_err_ev}[feature]


def _by_calibration(out: SeriesValence, spectra: list[SpectrumResult],
                    standards: list[tuple[SpectrumResult, float]], names: list[str] | None,
                    feature: str, model: str) -> None:
    """Valence of each spectrum from a calibration through the standards (into ``out``)."""
    use = [(r, v) for r, v in standards if names is None or r.label in names]
    if len(use) < 2:
        out.messages.append(f"valence calibration needs at least two standards, {len(use)} "
                            "processed")
        return
    x = [getattr(r, feature) for r, _ in use]
    xe = [_feature_err(r, feature) for r, _ in use]
    try:
        cal = ValenceCalibration.fit(x, [v for _, v in use], xe, names=[r.label for r, _ in use],
                                     model=model, feature=feature)
    except ValueError as exc:
        out.messages.append(str(exc))
        return
    xs = np.array([getattr(r, feature) for r in spectra])
    xse = np.array([_feature_err(r, feature) for r in spectra])
    v, ve = cal.predict(xs, xse)
    out.calibration = cal
    out.calibration_valence = np.asarray(v, float)
    out.calibration_valence_err = np.asarray(ve, float)
    out.extrapolated = ~cal.inside(xs)
    out.valence = out.calibration_valence.copy()
    out.valence_err = out.calibration_valence_err.copy()


def _by_lcf(out: SeriesValence, spectra: list[SpectrumResult],
            standards: list[tuple[SpectrumResult, float]], names: list[str] | None,
            window: tuple[float, float], reported: bool) -> None:
    """Each spectrum fitted as a linear combination of the standards (into ``out``)."""
    refs = [(r, v) for r, v in standards if names is None or r.label in names]
    if len(refs) < 2:
        out.messages.append(f"LCF needs at least two reference spectra, {len(refs)} processed")
        return
    out.lcf = []
    for i, r in enumerate(spectra):
        try:
            fit = lcf(r.energy_ev, r.norm, [(s.label, s.energy_ev, s.norm) for s, _ in refs],
                      [v for _, v in refs], window_ev=window)
        except Exception as exc:  # one bad spectrum must not stop the series
            out.messages.append(f"{r.label}: LCF failed: {exc}")
            fit = None
        out.lcf.append(fit)
        if reported and fit is not None:
            out.valence[i], out.valence_err[i] = fit.valence, fit.valence_err


def _valence_check(out: SeriesValence, spectra: list[SpectrumResult],
                   standards: list[tuple[SpectrumResult, float]], s: XanesSettings, *,
                   names: list[str] | None, lcf_names: list[str] | None, window: tuple[float, float],
                   model: str, feature: str, reported_lcf: bool, max_gap: float) -> None:
    """Every method's valence, its leave-one-out on the standards, and each spectrum's status."""
    use = [(r, v) for r, v in standards if names is None or r.label in names]
    kw = dict(main_window_ev=s.windows_abs()[1], edge_method=s.edge_method, fraction=s.edge_fraction,
              smooth_ev=s.smooth_ev)
    fs = [spectrum_features(r, **kw) for r in spectra]
    fstd = [spectrum_features(r, **kw) for r, _ in use]
    series_m = feature_method(feature, s.edge_method)
    names_m = ["edge_half_height", "edge_derivative", "pre_edge_centroid", "pre_edge_area"]
    if series_m not in names_m:
        names_m.insert(0, series_m)
    methods = [calibrate_method(m, [f[m][0] for f in fs], [f[m][1] for f in fs], [f[m][0] for f in fstd],
                                [f[m][1] for f in fstd], [v for _, v in use], [r.label for r, _ in use], model=model)
               for m in names_m]
    if out.lcf is not None:
        refs = [(r, v) for r, v in standards if lcf_names is None or r.label in lcf_names]
        loo = leave_one_out_lcf([(r.label, r.energy_ev, r.norm) for r, _ in refs], [v for _, v in refs],
                                window_ev=window)
        methods.append(MethodValence("lcf", np.array([f.valence if f else np.nan for f in out.lcf]),
                                     np.array([f.valence_err if f else np.nan for f in out.lcf]), loo))
    out.check = check_valence(methods, [r.label for r in spectra], reported="lcf" if reported_lcf else series_m,
                              series_method=series_m, max_gap=max_gap)
    out.messages.extend(out.check.warnings)


# long for its docstring: every keyword of the recipe's valence section, and a worked example
def series_valence(
    spectra: list[SpectrumResult],
    standards: list[tuple[SpectrumResult, float]],
    *,
    method: Literal["calibration", "lcf", "both"] = "calibration",
    feature: Literal["edge_energy_ev", "pre_edge_area", "pre_edge_centroid_ev"] = "edge_energy_ev",
    model: Literal["piecewise_linear", "pchip", "linear", "quadratic"] = "piecewise_linear",
    calibration_standards: list[str] | None = None,
    lcf_references: list[str] | None = None,
    lcf_window_ev: tuple[float, float] = (-20.0, 40.0),
    edge_ev: float,
    run_pca: bool = True,
    report: Literal["calibration", "lcf"] = "calibration",
    settings: XanesSettings | None = None,
    max_gap: float = 1.0,
    check: bool = True,
) -> SeriesValence:
    """Valence per spectrum of a series, from processed standards of known valence.

    Parameters
    ----------
    spectra : list of SpectrumResult
        The series.
    standards : list of (SpectrumResult, float)
        Processed standards and their valences.
    method : {'calibration', 'lcf', 'both'}
        Calibration of ``feature`` against valence, linear combination fits, or both.
    feature : {'edge_energy_ev', 'pre_edge_area', 'pre_edge_centroid_ev'}
        What the calibration maps to valence.
    model : {'piecewise_linear', 'pchip', 'linear', 'quadratic'}
        The calibration curve (see :class:`~xpipe.xas.valence.ValenceCalibration`).
    calibration_standards, lcf_references : list of str, optional
        Labels of the standards each route uses; all when None.
    lcf_window_ev : (float, float)
        LCF and PCA window relative to ``edge_ev`` (eV).
    edge_ev : float
        Tabulated edge (eV).
    run_pca : bool
        Count the series' components (3 spectra or more).
    report : {'calibration', 'lcf'}
        With ``both``, the route that gives the reported valence; the other is kept.
    settings : XanesSettings, optional
        The series' windows and edge method, for the check (default: the defaults around
        ``edge_ev``).
    max_gap : float
        Spacing of the standards (valence units) above which a spectrum between them is
        flagged ``sparse_standards``.
    check : bool
        Compare every method, run the leave-one-out and set each value's status
        (:mod:`xpipe.xas.valence_check`).

    Returns
    -------
    SeriesValence

    Examples
    --------
    >>> import numpy as np
    >>> from xpipe.xas.scan import XasScan
    >>> from xpipe.xas.xanes import NormSettings
    >>> e = np.linspace(5300.0, 5800.0, 1001)
    >>> def scan(e0, label):  # a V K-edge scan and its foil, both 1 eV too high
    ...     mu = 0.5 + np.arctan((e - e0 - 1.0) / 2.0) / np.pi
    ...     foil = 0.5 + np.arctan((e - 5466.0) / 1.0) / np.pi
    ...     return XasScan(e, mu, source=f"{label}.xdi", label=label, reference_mu=foil)
    >>> s = XanesSettings(element="V", edge="K", edge_ev=5465.0, norm=NormSettings())
    >>> standards = [(process_spectrum([scan(e0, name)], s), v)
    ...              for e0, name, v in ((5476.0, "V2O3", 3.0), (5480.0, "VO2", 4.0),
    ...                                  (5482.0, "V2O5", 5.0))]
    >>> spectra = [process_spectrum([scan(e0, f"x{i}")], s)
    ...            for i, e0 in enumerate((5477.0, 5479.0, 5481.0))]
    >>> out = series_valence(spectra, standards, edge_ev=5465.0)
    >>> np.round(out.valence, 2).tolist(), out.check.status
    ([3.25, 3.75, 4.5], ['ok', 'ok', 'ok'])
    >>> both = series_valence(spectra, standards, edge_ev=5465.0, method="both", report="lcf")
    >>> both.method, np.round(both.valence, 1).tolist(), both.pca.n_components
    ('both (reported: lcf)', [3.2, 3.8, 4.4], 1)
    """
    n = len(spectra)
    out = SeriesValence(valence=np.full(n, np.nan), valence_err=np.full(n, np.nan),
                        method=method if method != "both" else f"both (reported: {report})")
    window = (edge_ev + lcf_window_ev[0], edge_ev + lcf_window_ev[1])
    if method in ("calibration", "both"):
        _by_calibration(out, spectra, standards, calibration_standards, feature, model)
    if method in ("lcf", "both"):
        _by_lcf(out, spectra, standards, lcf_references, window,
                reported=method == "lcf" or report == "lcf")
    if check and n:
        s = settings or XanesSettings(element="", edge="K", edge_ev=edge_ev, norm=NormSettings())
        _valence_check(out, spectra, standards, s, names=calibration_standards, lcf_names=lcf_references,
                       window=window, model=model, feature=feature, max_gap=max_gap,
                       reported_lcf=method == "lcf" or (method == "both" and report == "lcf"))
    if run_pca and n >= 3:
        out.pca = _series_pca(spectra, edge_ev + lcf_window_ev[0], edge_ev + lcf_window_ev[1])
    return out


def _series_pca(spectra: list[SpectrumResult], lo: float, hi: float) -> PcaResult | None:
    """PCA of the series on the first spectrum's grid over [lo, hi] eV; None for under 10 points."""
    grid = spectra[0].energy_ev[(spectra[0].energy_ev >= lo) & (spectra[0].energy_ev <= hi)]
    if grid.size < 10:
        return None
    mat = np.stack([np.interp(grid, r.energy_ev, r.norm) for r in spectra])
    return pca(grid, mat, window_ev=(lo, hi))
