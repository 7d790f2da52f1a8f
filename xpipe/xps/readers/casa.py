"""CasaXPS notes in VAMAS block comments.

``CASA comp`` and ``CASA region`` lines are kept verbatim (``metadata['casa_comp']``,
``metadata['casa_region']``) and parsed (``metadata['casa_components']``,
``metadata['casa_regions']``, see :func:`parse_casa_comp` and :func:`parse_casa_region`).
Their positions and limits are on the block's abscissa after CasaXPS's energy calibration
(``Calib M = ... A = ... BE ADD`` comment lines, summed in
``metadata['casa_calibration_shift_ev']``); the binding energies derived from them
(``position_be_ev``, ``binding_limits_ev``) are therefore on the calibrated scale, i.e. raw
binding energy plus that shift. The spectra themselves are never shifted.
"""

from __future__ import annotations

import re
from typing import Any

from .base import _to_float

__all__ = ["parse_casa_comp", "parse_casa_region"]

_CASA_NAME_RE = re.compile(r"\(\*(.*?)\*\)")
_COMP_KEYS = ("Area", "MFWHM", "Position")
_CALIB_RE = re.compile(r"^Calib\s+M\s*=\s*([-+0-9.eE]+)\s+A\s*=\s*([-+0-9.eE]+)\s+(\w+)\s+(\w+)")


def _casa_fields(line: str, tag: str) -> tuple[list[str], list[str]]:
    """Quoted ``(*...*)`` names and the bare tokens between them, after the ``CASA x`` tag."""
    body = line.strip()[len(tag):]
    names = _CASA_NAME_RE.findall(body)
    tokens = _CASA_NAME_RE.sub(" \x01 ", body).split()
    return names, tokens


def parse_casa_region(line: str) -> dict[str, Any]:
    """The simple fields of a CasaXPS ``CASA region`` line.

    Parameters
    ----------
    line : str
        One block-comment line starting with ``CASA region``.

    Returns
    -------
    fields : dict
        ``raw`` (the line), ``name``, ``background`` (e.g. ``'Shirley'``,
        ``'U 2 Tougaard'``), ``start`` and ``end`` (limits on the block's own abscissa in eV,
        which may be kinetic energy), ``rsf``, ``average_width``, ``start_offset``,
        ``end_offset`` and the remaining tokens as ``extra``. An unparsable line gives
        ``{'raw': line}`` only.

    Examples
    --------
    >>> d = parse_casa_region("CASA region (*C 1s*) (*Shirley*) 1193.9 1205.0 0.278 2 0 0 1 -450")
    >>> d['name'], d['background'], d['start'], d['end']
    ('C 1s', 'Shirley', 1193.9, 1205.0)
    """
    out: dict[str, Any] = {"raw": line}
    if not line.strip().startswith("CASA region"):
        return out
    names, tokens = _casa_fields(line, "CASA region")
    if len(names) < 2:
        return out
    # tokens: \x01 \x01 start end rsf avg_width start_offset end_offset ...
    nums = [t for t in tokens[2:] if t != "\x01"]
    keys = ("start", "end", "rsf", "average_width", "start_offset", "end_offset")
    vals = [_to_float(t) for t in nums[: len(keys)]]
    if len(vals) < 2 or vals[0] is None or vals[1] is None:
        return out
    out.update(name=names[0], background=names[1])
    out.update(zip(keys, vals))
    out["extra"] = nums[len(keys):] + names[2:]
    return out


def parse_casa_comp(line: str) -> dict[str, Any]:
    """Name, lineshape and the Area/MFWHM/Position groups of a CasaXPS ``CASA comp`` line.

    Parameters
    ----------
    line : str
        One block-comment line starting with ``CASA comp``.

    Returns
    -------
    fields : dict
        ``raw`` (the line), ``name``, ``lineshape``, ``rsf`` and the groups ``area``,
        ``fwhm`` (eV) and ``position`` (eV, on the block's own abscissa: kinetic energy for
        Kratos exports), each ``{'value', 'lower', 'upper', 'link', 'factor'}`` (``link``
        -1: free; else the index of the component it is tied to with ``factor``; Position's
        factor is an offset). An unparsable line gives ``{'raw': line}`` only.

    Examples
    --------
    >>> d = parse_casa_comp("CASA comp (*Mo 3d*) (*LA(1.53,243)*) Area 230.4 1e-020 2327991 -1 1 "
    ...                     "MFWHM 0.885 0.2 2 -1 1 Position 1257.22 1257.02 1257.22 -1 1 RSF 10.8")
    >>> d['name'], d['lineshape'], d['position']['value'], d['area']['link']
    ('Mo 3d', 'LA(1.53,243)', 1257.22, -1)
    """
    out: dict[str, Any] = {"raw": line}
    if not line.strip().startswith("CASA comp"):
        return out
    names, tokens = _casa_fields(line, "CASA comp")
    if len(names) < 2:
        return out
    out.update(name=names[0], lineshape=names[1])
    for i, tok in enumerate(tokens):
        if tok in _COMP_KEYS and i + 5 < len(tokens):
            vals = [_to_float(t) for t in tokens[i + 1: i + 6]]
            if any(v is None for v in vals):
                continue
            out[tok.lower().replace("mfwhm", "fwhm")] = {
                "value": vals[0], "lower": vals[1], "upper": vals[2], "link": int(vals[3]),
                "factor": vals[4]}
        elif tok == "RSF" and i + 1 < len(tokens):
            rsf = _to_float(tokens[i + 1])
            if rsf is not None:
                out["rsf"] = rsf
    return out


def _casa_metadata(comments: list[str], kinetic: bool, hv: float | None,
                   phi_used: float) -> dict[str, Any]:
    """The CasaXPS entries of a block's metadata from its comment lines.

    On a kinetic axis with a photon energy, region limits and component positions also get
    their binding energies (``binding_limits_ev``, ``position_be_ev``).
    """
    casa_comp = [c for c in comments if c.strip().startswith("CASA comp")]
    casa_region = [c for c in comments if c.strip().startswith("CASA region")]
    calib = []
    for c in comments:
        m = _CALIB_RE.match(c.strip())
        if m:
            calib.append({"measured": float(m.group(1)), "actual": float(m.group(2)),
                          "axis": m.group(3), "operation": m.group(4)})
    regions = [parse_casa_region(c) for c in casa_region]
    comps = [parse_casa_comp(c) for c in casa_comp]
    shift = sum(c["actual"] - c["measured"] for c in calib
                if c["axis"].upper() == "BE" and c["operation"].upper() == "ADD")
    if kinetic and hv:
        for r in regions:
            if "start" in r:
                r["binding_limits_ev"] = tuple(sorted((hv - phi_used - r["start"],
                                                       hv - phi_used - r["end"])))
        for c in comps:
            if "position" in c:
                c["position_be_ev"] = hv - phi_used - c["position"]["value"]
    return {"casa_comp": casa_comp, "casa_region": casa_region, "casa_regions": regions,
            "casa_components": comps, "casa_calibration": calib,
            "casa_calibration_shift_ev": shift}
