"""The valence check of an XAS series in results.h5: every method, its leave-one-out on the
standards, and the status of every spectrum's valence (``/entry/xas/<series>/valence_check``)."""

from __future__ import annotations

import numpy as np

from ..nexus import nx_name, set_units
from ..store import nx_group, set_attrs, write_strings


def _write_loo(parent, m) -> None:
    loo = m.loo
    g = nx_group(parent, nx_name(m.method), "NXcollection")
    set_attrs(g, long_name=f"leave-one-out of {m.method}: each standard predicted from the others")
    write_strings(g, "standard", list(loo.names))
    set_units(g.create_dataset("declared_valence", data=np.asarray(loo.declared, float)), "1")
    set_units(g.create_dataset("predicted_valence", data=np.asarray(loo.predicted, float)), "1",
              "valence of the standard from a calibration through the other standards")
    set_units(g.create_dataset("error", data=np.asarray(loo.error, float)), "1", "predicted minus declared valence")
    g.create_dataset("extrapolated", data=np.asarray(loo.extrapolated, bool))
    write_strings(g, "reason", [r or "" for r in loo.reasons])
    for name, value, what in (("rms_error", loo.rms_error, "RMS error over every standard predicted"),
                              ("interior_rms_error", loo.interior_rms,
                               "RMS error over the standards between two others (the calibration uncertainty)"),
                              ("max_error", loo.max_error, "largest absolute error")):
        set_units(g.create_dataset(name, data=float(value)), "1", what)


def write_valence_check(g, v) -> None:
    """``valence_check`` of the series group ``g``, the status of each valence and the
    calibration's leave-one-out, from a :class:`~xpipe.xas.series.SeriesValence` ``v``.

    Parameters
    ----------
    g : h5py.Group
        ``/entry/xas/<series>``, with its ``spectra`` group (and ``calibration`` when the
        series was calibrated).
    v : xpipe.xas.series.SeriesValence
        The series' valence, with its check.

    Returns
    -------
    None
        Valences in elementary charges (units ``1``); nothing is written without a check.

    Examples
    --------
    >>> import h5py, numpy as np
    >>> from xpipe.xas.series import SeriesValence
    >>> from xpipe.xas.valence_check import calibrate_method, check_valence
    >>> half = calibrate_method("edge_half_height", [7121.9], [0.01], [7118.4, 7119.3, 7123.5],
    ...                         [0.03, 0.01, 0.01], [0, 2, 3], ["Fe", "FeO", "Fe2O3"],
    ...                         model="piecewise_linear")
    >>> chk = check_valence([half], ["Fe3O4"], reported="edge_half_height",
    ...                     series_method="edge_half_height")
    >>> v = SeriesValence(half.valence, half.valence_err, "calibration", check=chk)
    >>> h5 = h5py.File("check.h5", "w", driver="core", backing_store=False)  # in memory
    >>> write_valence_check(h5.create_group("Fe_K"), v)
    >>> h5["Fe_K/spectra/valence_status"][()].astype(str).tolist()
    ['unverified']
    >>> h5["Fe_K/valence_check/leave_one_out/edge_half_height/error"][()].round(2).tolist()
    [1.79, -1.47, 8.33]
    """
    chk = v.check
    if chk is None:
        return
    sg = g.require_group("spectra")
    write_strings(sg, "valence_status", list(chk.status))
    rep = chk.method(chk.reported)
    total = rep.total_err if rep is not None else np.full(len(chk.status), np.nan)
    set_units(sg.create_dataset("valence_total_err", data=np.asarray(total, float)), "1",
              "uncertainty of the reported valence: statistical and leave-one-out calibration error in quadrature")
    cg = nx_group(g, "valence_check", "NXcollection")
    set_attrs(cg, reported=chk.reported, series_method=chk.series_method)
    set_units(cg.create_dataset("max_standard_gap", data=float(chk.max_gap)), "1",
              "spacing of the standards above which a spectrum between them is flagged")
    set_units(cg.create_dataset("standard_gap", data=np.asarray(chk.gap, float)), "1",
              "valence spacing of the calibration standards around each spectrum (NaN outside their range)")
    write_strings(cg, "method", [m.method for m in chk.methods])
    cg.create_dataset("usable", data=np.array([m.usable for m in chk.methods], bool))
    write_strings(cg, "reason", [m.reason for m in chk.methods])
    n = len(chk.status)
    cols = [np.asarray(m.valence, float) if m.valence.size == n else np.full(n, np.nan) for m in chk.methods]
    errs = [np.asarray(m.valence_err, float) if m.valence_err.size == n else np.full(n, np.nan) for m in chk.methods]
    shape = (n, len(chk.methods))
    set_units(cg.create_dataset("valence", data=np.stack(cols, axis=1) if cols else np.zeros(shape)), "1",
              "valence of each spectrum (rows) by each method (columns)")
    set_units(cg.create_dataset("valence_err", data=np.stack(errs, axis=1) if errs else np.zeros(shape)), "1",
              "statistical uncertainty of each method's valence")
    cal_err = [m.loo.interior_rms if m.loo is not None else np.nan for m in chk.methods]
    set_units(cg.create_dataset("calibration_err", data=np.asarray(cal_err, float)), "1",
              "leave-one-out RMS error over the standards between two others, per method")
    lg = nx_group(cg, "leave_one_out", "NXcollection")
    for m in chk.methods:
        if m.loo is not None:
            _write_loo(lg, m)
    series = chk.method(chk.series_method)
    if "calibration" in g and series is not None and series.loo is not None:
        by_name = dict(zip(series.loo.names, zip(series.loo.predicted, series.loo.error)))
        names = [s.decode() if isinstance(s, bytes) else str(s) for s in g["calibration/standards"][()]]
        pred = np.array([by_name.get(s, (np.nan, np.nan))[0] for s in names], float)
        err = np.array([by_name.get(s, (np.nan, np.nan))[1] for s in names], float)
        set_units(g["calibration"].create_dataset("leave_one_out_valence", data=pred), "1",
                  "valence of each standard from the same curve through the other standards")
        set_units(g["calibration"].create_dataset("leave_one_out_error", data=err), "1",
                  "leave-one-out valence minus declared valence")
