"""ISO 14976 VAMAS files (``.vms``; PHI MultiPak also writes them as ``.npl``).

VAMAS layout (ISO 14976)
------------------------
One value per line. The experiment header (format line, institution, instrument, operator,
experiment id, comment lines, experiment mode, scan mode, number of spectral regions, map
sizes for MAP/MAPDP, experimental variables, parameter inclusion/exclusion list, manually
entered items, future-upgrade entry counts and experiment entries, number of blocks) is
followed by the blocks and ``end of experiment``. A block holds its identifier, sample, date,
comment lines, technique, the parameters that depend on the experiment mode and technique,
the abscissa (label, units, start, increment) for REGULAR scans, the corresponding variables,
signal mode, collection time, scans, additional numerical parameters, future-upgrade block
entries and the ordinate values, interleaved by corresponding variable. In IRREGULAR scans
there is no abscissa start/increment: the abscissa is the first corresponding variable and
its values are listed with the ordinates. The inclusion/exclusion list numbers the block
parameters 1 to 40, from the year (1) through the block comment (8), technique (9), source
energy (14), work function (25), abscissa (31), corresponding variables (32) to the additional
numerical parameters (40); parameters it leaves out of the second and later blocks take the
first block's values. ``1E37`` marks a value that is not known (read as ``None``).

Files seen in practice: CRLF or LF line ends, blank lines before the first line (Kratos),
NUL bytes after labels (PHI MultiPak, which also writes VAMAS as ``.npl``), IRREGULAR
abscissae that repeat an energy (CasaXPS; repeated points are averaged, counted in
``metadata['merged_duplicate_points']``).

Detection: a file whose first non-blank line is the VAMAS line is VAMAS whatever its suffix;
a ``.vms`` file without that line is an error that names the line expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...io.registry import HEAD_BYTES
from .base import (
    REGISTRY,
    PathLike,
    XpsReadError,
    XpsSpectrum,
    _check_exists,
    _epoch,
    _head_text,
    _intensity_unit,
    _read_lines,
    _region_name,
    _sort_ascending,
)
from .casa import _casa_metadata
from .vamas_fields import (
    _abscissa,
    _analyser_params,
    _binding_axis,
    _Cursor,
    _Params,
    _read_ordinates,
    _signal_params,
    _source_params,
    _variables,
)

__all__ = ["VAMAS_MAGIC", "read_vamas"]

VAMAS_MAGIC = "VAMAS Surface Chemical Analysis Standard Data Transfer Format"
"""Start of the first line of every VAMAS file (followed by ``1988 May 4``)."""

_EXP_MODES = ("MAP", "MAPDP", "MAPSV", "MAPSVDP", "NORM", "SDP", "SDPSV", "SEM", "NOEXP")
_SCAN_MODES = ("REGULAR", "IRREGULAR", "MAPPING")


# --------------------------------------------------------------------------------------------
# the file and its experiment header


def read_vamas(path: PathLike, *, subtract_work_function: bool = False) -> list[XpsSpectrum]:
    """All blocks of an ISO 14976 VAMAS file (REGULAR or IRREGULAR scans).

    Kinetic-energy abscissae become binding energy ``hv - KE`` with ``hv`` the block's
    analysis source characteristic energy; ``subtract_work_function=True`` also subtracts the
    block's analyser work function (see the notes on the energy scale in
    :mod:`xpipe.xps.readers`). The first corresponding variable is the intensity; further ones
    (e.g. transmission) are in ``metadata['variables']``, aligned with the sorted axis.

    Parameters
    ----------
    path : str or pathlib.Path
        The VAMAS file.
    subtract_work_function : bool, optional
        Also subtract each block's analyser work function (eV) from ``hv - KE``.

    Returns
    -------
    spectra : list of XpsSpectrum
        One per block, in file order, on ascending binding energy (eV).

    Raises
    ------
    XpsReadError
        Naming the file, the block and line, and what was expected there.

    Examples
    --------
    A one-block file: C 1s on a kinetic axis from 1200 eV in 0.5 eV steps at hv = 1486.6 eV.

    >>> import tempfile
    >>> from pathlib import Path
    >>> head = [VAMAS_MAGIC + " 1988 May 4", "lab", "instrument", "operator", "experiment",
    ...         "0", "NORM", "REGULAR"] + "1 0 0 0 0 0 1".split()
    >>> block = (["C1s", "sample A"] + "2024 5 6 7 8 9 0 0".split() + ["XPS", "Al", "1486.6"]
    ...          + "1e37 1e37 1e37 0 0 FAT 20 1 4.5 0 1e37 1e37 0 0 C 1s -1".split()
    ...          + ["Kinetic Energy", "eV", "1200", "0.5", "1", "counts", "d", "pulse counting"]
    ...          + "0.1 1 0 0 0 0 0 3 5 9 5 7 9".split() + ["end of experiment"])
    >>> path = Path(tempfile.mkdtemp()) / "c1s.vms"
    >>> _ = path.write_text("\\n".join(head + block) + "\\n")
    >>> (s,) = read_vamas(path)
    >>> s.label, s.region, s.sample, s.kinetic_axis
    ('C1s', 'C 1s', 'sample A', True)
    >>> np.round(s.binding_energy_ev, 2).tolist(), s.intensity.tolist()
    ([285.6, 286.1, 286.6], [9.0, 7.0, 5.0])
    >>> round(s.work_function_ev, 2), s.metadata["work_function_applied_ev"]
    (4.5, 0.0)
    """
    p = _check_exists(path)
    lines, n_nul = _read_lines(p)
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start >= len(lines) or not lines[start].strip().startswith(VAMAS_MAGIC):
        first = lines[start].strip()[:60] if start < len(lines) else ""
        raise XpsReadError(f"{p}: not a VAMAS file: expected the first line to start with "
                           f"{VAMAS_MAGIC!r}, got {first!r}")
    cur = _Cursor(lines, start + 1, p)
    head, exp_vars, include, n_fue_blk, n_blocks = _read_experiment(cur, lines[start].strip())
    head["n_nul_bytes_removed"] = n_nul

    spectra: list[XpsSpectrum] = []
    first_block: dict[int, Any] = {}
    for b in range(n_blocks):
        spectra.append(_read_block(cur, b, n_blocks, head, exp_vars, include, first_block,
                                   n_fue_blk, subtract_work_function))
    while cur.i < len(lines) and not lines[cur.i].strip():
        cur.i += 1
    if cur.i < len(lines) and lines[cur.i].strip().lower() != "end of experiment":
        head["trailing_text"] = lines[cur.i].strip()[:80]
    for s in spectra:
        s.metadata["file"] = head
    return spectra


def _read_experiment(cur: _Cursor, format_line: str
                     ) -> tuple[dict[str, Any], list, dict[int, bool], int, int]:
    """The experiment header: (header entries, experimental variables, block parameter
    inclusion 1..40, number of future-upgrade block entries, number of blocks)."""
    head: dict[str, Any] = {"format": format_line}
    for key in ("institution", "instrument", "operator", "experiment"):
        head[key] = cur.text(f"{key} identifier")
    n = cur.integer("number of lines in the experiment comment")
    head["comment"] = cur.take(n, "experiment comment")
    exp_mode = cur.text("experiment mode")
    if exp_mode not in _EXP_MODES:
        raise cur.fail(f"expected an experiment mode ({', '.join(_EXP_MODES)}), got "
                       f"{exp_mode!r}", cur.i - 1)
    scan_mode = cur.text("scan mode")
    if scan_mode not in _SCAN_MODES:
        raise cur.fail(f"expected a scan mode ({', '.join(_SCAN_MODES)}), got {scan_mode!r}",
                       cur.i - 1)
    if scan_mode == "MAPPING":
        raise cur.fail("MAPPING scans are not supported (expected REGULAR or IRREGULAR)",
                       cur.i - 1)
    head["experiment_mode"], head["scan_mode"] = exp_mode, scan_mode
    if exp_mode in ("MAP", "MAPDP", "NORM", "SDP"):
        head["n_spectral_regions"] = cur.integer("number of spectral regions")
    if exp_mode in ("MAP", "MAPDP"):
        head["n_analysis_positions"] = cur.integer("number of analysis positions")
        head["n_x_coordinates"] = cur.integer("number of discrete x coordinates")
        head["n_y_coordinates"] = cur.integer("number of discrete y coordinates")
    n_exp_var = cur.integer("number of experimental variables")
    exp_vars = []
    for k in range(n_exp_var):
        exp_vars.append((cur.text(f"experimental variable {k + 1} label"),
                         cur.text(f"experimental variable {k + 1} units")))
    n_incl = cur.integer("number of entries in the parameter inclusion or exclusion list")
    listed = {cur.integer("parameter number in the inclusion or exclusion list")
              for _ in range(abs(n_incl))}
    # include[k] for parameters 1..40 of the second and later blocks
    include = {k: (k in listed) if n_incl > 0 else (k not in listed) for k in range(1, 41)}
    n_manual = cur.integer("number of manually entered items in a block")
    head["manually_entered_items"] = cur.take(n_manual, "manually entered item numbers")
    n_fue_exp = cur.integer("number of future upgrade experiment entries")
    n_fue_blk = cur.integer("number of future upgrade block entries")
    head["future_upgrade_entries"] = cur.take(n_fue_exp, "future upgrade experiment entries")
    n_blocks = cur.integer("number of blocks")
    if n_blocks < 0:
        raise cur.fail(f"expected a non-negative number of blocks, got {n_blocks}", cur.i - 1)
    return head, exp_vars, include, n_fue_blk, n_blocks


# --------------------------------------------------------------------------------------------
# one block


def _read_block(cur: _Cursor, b: int, n_blocks: int, head: dict, exp_vars: list,
                include: dict[int, bool], first: dict[int, Any], n_fue_blk: int,
                subtract_wf: bool) -> XpsSpectrum:
    """Block ``b``: its parameters, its ordinates and abscissa, as one spectrum."""
    exp_mode, scan_mode = head["experiment_mode"], head["scan_mode"]
    cur.where = f"block {b + 1} of {n_blocks}"
    block_id = cur.text("block identifier")
    cur.where = f"block {b + 1} of {n_blocks} ({block_id!r})"
    sample = cur.text("sample identifier")
    param = _Params(b, include, first)
    par = _source_params(cur, param, exp_mode, len(exp_vars))
    par.update(_analyser_params(cur, param, par["technique"]))
    par.update(_signal_params(cur, param, scan_mode, exp_mode, par["technique"]))
    par["fue_block"] = cur.take(n_fue_blk, "future upgrade block entries")

    data, ranges, data_start = _read_ordinates(cur, len(par["corr"]))
    ax = _abscissa(cur, scan_mode, par["abscissa"], par["corr"], data, data_start)
    be, kinetic, phi_used = _binding_axis(cur, ax, par["hv"], par["work_function"],
                                          subtract_wf, data_start)
    ordinates = ax["ordinates"]
    intensity = ordinates[:, 0].copy()
    others = [ordinates[:, j].copy() for j in range(1, ordinates.shape[1])]
    n_merged, (be, intensity, *others) = _sort_ascending(
        be, intensity, *others, where=f"{cur.path}: VAMAS {cur.where}")

    variables = _variables(ax["ord_vars"], others)
    meta = _block_metadata(b, block_id, head, exp_vars, par, ax, variables, ranges)
    meta.update(_casa_metadata(meta["comment"], kinetic, par["hv"], phi_used))
    meta.update(work_function_applied_ev=phi_used, n_points=data.shape[0],
                merged_duplicate_points=n_merged)
    meta.update(_optional_metadata(par))
    pe = par["pass_energy"]
    if par["analyser_mode"].upper() == "FRR":
        meta["retard_ratio"], pe = pe, None
    elif pe is not None and pe <= 0:
        meta["pass_energy_raw"], pe = pe, None
    date, n_scans = par["date"], par["n_scans"]
    time_s = None
    if None not in date:
        year, month, day, hour, minute, second, gmt = date
        time_s = _epoch(year, month, day, hour, minute, second, gmt)
    return XpsSpectrum(
        binding_energy_ev=be, intensity=intensity, source=str(cur.path), label=block_id,
        sample=sample, region=_region_name(par["species"], par["transition"]),
        photon_energy_ev=par["hv"], work_function_ev=par["work_function"], pass_energy_ev=pe,
        source_label=par["source_label"], dwell_s=par["dwell"],
        n_scans=_count(n_scans), kinetic_axis=kinetic,
        time_s=time_s, metadata=meta)


def _count(value: float | None) -> int | None:
    """A count such as the number of scans; None when absent or not a finite number."""
    return int(value) if value is not None and np.isfinite(value) else None


def _block_metadata(b: int, block_id: str, head: dict, exp_vars: list, par: dict[str, Any],
                    ax: dict[str, Any], variables: dict[str, np.ndarray],
                    ranges: list) -> dict[str, Any]:
    """The metadata entries of a block that come straight from its parameters."""
    i_label, i_unit = ax["ord_vars"][0]
    return {
        "format": "VAMAS",
        "block_index": b,
        "block_id": block_id,
        "technique": par["technique"],
        "species": par["species"],
        "transition": par["transition"],
        "charge_of_detected_particle": par["charge"],
        "analyser_mode": par["analyser_mode"],
        "abscissa_label": ax["label"],
        "abscissa_unit": ax["unit"],
        "abscissa_start": None if ax["start"] is None else float(ax["start"]),
        "abscissa_increment": None if ax["step"] is None else float(ax["step"]),
        "scan_mode": head["scan_mode"],
        "experiment_mode": head["experiment_mode"],
        "intensity_label": i_label,
        "intensity_unit_raw": i_unit,
        "intensity_unit": _intensity_unit(i_label, i_unit, block_id),
        "corresponding_variables": ax["ord_vars"],
        "variables": variables,
        "ordinate_ranges": ranges,
        "signal_mode": par["signal_mode"],
        "signal_time_correction": par["time_corr"],
        "source_strength": par["strength"],
        "source_beam_width": par["beam"],
        "source_polar_angle_deg": par["polar"],
        "source_azimuth_deg": par["azimuth"],
        "magnification": par["magnification"],
        "target_bias": par["target_bias"],
        "analysis_width": par["analysis_width"],
        "take_off_angles_deg": par["take_off"],
        "sample_tilt": par["tilt"],
        "sample_rotation_deg": par["rotation"],
        "experimental_variables": {lab: v for (lab, _u), v in zip(exp_vars,
                                                                   par["exp_values"] or [])},
        "additional_parameters": par["extra_params"],
        "date": [None if v is None else (int(v) if float(v).is_integer() else v)
                 for v in par["date"]],
        "comment": list(par["comment"] or []),
    }


def _optional_metadata(par: dict[str, Any]) -> dict[str, Any]:
    """Entries a block records only when the file gives them (mapping, sputtering, AES)."""
    out = {}
    for key, name in (("coordinates", "coords"), ("sputtering_ion", "sputter_ion"),
                      ("field_of_view", "fov"), ("linescan", "linescan"),
                      ("differential_width", "diff_width"), ("sputtering_source", "sputter_src"),
                      ("future_upgrade_block_entries", "fue_block")):
        if par[name]:
            out[key] = par[name]
    return out


# --------------------------------------------------------------------------------------------
# registration


def _first_line(head: bytes) -> str:
    """The first non-blank line of a file's first bytes (NUL bytes dropped)."""
    text = _head_text(head)
    return next((ln.strip() for ln in text.replace("\r", "\n").split("\n") if ln.strip()), "")


def _sniff(head: bytes) -> bool:
    return _first_line(head).startswith(VAMAS_MAGIC)


def _read_claimed(path: PathLike, **kw: Any) -> list[XpsSpectrum]:
    """:func:`read_vamas` for a file the registry hands over by content or by suffix: a file
    without the VAMAS first line (a ``.vms`` file, or one read with ``format='vamas'``) is an
    error that names the line expected."""
    p = Path(path)
    with p.open("rb") as fh:
        first = _first_line(fh.read(HEAD_BYTES))
    if not first.startswith(VAMAS_MAGIC):
        raise XpsReadError(f"{p}: expected a VAMAS file (first line {VAMAS_MAGIC!r}), got "
                           f"{first[:60]!r}")
    return read_vamas(p, **kw)


REGISTRY.register("vamas", read=_read_claimed, suffixes=(".vms",), sniff=_sniff,
                  description="ISO 14976 VAMAS (.vms; PHI MultiPak .npl)")
