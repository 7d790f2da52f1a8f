"""The valence check of an XAS series as tables: every method's leave-one-out error on the
standards and the status of every spectrum's valence (what docs/xas_valence.md explains).

Valences are in elementary charges. :attr:`XasSeries.valence_check
<xpipe.results.spectra.XasSeries.valence_check>` gives an :class:`XasValenceCheck`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nexus import nx_name
from ._h5 import read_array, scalar, text
from ._lazy import pd

#: the columns of :attr:`XasValenceCheck.methods`
METHOD_COLUMNS = ("method", "usable", "reason", "calibration_err", "rms_error", "max_error")
#: the fields of each method's leave-one-out group, as columns of :attr:`XasValenceCheck.leave_one_out`
LOO_COLUMNS = ("standard", "declared_valence", "predicted_valence", "error", "extrapolated", "reason")


@dataclass(frozen=True)
class XasValenceCheck:
    """How far each valence method of one XAS series is trusted, read from its results.

    Parameters
    ----------
    methods : pandas.DataFrame
        One row per method (``edge_half_height``, ``edge_derivative``, ``pre_edge_centroid``,
        ``pre_edge_area``, ``lcf``): ``usable``, ``reason`` (why it gave nothing),
        ``calibration_err`` (leave-one-out RMS error over the standards between two others: the
        method's calibration uncertainty, NaN when no standard is between two others),
        ``rms_error`` and ``max_error`` over every standard predicted.
    leave_one_out : pandas.DataFrame
        One row per method and standard: ``declared_valence``, ``predicted_valence`` (from the
        method calibrated on the other standards), ``error`` (predicted minus declared),
        ``extrapolated`` (the standard lay outside the others' range), ``reason``.
    spectra : pandas.DataFrame
        One row per spectrum: ``label``, ``valence_status`` ('ok', or '; '-joined
        'extrapolated', 'sparse_standards', 'methods_disagree', 'unverified'), ``valence``
        (reported) and ``valence_total_err`` (statistical and leave-one-out in quadrature),
        ``standard_gap``, then each method's valence and statistical error as ``<method>`` and
        ``<method>_err``.
    reported, series_method : str
        The method reported, and the one of the series' calibration curve.
    max_standard_gap : float
        Spacing of the standards above which a value is flagged ``sparse_standards``.

    Examples
    --------
    >>> import h5py
    >>> from xpipe.store import write_record
    >>> h5 = h5py.File("vc.h5", "w", driver="core", backing_store=False)  # in memory
    >>> write_record(h5, {"spectra": {"label": ["s0", "s1"], "valence": [3.2, 5.6],
    ...                               "valence_status": ["ok", "extrapolated"]},
    ...                   "valence_check": {"method": ["edge_half_height", "lcf"], "usable": [True, True],
    ...                                     "reason": ["", ""], "calibration_err": [0.69, float("nan")],
    ...                                     "valence": [[3.21, 3.2], [5.4, 5.6]],
    ...                                     "valence_err": [[0.01, 0.02], [0.01, 0.02]],
    ...                                     "leave_one_out": {"edge_half_height": {
    ...                                         "standard": ["V2O3", "VO2", "V2O5"], "declared_valence": [3, 4, 5],
    ...                                         "predicted_valence": [-1.55, 4.69, 4.18], "error": [-4.55, 0.69, -0.82],
    ...                                         "extrapolated": [True, False, True], "max_error": 4.55}}}})
    >>> h5["valence_check"].attrs.update(reported="lcf", series_method="edge_half_height")
    >>> chk = read_valence_check(h5, "results.h5")
    >>> chk.methods[["method", "calibration_err", "max_error"]].values.tolist()
    [['edge_half_height', 0.69, 4.55], ['lcf', nan, nan]]
    >>> chk.leave_one_out.query("not extrapolated")[["standard", "error"]].values.tolist()
    [['VO2', 0.69]]
    >>> chk.spectra[["label", "valence_status", "lcf", "lcf_err"]].values.tolist()
    [['s0', 'ok', 3.2, 0.02], ['s1', 'extrapolated', 5.6, 0.02]]
    >>> chk.reported
    'lcf'
    """

    methods: pd.DataFrame
    leave_one_out: pd.DataFrame
    spectra: pd.DataFrame
    reported: str
    series_method: str
    max_standard_gap: float


def _loo(method: str, g) -> dict:
    """One method's leave-one-out columns (empty when it has none)."""
    if g is None or "standard" not in g:
        return {}
    cols = {k: read_array(g[k]) for k in LOO_COLUMNS if k in g}
    n = cols["standard"].size
    cols.setdefault("reason", np.full(n, "", dtype=object))
    return {"method": np.full(n, method, dtype=object), **cols}


def _stat(g, name: str) -> float:
    return float(scalar(g[name])) if g is not None and name in g else float("nan")


def read_valence_check(series, file: str) -> XasValenceCheck:
    """The valence check of the XAS series group ``series`` (``valence_check`` and the spectra's
    ``valence_status``).

    Parameters
    ----------
    series : h5py.Group
        The series group of an open results file.
    file : str
        The file's path, for messages.

    Returns
    -------
    XasValenceCheck
        Raises LookupError when the series has no check (no standards, or written before
        the check existed).

    Examples
    --------
    >>> import h5py
    >>> with h5py.File("nvc.h5", "w", driver="core", backing_store=False) as h5:
    ...     read_valence_check(h5.create_group("V_K"), "results.h5")
    Traceback (most recent call last):
    ...
    LookupError: results.h5: XAS series /V_K has no valence check (a recipe with xas[].standards and xas[].valence writes it)
    """
    if "valence_check" not in series:
        raise LookupError(f"{file}: XAS series {series.name} has no valence check (a recipe with xas[].standards "
                          "and xas[].valence writes it)")
    c = series["valence_check"]
    names = [text(m) for m in read_array(c["method"])]
    loo_root = c.get("leave_one_out")
    rows, loo = [], []
    for i, m in enumerate(names):
        lg = loo_root.get(nx_name(m)) if loo_root is not None else None
        rows.append({"method": m, "usable": bool(read_array(c["usable"])[i]) if "usable" in c else True,
                     "reason": text(read_array(c["reason"])[i]) if "reason" in c else "",
                     "calibration_err": (float(read_array(c["calibration_err"])[i]) if "calibration_err" in c
                                         else _stat(lg, "interior_rms_error")),
                     "rms_error": _stat(lg, "rms_error"), "max_error": _stat(lg, "max_error")})
        part = _loo(m, lg)
        if part:
            loo.append(pd.DataFrame(part))
    methods = pd.DataFrame(rows, columns=list(METHOD_COLUMNS))
    loo_df = pd.concat(loo, ignore_index=True) if loo else pd.DataFrame(columns=["method", *LOO_COLUMNS])
    sg = series.get("spectra")
    base = ("label", "valence_status", "valence", "valence_total_err")
    spectra = {k: read_array(sg[k]) for k in base if sg is not None and k in sg}
    if "standard_gap" in c:
        spectra["standard_gap"] = read_array(c["standard_gap"])
    for key in ("valence", "valence_err"):
        if key in c and c[key].ndim == 2 and c[key].shape[1] == len(names):
            values = read_array(c[key])
            for j, m in enumerate(names):
                spectra[m if key == "valence" else f"{m}_err"] = values[:, j]
    return XasValenceCheck(methods, loo_df, pd.DataFrame(spectra),
                           text(c.attrs.get("reported", "")), text(c.attrs.get("series_method", "")),
                           _stat(c, "max_standard_gap"))
