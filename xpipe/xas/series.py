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

from .scan import XasScan
from .valence import LcfResult, PcaResult, ValenceCalibration, lcf, pca
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
    """autobk and forward Fourier transform settings (k in 1/angstrom, R in angstrom)."""

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
        pre = (self.edge_ev + self.pre_edge_window_ev[0], self.edge_ev + self.pre_edge_window_ev[1])
        main = (self.edge_ev + self.main_edge_window_ev[0], self.edge_ev + self.main_edge_window_ev[1])
        return pre, main

    def as_dict(self) -> dict:
        d = asdict(self)
        return d


@dataclass
class SpectrumResult:
    """One processed state of a series (calibrated energies)."""

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


def process_spectrum(scans: list[XasScan], s: XanesSettings, label: str | None = None) -> SpectrumResult:
    """Calibrate, deglitch and merge the scans of one state, normalise, and measure its edge.

    Raises :class:`XasEdgeError` or :class:`~xpipe.xas.scan.XasReadError` (naming the file)
    when the spectrum cannot be processed.
    """
    if not scans:
        raise ValueError("process_spectrum: no scans")
    flags: list[str] = []
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
    if len(scans) > 1:
        m = merge_scans(energies, mus, reject=s.merge_reject)
        e, mu, used = m.energy_ev, m.mu, [bool(u) for u in m.used]
        for sc, u in zip(scans, used):
            if not u:
                flags.append(f"{sc.source}: left out of the merge (deviates from the other scans)")
    else:
        e, mu, used = energies[0], mus[0], [True]
    where = label or scans[0].label or scans[0].source
    pre_w, main_w = s.windows_abs()
    if e[0] > main_w[0] or e[-1] < main_w[1]:
        raise XasEdgeError(f"{where}: energy range {e[0]:.1f}-{e[-1]:.1f} eV does not hold the {s.element} "
                           f"{s.edge} main-edge window {main_w[0]:.1f}-{main_w[1]:.1f} eV")
    try:
        e0 = s.e0_ev if s.e0_ev is not None else main_edge_e0(e, mu, window_ev=main_w, smooth_ev=s.smooth_ev)
        nz = normalise(e, mu, e0_ev=e0, settings=s.norm)
        edge = edge_position(e, nz.norm, method=s.edge_method, window_ev=main_w, fraction=s.edge_fraction,
                             smooth_ev=s.smooth_ev, noise=nz.noise, fixed_ev=s.e0_ev)
        pe = pre_edge_peak(e, nz.norm, window_ev=pre_w, noise=nz.noise)
    except XasEdgeError as exc:
        raise XasEdgeError(f"{where}: {exc}") from None
    times = [sc.time_s for sc in scans if sc.time_s is not None]
    res = SpectrumResult(
        label=where, sources=[sc.source for sc in scans], energy_ev=e, mu=mu, norm=nz.norm, flat=nz.flat,
        calibrations=cals, merged_used=used, glitches=glitches, e0_ev=float(e0), edge_step=nz.edge_step,
        noise=nz.noise, edge_energy_ev=edge.energy_ev, edge_energy_err_ev=edge.energy_err_ev,
        pre_edge_centroid_ev=pe.centroid_ev, pre_edge_centroid_err_ev=pe.centroid_err_ev,
        pre_edge_area=pe.area, pre_edge_area_err=pe.area_err, pre_edge_height=pe.height,
        time_s=float(np.mean(times)) if times else None, flags=flags, voltage_v=_header_voltage(scans[0]))
    if s.exafs is not None:
        from .exafs import background, fourier

        x = s.exafs
        chi = background(e, mu, e0_ev=e0, rbkg_a=x.rbkg_a, kweight=x.kweight, edge_step=nz.edge_step, label=where)
        ft = fourier(chi.k, chi.chi, kmin=x.kmin, kmax=x.kmax, dk=x.dk, window=x.window, kweight=x.kweight)
        res.k, res.chi, res.r_a, res.chir_mag = chi.k, chi.chi, ft.r_a, ft.chir_mag
    return res


# ----------------------------------------------------------------------------- series level


@dataclass
class SeriesValence:
    """Valence of every spectrum of a series, by calibration and/or LCF, and the PCA count."""

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


def series_valence(
    spectra: list[SpectrumResult],
    standards: list[tuple[SpectrumResult, float]],
    *,
    method: Literal["calibration", "lcf", "both"] = "calibration",
    feature: Literal["edge_energy_ev", "pre_edge_area"] = "edge_energy_ev",
    model: Literal["pchip", "linear"] = "pchip",
    calibration_standards: list[str] | None = None,
    lcf_references: list[str] | None = None,
    lcf_window_ev: tuple[float, float] = (-20.0, 40.0),
    edge_ev: float,
    run_pca: bool = True,
    report: Literal["calibration", "lcf"] = "calibration",
) -> SeriesValence:
    """Valence per spectrum (``method``); ``standards`` are processed standards with valences.

    With ``both``, ``report`` says which route gives the reported valence; the other is kept.
    ``lcf_window_ev`` is relative to ``edge_ev``.
    """
    n = len(spectra)
    out = SeriesValence(valence=np.full(n, np.nan), valence_err=np.full(n, np.nan),
                        method=method if method != "both" else f"both (reported: {report})")
    if method in ("calibration", "both"):
        use = [(r, v) for r, v in standards if calibration_standards is None or r.label in calibration_standards]
        if len(use) < 2:
            out.messages.append(f"valence calibration needs at least two standards, {len(use)} processed")
        else:
            x = [getattr(r, feature) for r, _ in use]
            xe = [r.edge_energy_err_ev if feature == "edge_energy_ev" else r.pre_edge_area_err for r, _ in use]
            try:
                cal = ValenceCalibration.fit(x, [v for _, v in use], xe, names=[r.label for r, _ in use],
                                             model=model, feature=feature)
            except ValueError as exc:
                out.messages.append(str(exc))
                cal = None
            if cal is not None:
                xs = np.array([getattr(r, feature) for r in spectra])
                xse = np.array([r.edge_energy_err_ev if feature == "edge_energy_ev" else r.pre_edge_area_err for r in spectra])
                v, ve = cal.predict(xs, xse)
                out.calibration = cal
                out.calibration_valence, out.calibration_valence_err = np.asarray(v, float), np.asarray(ve, float)
                out.extrapolated = ~cal.inside(xs)
                out.valence, out.valence_err = out.calibration_valence.copy(), out.calibration_valence_err.copy()
    if method in ("lcf", "both"):
        refs = [(r, v) for r, v in standards if lcf_references is None or r.label in lcf_references]
        if len(refs) < 2:
            out.messages.append(f"LCF needs at least two reference spectra, {len(refs)} processed")
        else:
            window = (edge_ev + lcf_window_ev[0], edge_ev + lcf_window_ev[1])
            out.lcf = []
            for i, r in enumerate(spectra):
                try:
                    fit = lcf(r.energy_ev, r.norm, [(s.label, s.energy_ev, s.norm) for s, _ in refs],
                              [v for _, v in refs], window_ev=window)
                except Exception as exc:  # one bad spectrum must not stop the series
                    out.messages.append(f"{r.label}: LCF failed: {exc}")
                    fit = None
                out.lcf.append(fit)
                if (method == "lcf" or report == "lcf") and fit is not None:
                    out.valence[i], out.valence_err[i] = fit.valence, fit.valence_err
    if run_pca and n >= 3:
        lo, hi = edge_ev + lcf_window_ev[0], edge_ev + lcf_window_ev[1]
        grid = spectra[0].energy_ev[(spectra[0].energy_ev >= lo) & (spectra[0].energy_ev <= hi)]
        if grid.size >= 10:
            mat = np.stack([np.interp(grid, r.energy_ev, r.norm) for r in spectra])
            out.pca = pca(grid, mat, window_ev=(lo, hi))
    return out
